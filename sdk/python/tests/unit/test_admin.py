"""The admin helpers send what the admin API expects and read what it answers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import keygate
from fakes import ADMIN_KEY, FakeKeygate, make_client


def test_create_list_get_update_rotate_revoke_events():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    k = c.keys.create("billing-svc", ["billing:read"], rate_limit=600, tier="gold", allowed_ips=["10.0.0.0/8"],
                      expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    (sent,) = fake.sent_to("POST /v1/keys")
    assert json.loads(sent.body) == {"name": "billing-svc", "scopes": ["billing:read"], "allowed_ips": ["10.0.0.0/8"], "rate_limit": 600,
                                     "tier": "gold", "expires_at": "2030-01-02T03:04:05Z"}
    assert isinstance(k, keygate.CreatedKey) and k.secret.reveal().startswith("kg_test_") and k.rate_limit == 600
    assert k.created_at == datetime(2026, 1, 15, 8, tzinfo=timezone.utc)
    assert k.raw["key"] == str(k.secret), "raw holds the plain key"
    others = [c.keys.create(f"svc-{i}", ["customers:read"]) for i in range(4)]

    page = c.keys.list(limit=2)
    assert len(page.keys) == 2 and page.next_cursor
    assert sorted(x.key_id for x in c.keys.iter(page_size=2)) == sorted([k.key_id] + [o.key_id for o in others])

    assert c.keys.get(k.key_id).name == "billing-svc"
    u = c.keys.update(k.key_id, name="renamed", allowed_ips=[])
    assert json.loads(fake.sent_to(f"PATCH /v1/keys/{k.key_id}")[0].body) == {"name": "renamed", "allowed_ips": []}
    assert u.name == "renamed"
    with pytest.raises(ValueError):
        c.keys.update(k.key_id)

    r = c.keys.rotate(k.key_id, grace_period=timedelta(hours=1))
    assert json.loads(fake.sent_to(f"POST /v1/keys/{k.key_id}/rotate")[0].body) == {"grace_period_seconds": 3600}
    assert r.secret != k.secret and r.key_gen == 2 and r.previous_key_valid_until is not None
    c.keys.rotate(k.key_id)
    assert fake.sent_to(f"POST /v1/keys/{k.key_id}/rotate")[1].body == b"", "no body: the service's default grace"

    assert c.keys.revoke(k.key_id).status == "revoked"
    with pytest.raises(keygate.ConflictError) as e:
        c.keys.update(k.key_id, name="again")
    assert e.value.code == "key_revoked"
    with pytest.raises(keygate.NotFoundError):
        c.keys.get("key_00000000000000000000")

    ev = c.keys.events(k.key_id, limit=2)
    assert [x.action for x in ev.events] == ["key.revoked", "key.rotated"] and ev.next_cursor == "2"
    assert [x.action for x in c.keys.iter_events(k.key_id, page_size=2)] == ["key.revoked", "key.rotated", "key.rotated", "key.updated", "key.created"]


def test_key_ids_are_escaped_in_paths():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    with pytest.raises(keygate.NotFoundError):
        c.keys.get("../auth/token")
    assert fake.sent[-1].url.endswith("/v1/keys/..%2Fauth%2Ftoken")

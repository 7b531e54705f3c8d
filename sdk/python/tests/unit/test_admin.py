"""The admin helpers send what the admin API expects and read what it answers."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest

import keygate
from fakes import ADMIN_KEY, TODAY, FakeKeygate, error, make_async_client, make_client


def test_create_list_get_update_rotate_revoke_events():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    k = c.keys.create("billing-svc", ["billing:read"], rate_limit=600, tier="growth", allowed_ips=["10.0.0.0/8"],
                      expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    (sent,) = fake.sent_to("POST /v1/keys")
    assert json.loads(sent.body) == {"name": "billing-svc", "scopes": ["billing:read"], "allowed_ips": ["10.0.0.0/8"], "rate_limit": 600,
                                     "tier": "growth", "expires_at": "2030-01-02T03:04:05Z"}
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


def test_a_key_gets_its_tiers_rate_limit_unless_it_names_its_own():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    k = c.keys.create("svc", ["customers:read"], tier="free")
    assert json.loads(fake.sent_to("POST /v1/keys")[0].body) == {"name": "svc", "scopes": ["customers:read"], "tier": "free"}
    assert (k.tier, k.rate_limit) == ("free", 60)
    assert (c.keys.create("default", ["customers:read"]).tier, c.keys.create("own", ["customers:read"], rate_limit=5).rate_limit) == ("startup", 5)
    moved = c.keys.update(k.key_id, tier="growth")
    assert json.loads(fake.sent_to(f"PATCH /v1/keys/{k.key_id}")[0].body) == {"tier": "growth"}, "the service picks the rate"
    assert (moved.tier, moved.rate_limit) == ("growth", 10_000)


def test_an_unknown_tier_and_a_full_set_of_usage_plans_are_typed_errors():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    with pytest.raises(keygate.InvalidRequestError) as e:
        c.keys.create("svc", ["customers:read"], tier="gold")
    assert e.value.code == "invalid_request" and "free, startup, growth, enterprise" in e.value.message
    fake.script("POST /v1/keys", error(409, "usage_plan_limit_reached", "No usage plan can be added for this rate_limit.", "invalid_request_error"))
    with pytest.raises(keygate.ConflictError) as e:
        c.keys.create("svc", ["customers:read"], rate_limit=617)
    assert e.value.code == keygate.errors.USAGE_PLAN_LIMIT_REACHED and not e.value.temporary


def test_usage_reads_the_keys_calls_per_day_in_its_plan():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    k = c.keys.create("svc", ["customers:read"], tier="free")
    fake.record_usage(k.key_id, TODAY, 3)
    fake.record_usage(k.key_id, TODAY - timedelta(days=1), 5)

    u = c.keys.usage(k.key_id, days=3)
    assert fake.sent[-1].url.endswith(f"/v1/keys/{k.key_id}/usage?days=3")
    assert isinstance(u, keygate.Usage) and (u.key_id, u.tier) == (k.key_id, "free")
    assert u.plan == keygate.UsagePlan(name="keygate-local-free", rate_limit=60, burst=60, quota_limit=10_000, quota_period="DAY")
    assert u.days == [
        keygate.UsageDay(date(2026, 1, 13), 0, 10_000),
        keygate.UsageDay(date(2026, 1, 14), 5, 9_995),
        keygate.UsageDay(date(2026, 1, 15), 3, 9_997),
    ], "oldest first, today last"
    assert u.remaining == 9_997 and u.used == 8 and u.raw["remaining"] == 9_997

    assert len(c.keys.usage(k.key_id).days) == 7
    assert fake.sent[-1].url.endswith("/usage?days=7"), "the default, sent explicitly"
    assert len(c.keys.usage(k.key_id, days=90).days) == 90


def test_usage_of_a_key_with_its_own_rate_limit_names_its_own_plan():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    k = c.keys.create("svc", ["customers:read"], tier="growth", rate_limit=600)
    u = c.keys.usage(k.key_id, days=1)
    assert u.plan == keygate.UsagePlan("keygate-local-growth-600pm", 600, 600, 20_000_000, "MONTH")


def test_usage_without_a_quota_leaves_remaining_unset():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    fake.script("GET /v1/keys/key_1/usage", httpx.Response(200, json={
        "key_id": "key_1", "tier": "internal", "plan": {"name": "keygate-local-internal", "rate_limit": 600, "burst": 600},
        "days": [{"date": "2026-01-15", "used": 2}]}))
    u = c.keys.usage("key_1", days=1)
    assert (u.plan.quota_limit, u.plan.quota_period, u.remaining, u.days[0].remaining, u.days[0].used) == (None, None, None, None, 2)


@pytest.mark.parametrize("days", [0, 91, -1, 2.5, True, "7", None])
def test_usage_days_are_checked_before_anything_is_sent(days):
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    with pytest.raises(ValueError, match="1 to 90"):
        c.keys.usage("key_1", days=days)
    assert fake.sent == []


def test_usage_of_a_key_without_a_usage_plan_is_not_found():
    fake = FakeKeygate()
    c = make_client(fake, key=ADMIN_KEY)
    k = c.keys.create("svc", ["customers:read"])
    c.keys.revoke(k.key_id)
    with pytest.raises(keygate.NotFoundError):
        c.keys.usage(k.key_id)
    with pytest.raises(keygate.NotFoundError):
        c.keys.usage("../auth/token")
    assert fake.sent[-1].url.endswith("/v1/keys/..%2Fauth%2Ftoken/usage?days=7")


@pytest.mark.anyio
async def test_the_async_helpers_read_usage_too():
    fake = FakeKeygate()
    c = make_async_client(fake, key=ADMIN_KEY)
    k = await c.keys.create("svc", ["customers:read"], tier="enterprise")
    fake.record_usage(k.key_id, TODAY, 4)
    u = await c.keys.usage(k.key_id, days=2)
    assert [d.used for d in u.days] == [0, 4] and u.plan.name == "keygate-local-enterprise" and u.remaining == 500_000_000 - 4
    with pytest.raises(ValueError):
        await c.keys.usage(k.key_id, days=91)

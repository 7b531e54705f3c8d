"""The admin helpers, the async client and the webhook vectors shared with shared/webhook,
against the real stack."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import keygate
from keygate import webhooks
from stack import ADMIN_KEY, ShiftClock, async_client, client, new_key, refused_within_the_bound


def test_admin_helpers_drive_the_key_lifecycle():
    admin, _ = client(ADMIN_KEY)
    name = "py-admin-" + uuid.uuid4().hex[:8]
    created = admin.keys.create(name, ["billing:read"], rate_limit=600, tier="growth")
    assert created.status == "active" and created.rate_limit == 600 and created.tier == "growth"
    assert created.secret.reveal().startswith("kg_test_") and created.secret.reveal() not in repr(created)
    svc, _ = client(created.secret.reveal())
    assert svc.validate().key_id == created.key_id

    renamed = admin.keys.update(created.key_id, name=name + "-renamed")
    assert renamed.name == name + "-renamed"
    got = admin.keys.get(created.key_id)
    assert got.name == renamed.name and got.created_at is not None

    first = admin.keys.list(limit=1)
    assert len(first.keys) == 1 and first.next_cursor
    second = admin.keys.list(limit=1, cursor=first.next_cursor)
    assert second.keys[0].key_id != first.keys[0].key_id
    assert any(k.key_id == created.key_id for k in admin.keys.iter(page_size=100))

    rotated = admin.keys.rotate(created.key_id, grace_period=timedelta(hours=1))
    assert rotated.secret != created.secret and rotated.key_gen == created.key_gen + 1 and rotated.previous_key_valid_until is not None
    assert admin.keys.revoke(created.key_id).status == "revoked"
    actions = [e.action for e in admin.keys.iter_events(created.key_id, page_size=2)]
    for want in ("key.created", "key.updated", "key.rotated", "key.revoked"):
        assert want in actions, actions
    with pytest.raises(keygate.ConflictError) as e:
        admin.keys.update(created.key_id, name="again")
    assert e.value.code == "key_revoked"
    with pytest.raises(keygate.NotFoundError):
        admin.keys.get("key_00000000000000000000")


def test_an_unknown_tier_is_refused_and_a_tier_brings_its_rate_limit():
    admin, _ = client(ADMIN_KEY)
    with pytest.raises(keygate.InvalidRequestError) as e:
        admin.keys.create("py-tier-" + uuid.uuid4().hex[:8], ["customers:read"], tier="gold")
    assert e.value.code == "invalid_request" and "growth" in e.value.message
    k = admin.keys.create("py-tier-" + uuid.uuid4().hex[:8], ["customers:read"], tier="free")
    assert (k.tier, k.rate_limit) == ("free", 60)
    moved = admin.keys.update(k.key_id, tier="growth")
    assert (moved.tier, moved.rate_limit) == ("growth", 10_000)
    admin.keys.revoke(k.key_id)


def test_usage_counts_the_calls_of_a_key_in_its_tiers_plan():
    admin, _ = client(ADMIN_KEY)
    created = admin.keys.create("py-usage-" + uuid.uuid4().hex[:8], ["customers:read"], tier="free")
    svc, _ = client(created.secret.reveal())
    for _ in range(3):
        assert svc.get("/customers").status_code == 200
    today = datetime.now(timezone.utc).date()
    deadline = time.time() + 10  # the service may count a moment late (on AWS, minutes)
    while True:
        u = admin.keys.usage(created.key_id, days=2)
        if u.used >= 3 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert (u.key_id, u.tier) == (created.key_id, "free")
    assert u.plan == keygate.UsagePlan(name="keygate-local-free", rate_limit=60, burst=60, quota_limit=10_000, quota_period="DAY")
    assert len(u.days) == 2 and u.days[-1].date in (today, datetime.now(timezone.utc).date()), u.days
    assert u.used == 3, u.days  # the three calls, and nothing else: the token exchange is not metered
    assert u.remaining == 10_000 - u.days[-1].used == u.days[-1].remaining
    assert len(admin.keys.usage(created.key_id).days) == 7
    with pytest.raises(ValueError):
        admin.keys.usage(created.key_id, days=91)
    admin.keys.revoke(created.key_id)
    with pytest.raises(keygate.NotFoundError):
        admin.keys.usage(created.key_id)  # a revoked key has no usage plan any more


def test_a_key_without_admin_full_gets_the_typed_403():
    key, _ = new_key(["customers:read"])
    c, _ = client(key)
    with pytest.raises(keygate.PermissionDeniedError) as e:
        c.keys.list()
    assert e.value.required_scope == "admin:full"


@pytest.mark.anyio
async def test_the_async_client_shares_one_exchange_and_one_refresh_among_50_tasks():
    key, key_id = new_key(["customers:read"])
    clock = ShiftClock()
    c, n = async_client(key, clock=clock, refresh_jitter=0)
    rs = await asyncio.gather(*(c.get("/customers") for _ in range(50)))
    assert {r.json()["authorizer"]["key_id"] for r in rs} == {key_id}
    assert n.count("POST /v1/auth/token") == 1
    clock.advance(c._state.expires_at - clock.now() - 30)
    await asyncio.gather(*(c.get("/customers") for _ in range(50)))
    assert n.count("POST /v1/auth/refresh") == 1 and n.count("POST /v1/auth/token") == 1
    assert n.count("GET /v1/customers") == 100
    await c.aclose()


@pytest.mark.anyio
async def test_the_async_client_retries_a_revoked_token_once():
    key, _ = new_key(["customers:read"])
    c, n = async_client(key)
    await c.get("/customers")
    old = c._state.access
    await c.revoke_token(old)
    await asyncio.to_thread(refused_within_the_bound, old, time.time())
    assert (await c.get("/customers")).status_code == 200
    assert n.count("GET /v1/customers") == 3 and n.count("POST /v1/auth/refresh") == 1
    with pytest.raises(keygate.PermissionDeniedError):
        await c.delete("/customers/1")


def test_webhook_vectors_signed_by_the_go_package_are_judged_as_it_judges_them():
    path = os.environ.get("KEYGATE_SDK_WEBHOOK_VECTORS")
    if not path:
        pytest.skip("KEYGATE_SDK_WEBHOOK_VECTORS not set")
    with open(path) as f:
        cases = json.load(f)["cases"]
    assert len(cases) >= 10
    for case in cases:
        body = base64.b64decode(case["body_b64"])
        try:
            webhooks.Verifier(case["secrets"]).verify(case["headers"], body)
            got = (True, "")
        except webhooks.WebhookVerificationError as e:
            got = (False, e.reason)
        assert got == (case["valid"], case.get("reason", "")), case["name"]


def test_deliveries_signed_here_are_written_for_the_go_package_to_judge():
    out = os.environ.get("KEYGATE_SDK_WEBHOOK_OUT")
    if not out:
        pytest.skip("KEYGATE_SDK_WEBHOOK_OUT not set")
    old, new = webhooks.new_secret(), webhooks.new_secret()
    now = int(time.time())
    body = '{"type":"key.rotated","data":{"name":"Zoë"}}'.encode()
    deliveries = []

    def add(name, secrets, headers, payload, valid):
        deliveries.append({"name": name, "secrets": secrets, "headers": headers, "body_b64": base64.b64encode(payload).decode(), "valid": valid})

    h = webhooks.signed_headers(old, "msg_py_1", now, body)
    add("signed with the only secret", [old], h, body, True)
    add("signed with the old secret, verified during a rotation", [new, old], h, body, True)
    add("a binary body", [new], webhooks.signed_headers(new, "msg_py_2", now, b"\x00\xff\x80"), b"\x00\xff\x80", True)
    add("an empty body", [new], webhooks.signed_headers(new, "msg_py_3", now - 120, b""), b"", True)
    add("a tampered body", [old], h, body + b" ", False)
    add("verified with another secret", [new], h, body, False)
    add("a stale timestamp", [old], webhooks.signed_headers(old, "msg_py_4", now - 400, body), body, False)
    add("another id", [old], {**h, "webhook-id": "msg_py_other"}, body, False)
    with open(out, "w") as f:
        json.dump({"deliveries": deliveries}, f)
    # And this side agrees with itself on every one.
    for d in deliveries:
        try:
            webhooks.Verifier(d["secrets"]).verify(d["headers"], base64.b64decode(d["body_b64"]))
            ok = True
        except webhooks.WebhookVerificationError:
            ok = False
        assert ok == d["valid"], d["name"]

"""AsyncClient: the same rules as Client, on asyncio."""

from __future__ import annotations

import json

import httpx
import pytest

import keygate
from fakes import API_KEY, BASE, FakeKeygate, ManualClock, error, make_async_client

pytestmark = pytest.mark.anyio


async def test_exchange_once_refresh_before_expiry_keep_the_rotated_token():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_async_client(fake, clock, refresh_jitter=0)
    for _ in range(3):
        assert (await c.get("/customers")).status_code == 200
        clock.advance(900)
    presented = [json.loads(s.body)["refresh_token"] for s in fake.sent_to("POST /v1/auth/refresh")]
    assert len(presented) == 2 and len(set(presented)) == 2
    assert fake.count("POST /v1/auth/token") == 1
    await c.aclose()
    assert fake.count("POST /v1/auth/revoke") == 1


async def test_a_401_refreshes_once_and_retries_once():
    fake = FakeKeygate()
    c = make_async_client(fake)
    await c.access_token()
    fake.revoke_access(c._state.access)
    r = await c.post("/inference/completions", json={"prompt": "hi"})
    assert r.json()["body"] == {"prompt": "hi"}
    assert fake.count("POST /v1/inference/completions") == 2 and fake.count("POST /v1/auth/refresh") == 1
    fake.script("GET /v1/customers", *[error(401, "invalid_token", "no", "authentication_error")] * 5)
    with pytest.raises(keygate.AuthenticationError):
        await c.get("/customers")
    assert fake.count("GET /v1/customers") == 2


async def test_429_waits_on_the_clock_and_a_long_retry_after_is_raised():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_async_client(fake, clock, retry=keygate.RetryPolicy(max_wait=10))
    fake.script("GET /v1/customers", error(429, "rate_limit_exceeded", "slow", "rate_limit_error", retry_after=4))
    assert (await c.get("/customers")).status_code == 200
    assert clock.slept == [4.0]
    fake.script("POST /v1/auth/token", error(429, "rate_limit_exceeded", "slow", "rate_limit_error", retry_after=40))
    other = make_async_client(fake, clock, retry=keygate.RetryPolicy(max_wait=10))
    with pytest.raises(keygate.RateLimitError) as e:
        await other.access_token()
    assert e.value.retry_after == 40


async def test_a_spent_quota_is_raised_at_once():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_async_client(fake, clock, retry=keygate.RetryPolicy(max_wait=7200))
    fake.script("GET /v1/customers", error(429, "quota_exceeded", "used", "rate_limit_error", retry_after=3600))
    with pytest.raises(keygate.RateLimitError) as e:
        await c.get("/customers")
    assert e.value.code == "quota_exceeded" and e.value.retry_after == 3600
    assert clock.slept == [] and fake.count("GET /v1/customers") == 1


async def test_invalid_grant_falls_back_to_an_exchange():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_async_client(fake, clock)
    await c.access_token()
    fake.script("POST /v1/auth/refresh", error(400, "invalid_grant", "spent"))
    clock.advance(900)
    await c.access_token()
    assert fake.count("POST /v1/auth/token") == 2


async def test_the_auth_works_in_any_httpx_async_client_and_refuses_a_sync_one():
    fake = FakeKeygate()
    c = make_async_client(fake)
    async with httpx.AsyncClient(transport=fake.async_transport(), auth=c.auth) as hc:
        assert (await hc.get(BASE + "/v1/customers")).status_code == 200
    with pytest.raises(RuntimeError, match="httpx.AsyncClient"):
        httpx.Client(transport=fake.transport(), auth=c.auth).get(BASE + "/v1/customers")


async def test_validate_and_admin_helpers():
    fake = FakeKeygate()
    c = make_async_client(fake, key=API_KEY)
    assert (await c.validate()).valid
    k = await c.keys.create("svc", ["customers:read"])
    assert (await c.keys.get(k.key_id)).name == "svc"
    assert [x.key_id async for x in c.keys.iter(page_size=1)] == [k.key_id]
    assert (await c.keys.revoke(k.key_id)).status == "revoked"
    assert [e.action async for e in c.keys.iter_events(k.key_id, page_size=1)] == ["key.revoked", "key.created"]

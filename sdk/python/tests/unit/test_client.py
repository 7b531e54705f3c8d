"""The token lifecycle of keygate.Client against the fake service, on a manual clock."""

from __future__ import annotations

import json
import random

import httpx
import pytest

import keygate
from fakes import API_KEY, BASE, FakeKeygate, ManualClock, error, make_client

TOKEN = "POST /v1/auth/token"
REFRESH = "POST /v1/auth/refresh"
CUSTOMERS = "GET /v1/customers"


def test_the_key_is_exchanged_once_and_the_token_reused():
    fake = FakeKeygate()
    c = make_client(fake)
    for _ in range(5):
        assert c.get("/customers").status_code == 200
    assert fake.count(TOKEN) == 1
    assert fake.count(CUSTOMERS) == 5
    (exchange,) = fake.sent_to(TOKEN)
    assert exchange.auth == "Bearer " + API_KEY
    # The key goes only to the token endpoint; protected routes get the access token.
    for s in fake.sent_to(CUSTOMERS):
        assert s.auth.startswith("Bearer eyJ") and API_KEY not in s.auth


def test_the_exchange_asks_for_the_configured_scopes_customer_and_lifetime():
    fake = FakeKeygate()
    c = make_client(fake, scopes=["customers:read"], customer_id="cust-42", token_ttl=300)
    c.access_token()
    (exchange,) = fake.sent_to(TOKEN)
    assert json.loads(exchange.body) == {"scopes": ["customers:read"], "customer_id": "cust-42", "expires_in": 300}


def test_the_token_is_refreshed_a_margin_before_it_expires_and_the_rotated_refresh_token_kept():
    fake = FakeKeygate(expires_in=900)
    clock = ManualClock()
    c = make_client(fake, clock, refresh_margin=60, refresh_jitter=0)
    first = c.access_token()
    clock.advance(900 - 61)
    assert c.access_token() == first, "refreshed before the margin"
    clock.advance(2)
    second = c.access_token()
    assert second != first and fake.count(REFRESH) == 1 and fake.count(TOKEN) == 1
    # The second refresh spends the refresh token the first one returned, not the original.
    clock.advance(900)
    c.access_token()
    spent = [json.loads(s.body)["refresh_token"] for s in fake.sent_to(REFRESH)]
    assert len(spent) == 2 and spent[0] != spent[1]
    assert fake.count(TOKEN) == 1


@pytest.mark.parametrize("lifetime", [60, 900, 3600])
def test_jitter_spreads_refreshes_within_its_bound(lifetime):
    seen = []
    for seed in range(40):
        fake = FakeKeygate(expires_in=lifetime)
        clock = ManualClock()
        c = make_client(fake, clock, refresh_margin=60, refresh_jitter=30, rng=random.Random(seed))
        c.access_token()
        st = c._state
        lead = st.expires_at - st.refresh_at
        margin, jitter = min(60, lifetime / 2), min(30, lifetime / 4)
        assert margin <= lead <= margin + jitter
        seen.append(lead)
    assert max(seen) - min(seen) > 0.2 * min(30, lifetime / 4), "no spread"


def test_a_refused_refresh_token_falls_back_to_an_exchange():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, refresh_jitter=0)
    c.access_token()
    fake.script(REFRESH, error(400, "invalid_grant", "spent"))
    clock.advance(900)
    assert c.get("/customers").status_code == 200
    assert fake.count(REFRESH) == 1 and fake.count(TOKEN) == 2


def test_a_transient_refresh_failure_keeps_the_valid_token():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, refresh_jitter=0, retry=keygate.RetryPolicy(max_attempts=1))
    held = c.access_token()
    clock.advance(900 - 30)  # due, not expired
    fake.script(REFRESH, error(500, "internal_error", "boom", "api_error"))
    assert c.access_token() == held
    # It tries again within a few seconds, and then succeeds.
    clock.advance(5)
    assert c.access_token() != held
    assert fake.count(REFRESH) == 2 and fake.count(TOKEN) == 1


def test_a_failed_refresh_of_an_expired_token_is_an_error():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, retry=keygate.RetryPolicy(max_attempts=1))
    c.access_token()
    clock.advance(901)
    fake.script(REFRESH, error(500, "internal_error", "boom", "api_error"))
    with pytest.raises(keygate.APIError) as e:
        c.access_token()
    assert e.value.code == "internal_error"


def test_a_401_refreshes_once_and_retries_with_the_same_body():
    fake = FakeKeygate()
    c = make_client(fake)
    c.access_token()
    old = c._state.access
    fake.revoke_access(old)
    r = c.post("/inference/completions", json={"prompt": "hi"})
    assert r.status_code == 200 and r.json()["body"] == {"prompt": "hi"}
    sent = fake.sent_to("POST /v1/inference/completions")
    assert [s.auth for s in sent][0] == "Bearer " + old and sent[1].auth != sent[0].auth
    assert [s.body for s in sent] == [b'{"prompt":"hi"}'] * 2
    assert fake.count(REFRESH) == 1 and fake.count(TOKEN) == 1


def test_a_route_that_keeps_refusing_gets_one_retry_not_a_loop():
    # The guides' interceptor retries every 401 for ever; the client retries once.
    fake = FakeKeygate()
    c = make_client(fake)
    fake.script(CUSTOMERS, *[error(401, "invalid_token", "no", "authentication_error")] * 10)
    with pytest.raises(keygate.AuthenticationError) as e:
        c.get("/customers")
    assert e.value.code == "invalid_token" and e.value.status == 401
    assert fake.count(CUSTOMERS) == 2 and fake.count(REFRESH) == 1


def test_a_body_that_cannot_be_replayed_is_not_retried():
    fake = FakeKeygate()
    c = make_client(fake)
    fake.script("POST /v1/upload", error(401, "invalid_token", "no", "authentication_error"))

    def chunks():
        yield b"part1"
        yield b"part2"

    with pytest.raises(keygate.AuthenticationError):
        c.post("/upload", content=chunks())
    assert fake.count("POST /v1/upload") == 1 and fake.count(REFRESH) == 0


@pytest.mark.parametrize(
    "answer, waits",
    [
        (lambda: error(429, "rate_limit_exceeded", "slow", "rate_limit_error", retry_after=7), [7.0]),
        (lambda: httpx.Response(503, json={"error": {"code": "service_unavailable", "message": "x", "type": "api_error", "retry_after": 3}}), [3.0]),
        (lambda: httpx.Response(503, headers={"Retry-After": "Wed, 15 Jan 2027 08:00:05 GMT"}), None),
    ],
    ids=["429 with Retry-After", "503 with retry_after in the body only", "503 with an HTTP-date Retry-After"],
)
def test_429_and_503_are_retried_after_the_delay_the_service_names(answer, waits):
    fake = FakeKeygate()
    clock = ManualClock(start=1_800_000_000.0)
    c = make_client(fake, clock)
    c.access_token()
    fake.script(CUSTOMERS, answer())
    assert c.get("/customers").status_code == 200
    assert fake.count(CUSTOMERS) == 2
    if waits is not None:
        assert clock.slept == waits
    else:
        assert len(clock.slept) == 1 and clock.slept[0] >= 0


def test_without_a_named_delay_the_backoff_is_exponential_and_bounded():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, retry=keygate.RetryPolicy(max_attempts=5, base_delay=0.5, max_wait=1.5), rng=random.Random(1))
    c.access_token()
    fake.script(CUSTOMERS, *[httpx.Response(503)] * 4)
    assert c.get("/customers").status_code == 200
    assert len(clock.slept) == 4
    for i, w in enumerate(clock.slept):
        assert 0 < w <= min(0.5 * 2**i, 1.5) + 0.001


def test_a_retry_after_beyond_max_wait_is_not_waited_for():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, retry=keygate.RetryPolicy(max_wait=10))
    c.access_token()
    fake.script(CUSTOMERS, error(429, "rate_limit_exceeded", "slow", "rate_limit_error", retry_after=42))
    with pytest.raises(keygate.RateLimitError) as e:
        c.get("/customers")
    assert e.value.retry_after == 42 and e.value.temporary
    assert clock.slept == [] and fake.count(CUSTOMERS) == 1


def quota_exceeded(named: bool = True) -> httpx.Response:
    if not named:  # as a proxy might pass it on: no Retry-After, no retry_after
        return httpx.Response(429, json={"error": {"code": "quota_exceeded", "message": "m", "type": "rate_limit_error"}})
    return error(429, "quota_exceeded", "The key's quota for the period is used.", "rate_limit_error", retry_after=3600)


@pytest.mark.parametrize(
    "policy, named",
    [(None, True), (keygate.RetryPolicy(max_wait=7200, max_attempts=10), True), (None, False)],
    ids=["the default policy", "a policy that would wait two hours", "no delay named"],
)
def test_a_spent_quota_is_raised_at_once_never_slept_on(policy, named):
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, retry=policy)
    c.access_token()
    fake.script(CUSTOMERS, quota_exceeded(named))
    with pytest.raises(keygate.RateLimitError) as e:
        c.get("/customers")
    assert e.value.code == "quota_exceeded" and e.value.retry_after == (3600 if named else None)
    assert clock.slept == [] and fake.count(CUSTOMERS) == 1
    fake.script("GET /v1/keys", quota_exceeded(named))
    with pytest.raises(keygate.RateLimitError):
        c.keys.list()  # the client's own calls too
    assert clock.slept == [] and fake.count("GET /v1/keys") == 1


def test_retries_stop_after_max_attempts():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, retry=keygate.RetryPolicy(max_attempts=3))
    c.access_token()
    fake.script(CUSTOMERS, *[error(429, "rate_limit_exceeded", "slow", "rate_limit_error", retry_after=1)] * 5)
    with pytest.raises(keygate.RateLimitError):
        c.get("/customers")
    assert fake.count(CUSTOMERS) == 3 and clock.slept == [1.0, 1.0]


def test_token_endpoints_are_retried_too():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock)
    fake.script(TOKEN, error(429, "rate_limit_exceeded", "slow", "rate_limit_error", retry_after=2), httpx.Response(503, headers={"Retry-After": "1"}))
    assert c.access_token().startswith("eyJ")
    assert fake.count(TOKEN) == 3 and clock.slept == [2.0, 1.0]


def test_a_wrong_key_is_a_typed_error_and_nothing_reaches_the_route():
    fake = FakeKeygate()
    c = make_client(fake, key=API_KEY[:-1] + "x")
    with pytest.raises(keygate.AuthenticationError) as e:
        c.get("/customers")
    assert e.value.code == keygate.errors.INVALID_API_KEY and e.value.type == "authentication_error"
    assert fake.count(CUSTOMERS) == 0


def test_validate_revoke_and_close():
    fake = FakeKeygate()
    c = make_client(fake)
    v = c.validate()
    assert v.valid and v.key_id.startswith("key_") and v.token_type == "access_token" and v.expires_at.year == 2027
    held = c._state
    c.revoke_token(held.access)
    (revoke,) = fake.sent_to("POST /v1/auth/revoke")
    assert revoke.auth == "Bearer " + API_KEY and json.loads(revoke.body) == {"token": held.access}
    c.close()
    revokes = fake.sent_to("POST /v1/auth/revoke")
    assert len(revokes) == 2 and json.loads(revokes[1].body) == {"token": held.refresh}
    assert c._state is None


def test_the_client_is_a_context_manager_that_ends_its_login():
    fake = FakeKeygate()
    with make_client(fake) as c:
        c.get("/customers")
    assert fake.count("POST /v1/auth/revoke") == 1


def test_the_auth_works_in_any_httpx_client():
    fake = FakeKeygate()
    c = make_client(fake)
    with httpx.Client(transport=fake.transport(), auth=c.auth, base_url=BASE) as hc:
        assert hc.get("/v1/customers").status_code == 200
        assert hc.get("https://elsewhere.example/v1/customers").status_code == 401
    assert fake.sent_to(CUSTOMERS)[-1].auth == ""


def test_the_sync_auth_refuses_an_async_client():
    fake = FakeKeygate()
    c = make_client(fake)

    async def go():
        async with httpx.AsyncClient(transport=fake.async_transport(), auth=c.auth) as hc:
            await hc.get(BASE + "/v1/customers")

    import asyncio

    with pytest.raises(RuntimeError, match="AsyncClient"):
        asyncio.run(go())


@pytest.mark.parametrize(
    "base",
    ["https://api.example.com", "https://api.example.com/", "https://api.example.com/v1", "https://api.example.com/v1/", "HTTPS://API.example.com:443/v1"],
)
def test_the_base_url_may_be_written_with_or_without_v1(base):
    fake = FakeKeygate()
    c = make_client(fake, base=base)
    assert c.get("/customers").json()["path"] == "/v1/customers"
    assert c.get("/v1/customers").json()["path"] == "/v1/customers"
    assert fake.sent_to(TOKEN)[0].url.lower() == "https://api.example.com/v1/auth/token"


def test_a_path_prefix_is_kept():
    c = keygate.Client("https://gw.example.com/prod/v1", API_KEY)
    assert c.base_url == "https://gw.example.com/prod"
    assert c._cfg.endpoint.url("/customers") == "https://gw.example.com/prod/v1/customers"
    assert c._cfg.endpoint.url("/.well-known/jwks.json") == "https://gw.example.com/prod/.well-known/jwks.json"


@pytest.mark.parametrize(
    "base",
    ["ftp://api.example.com", "api.example.com", "https://", "https://user:pw@api.example.com", "https://api.example.com/?x=1", "https://api.example.com/#f", "https://api.example.com:99999"],
)
def test_bad_base_urls_are_refused(base):
    with pytest.raises(ValueError):
        keygate.Client(base, API_KEY)


def test_an_empty_key_is_refused():
    with pytest.raises(ValueError):
        keygate.Client(BASE, "")

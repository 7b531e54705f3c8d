"""No API key, access token or refresh token appears in a repr, an error or a log record."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest

import keygate
from fakes import API_KEY, FakeKeygate, ManualClock, error, make_async_client, make_client


def secrets_of(fake: FakeKeygate):
    return [API_KEY, *fake.access, *fake.refresh]


def test_nothing_prints_or_logs_a_secret(caplog):
    caplog.set_level(logging.DEBUG)  # keygate, httpx and httpcore at their most talkative
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, refresh_jitter=0)
    c.get("/customers")
    clock.advance(900)  # refresh
    c.get("/customers")
    fake.revoke_access(c._state.access)  # 401, refresh, retry
    c.get("/customers")
    fake.script("POST /v1/auth/refresh", error(500, "internal_error", "boom", "api_error"))
    clock.advance(870)
    c.get("/customers")  # a failed refresh is logged as a warning
    fake.script("GET /v1/customers", error(429, "rate_limit_exceeded", "slow", "rate_limit_error", retry_after=1))
    c.get("/customers")
    created = c.keys.create("svc", ["customers:read"])
    try:
        keygate.Client(c.base_url, API_KEY[:-1] + "x", http_client=httpx.Client(transport=fake.transport())).get("/customers")
    except keygate.KeygateError as e:
        err = e
    texts = [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    texts += [repr(c), str(c), repr(c.auth), repr(c._state), repr(err), str(err), repr(created), str(created), f"{created.secret}", str(created.raw)]
    texts.append(repr(keygate.requests_auth.KeygateRequestsAuth(c)))
    assert any("refreshing the token" in t for t in texts), "the client logged nothing: the test proves nothing"
    leaked = [s for s in secrets_of(fake) + [created.secret.reveal()] for t in texts if s in t]
    assert not leaked


def test_redacted_forms_keep_the_kind_of_credential():
    c = keygate.Client("https://api.example.com", API_KEY)
    assert "kg_test_…[redacted]" in repr(c)
    s = keygate.Secret("kg_live_" + "x" * 36 + "_abcdef")
    assert str(s) == "kg_live_…[redacted]" and repr(s) == "Secret(kg_live_…[redacted])" and f"{s:>30}".strip() == "kg_live_…[redacted]"
    assert s.reveal().startswith("kg_live_x")
    with pytest.raises(TypeError):
        pickle.dumps(s)


@pytest.mark.anyio
async def test_the_async_client_redacts_too():
    fake = FakeKeygate()
    c = make_async_client(fake)
    await c.get("/customers")
    texts = [repr(c), repr(c.auth), repr(c._state)]
    assert not [s for s in secrets_of(fake) for t in texts if s in t]
    await c.aclose()

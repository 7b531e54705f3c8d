"""The guides' JavaScript snippet, and what the client does instead.

The guide refreshes with ``refreshToken(refreshToken)``, returns only ``data.access_token`` and
so keeps presenting the first refresh token; its interceptor retries every 401 without end.
Refresh tokens are single use: the second refresh with the spent token is reuse, which revokes
the whole login (every refresh token and access token of the family). The client keeps the
rotated refresh token, retries a 401 once, and recovers from a revoked login by exchanging the
key again.
"""

from __future__ import annotations

import json

import httpx
import pytest

import keygate
from fakes import API_KEY, BASE, FakeKeygate, ManualClock, make_client


def test_the_guides_way_reuses_the_spent_refresh_token_and_loses_the_login():
    fake = FakeKeygate()
    http = httpx.Client(transport=fake.transport(), base_url=BASE)
    pair = http.post("/v1/auth/token", headers={"Authorization": "Bearer " + API_KEY}).json()
    refresh_token = pair["refresh_token"]  # the guide keeps this one for ever

    def guide_refresh() -> httpx.Response:
        return http.post("/v1/auth/refresh", json={"refresh_token": refresh_token})

    first = guide_refresh()
    assert first.status_code == 200  # works once…
    access = first.json()["access_token"]
    second = guide_refresh()  # …then it is reuse
    assert second.status_code == 400 and second.json()["error"]["code"] == "invalid_grant"
    # The reuse revoked the family: even the access token the first refresh gave is refused.
    assert http.get("/v1/customers", headers={"Authorization": "Bearer " + access}).status_code == 401


def test_the_client_keeps_every_rotated_refresh_token_and_never_presents_one_twice():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, refresh_jitter=0)
    for _ in range(5):
        assert c.get("/customers").status_code == 200
        clock.advance(900)
    presented = [json.loads(s.body)["refresh_token"] for s in fake.sent_to("POST /v1/auth/refresh")]
    issued = [fam for fam in fake.refresh]  # every refresh token the fake handed out
    assert len(presented) == 4 and len(set(presented)) == 4
    # Each refresh presented the token the previous answer carried: the chain is unbroken.
    assert presented[0] == issued[0] and all(p in issued for p in presented)
    assert fake.count("POST /v1/auth/token") == 1


def test_after_someone_replays_a_spent_token_the_client_exchanges_the_key_again():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock, refresh_jitter=0)
    c.get("/customers")
    spent = c._state.refresh
    clock.advance(900)
    c.get("/customers")  # refresh: `spent` is now spent, the client holds its successor
    # A copy of the old token (the guide's code, a leaked log line) is presented again:
    replay = httpx.Client(transport=fake.transport(), base_url=BASE).post("/v1/auth/refresh", json={"refresh_token": spent})
    assert replay.json()["error"]["code"] == "invalid_grant"
    # The family is revoked: the client's access token is refused, its refresh token too. One
    # 401, one refresh (invalid_grant), one exchange, one retry, and the caller sees a 200.
    assert c.get("/customers").status_code == 200
    assert fake.count("GET /v1/customers") == 4
    assert fake.count("POST /v1/auth/refresh") == 3  # the client's 2 + the replay
    assert fake.count("POST /v1/auth/token") == 2


def test_a_401_loop_is_impossible():
    fake = FakeKeygate()
    c = make_client(fake)
    fake.script("GET /v1/customers", *[httpx.Response(401, json={"error": {"code": "invalid_token", "message": "no", "type": "authentication_error"}})] * 100)
    with pytest.raises(keygate.AuthenticationError):
        c.get("/customers")
    assert fake.count("GET /v1/customers") == 2

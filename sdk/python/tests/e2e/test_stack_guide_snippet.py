"""The guides' JavaScript snippet against the real stack, and the client instead.

The guide's ``refreshToken(refreshToken)`` keeps presenting the first refresh token. The
service answers the first refresh; a spent token presented again after the grace window is
reuse, and revokes the whole login: its refresh tokens and the access tokens minted in it.
"""

from __future__ import annotations

import json
import time

import pytest

import keygate
from stack import REFRESH_GRACE, ShiftClock, admin, client, new_key, raw, refused_within_the_bound


def test_the_guides_way_loses_the_login_on_its_second_refresh():
    key, _ = new_key(["customers:read"])
    pair = raw("POST", "/v1/auth/token", key).json()
    kept = pair["refresh_token"]  # the guide keeps this one for ever
    first = raw("POST", "/v1/auth/refresh", json={"refresh_token": kept})
    assert first.status_code == 200
    access = first.json()["access_token"]
    time.sleep(REFRESH_GRACE + 0.5)  # past the grace in which a retried refresh is forgiven
    second = raw("POST", "/v1/auth/refresh", json={"refresh_token": kept})
    assert second.status_code == 400 and second.json()["error"]["code"] == "invalid_grant"
    revoked_at = time.time()
    # The reuse revoked the family: the access token of the first refresh goes too, and so
    # does the refresh token that came with it.
    refused_within_the_bound(access, revoked_at)
    successor = first.json()["refresh_token"]
    assert raw("POST", "/v1/auth/refresh", json={"refresh_token": successor}).json()["error"]["code"] == "invalid_grant"


def test_the_client_keeps_the_rotated_token_and_recovers_when_a_spent_one_is_replayed():
    key, key_id = new_key(["customers:read"])
    clock = ShiftClock()
    c, n = client(key, clock=clock, refresh_jitter=0)
    c.get("/customers")
    spent = c._state.refresh
    for _ in range(2):  # two refreshes, each spending the token the previous one returned
        clock.advance(c._state.expires_at - clock.now() - 30)
        c.get("/customers")
    presented = [json.loads(b)["refresh_token"] for b in n.bodies["POST /v1/auth/refresh"]]
    assert presented[0] == spent and len(set(presented)) == 2
    # Someone replays the spent token (the guide's code, a copy in a log) after the grace:
    time.sleep(REFRESH_GRACE + 0.5)
    assert raw("POST", "/v1/auth/refresh", json={"refresh_token": spent}).json()["error"]["code"] == "invalid_grant"
    refused_within_the_bound(c._state.access, time.time())
    # The client's next request: one 401, a refresh refused (the family is gone), a new
    # exchange, one retry, and the caller sees only the 200.
    before = {k: n.count(k) for k in ("GET /v1/customers", "POST /v1/auth/refresh", "POST /v1/auth/token")}
    assert c.get("/customers").json()["authorizer"]["key_id"] == key_id
    assert n.count("GET /v1/customers") - before["GET /v1/customers"] == 2
    assert n.count("POST /v1/auth/refresh") - before["POST /v1/auth/refresh"] == 1
    assert n.count("POST /v1/auth/token") - before["POST /v1/auth/token"] == 1


def test_a_revoked_key_ends_in_one_typed_error_not_a_retry_loop():
    key, key_id = new_key(["customers:read"])
    c, n = client(key)
    c.get("/customers")
    admin().keys.revoke(key_id)
    refused_within_the_bound(c._state.access, time.time())
    before = {k: n.count(k) for k in ("GET /v1/customers", "POST /v1/auth/refresh", "POST /v1/auth/token")}
    with pytest.raises(keygate.AuthenticationError) as e:
        c.get("/customers")
    assert e.value.code == "invalid_api_key"
    # One 401, one refresh (refused), one exchange (refused): then the caller hears why.
    assert n.count("GET /v1/customers") - before["GET /v1/customers"] == 1
    assert n.count("POST /v1/auth/refresh") - before["POST /v1/auth/refresh"] == 1
    assert n.count("POST /v1/auth/token") - before["POST /v1/auth/token"] == 1

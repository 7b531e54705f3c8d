"""keygate.Client against the real stack: the token endpoints, the authorizer with its caches,
the sample backend. A counting transport under the client sees every request it sends."""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest

import keygate
from stack import BASE, ShiftClock, admin, client, new_key, raw, refused_within_the_bound

TOKEN = "POST /v1/auth/token"
REFRESH = "POST /v1/auth/refresh"
CUSTOMERS = "GET /v1/customers"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_exchange_and_call_a_protected_route_with_the_base_url_written_any_way(suffix):
    key, key_id = new_key(["customers:read", "billing:read"])
    c, n = client(key, BASE + suffix, scopes=["customers:read"], customer_id="cust-42")
    echo = c.get("/customers").json()
    assert echo["authorizer"]["key_id"] == key_id
    assert echo["authorizer"]["scope"] == "customers:read" and echo["authorizer"]["customer_id"] == "cust-42"
    assert c.get("/v1/customers").status_code == 200
    assert n.count(TOKEN) == 1 and n.count(CUSTOMERS) == 2
    assert n.auth[TOKEN] == ["Bearer " + key], "the key goes to the token endpoint…"
    assert all(a.startswith("Bearer eyJ") for a in n.auth[CUSTOMERS]), "…and nowhere else"


def test_a_missing_scope_is_a_typed_403_naming_it():
    key, _ = new_key(["customers:read", "billing:read"])
    c, n = client(key, scopes=["customers:read"])
    with pytest.raises(keygate.PermissionDeniedError) as e:
        c.delete("/customers/42")
    assert e.value.status == 403 and e.value.code == "insufficient_permissions" and e.value.required_scope == "customers:delete"
    with pytest.raises(keygate.PermissionDeniedError) as e:
        c.get("/billing")  # the key holds billing:read, the token was narrowed
    assert e.value.required_scope == "billing:read"
    assert n.count(REFRESH) == 0, "a 403 is not a reason to refresh"


def test_a_wrong_key_is_a_typed_error_and_nothing_reaches_the_route():
    key, _ = new_key(["customers:read"])
    c, n = client(key[:-1] + ("x" if key[-1] != "x" else "y"))
    with pytest.raises(keygate.AuthenticationError) as e:
        c.get("/customers")
    assert e.value.code == "invalid_api_key" and e.value.status == 401
    assert n.count(CUSTOMERS) == 0


def test_validate_describes_the_token():
    key, key_id = new_key(["customers:read"])
    c, _ = client(key, customer_id="cust-7")
    v = c.validate()
    assert v.valid and v.key_id == key_id and v.token_type == "access_token" and v.customer_id == "cust-7"
    assert v.scopes == ["customers:read"] and v.expires_at is not None


def test_the_token_is_refreshed_before_it_expires_with_the_rotated_refresh_token():
    key, key_id = new_key(["customers:read"])
    clock = ShiftClock()
    c, n = client(key, clock=clock, refresh_margin=60, refresh_jitter=0)
    c.get("/customers")
    first = c._state
    c.get("/customers")
    assert n.count(REFRESH) == 0, "refreshed a fresh token"
    clock.advance(first.expires_at - clock.now() - 30)  # the client thinks it expires in 30 s
    echo = c.get("/customers").json()
    second = c._state
    assert n.count(REFRESH) == 1 and n.count(TOKEN) == 1
    assert second.access != first.access and echo["authorizer"]["key_id"] == key_id
    assert n.auth[CUSTOMERS][-1] == "Bearer " + second.access
    # Another lifetime later: one more refresh, spending the successor.
    clock.advance(second.expires_at - clock.now() - 30)
    c.get("/customers")
    assert n.count(REFRESH) == 2 and n.count(TOKEN) == 1
    spent = [json.loads(b)["refresh_token"] for b in n.bodies[REFRESH]]
    assert spent == [first.refresh, second.refresh]


def test_a_revoked_token_costs_one_401_one_refresh_and_one_retry():
    key, key_id = new_key(["customers:read", "inference:write"])
    c, n = client(key)
    body = {"prompt": "hello", "max_tokens": 5}
    c.post("/inference/completions", json=body)
    old = c._state.access
    c.revoke_token(old)
    took = refused_within_the_bound(old, time.time(), "POST", "/v1/inference/completions", body)
    before = n.count("POST /v1/inference/completions")
    echo = c.post("/inference/completions", json=body).json()
    assert echo["authorizer"]["key_id"] == key_id
    assert n.count("POST /v1/inference/completions") - before == 2
    assert n.count(REFRESH) == 1 and n.count(TOKEN) == 1
    last_two = n.bodies["POST /v1/inference/completions"][-2:]
    assert last_two[0] == last_two[1] == json.dumps(body, separators=(",", ":")).encode()
    auths = n.auth["POST /v1/inference/completions"][-2:]
    assert auths[0] == "Bearer " + old and auths[1] != auths[0]
    print(f"the authorizer refused the revoked token after {took:.2f} s; one refresh and one retry recovered")


def test_50_threads_share_one_exchange_then_one_refresh():
    key, _ = new_key(["customers:read"])
    clock = ShiftClock()
    c, n = client(key, clock=clock, refresh_margin=60, refresh_jitter=0)

    def round_():
        gate = threading.Barrier(50)
        failures = []

        def call():
            gate.wait()
            try:
                c.get("/customers")
            except Exception as e:  # pragma: no cover - reported below
                failures.append(repr(e))

        threads = [threading.Thread(target=call) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures

    round_()
    assert n.count(TOKEN) == 1
    clock.advance(c._state.expires_at - clock.now() - 30)
    round_()
    assert n.count(REFRESH) == 1 and n.count(TOKEN) == 1 and n.count(CUSTOMERS) == 100


def test_rate_limited_exchanges_are_typed_and_retried_after_retry_after():
    for _ in range(2):  # a minute boundary between the requests restarts the window: once more
        key, _ = new_key(["customers:read"], rate_limit=1)
        first, _ = client(key)
        first.access_token()  # the key's one request this minute
        clock = ShiftClock(fake_sleep=True)
        patient, n = client(key, clock=clock, retry=keygate.RetryPolicy(max_attempts=3, max_wait=60))
        try:
            patient.access_token()
        except keygate.RateLimitError as e:
            assert e.code == "rate_limit_exceeded" and e.status == 429 and 1 <= e.retry_after <= 60
            # It waited what the service asked, each time, and gave up after max_attempts.
            assert n.count(TOKEN) == 3 and len(clock.slept) == 2
            assert all(1 <= s <= 60 for s in clock.slept)
            break
    else:
        pytest.fail("the rate limit never answered 429")
    # A caller that will not wait that long gets the error at once.
    impatient, n = client(key, clock=ShiftClock(fake_sleep=True), retry=keygate.RetryPolicy(max_wait=0.5))
    with pytest.raises(keygate.RateLimitError) as e:
        impatient.access_token()
    assert e.value.retry_after >= 1 and n.count(TOKEN) == 1


def test_rotating_the_key_with_grace_keeps_the_old_one_working_until_the_grace_ends():
    grace = 5  # seconds: long enough for the checks inside it on a loaded machine
    key, key_id = new_key(["customers:read"])
    old, n = client(key)
    old.get("/customers")
    rotated = admin().keys.rotate(key_id, grace_period=grace)
    rotated_at = time.time()
    assert rotated.secret.reveal() != key and rotated.previous_key_valid_until is not None
    new, _ = client(rotated.secret.reveal())
    # Inside the grace period both secrets and the old tokens work.
    assert old.get("/customers").status_code == 200
    assert client(key)[0].get("/customers").status_code == 200
    # The new secret works at once, on protected routes too: a warm authorizer re-reads a key
    # when a token names a newer generation than it has cached.
    assert new.validate().key_id == key_id
    assert new.get("/customers").status_code == 200
    assert time.time() - rotated_at < grace, "the machine is too slow for this test"
    # After it, the old secret and the tokens minted with it stop: the old client's request is
    # refused, it tries to renew once (refresh, then exchange) and reports the key's refusal.
    time.sleep(max(0.0, rotated_at + grace + 1 - time.time()))
    deadline = time.time() + 5
    while True:
        try:
            old.get("/customers")
        except keygate.AuthenticationError as e:
            assert e.code == "invalid_api_key"
            break
        assert time.time() < deadline, "the old key still works after its grace period"
        time.sleep(0.3)
    assert new.get("/customers").status_code == 200


def test_close_ends_the_login():
    key, _ = new_key(["customers:read"])
    c, n = client(key)
    c.get("/customers")
    held = c._state
    c.close()
    (sent,) = n.bodies["POST /v1/auth/revoke"]
    assert json.loads(sent) == {"token": held.refresh}
    r = raw("POST", "/v1/auth/refresh", json={"refresh_token": held.refresh})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_grant"
    refused_within_the_bound(held.access, time.time())


def test_the_auth_and_the_requests_adapter_work_in_the_callers_own_clients():
    import requests

    from keygate.requests_auth import KeygateRequestsAuth

    key, key_id = new_key(["customers:read"])
    c, _ = client(key)
    with httpx.Client(auth=c.auth, base_url=BASE) as hc:
        assert hc.get("/v1/customers").json()["authorizer"]["key_id"] == key_id
    s = requests.Session()
    s.auth = KeygateRequestsAuth(c)
    assert s.get(BASE + "/v1/customers", timeout=30).json()["authorizer"]["key_id"] == key_id


def test_no_secret_reaches_a_log_record_or_a_repr(caplog):
    caplog.set_level(logging.DEBUG)
    key, _ = new_key(["customers:read"])
    clock = ShiftClock()
    c, _ = client(key, clock=clock, refresh_jitter=0)
    c.get("/customers")
    first = c._state
    clock.advance(first.expires_at - clock.now() - 30)
    c.get("/customers")
    second = c._state
    texts = [r.getMessage() for r in caplog.records] + [repr(c), repr(c.auth), repr(first), repr(second)]
    for secret in (key, first.access, first.refresh, second.access, second.refresh):
        assert not [t for t in texts if secret in t]
    assert any("HTTP Request" in t for t in texts), "httpx logged nothing: the test proves nothing"

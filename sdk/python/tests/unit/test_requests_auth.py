"""keygate.requests_auth: the same rules for code on ``requests``."""

from __future__ import annotations

import httpx
import pytest
import requests
from requests.adapters import BaseAdapter
from requests.models import Response
from requests.structures import CaseInsensitiveDict

import keygate
from fakes import API_KEY, BASE, FakeKeygate, ManualClock, make_client
from keygate.requests_auth import KeygateRequestsAuth


class FakeAdapter(BaseAdapter):
    """Sends requests to the fake service (which speaks httpx) and records them."""

    def __init__(self, fake: FakeKeygate) -> None:
        super().__init__()
        self.fake = fake

    def send(self, request, **kwargs):
        body = request.body.encode() if isinstance(request.body, str) else request.body
        r = self.fake.handle(httpx.Request(request.method, request.url, headers=dict(request.headers), content=body or b""))
        r.read()
        resp = Response()
        resp.status_code = r.status_code
        resp.headers = CaseInsensitiveDict(r.headers)
        resp._content = r.content
        resp.url = request.url
        resp.request = request
        resp.connection = self
        resp.reason = r.reason_phrase
        return resp

    def close(self):
        pass


def session(fake: FakeKeygate, client: keygate.Client) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.mount("https://", FakeAdapter(fake))
    s.auth = KeygateRequestsAuth(client)
    return s


def test_a_session_gets_the_token_only_for_the_api():
    fake = FakeKeygate()
    s = session(fake, make_client(fake))
    assert s.get(BASE + "/v1/customers").status_code == 200
    assert s.get("https://evil.test/v1/customers").status_code == 401
    sent = fake.sent_to("GET /v1/customers")
    assert sent[0].auth.startswith("Bearer eyJ") and sent[1].auth == ""
    assert API_KEY not in sent[0].auth


def test_a_401_refreshes_once_and_retries_once_with_the_body():
    fake = FakeKeygate()
    c = make_client(fake)
    s = session(fake, c)
    c.access_token()
    fake.revoke_access(c._state.access)
    r = s.post(BASE + "/v1/inference/completions", json={"prompt": "hi"})
    assert r.status_code == 200 and r.json()["body"] == {"prompt": "hi"} and len(r.history) == 1
    assert fake.count("POST /v1/inference/completions") == 2 and fake.count("POST /v1/auth/refresh") == 1
    fake.script("GET /v1/customers", *[httpx.Response(401, json={"error": {"code": "invalid_token", "message": "no", "type": "authentication_error"}})] * 5)
    assert s.get(BASE + "/v1/customers").status_code == 401
    assert fake.count("GET /v1/customers") == 2


def test_429_is_retried_after_retry_after():
    fake = FakeKeygate()
    clock = ManualClock()
    c = make_client(fake, clock)
    s = session(fake, c)
    fake.script("GET /v1/customers", httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": "rate_limit_exceeded", "message": "m", "type": "rate_limit_error", "retry_after": 3}}))
    assert s.get(BASE + "/v1/customers").status_code == 200
    assert clock.slept == [3.0]


def test_a_spent_quota_is_not_retried():
    fake = FakeKeygate()
    clock = ManualClock()
    s = session(fake, make_client(fake, clock, retry=keygate.RetryPolicy(max_wait=7200)))
    fake.script("GET /v1/customers", httpx.Response(429, headers={"Retry-After": "3600"}, json={"error": {"code": "quota_exceeded", "message": "m", "type": "rate_limit_error", "retry_after": 3600}}))
    r = s.get(BASE + "/v1/customers")
    assert r.status_code == 429 and r.headers["retry-after"] == "3600"
    assert clock.slept == [] and fake.count("GET /v1/customers") == 1


def test_no_credential_after_a_redirect_through_another_origin():
    fake = FakeKeygate()
    c = make_client(fake)
    s = session(fake, c)
    fake.script("GET /go", httpx.Response(302, headers={"Location": BASE + "/v1/customers"}))
    r = s.get("https://evil.test/go")
    assert r.status_code == 401, "the API saw no credential, and the client did not add one"
    assert fake.sent_to("GET /v1/customers")[-1].auth == ""
    assert fake.count("POST /v1/auth/refresh") == 0


@pytest.mark.parametrize("target", ["https://evil.test/steal", "http://api.example.com/v1/customers"])
def test_a_redirect_away_from_the_api_drops_the_credential(target):
    fake = FakeKeygate()
    s = session(fake, make_client(fake))
    s.mount("http://", FakeAdapter(fake))
    fake.script("GET /v1/moved", httpx.Response(307, headers={"Location": target}))
    s.get(BASE + "/v1/moved")
    assert fake.sent[-1].url == target and fake.sent[-1].auth == ""


def test_its_repr_hides_the_key():
    fake = FakeKeygate()
    assert API_KEY not in repr(KeygateRequestsAuth(make_client(fake)))

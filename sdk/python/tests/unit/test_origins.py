"""The credential goes only to the API's origin (scheme, host, port): never to another host,
never over plain http when the base is https, never after a redirect through another origin."""

from __future__ import annotations

import httpx
import pytest

import keygate
from fakes import API_KEY, FakeKeygate, ManualClock

CASES = [
    ("the base URL's origin gets it", "https://api.example.com", "https://api.example.com/v1/customers", True),
    ("the default port spelt out is the same origin", "https://api.example.com", "https://api.example.com:443/v1/customers", True),
    ("a base with the default port spelt out matches one without", "https://api.example.com:443", "https://api.example.com/v1/customers", True),
    ("host names compare without case", "https://api.example.com", "https://API.Example.COM/v1/customers", True),
    ("a base path prefix does not narrow the origin", "https://api.example.com/auth", "https://api.example.com/v1/customers", True),
    ("a plain-HTTP base gets it over HTTP", "http://127.0.0.1:3000", "http://127.0.0.1:3000/v1/customers", True),
    ("http's default port spelt out is the same origin", "http://localhost", "http://localhost:80/v1/customers", True),
    ("plain HTTP to an HTTPS base's host never does", "https://api.example.com", "http://api.example.com/v1/customers", False),
    ("plain HTTP on port 443 never does", "https://api.example.com", "http://api.example.com:443/v1/customers", False),
    ("HTTPS to an HTTP base's host:port is another origin", "http://127.0.0.1:3000", "https://127.0.0.1:3000/v1/customers", False),
    ("another port of the same host is another origin", "https://api.example.com", "https://api.example.com:8443/v1/customers", False),
    ("a host that merely starts with the API's is another origin", "https://api.example.com", "https://api.example.com.evil.test/v1/customers", False),
    ("a subdomain is another origin", "https://example.com", "https://api.example.com/v1/customers", False),
    ("a third party gets nothing", "https://api.example.com", "https://evil.test/v1/customers", False),
]


class Recorder:
    """Answers every request: token requests with a token, others 200, recording the
    Authorization header each URL got. Redirects are scripted by URL."""

    def __init__(self) -> None:
        self.auth: dict = {}
        self.redirects: dict = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if request.url.path.endswith("/v1/auth/token"):
            return httpx.Response(200, json={"access_token": "eyJfake.token.sig", "token_type": "Bearer", "expires_in": 900, "refresh_token": "kgr_" + "x" * 43, "scope": ""})
        self.auth.setdefault(url, []).append(request.headers.get("authorization", ""))
        if url in self.redirects:
            status, location = self.redirects[url]
            return httpx.Response(status, headers={"Location": location})
        return httpx.Response(200, json={})


@pytest.mark.parametrize("name, base, url, attached", CASES, ids=[c[0] for c in CASES])
def test_credentials_go_only_to_the_base_urls_origin(name, base, url, attached):
    rec = Recorder()
    c = keygate.Client(base, API_KEY, http_client=httpx.Client(transport=httpx.MockTransport(rec)), clock=ManualClock())
    c.request("GET", url)
    got = rec.auth[str(httpx.URL(url))]
    assert got == (["Bearer eyJfake.token.sig"] if attached else [""])


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_no_credential_reaches_the_api_through_a_redirect_from_another_origin(status):
    rec = Recorder()
    rec.redirects["https://evil.test/go"] = (status, "https://api.example.com/v1/customers")
    c = keygate.Client("https://api.example.com", API_KEY, http_client=httpx.Client(transport=httpx.MockTransport(rec)), clock=ManualClock())
    c.request("POST", "https://evil.test/go", content=b"{}", follow_redirects=True)
    assert rec.auth["https://api.example.com/v1/customers"] == [""]


@pytest.mark.parametrize(
    "target",
    ["https://evil.test/steal", "http://api.example.com/v1/customers", "https://api.example.com:8443/v1/customers"],
    ids=["another host", "a downgrade to plain http", "another port"],
)
def test_a_redirect_away_from_the_api_drops_the_credential(target):
    rec = Recorder()
    rec.redirects["https://api.example.com/v1/moved"] = (307, target)
    c = keygate.Client("https://api.example.com", API_KEY, http_client=httpx.Client(transport=httpx.MockTransport(rec)), clock=ManualClock())
    c.request("GET", "/moved", follow_redirects=True)
    assert rec.auth["https://api.example.com/v1/moved"] == ["Bearer eyJfake.token.sig"]
    assert rec.auth[target] == [""]


def test_a_redirect_that_leaves_and_comes_back_carries_nothing_back():
    rec = Recorder()
    rec.redirects["https://api.example.com/v1/out"] = (302, "https://evil.test/bounce")
    rec.redirects["https://evil.test/bounce"] = (302, "https://api.example.com/v1/customers")
    c = keygate.Client("https://api.example.com", API_KEY, http_client=httpx.Client(transport=httpx.MockTransport(rec)), clock=ManualClock())
    c.request("GET", "/out", follow_redirects=True)
    assert rec.auth["https://evil.test/bounce"] == [""]
    assert rec.auth["https://api.example.com/v1/customers"] == [""]


def test_the_clients_own_calls_never_follow_redirects():
    fake = FakeKeygate()
    fake.script("POST /v1/auth/token", httpx.Response(307, headers={"Location": "https://evil.test/token"}))
    c = keygate.Client("https://api.example.com", API_KEY, http_client=httpx.Client(transport=fake.transport()), clock=ManualClock())
    with pytest.raises(keygate.KeygateError) as e:
        c.access_token()
    assert e.value.status == 307
    assert [s.url for s in fake.sent] == ["https://api.example.com/v1/auth/token"]


def test_api_origins_add_origins_not_hosts():
    rec = Recorder()
    c = keygate.Client(
        "https://api.example.com",
        API_KEY,
        api_origins=["https://api2.example.com", "https://api.example.com:8443/"],
        http_client=httpx.Client(transport=httpx.MockTransport(rec)),
        clock=ManualClock(),
    )
    for url in ["https://api2.example.com/v1/x", "https://api.example.com:8443/v1/x", "https://api2.example.com:8443/v1/x", "http://api2.example.com/v1/x"]:
        c.request("GET", url)
    assert rec.auth["https://api2.example.com/v1/x"] == ["Bearer eyJfake.token.sig"]
    assert rec.auth["https://api.example.com:8443/v1/x"] == ["Bearer eyJfake.token.sig"]
    assert rec.auth["https://api2.example.com:8443/v1/x"] == [""]
    assert rec.auth["http://api2.example.com/v1/x"] == [""]


@pytest.mark.parametrize(
    "origin",
    ["api2.example.com", "https://api2.example.com/v1", "https://u:p@api2.example.com", "https://api2.example.com?x", "ftp://api2.example.com", "http://api2.example.com"],
)
def test_api_origins_that_are_not_https_origins_are_refused(origin):
    with pytest.raises(ValueError):
        keygate.Client("https://api.example.com", API_KEY, api_origins=[origin])


def test_a_plain_http_extra_origin_is_fine_for_a_plain_http_base():
    keygate.Client("http://127.0.0.1:3000", API_KEY, api_origins=["http://127.0.0.1:3001"])

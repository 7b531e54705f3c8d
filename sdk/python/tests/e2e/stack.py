"""Helpers of the end-to-end suite. It runs against a real keygate stack: the local API
Gateway, the real function binaries, the emulators. infra/test/sdk (``make test``) starts one
and runs this suite with its address and an admin key in the environment:

    KEYGATE_SDK_BASE_URL        the API (http://127.0.0.1:PORT)
    KEYGATE_SDK_ADMIN_KEY       an admin:full API key
    KEYGATE_SDK_REVOCATION_BOUND  seconds a revocation may take to reach every route
    KEYGATE_SDK_REFRESH_GRACE   the stage's RefreshGrace in seconds
    KEYGATE_SDK_WEBHOOK_VECTORS deliveries signed by shared/webhook (Go), to verify here
    KEYGATE_SDK_WEBHOOK_OUT     where to write deliveries signed here, for Go to verify

Without KEYGATE_SDK_BASE_URL every test here is skipped.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import httpx

import keygate

BASE = os.environ.get("KEYGATE_SDK_BASE_URL", "")
ADMIN_KEY = os.environ.get("KEYGATE_SDK_ADMIN_KEY", "")
REVOCATION_BOUND = float(os.environ.get("KEYGATE_SDK_REVOCATION_BOUND", "3"))
REFRESH_GRACE = float(os.environ.get("KEYGATE_SDK_REFRESH_GRACE", "2"))


class ShiftClock:
    """The real clock moved forward by an offset the test sets: the client believes its token
    is about to expire while the service, on the real clock, still accepts it."""

    def __init__(self, fake_sleep: bool = False) -> None:
        self.offset = 0.0
        self.fake_sleep = fake_sleep
        self.slept: List[float] = []

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if not self.fake_sleep:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import asyncio

        self.slept.append(seconds)
        if not self.fake_sleep:
            await asyncio.sleep(seconds)


class Counting:
    """Counts requests by "METHOD /path" and keeps each one's Authorization and body."""

    def __init__(self) -> None:
        self.n: Counter = Counter()
        self.auth: Dict[str, List[str]] = {}
        self.bodies: Dict[str, List[bytes]] = {}
        self.mu = threading.Lock()

    def note(self, request: httpx.Request) -> None:
        k = f"{request.method} {request.url.path}"
        with self.mu:
            self.n[k] += 1
            self.auth.setdefault(k, []).append(request.headers.get("authorization", ""))
            self.bodies.setdefault(k, []).append(request.content if isinstance(request.stream, httpx.ByteStream) else b"")

    def count(self, k: str) -> int:
        with self.mu:
            return self.n[k]


class CountingTransport(httpx.BaseTransport):
    def __init__(self, counting: Counting) -> None:
        self.counting = counting
        self.next = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.counting.note(request)
        return self.next.handle_request(request)


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, counting: Counting) -> None:
        self.counting = counting
        self.next = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.counting.note(request)
        return await self.next.handle_async_request(request)


def client(key: str, base: Optional[str] = None, **kw: Any) -> Tuple[keygate.Client, Counting]:
    counting = Counting()
    c = keygate.Client(base or BASE, key, http_client=httpx.Client(transport=CountingTransport(counting), timeout=30), **kw)
    return c, counting


def async_client(key: str, **kw: Any) -> Tuple[keygate.AsyncClient, Counting]:
    counting = Counting()
    c = keygate.AsyncClient(BASE, key, http_client=httpx.AsyncClient(transport=AsyncCountingTransport(counting), timeout=30), **kw)
    return c, counting


_admin: Optional[keygate.Client] = None


def admin() -> keygate.Client:
    global _admin
    if _admin is None:
        _admin = keygate.Client(BASE, ADMIN_KEY)
    return _admin


def new_key(scopes: List[str], **kw: Any) -> Tuple[str, str]:
    """Creates a key through the admin helpers; returns its secret and id."""
    created = admin().keys.create("py-sdk-" + uuid.uuid4().hex[:8], scopes, rate_limit=kw.pop("rate_limit", 100_000), **kw)
    return created.secret.reveal(), created.key_id


def raw(method: str, path: str, bearer: str = "", json: Any = None) -> httpx.Response:
    """One request to the API without the client (what a hand-written caller would send)."""
    headers = {"Authorization": "Bearer " + bearer} if bearer else {}
    return httpx.request(method, BASE + path, headers=headers, json=json, timeout=30)


def refused_within_the_bound(token: str, since: float, method: str = "GET", path: str = "/v1/customers", json: Any = None) -> float:
    """Polls a protected route with token until the authorizer refuses it; returns how long
    that took. Fails past the stack's revocation bound (plus slack). Poll the route the test
    calls next: API Gateway caches the authorizer's answer per credential and route."""
    while True:
        r = raw(method, path, token, json=json)
        if r.status_code == 401:
            return time.time() - since
        # A revoked key's usage plan goes at once: while API Gateway still holds the authorizer's
        # cached Allow, the call is refused with 403 key_not_provisioned (docs/usage-plans.md).
        if r.status_code == 403:
            assert '"key_not_provisioned"' in r.text, r.text
        else:
            assert r.status_code == 200, r.text
        assert time.time() - since < REVOCATION_BOUND + 5, f"still accepted {time.time() - since:.1f} s after the revocation"
        time.sleep(0.2)

"""A fake keygate service (an httpx.MockTransport handler) and a manual clock.

The fake keeps the service's token rules that the client depends on: the API key exchanged at
/v1/auth/token, refresh tokens single use with rotation, and a spent one presented again
revoking its whole family (the access tokens minted in it included); protected routes answer
401 for unknown or revoked tokens. Answers can be scripted per route to inject 401/429/503.
The admin API keeps the service's tiers: an unknown tier is a 400, a key without rate_limit
gets its tier's, and usage is reported per day from what a test records (record_usage).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

import httpx

API_KEY = "kg_test_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + "_x9Y8z7"
ADMIN_KEY = "kg_test_" + "Z1y2X3w4V5u6T7s8R9q0P1o2N3m4L5k6J7i8" + "_a1B2c3"
BASE = "https://api.example.com"

# The template's tiers: rate_limit per minute, burst, quota, quota period (docs/usage-plans.md).
TIERS = {
    "free": (60, 60, 10_000, "DAY"),
    "startup": (1_000, 1_000, 1_000_000, "MONTH"),
    "growth": (10_000, 5_000, 20_000_000, "MONTH"),
    "enterprise": (100_000, 5_000, 500_000_000, "MONTH"),
}
DEFAULT_TIER = "startup"
TODAY = date(2026, 1, 15)  # the fake's today (UTC), for usage


class ManualClock:
    """A clock that moves only when told; sleeping records the wait and moves it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start
        self.slept: List[float] = []
        self._mu = threading.Lock()

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        with self._mu:
            self.t += seconds

    def sleep(self, seconds: float) -> None:
        with self._mu:
            self.slept.append(seconds)
            self.t += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


def error(status: int, code: str, message: str = "x", etype: str = "invalid_request_error", **extra: Any) -> httpx.Response:
    body: Dict[str, Any] = {"code": code, "message": message, "type": etype}
    body.update(extra)
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else {}
    return httpx.Response(status, json={"error": body}, headers=headers)


@dataclass
class Sent:
    method: str
    url: str
    path: str
    auth: str
    body: bytes


@dataclass
class Family:
    revoked: bool = False


@dataclass
class FakeKeygate:
    api_keys: Tuple[str, ...] = (API_KEY, ADMIN_KEY)
    expires_in: int = 900
    delay: float = 0.0  # seconds each token-endpoint answer takes (to make callers overlap)
    scripts: Dict[str, List[Any]] = field(default_factory=dict)
    sent: List[Sent] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)
    refresh: Dict[str, Tuple[Family, bool]] = field(default_factory=dict)  # token -> (family, spent)
    access: Dict[str, Family] = field(default_factory=dict)
    keys: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    events: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    usage: Dict[Tuple[str, date], int] = field(default_factory=dict)  # (key id, day) -> calls
    mu: threading.Lock = field(default_factory=threading.Lock)

    # --- plumbing ---------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def async_transport(self) -> httpx.MockTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            await request.aread()
            if self.delay and request.url.path.startswith("/v1/auth/"):
                await asyncio.sleep(self.delay)
            return self._answer(request)

        return httpx.MockTransport(handle)

    def script(self, route: str, *answers: Any) -> None:
        """Queues answers (httpx.Response, or callables of the request) for "METHOD /path"."""
        self.scripts.setdefault(route, []).extend(answers)

    def count(self, route: str) -> int:
        with self.mu:
            return self.calls[route]

    def sent_to(self, route: str) -> List[Sent]:
        with self.mu:
            return [s for s in self.sent if f"{s.method} {s.path}" == route]

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if self.delay and request.url.path.startswith("/v1/auth/"):
            time.sleep(self.delay)
        return self._answer(request)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        with self.mu:
            self.calls[route] += 1
            self.sent.append(Sent(request.method, str(request.url), request.url.path, request.headers.get("authorization", ""), request.content))
            queued = self.scripts.get(route)
            answer = queued.pop(0) if queued else None
        if answer is not None:
            return answer(request) if callable(answer) else answer
        path = request.url.path
        if path == "/v1/auth/token":
            return self._token(request)
        if path == "/v1/auth/refresh":
            return self._refresh(request)
        if path == "/v1/auth/revoke":
            return self._revoke(request)
        fam = self._bearer_token(request)
        if fam is None:
            return error(401, "invalid_token", "The access token is invalid or revoked.", "authentication_error")
        if path == "/v1/auth/validate":
            return httpx.Response(200, json={"valid": True, "key_id": "key_01234567890123456789", "scopes": ["customers:read"], "rate_limit": 1000, "token_type": "access_token", "expires_at": "2027-01-15T08:00:00Z"})
        if path.startswith("/v1/keys"):
            return self._keys(request)
        body = json.loads(request.content) if request.content else None
        return httpx.Response(200, json={"message": "authorized", "path": path, "method": request.method, "body": body, "authorizer": {"key_id": "key_01234567890123456789"}})

    # --- tokens -----------------------------------------------------------------------------

    def _pair(self, fam: Family) -> httpx.Response:
        access = "eyJ" + secrets.token_urlsafe(24)
        refresh = "kgr_" + secrets.token_urlsafe(32)[:43]
        with self.mu:
            self.access[access] = fam
            self.refresh[refresh] = (fam, False)
        return httpx.Response(
            200,
            json={"access_token": access, "token_type": "Bearer", "expires_in": self.expires_in, "refresh_token": refresh, "scope": "customers:read"},
            headers={"Cache-Control": "no-store"},
        )

    def _token(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.api_keys:
            return error(401, "invalid_api_key", "The API key is invalid.", "authentication_error")
        return self._pair(Family())

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        tok = json.loads(request.content).get("refresh_token", "")
        with self.mu:
            entry = self.refresh.get(tok)
            if entry is None:
                return error(400, "invalid_grant", "The refresh token is invalid.")
            fam, spent = entry
            if spent or fam.revoked:
                fam.revoked = True  # reuse: the whole family goes
                return error(400, "invalid_grant", "The refresh token was already used; its login is revoked.")
            self.refresh[tok] = (fam, True)
        return self._pair(fam)

    def _revoke(self, request: httpx.Request) -> httpx.Response:
        tok = json.loads(request.content).get("token", "")
        with self.mu:
            if tok in self.refresh:
                self.refresh[tok][0].revoked = True
            elif tok in self.access:
                self.access[tok] = Family(revoked=True)
        return httpx.Response(200, json={})

    def _bearer_token(self, request: httpx.Request) -> Optional[Family]:
        auth = request.headers.get("authorization", "")
        tok = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        with self.mu:
            fam = self.access.get(tok)
        return fam if fam is not None and not fam.revoked else None

    def revoke_access(self, token: str) -> None:
        with self.mu:
            self.access[token] = Family(revoked=True)

    def record_usage(self, key_id: str, day: date, calls: int) -> None:
        with self.mu:
            self.usage[(key_id, day)] = self.usage.get((key_id, day), 0) + calls

    # --- admin ------------------------------------------------------------------------------

    def _keys(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")  # v1 keys [id [rotate|events]]
        body = json.loads(request.content) if request.content else {}
        with self.mu:
            if len(parts) == 2 and request.method == "POST":
                tier = body.get("tier", DEFAULT_TIER)
                if tier not in TIERS:
                    return _unknown_tier()
                kid = "key_" + secrets.token_hex(10)
                k = {"key_id": kid, "name": body["name"], "scopes": body["scopes"], "allowed_ips": body.get("allowed_ips", []),
                     "rate_limit": body.get("rate_limit", TIERS[tier][0]), "tier": tier, "status": "active",
                     "key_gen": 1, "created_at": "2026-01-15T08:00:00Z"}
                self.keys[kid] = k
                self.events[kid] = [{"time": "2026-01-15T08:00:00Z", "action": "key.created", "key_id": kid}]
                return httpx.Response(201, json={**k, "key": "kg_test_" + secrets.token_hex(18) + "_abcdef", "warning": "store it"})
            if len(parts) == 2 and request.method == "GET":
                ids = sorted(self.keys)
                limit = int(request.url.params.get("limit", "50"))
                start = ids.index(request.url.params["cursor"]) if "cursor" in request.url.params else 0
                page = ids[start : start + limit]
                out: Dict[str, Any] = {"data": [self.keys[i] for i in page]}
                if start + limit < len(ids):
                    out["next_cursor"] = ids[start + limit]
                return httpx.Response(200, json=out)
            kid = parts[2]
            k = self.keys.get(kid)
            if k is None:
                return error(404, "not_found", "No key with that id.")
            if len(parts) == 3 and request.method == "GET":
                return httpx.Response(200, json=k)
            if len(parts) == 3 and request.method == "PATCH":
                if k["status"] == "revoked":
                    return error(409, "key_revoked", "The key is revoked.")
                if "tier" in body:
                    if body["tier"] not in TIERS:
                        return _unknown_tier()
                    body.setdefault("rate_limit", TIERS[body["tier"]][0])
                k.update(body)
                self.events[kid].insert(0, {"time": "2026-01-15T08:01:00Z", "action": "key.updated", "key_id": kid})
                return httpx.Response(200, json=k)
            if len(parts) == 3 and request.method == "DELETE":
                k["status"] = "revoked"
                self.events[kid].insert(0, {"time": "2026-01-15T08:02:00Z", "action": "key.revoked", "key_id": kid})
                return httpx.Response(200, json=k)
            if parts[3] == "usage" and request.method == "GET":
                return self._usage(k, request.url.params.get("days", "7"))
            if parts[3] == "rotate":
                k["key_gen"] += 1
                grace = body.get("grace_period_seconds", 86400)
                out = {**k, "key": "kg_test_" + secrets.token_hex(18) + "_fedcba", "warning": "store it"}
                if grace:
                    out["previous_key_valid_until"] = "2026-01-16T08:00:00Z"
                self.events[kid].insert(0, {"time": "2026-01-15T08:01:30Z", "action": "key.rotated", "key_id": kid, "detail": f"grace {grace}"})
                return httpx.Response(200, json=out)
            if parts[3] == "events":
                evs = self.events[kid]
                limit = int(request.url.params.get("limit", "50"))
                start = int(request.url.params.get("cursor", "0"))
                out = {"data": evs[start : start + limit]}
                if start + limit < len(evs):
                    out["next_cursor"] = str(start + limit)
                return httpx.Response(200, json=out)
        return error(405, "method_not_allowed", "No.")

    def _usage(self, k: Dict[str, Any], days_param: str) -> httpx.Response:
        """GET /v1/keys/{id}/usage as the service answers it (call with mu held)."""
        if not days_param.isdigit() or not 1 <= int(days_param) <= 90:
            return error(400, "invalid_request", "days must be a whole number from 1 to 90.")
        if k["status"] == "revoked":
            return error(404, "not_found", "The key has no usage plan (revoked, expired, or made before usage plans: authctl keys sync adds it).")
        tier, rate = k["tier"], k["rate_limit"]
        tier_rate, burst, quota, period = TIERS[tier]
        own = rate != tier_rate
        plan = {"name": f"keygate-local-{tier}" + (f"-{rate}pm" if own else ""), "rate_limit": rate,
                "burst": min(rate, 5_000) if own else burst, "quota_limit": quota, "quota_period": period}

        def period_start(d: date) -> date:  # API Gateway's: midnight, Sunday, the 1st (UTC)
            if period == "DAY":
                return d
            if period == "WEEK":
                return d - timedelta(days=(d.weekday() + 1) % 7)
            return d.replace(day=1)

        out_days = []
        for i in range(int(days_param) - 1, -1, -1):
            d = TODAY - timedelta(days=i)
            spent = sum(n for (kid, day), n in self.usage.items() if kid == k["key_id"] and period_start(d) <= day <= d)
            out_days.append({"date": d.isoformat(), "used": self.usage.get((k["key_id"], d), 0), "remaining": quota - spent})
        return httpx.Response(200, json={"key_id": k["key_id"], "tier": tier, "plan": plan, "days": out_days,
                                         "remaining": out_days[-1]["remaining"]}, headers={"Cache-Control": "no-store"})


def _unknown_tier() -> httpx.Response:
    return error(400, "invalid_request", "tier must be one of " + ", ".join(TIERS) + " (each is a usage plan of this stage).")


def make_client(fake: FakeKeygate, clock: Optional[ManualClock] = None, key: str = API_KEY, base: str = BASE, **kw: Any):
    import keygate

    return keygate.Client(base, key, http_client=httpx.Client(transport=fake.transport()), clock=clock or ManualClock(), **kw)


def make_async_client(fake: FakeKeygate, clock: Optional[ManualClock] = None, key: str = API_KEY, base: str = BASE, **kw: Any):
    import keygate

    return keygate.AsyncClient(base, key, http_client=httpx.AsyncClient(transport=fake.async_transport()), clock=clock or ManualClock(), **kw)


Handler = Callable[[httpx.Request], httpx.Response]

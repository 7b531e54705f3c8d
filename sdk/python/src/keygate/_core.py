"""What the sync and async clients share, without I/O: the base URL and the origins the
credential may go to, the token state and when it is due, the retry decisions, redaction."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, replace
from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional, Protocol, Tuple
from urllib.parse import urlsplit

from .errors import QUOTA_EXCEEDED, KeygateError, parse_error

DEFAULT_REFRESH_MARGIN = 60.0
DEFAULT_REFRESH_JITTER = 30.0
TOKEN_PATH = "/v1/auth/token"
REFRESH_PATH = "/v1/auth/refresh"
REVOKE_PATH = "/v1/auth/revoke"
VALIDATE_PATH = "/v1/auth/validate"


class Clock(Protocol):
    """The time source: ``now`` decides when a token is due, ``sleep``/``asleep`` wait
    between retries. Inject one to test without waiting."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds the retries of 429 and 503 answers (a 429 ``quota_exceeded`` is never retried:
    it is raised at once as a RateLimitError with ``retry_after``).

    Attributes:
        max_attempts: tries in all, the first included (1 = no retry).
        max_wait: the longest single wait; a Retry-After above it is not waited for, the
            error is raised at once.
        base_delay: the first exponential-backoff ceiling when the answer names no delay
            (doubled per retry, full jitter).
    """

    max_attempts: int = 4
    max_wait: float = 30.0
    base_delay: float = 0.5


Origin = Tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> Optional[Origin]:
    """The origin (scheme, lower-case host, port) of an http(s) URL, None for anything else."""
    try:
        u = urlsplit(str(url))
        port = u.port
    except ValueError:
        return None
    scheme = u.scheme.lower()
    host = (u.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return (scheme, host, port if port is not None else _DEFAULT_PORTS[scheme])


def parse_origin(s: str) -> Origin:
    """An ``api_origins`` entry: scheme://host[:port] and nothing else (a trailing / allowed)."""
    try:
        u = urlsplit(s)
    except ValueError:
        u = None
    o = origin_of(s) if u is not None else None
    if u is None or o is None or u.username or u.password or u.path not in ("", "/") or u.query or u.fragment:
        raise ValueError(f"keygate: {s!r} is not an origin such as https://api.example.com or https://api.example.com:8443")
    return o


@dataclass(frozen=True)
class Endpoint:
    """Where the service is: ``root`` is the base URL without a trailing ``/v1`` (scheme,
    host, optional port and path prefix); ``origins`` may receive the credential."""

    root: str
    origins: FrozenSet[Origin]

    @classmethod
    def parse(cls, base_url: str, api_origins: Iterable[str] = ()) -> "Endpoint":
        if not isinstance(base_url, str):
            raise TypeError("keygate: base_url must be a str")
        try:
            u = urlsplit(base_url.strip())
        except ValueError:
            u = None
        base = origin_of(base_url.strip()) if u is not None else None
        if u is None or base is None or u.username or u.password or u.query or u.fragment:
            raise ValueError(
                f"keygate: base URL must be http(s)://host[:port][/prefix][/v1], got {base_url!r}"
            )
        path = u.path.rstrip("/")
        if path.endswith("/v1"):
            path = path[: -len("/v1")]
        netloc = u.netloc.rsplit("@", 1)[-1]
        root = f"{u.scheme.lower()}://{netloc}{path}"
        origins = {base}
        bad = []
        for s in api_origins:
            try:
                o = parse_origin(s)
            except ValueError as e:
                bad.append(str(e))
                continue
            if base[0] == "https" and o[0] != "https":
                bad.append(
                    f"keygate: api_origins: {s!r} is plain http and the base URL is https: the credential would cross the network in clear text"
                )
                continue
            origins.add(o)
        if bad:
            raise ValueError("; ".join(bad))
        return cls(root=root, origins=frozenset(origins))

    def url(self, path: str) -> str:
        """An absolute URL for ``path``. Absolute URLs are returned as they are. A path is
        relative to the base URL: ``/v1/…`` and ``/.well-known/…`` as written, any other path
        under ``/v1`` (so ``/customers`` and ``/v1/customers`` are one route, as the base URL
        may be written with or without ``/v1``)."""
        if "://" in path:
            return path
        if not path.startswith("/"):
            path = "/" + path
        if not (path == "/v1" or path.startswith(("/v1/", "/v1?", "/.well-known/"))):
            path = "/v1" + path
        return self.root + path

    def credentialed(self, url: Any) -> bool:
        o = origin_of(str(url))
        return o is not None and o in self.origins


def redact(s: Optional[str]) -> str:
    """What identifies the kind of credential, never its secret part."""
    if not s:
        return ""
    if s.startswith(("kg_live_", "kg_test_")):
        return s[: len("kg_live_")] + "…[redacted]"
    if s.startswith("kgr_"):
        return "kgr_…[redacted]"
    if s.startswith("eyJ"):
        return "eyJ…[redacted]"
    return "[redacted]"


@dataclass(frozen=True)
class TokenState:
    """One access token with the refresh token that came with it. Replaced, never changed."""

    access: str
    refresh: str
    scope: str
    expires_at: float
    refresh_at: float
    bad: bool = False  # a protected route refused it: do not fall back to it

    def __repr__(self) -> str:
        return f"TokenState(access={redact(self.access)}, scope={self.scope!r}, expires_at={self.expires_at})"

    def usable(self, now: float) -> bool:
        return not self.bad and now < self.refresh_at

    def refused(self) -> "TokenState":
        return replace(self, bad=True)

    def kept_until(self, at: float) -> "TokenState":
        return replace(self, refresh_at=at)


class Config:
    """The settings both clients share."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        scopes: Optional[Iterable[str]],
        customer_id: Optional[str],
        token_ttl: Optional[float],
        refresh_margin: float,
        refresh_jitter: float,
        retry: Optional[RetryPolicy],
        api_origins: Iterable[str],
        clock: Optional[Clock],
        rng: Optional[random.Random],
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("keygate: empty API key")
        self.endpoint = Endpoint.parse(base_url, api_origins)
        self.api_key = api_key
        self.scopes = list(scopes or [])
        self.customer_id = customer_id
        self.token_ttl = token_ttl
        self.margin = max(float(refresh_margin), 0.0)
        self.jitter = max(float(refresh_jitter), 0.0)
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()

    def exchange_body(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {}
        if self.scopes:
            body["scopes"] = self.scopes
        if self.customer_id:
            body["customer_id"] = self.customer_id
        if self.token_ttl:
            body["expires_in"] = int(self.token_ttl)
        return body

    def state_from_grant(self, doc: Any, start: float, path: str) -> TokenState:
        """The token of a token endpoint's answer, due a margin (plus jitter) before it
        expires. The lifetime counts from before the request, to err on the early side."""
        if not isinstance(doc, dict):
            raise ValueError(f"keygate: {path} answered something other than a JSON object")
        access, life = doc.get("access_token"), doc.get("expires_in")
        if not isinstance(access, str) or not access or not isinstance(life, (int, float)) or life <= 0:
            raise ValueError(f"keygate: {path} answered without an access token or expires_in")
        lead = min(self.margin, life / 2)
        j = min(self.jitter, life / 4)
        if j > 0:
            lead += self.rng.uniform(0, j)
        refresh = doc.get("refresh_token")
        return TokenState(
            access=access,
            refresh=refresh if isinstance(refresh, str) else "",
            scope=doc.get("scope") if isinstance(doc.get("scope"), str) else "",
            expires_at=start + life,
            refresh_at=start + life - lead,
        )

    def backoff(
        self, status: int, headers: Mapping[str, str], body: bytes, retries: int
    ) -> Optional[float]:
        """Whether the answer to try number retries+1 is retried, and after how long: only
        429 and 503, within max_attempts, after the service's Retry-After / retry_after when
        it gives one (not at all when that exceeds max_wait), else an exponential backoff with
        full jitter. Never a 429 ``quota_exceeded``: the key's quota for the day, week or month
        is spent, so no retry within any sensible wait can succeed (its Retry-After, an hour,
        is a hint for schedulers, not a delay to sleep)."""
        p = self.retry
        if status not in (429, 503) or retries + 1 >= p.max_attempts:
            return None
        err = parse_error(status, headers, body, self.clock.now())
        if err.code == QUOTA_EXCEEDED:
            return None
        wait = err.retry_after
        if wait is not None and wait > p.max_wait:
            return None
        if not wait:
            ceiling = min(p.base_delay * (2 ** min(retries, 16)), p.max_wait)
            wait = self.rng.uniform(0, ceiling) + 0.001
        return wait

    def kept_after_failure(self, prev: TokenState, now: float) -> Optional[TokenState]:
        """After a refresh failed for another reason than invalid_grant: the held token, to be
        retried shortly, while it is still good; None when there is nothing to fall back on."""
        if prev.bad or now >= prev.expires_at:
            return None
        return prev.kept_until(now + min(5.0, (prev.expires_at - now) / 2))


def describe(e: BaseException) -> str:
    """An error for the log: the service's error says nothing secret; for others, the type."""
    return str(e) if isinstance(e, KeygateError) else type(e).__name__


def check_error(status: int, headers: Mapping[str, str], body: bytes, now: float) -> None:
    if status < 200 or status > 299:
        raise parse_error(status, headers, body, now)


__all__ = [
    "Clock",
    "SystemClock",
    "RetryPolicy",
    "Endpoint",
    "TokenState",
    "Config",
    "KeygateError",
    "redact",
    "origin_of",
]

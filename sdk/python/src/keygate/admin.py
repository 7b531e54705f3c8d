"""Admin helpers for API keys (/v1/keys, needs admin:full), for scripts.

``client.keys`` (sync) and ``async_client.keys`` (async) offer the same methods; every one
raises the service's :class:`~keygate.KeygateError` on a non-2xx answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, AsyncIterator, Dict, Iterable, Iterator, Optional, Union
from urllib.parse import quote, urlencode

from .models import CreatedKey, Event, EventPage, Key, KeyPage, Usage

if TYPE_CHECKING:  # pragma: no cover
    from ._async import AsyncClient
    from ._sync import Client

_UNSET: Any = object()

# The days GET /v1/keys/{id}/usage reports, ending today (UTC): the service's bounds and default.
MAX_USAGE_DAYS = 90
DEFAULT_USAGE_DAYS = 7

Seconds = Union[int, float, timedelta]


def _rfc3339(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _secs(v: Seconds) -> int:
    return int(v.total_seconds()) if isinstance(v, timedelta) else int(v)


def _key_path(key_id: str, suffix: str = "") -> str:
    return "/v1/keys/" + quote(key_id, safe="") + suffix


def _page(path: str, limit: Optional[int], cursor: Optional[str]) -> str:
    q: Dict[str, Any] = {}
    if limit:
        q["limit"] = limit
    if cursor:
        q["cursor"] = cursor
    return path + ("?" + urlencode(q) if q else "")


def _create_body(
    name: str,
    scopes: Iterable[str],
    owner_id: Optional[str],
    allowed_ips: Optional[Iterable[str]],
    rate_limit: Optional[int],
    tier: Optional[str],
    expires_at: Optional[datetime],
) -> Dict[str, Any]:
    body: Dict[str, Any] = {"name": name, "scopes": list(scopes)}
    if owner_id:
        body["owner_id"] = owner_id
    if allowed_ips:
        body["allowed_ips"] = list(allowed_ips)
    if rate_limit:
        body["rate_limit"] = rate_limit
    if tier:
        body["tier"] = tier
    if expires_at is not None:
        body["expires_at"] = _rfc3339(expires_at)
    return body


def _update_body(**fields: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {}
    for k, v in fields.items():
        if v is _UNSET:
            continue
        if k in ("scopes", "allowed_ips"):
            v = list(v)
        elif k == "expires_at":
            v = _rfc3339(v)
        body[k] = v
    if not body:
        raise ValueError("keygate: update needs at least one field")
    return body


def _usage_path(key_id: str, days: int) -> str:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_USAGE_DAYS:
        raise ValueError(f"keygate: days must be a whole number from 1 to {MAX_USAGE_DAYS}, got {days!r}")
    return _key_path(key_id, "/usage?" + urlencode({"days": days}))


def _rotate_body(grace_period: Optional[Seconds]) -> Optional[Dict[str, Any]]:
    return None if grace_period is None else {"grace_period_seconds": _secs(grace_period)}


class Keys:
    """The admin API for API keys through a :class:`~keygate.Client`."""

    def __init__(self, client: "Client") -> None:
        self._c = client

    def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        owner_id: Optional[str] = None,
        allowed_ips: Optional[Iterable[str]] = None,
        rate_limit: Optional[int] = None,
        tier: Optional[str] = None,
        expires_at: Optional[datetime] = None,
    ) -> CreatedKey:
        """Creates a key; its secret (``.secret.reveal()``) is shown this once. Unset fields
        get the service's defaults (tier "startup", the tier's rate limit, no expiry, any IP).
        ``tier`` is one of the stage's tiers (free, startup, growth, enterprise); a
        ``rate_limit`` other than the tier's gets a usage plan of its own (409
        ``usage_plan_limit_reached`` when no more can be made)."""
        body = _create_body(name, scopes, owner_id, allowed_ips, rate_limit, tier, expires_at)
        return CreatedKey.from_json(self._c._api("POST", "/v1/keys", body))

    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> KeyPage:
        """One page of keys, newest first (``limit`` 1..100; ``cursor`` from the last page)."""
        return KeyPage.from_json(self._c._api("GET", _page("/v1/keys", limit, cursor)))

    def iter(self, *, page_size: Optional[int] = None) -> Iterator[Key]:
        """Every key, following the pages."""
        cursor: Optional[str] = None
        while True:
            page = self.list(limit=page_size, cursor=cursor)
            yield from page.keys
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def get(self, key_id: str) -> Key:
        return Key.from_json(self._c._api("GET", _key_path(key_id)))

    def update(
        self,
        key_id: str,
        *,
        name: Any = _UNSET,
        scopes: Any = _UNSET,
        allowed_ips: Any = _UNSET,
        rate_limit: Any = _UNSET,
        tier: Any = _UNSET,
        expires_at: Any = _UNSET,
    ) -> Key:
        """Changes the fields given; the others stay. ``allowed_ips=[]`` clears the allowlist.
        A new ``tier`` without a ``rate_limit`` brings the new tier's rate limit. Taking a
        scope away ends the key's tokens (clients exchange the key again)."""
        body = _update_body(
            name=name, scopes=scopes, allowed_ips=allowed_ips, rate_limit=rate_limit, tier=tier, expires_at=expires_at
        )
        return Key.from_json(self._c._api("PATCH", _key_path(key_id), body))

    def rotate(self, key_id: str, *, grace_period: Optional[Seconds] = None) -> CreatedKey:
        """A new secret for the key; the old one keeps working for ``grace_period`` (seconds or
        a timedelta, 0 to 7 days; the service's default, one day, when None)."""
        return CreatedKey.from_json(self._c._api("POST", _key_path(key_id, "/rotate"), _rotate_body(grace_period)))

    def revoke(self, key_id: str) -> Key:
        """Revokes the key and every token minted from it (idempotent)."""
        return Key.from_json(self._c._api("DELETE", _key_path(key_id)))

    def events(self, key_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> EventPage:
        """One page of the key's audit trail, newest first."""
        return EventPage.from_json(self._c._api("GET", _page(_key_path(key_id, "/events"), limit, cursor)))

    def iter_events(self, key_id: str, *, page_size: Optional[int] = None) -> Iterator[Event]:
        cursor: Optional[str] = None
        while True:
            page = self.events(key_id, limit=page_size, cursor=cursor)
            yield from page.events
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def usage(self, key_id: str, *, days: int = DEFAULT_USAGE_DAYS) -> Usage:
        """The key's calls per UTC day for the last ``days`` days (1..90, today included)
        in its usage plan, with the quota left. NotFoundError when the key has no usage plan
        (revoked, expired, or made before usage plans)."""
        return Usage.from_json(self._c._api("GET", _usage_path(key_id, days)))


class AsyncKeys:
    """The admin API for API keys through an :class:`~keygate.AsyncClient`."""

    def __init__(self, client: "AsyncClient") -> None:
        self._c = client

    async def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        owner_id: Optional[str] = None,
        allowed_ips: Optional[Iterable[str]] = None,
        rate_limit: Optional[int] = None,
        tier: Optional[str] = None,
        expires_at: Optional[datetime] = None,
    ) -> CreatedKey:
        body = _create_body(name, scopes, owner_id, allowed_ips, rate_limit, tier, expires_at)
        return CreatedKey.from_json(await self._c._api("POST", "/v1/keys", body))

    async def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> KeyPage:
        return KeyPage.from_json(await self._c._api("GET", _page("/v1/keys", limit, cursor)))

    async def iter(self, *, page_size: Optional[int] = None) -> AsyncIterator[Key]:
        cursor: Optional[str] = None
        while True:
            page = await self.list(limit=page_size, cursor=cursor)
            for k in page.keys:
                yield k
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def get(self, key_id: str) -> Key:
        return Key.from_json(await self._c._api("GET", _key_path(key_id)))

    async def update(
        self,
        key_id: str,
        *,
        name: Any = _UNSET,
        scopes: Any = _UNSET,
        allowed_ips: Any = _UNSET,
        rate_limit: Any = _UNSET,
        tier: Any = _UNSET,
        expires_at: Any = _UNSET,
    ) -> Key:
        body = _update_body(
            name=name, scopes=scopes, allowed_ips=allowed_ips, rate_limit=rate_limit, tier=tier, expires_at=expires_at
        )
        return Key.from_json(await self._c._api("PATCH", _key_path(key_id), body))

    async def rotate(self, key_id: str, *, grace_period: Optional[Seconds] = None) -> CreatedKey:
        return CreatedKey.from_json(await self._c._api("POST", _key_path(key_id, "/rotate"), _rotate_body(grace_period)))

    async def revoke(self, key_id: str) -> Key:
        return Key.from_json(await self._c._api("DELETE", _key_path(key_id)))

    async def events(self, key_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> EventPage:
        return EventPage.from_json(await self._c._api("GET", _page(_key_path(key_id, "/events"), limit, cursor)))

    async def iter_events(self, key_id: str, *, page_size: Optional[int] = None) -> AsyncIterator[Event]:
        cursor: Optional[str] = None
        while True:
            page = await self.events(key_id, limit=page_size, cursor=cursor)
            for e in page.events:
                yield e
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def usage(self, key_id: str, *, days: int = DEFAULT_USAGE_DAYS) -> Usage:
        return Usage.from_json(await self._c._api("GET", _usage_path(key_id, days)))


__all__ = ["Keys", "AsyncKeys"]

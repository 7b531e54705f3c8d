"""What the service answers, as typed values: validation, API keys, audit events, pages, usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date as _Date, datetime, timezone
from typing import Any, Dict, List, Optional

from ._core import redact


class Secret:
    """A credential the service returned (the plain key of a created or rotated API key).

    Printing it in any way (``str``, ``repr``, f-strings, logging) shows a redacted form;
    ``reveal()`` returns the value for the one place that must store it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return redact(self._value)

    def __repr__(self) -> str:
        return f"Secret({redact(self._value)})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("keygate.Secret is not picklable: store secret.reveal() deliberately")


def _time(v: Any) -> Optional[datetime]:
    """RFC 3339 (the service writes UTC, whole seconds, with Z) to an aware datetime."""
    if not isinstance(v, str) or not v:
        return None
    s = v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _date(v: Any) -> Optional[_Date]:
    """A YYYY-MM-DD (UTC) day."""
    if not isinstance(v, str):
        return None
    try:
        return _Date.fromisoformat(v)
    except ValueError:
        return None


def _strs(v: Any) -> List[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _i(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _opt_i(v: Any) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class Validation:
    """What GET /v1/auth/validate says about the client's credential."""

    valid: bool
    key_id: str
    scopes: List[str]
    rate_limit: int
    token_type: str  # "access_token" (or "api_key")
    tier: str = ""
    customer_id: str = ""
    owner_id: str = ""
    expires_at: Optional[datetime] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Validation":
        return cls(
            valid=d.get("valid") is True,
            key_id=_s(d.get("key_id")),
            scopes=_strs(d.get("scopes")),
            rate_limit=_i(d.get("rate_limit")),
            token_type=_s(d.get("token_type")),
            tier=_s(d.get("tier")),
            customer_id=_s(d.get("customer_id")),
            owner_id=_s(d.get("owner_id")),
            expires_at=_time(d.get("expires_at")),
        )


@dataclass(frozen=True)
class Key:
    """An API key as the admin API shows it: never its secret, never a hash. ``raw`` is the
    service's JSON answer."""

    key_id: str
    name: str
    scopes: List[str]
    allowed_ips: List[str]
    rate_limit: int
    tier: str
    status: str  # "active" or "revoked"
    key_gen: int
    owner_id: str = ""
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    expires_at: Optional[datetime] = None
    last_used_at: Optional[datetime] = None
    # When the previous secret stops working after a rotation with grace.
    previous_key_valid_until: Optional[datetime] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def _fields(d: Dict[str, Any]) -> Dict[str, Any]:
        return dict(
            key_id=_s(d.get("key_id")),
            name=_s(d.get("name")),
            scopes=_strs(d.get("scopes")),
            allowed_ips=_strs(d.get("allowed_ips")),
            rate_limit=_i(d.get("rate_limit")),
            tier=_s(d.get("tier")),
            status=_s(d.get("status")),
            key_gen=_i(d.get("key_gen")),
            owner_id=_s(d.get("owner_id")),
            created_at=_time(d.get("created_at")),
            updated_at=_time(d.get("updated_at")),
            expires_at=_time(d.get("expires_at")),
            last_used_at=_time(d.get("last_used_at")),
            previous_key_valid_until=_time(d.get("previous_key_valid_until")),
        )

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Key":
        return cls(**cls._fields(d), raw=d)


@dataclass(frozen=True, repr=False)
class CreatedKey(Key):
    """A key with its plain secret, returned once by ``create`` and ``rotate``. The secret is
    a :class:`Secret` (redacted when printed); ``raw`` has it redacted too."""

    secret: Secret = field(default_factory=lambda: Secret(""))
    warning: str = ""

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "CreatedKey":
        secret = Secret(_s(d.get("key")))
        raw = dict(d)
        if "key" in raw:
            raw["key"] = str(secret)
        return cls(**cls._fields(d), raw=raw, secret=secret, warning=_s(d.get("warning")))

    def __repr__(self) -> str:
        return (
            f"CreatedKey(key_id={self.key_id!r}, name={self.name!r}, scopes={self.scopes!r}, "
            f"status={self.status!r}, secret={self.secret})"
        )


@dataclass(frozen=True)
class KeyPage:
    """One page of the key list; pass ``next_cursor`` for the next one (None on the last)."""

    keys: List[Key]
    next_cursor: Optional[str] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "KeyPage":
        data = d.get("data") if isinstance(d.get("data"), list) else []
        return cls([Key.from_json(k) for k in data if isinstance(k, dict)], d.get("next_cursor") or None)


@dataclass(frozen=True)
class Event:
    """One entry of a key's audit trail."""

    time: Optional[datetime]
    action: str  # key.created, token.issued, key.rotated, …
    key_id: str
    actor_key_id: str = ""
    source_ip: str = ""
    request_id: str = ""
    detail: str = ""

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Event":
        return cls(
            time=_time(d.get("time")),
            action=_s(d.get("action")),
            key_id=_s(d.get("key_id")),
            actor_key_id=_s(d.get("actor_key_id")),
            source_ip=_s(d.get("source_ip")),
            request_id=_s(d.get("request_id")),
            detail=_s(d.get("detail")),
        )


@dataclass(frozen=True)
class EventPage:
    """One page of a key's audit trail, newest first."""

    events: List[Event]
    next_cursor: Optional[str] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "EventPage":
        data = d.get("data") if isinstance(d.get("data"), list) else []
        return cls([Event.from_json(e) for e in data if isinstance(e, dict)], d.get("next_cursor") or None)


@dataclass(frozen=True)
class UsagePlan:
    """The API Gateway usage plan a key is metered by: its tier's, or its own rate_limit's."""

    name: str  # keygate-<stage>-<tier>, or keygate-<stage>-<tier>-<N>pm
    rate_limit: int  # requests per minute (the token bucket's refill)
    burst: int  # the bucket's size
    quota_limit: Optional[int] = None  # requests per quota_period; None when the plan has no quota
    quota_period: Optional[str] = None  # "DAY", "WEEK" or "MONTH"

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "UsagePlan":
        return cls(
            name=_s(d.get("name")),
            rate_limit=_i(d.get("rate_limit")),
            burst=_i(d.get("burst")),
            quota_limit=_opt_i(d.get("quota_limit")),
            quota_period=_s(d.get("quota_period")) or None,
        )


@dataclass(frozen=True)
class UsageDay:
    """One UTC day of a key's calls in its plan."""

    date: Optional[_Date]  # a UTC day
    used: int
    remaining: Optional[int] = None  # the quota left after that day

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "UsageDay":
        return cls(date=_date(d.get("date")), used=_i(d.get("used")), remaining=_opt_i(d.get("remaining")))


@dataclass(frozen=True)
class Usage:
    """What GET /v1/keys/{id}/usage says: the key's calls per UTC day (oldest first) in the plan
    it is in now, from API Gateway's usage data (which lags by a few minutes). ``remaining`` is
    the quota left in the current period (None when the plan has no quota)."""

    key_id: str
    tier: str
    plan: UsagePlan
    days: List[UsageDay]
    remaining: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def used(self) -> int:
        """The calls of every day reported."""
        return sum(d.used for d in self.days)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Usage":
        plan = d.get("plan") if isinstance(d.get("plan"), dict) else {}
        days = d.get("days") if isinstance(d.get("days"), list) else []
        return cls(
            key_id=_s(d.get("key_id")),
            tier=_s(d.get("tier")),
            plan=UsagePlan.from_json(plan),
            days=[UsageDay.from_json(x) for x in days if isinstance(x, dict)],
            remaining=_opt_i(d.get("remaining")),
            raw=d,
        )

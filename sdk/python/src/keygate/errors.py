"""keygate's errors: every non-2xx answer of the service becomes a KeygateError.

The service answers every error in one shape,
``{"error": {"code", "message", "type"[, "required_scope"][, "retry_after"]}}``. The error
carries those fields and the HTTP status, never the request's credentials or body. The class
says what kind of failure it is (``except keygate.RateLimitError``); ``code`` says exactly which
(compare with the constants below).
"""

from __future__ import annotations

import email.utils
import json
import time
from http import HTTPStatus
from typing import Mapping, Optional

# The error codes the service answers with: the one list in shared/httpapi/codes.go, in its
# order. infra/test/sdk holds this list equal to the service's.
# BEGIN CODES
INVALID_REQUEST = "invalid_request"
INVALID_API_KEY = "invalid_api_key"
INVALID_TOKEN = "invalid_token"
TOKEN_EXPIRED = "token_expired"
INVALID_SCOPE = "invalid_scope"
INVALID_GRANT = "invalid_grant"
INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
IP_NOT_ALLOWED = "ip_not_allowed"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
QUOTA_EXCEEDED = "quota_exceeded"
KEY_NOT_PROVISIONED = "key_not_provisioned"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
REQUEST_TOO_LARGE = "request_too_large"
KEY_REVOKED = "key_revoked"
CONFLICT = "conflict"
TOO_MANY_REVOKED_TOKENS = "too_many_revoked_tokens"
USAGE_PLAN_LIMIT_REACHED = "usage_plan_limit_reached"
SERVICE_UNAVAILABLE = "service_unavailable"
TIMEOUT = "timeout"
INTERNAL_ERROR = "internal_error"
# END CODES

CODES = (
    INVALID_REQUEST,
    INVALID_API_KEY,
    INVALID_TOKEN,
    TOKEN_EXPIRED,
    INVALID_SCOPE,
    INVALID_GRANT,
    INSUFFICIENT_PERMISSIONS,
    IP_NOT_ALLOWED,
    RATE_LIMIT_EXCEEDED,
    QUOTA_EXCEEDED,
    KEY_NOT_PROVISIONED,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    REQUEST_TOO_LARGE,
    KEY_REVOKED,
    CONFLICT,
    TOO_MANY_REVOKED_TOKENS,
    USAGE_PLAN_LIMIT_REACHED,
    SERVICE_UNAVAILABLE,
    TIMEOUT,
    INTERNAL_ERROR,
)

# A server's Retry-After beyond this means "not now" to any caller; the cap keeps absurd
# values finite.
MAX_RETRY_AFTER = 24 * 3600.0


class KeygateError(Exception):
    """A non-2xx answer of the keygate service.

    Attributes:
        status: the HTTP status.
        code: the service's error code (e.g. ``"invalid_api_key"``); None when the body was
            not keygate's error shape (a proxy's answer, say).
        message: what to do about it, for people.
        type: the service's error type (e.g. ``"authentication_error"``).
        required_scope: the scope a route needs (403 ``insufficient_permissions``).
        retry_after: seconds to wait before retrying (429, 503), from Retry-After or the body.
    """

    def __init__(
        self,
        status: int,
        code: Optional[str] = None,
        message: str = "",
        type: Optional[str] = None,
        required_scope: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or _reason(status)
        self.type = type
        self.required_scope = required_scope
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        s = f"keygate: {self.status}"
        if self.code:
            s += f" {self.code}"
        if self.message:
            s += f": {self.message}"
        if self.required_scope:
            s += f" (required_scope {self.required_scope})"
        if self.retry_after is not None:
            s += f" (retry after {self.retry_after:g} s)"
        return s

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, required_scope={self.required_scope!r}, "
            f"retry_after={self.retry_after!r})"
        )

    @property
    def temporary(self) -> bool:
        """Whether retrying later may succeed (429, 503)."""
        return self.status in (429, 503)


class InvalidRequestError(KeygateError):
    """400: the request is malformed or asks for something the key does not hold."""


class InvalidGrantError(InvalidRequestError):
    """400 invalid_grant: the refresh token is unknown, spent, expired or revoked."""


class AuthenticationError(KeygateError):
    """401: the API key or token is missing, invalid, expired or revoked."""


class PermissionDeniedError(KeygateError):
    """403: the credential lacks the scope (``required_scope``) or the caller's address, or its
    key has no usage plan (``key_not_provisioned``)."""


class NotFoundError(KeygateError):
    """404."""


class ConflictError(KeygateError):
    """409: ``key_revoked``, ``conflict``, ``too_many_revoked_tokens`` or ``usage_plan_limit_reached``."""


class RateLimitError(KeygateError):
    """429: the key's rate limit is spent (``rate_limit_exceeded``), its quota for the period is
    used (``quota_exceeded``), or the stage is throttled; see ``retry_after``."""


class APIError(KeygateError):
    """5xx: the service failed (``internal_error``, ``timeout``)."""


class ServiceUnavailableError(APIError):
    """503: a dependency of the service failed; retry after ``retry_after`` seconds."""


_BY_STATUS = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _seconds(n: float) -> float:
    return min(float(n), MAX_RETRY_AFTER)


def retry_after_header(value: Optional[str], now: float) -> Optional[float]:
    """Parses a Retry-After value: delay-seconds or an HTTP date (None when absent or bad)."""
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return _seconds(int(v))
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


def parse_error(
    status: int, headers: Mapping[str, str], body: bytes, now: Optional[float] = None
) -> KeygateError:
    """The KeygateError of a non-2xx answer (its status, headers and body)."""
    code = message = etype = scope = None
    retry_after: Optional[float] = None
    try:
        doc = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        doc = None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        code = _str(err.get("code"))
        message = _str(err.get("message"))
        etype = _str(err.get("type"))
        scope = _str(err.get("required_scope"))
        ra = err.get("retry_after")
        if isinstance(ra, (int, float)) and not isinstance(ra, bool) and ra > 0:
            retry_after = _seconds(ra)
    header = retry_after_header(headers.get("retry-after"), time.time() if now is None else now)
    if header is not None:
        retry_after = header
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = APIError if status >= 500 else KeygateError
    if code == INVALID_GRANT:
        cls = InvalidGrantError
    return cls(status, code, message or "", etype, scope, retry_after)


def _str(v: object) -> Optional[str]:
    return v if isinstance(v, str) and v else None

"""keygate's Python client: an API key in, fresh access tokens out.

    import keygate

    client = keygate.Client("https://api.example.com/v1", os.environ["KEYGATE_API_KEY"])
    client.get("/customers").json()

:class:`Client` (threads) and :class:`AsyncClient` (asyncio) exchange the key, refresh before
expiry keeping the rotated refresh token, retry once on a 401 and after Retry-After on 429/503,
and send credentials only to the API's origin. ``client.auth`` is an ``httpx.Auth`` for any
httpx client; :mod:`keygate.requests_auth` does the same for ``requests``; ``client.keys`` is the
admin API; :mod:`keygate.webhooks` verifies webhook deliveries.
"""

from ._async import AsyncClient, AsyncKeygateAuth
from ._core import Clock, RetryPolicy, SystemClock
from ._sync import Client, KeygateAuth
from .errors import (
    CODES,
    APIError,
    AuthenticationError,
    ConflictError,
    InvalidGrantError,
    InvalidRequestError,
    KeygateError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from .models import CreatedKey, Event, EventPage, Key, KeyPage, Secret, Usage, UsageDay, UsagePlan, Validation

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "KeygateAuth",
    "AsyncKeygateAuth",
    "RetryPolicy",
    "Clock",
    "SystemClock",
    "CODES",
    "KeygateError",
    "InvalidRequestError",
    "InvalidGrantError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "APIError",
    "ServiceUnavailableError",
    "Validation",
    "Key",
    "CreatedKey",
    "KeyPage",
    "Event",
    "EventPage",
    "Usage",
    "UsageDay",
    "UsagePlan",
    "Secret",
]

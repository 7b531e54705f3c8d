"""The asynchronous client and its httpx.Auth (the synchronous one, async)."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from typing import Any, AsyncGenerator, Dict, Iterable, Optional, Union

import httpx

from ._core import (
    DEFAULT_REFRESH_JITTER,
    DEFAULT_REFRESH_MARGIN,
    REFRESH_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    VALIDATE_PATH,
    Clock,
    Config,
    RetryPolicy,
    TokenState,
    check_error,
    describe as _describe,
    redact,
)
from .admin import AsyncKeys
from .errors import InvalidGrantError, KeygateError
from .models import Validation

_log = logging.getLogger("keygate")


class AsyncClient:
    """A client of the keygate service for one API key, for asyncio (safe for concurrent tasks).

    It exchanges the key for an access token on first use, keeps the token until a margin
    (with jitter) before it expires, then spends the refresh token and keeps the rotated one
    it gets back (refresh tokens are single use: presenting a spent one later revokes the
    whole login). A refused refresh token (``invalid_grant``) falls back to a new exchange.
    Concurrent tasks share one exchange or refresh.

    Requests through :meth:`request` (or any ``httpx.AsyncClient`` with ``auth=client.auth``)
    carry the access token only when they go to the base URL's origin (scheme, host and
    port) or one named in ``api_origins``; a 401 from there refreshes the token once and
    retries once when the body can be replayed; 429 and 503 are retried after the service's
    Retry-After within ``retry``'s bounds.

    The API key goes only to the token endpoints. Neither it nor any token appears in this
    object's repr, its errors or its log records (logger ``"keygate"``).

    Args:
        base_url: ``http(s)://host[:port][/prefix]``, with or without a trailing ``/v1``.
        api_key: the API key (``kg_live_…`` / ``kg_test_…``).
        scopes: narrow the tokens to these scopes (a subset of the key's).
        customer_id: tokens carry this customer id.
        token_ttl: lifetime in seconds asked for on exchange (60 to the stage's maximum).
        refresh_margin, refresh_jitter: refresh this long before expiry, plus up to
            ``refresh_jitter`` at random so a fleet does not refresh in step (capped at half
            and a quarter of a token's lifetime).
        retry: bounds the retries of 429 and 503.
        api_origins: more origins (``https://api2.example.com``) that get the token.
        http_client: the ``httpx.AsyncClient`` to send with (its transport, TLS, proxies); the
            client makes and closes its own when None.
        timeout: of the client it makes.
        clock: the time source (tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        scopes: Optional[Iterable[str]] = None,
        customer_id: Optional[str] = None,
        token_ttl: Optional[float] = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        refresh_jitter: float = DEFAULT_REFRESH_JITTER,
        retry: Optional[RetryPolicy] = None,
        api_origins: Iterable[str] = (),
        http_client: Optional[httpx.AsyncClient] = None,
        timeout: Union[float, httpx.Timeout] = 30.0,
        clock: Optional[Clock] = None,
        logger: Optional[logging.Logger] = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        self._cfg = Config(
            base_url,
            api_key,
            scopes=scopes,
            customer_id=customer_id,
            token_ttl=token_ttl,
            refresh_margin=refresh_margin,
            refresh_jitter=refresh_jitter,
            retry=retry,
            api_origins=api_origins,
            clock=clock,
            rng=rng,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self._log = logger or _log
        self._state: Optional[TokenState] = None
        self._mu = threading.Lock()  # guards _state swaps
        self._renewing: Optional[asyncio.Lock] = None  # one exchange or refresh at a time
        self.auth = AsyncKeygateAuth(self)
        self.keys = AsyncKeys(self)

    def __repr__(self) -> str:
        return f"keygate.AsyncClient(base_url={self._cfg.endpoint.root!r}, api_key={redact(self._cfg.api_key)})"

    @property
    def base_url(self) -> str:
        """The base URL without a trailing /v1."""
        return self._cfg.endpoint.root

    # --- tokens -----------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid access token, exchanging or refreshing as needed."""
        return (await self._current()).access

    async def _current(self) -> TokenState:
        st = self._state
        if st is not None and st.usable(self._cfg.clock.now()):
            return st
        if self._renewing is None:
            self._renewing = asyncio.Lock()
        async with self._renewing:
            return await self._renew()

    async def _renew(self) -> TokenState:
        prev = self._state
        now = self._cfg.clock.now()
        if prev is not None and prev.usable(now):
            return prev  # another task renewed it while this one waited
        nxt: Optional[TokenState] = None
        if prev is not None and prev.refresh:
            try:
                nxt = await self._grant(REFRESH_PATH, None, {"refresh_token": prev.refresh})
                self._log.debug("keygate: access token refreshed (scope %s)", nxt.scope)
            except InvalidGrantError:
                self._log.info("keygate: refresh token refused, exchanging the API key again")
            except (KeygateError, httpx.HTTPError, ValueError) as e:
                kept = self._cfg.kept_after_failure(prev, now)
                if kept is None:
                    raise
                self._store(kept)
                self._log.warning("keygate: refresh failed (%s), using the current token until it expires", _describe(e))
                return kept
        if nxt is None:
            nxt = await self._grant(TOKEN_PATH, self._cfg.api_key, self._cfg.exchange_body())
            self._log.debug("keygate: API key exchanged for an access token (scope %s)", nxt.scope)
        self._store(nxt)
        return nxt

    def _store(self, st: Optional[TokenState]) -> None:
        with self._mu:
            self._state = st

    def _invalidate(self, st: TokenState) -> None:
        """Marks st as refused by a protected route, unless it was replaced already."""
        with self._mu:
            if self._state is st:
                self._state = st.refused()

    async def _grant(self, path: str, bearer: Optional[str], body: Dict[str, Any]) -> TokenState:
        start = self._cfg.clock.now()
        doc = await self._call("POST", path, bearer=bearer, body=body, with_token=False)
        return self._cfg.state_from_grant(doc, start, path)

    # --- requests ---------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, bearer: Optional[str] = None, body: Any = None, with_token: bool = True
    ) -> Any:
        """One request of the client's own (token endpoints, validate, admin), never
        following a redirect; retried on 429/503 when not sent with_token (the auth does it
        then). Returns the decoded JSON answer, raises KeygateError."""
        headers = {"Accept": "application/json"}
        if bearer:
            headers["Authorization"] = "Bearer " + bearer
        url = self._cfg.endpoint.url(path)
        retries = 0
        while True:
            resp = await self._http.request(
                method,
                url,
                json=body,
                headers=headers,
                auth=self.auth if with_token else None,
                follow_redirects=False,
            )
            await resp.aread()
            if not with_token:
                wait = self._cfg.backoff(resp.status_code, resp.headers, resp.content, retries)
                if wait is not None:
                    retries += 1
                    self._log.info("keygate: %s answered %d, retrying in %.3g s", path, resp.status_code, wait)
                    await self._cfg.clock.asleep(wait)
                    continue
            check_error(resp.status_code, resp.headers, resp.content, self._cfg.clock.now())
            return resp.json() if resp.content else None

    async def _api(self, method: str, path: str, body: Any = None) -> Any:
        return await self._call(method, path, body=body)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Sends a request with the access token and returns the answer, raising
        :class:`KeygateError` for a non-2xx one. ``url`` is absolute or a path: ``/customers``
        and ``/v1/customers`` both mean the route /v1/customers under the base URL. Takes
        ``httpx.AsyncClient.request``'s keyword arguments (``json``, ``content``, ``params``, …)."""
        resp = await self._http.request(method, self._cfg.endpoint.url(url), auth=self.auth, **kwargs)
        if not resp.is_success:
            await resp.aread()
            check_error(resp.status_code, resp.headers, resp.content, self._cfg.clock.now())
        return resp

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    async def validate(self) -> Validation:
        """What the service says about the client's access token (exchanging the key first
        if needed): a quick end-to-end check of the key, its scopes and the service."""
        return Validation.from_json(await self._call("GET", VALIDATE_PATH))

    async def revoke_token(self, token: str) -> None:
        """Revokes an access token, or a refresh token and its whole login, of this client's
        key (RFC 7009). A token the key does not own is not an error."""
        await self._call("POST", REVOKE_PATH, bearer=self._cfg.api_key, body={"token": token}, with_token=False)

    async def aclose(self) -> None:
        """Revokes the client's login (its refresh token family), if it holds one, forgets its
        tokens and closes the HTTP client it made. A later request starts with an exchange."""
        with self._mu:
            st, self._state = self._state, None
        try:
            if st is not None and st.refresh:
                await self.revoke_token(st.refresh)
        finally:
            if self._owns_http:
                await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class AsyncKeygateAuth(httpx.Auth):
    """The httpx.Auth of an :class:`AsyncClient`: ``httpx.AsyncClient(auth=client.auth)``."""

    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    def __repr__(self) -> str:
        return f"keygate.AsyncKeygateAuth({self._c!r})"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        c = self._c
        ep = c._cfg.endpoint
        if not ep.credentialed(request.url):
            yield request
            return
        st = await c._current()
        request.headers["Authorization"] = "Bearer " + st.access
        replayable = isinstance(request.stream, httpx.ByteStream)
        refreshed = False
        retries = 0
        while True:
            response = yield request
            # Act only on the API's own answer: not on one from where a redirect led.
            if not replayable or not ep.credentialed(response.request.url):
                return
            if response.status_code == 401 and not refreshed:
                # Refused (revoked, or clocks disagree): one refresh, one retry. Tasks holding
                # the same token share the refresh.
                refreshed = True
                c._log.info("keygate: 401 from %s, refreshing the token and retrying once", request.url.path)
                c._invalidate(st)
                st = await c._current()
                request.headers["Authorization"] = "Bearer " + st.access
                continue
            if response.status_code in (429, 503):
                await response.aread()
                wait = c._cfg.backoff(response.status_code, response.headers, response.content, retries)
                if wait is not None:
                    retries += 1
                    c._log.info("keygate: %s answered %d, retrying in %.3g s", request.url.path, response.status_code, wait)
                    await c._cfg.clock.asleep(wait)
                    continue
            return

    def sync_auth_flow(self, request: httpx.Request) -> Any:  # pragma: no cover - misuse
        raise RuntimeError("keygate.AsyncClient.auth is for httpx.AsyncClient; use keygate.Client(...).auth with httpx.Client")
        yield request


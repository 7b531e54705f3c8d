"""A ``requests`` auth for code that uses requests rather than httpx (``pip install
keygate[requests]``)::

    session = requests.Session()
    session.auth = keygate.requests_auth.KeygateRequestsAuth(client)

It attaches the access token of a :class:`keygate.Client` under the same rules as
``client.auth``: only to the API's origins, never to a request that a redirect through another
origin led to, one refresh and one retry on a 401, 429/503 retried after Retry-After.
"""

from __future__ import annotations

from typing import Any, Optional

from requests.auth import AuthBase
from requests.models import PreparedRequest, Response

from ._core import TokenState
from ._sync import Client


def _replayable(req: PreparedRequest) -> bool:
    return req.body is None or isinstance(req.body, (bytes, str))


class KeygateRequestsAuth(AuthBase):
    """``requests`` auth backed by a :class:`keygate.Client`."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def __repr__(self) -> str:
        return f"keygate.KeygateRequestsAuth({self._c!r})"

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        ep = self._c._cfg.endpoint
        if not ep.credentialed(r.url):
            return r
        st = self._c._current()
        r.headers["Authorization"] = "Bearer " + st.access
        # The hook closes over the token it attached: requests copies the hook into every
        # redirect hop, and drops the header on a hop to another host, so "the hop still
        # carries our header" means every hop so far stayed with the API.
        r.register_hook("response", lambda resp, **kw: self._on_response(st, resp, **kw))
        return r

    def _on_response(self, st: TokenState, resp: Response, **kwargs: Any) -> Response:
        c = self._c
        req = resp.request
        ep = c._cfg.endpoint
        if (
            req is None
            or not ep.credentialed(resp.url)
            or req.headers.get("Authorization") != "Bearer " + st.access
            or not _replayable(req)
        ):
            return resp
        refreshed = False
        retries = 0
        current = resp
        while True:
            wait: Optional[float] = None
            if current.status_code == 401 and not refreshed:
                refreshed = True
                c._log.info("keygate: 401 from %s, refreshing the token and retrying once", req.path_url)
                c._invalidate(st)
                st = c._current()
            elif current.status_code in (429, 503):
                wait = c._cfg.backoff(current.status_code, current.headers, current.content, retries)
                if wait is None:
                    return current
                retries += 1
                c._log.info("keygate: %s answered %d, retrying in %.3g s", req.path_url, current.status_code, wait)
            else:
                return current
            _ = current.content  # release the connection
            current.close()
            if wait is not None:
                c._cfg.clock.sleep(wait)
            again = req.copy()
            again.headers["Authorization"] = "Bearer " + st.access
            nxt = current.connection.send(again, **kwargs)
            nxt.history.append(current)
            nxt.request = again
            current = nxt


__all__ = ["KeygateRequestsAuth"]

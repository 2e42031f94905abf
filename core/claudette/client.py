"""The HTTP client a backend builds for itself: an ``httpx.AsyncClient`` without the
per-request machinery an LLM API call does not use.

``httpx.AsyncClient.send`` runs every request through an auth flow, a redirect loop,
event hooks, and the client's cookie jar (which builds ``urllib`` and ``email`` objects
for every response, whether or not it sets a cookie). On the bench machine that is about
a sixth of a loopback request's CPU at one in flight (see ``docs/performance.md``).

:class:`DirectClient` is an ``httpx.AsyncClient`` in every respect but one: when none of
that machinery has anything to do (no auth, no redirects to follow, no event hooks, no
mounted proxy), :meth:`~DirectClient.send` hands the request straight to the client's
transport. Otherwise it is httpx's own ``send``. What it leaves out on the direct path:

- cookies a response sets are not stored (an API client sends its credentials in
  headers); cookies set on the client by hand are still sent;
- a redirect reply's ``response.next_request`` is not built (redirects are not followed
  on the direct path; the reply itself is returned, as httpx returns it).

Everything else is as httpx does it: the timeouts, the errors (with their ``request``),
``response.elapsed`` (set when the body is closed), the client's ``default_encoding``, the
``httpx`` logger's ``HTTP Request:`` line, reading the body unless ``stream=True``, and
closing it on failure.
"""

from __future__ import annotations

import logging
import time
import urllib.request
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx

__all__ = ["DirectClient", "proxies_in_environment"]

#: httpx's own logger, whose ``HTTP Request:`` line the direct path keeps.
_httpx_logger = logging.getLogger("httpx")
_INFO = logging.INFO
_DEFAULT = httpx.USE_CLIENT_DEFAULT


def proxies_in_environment() -> bool:
    """Whether the environment names a proxy for ``http``, ``https`` or ``all`` traffic
    (``HTTPS_PROXY`` and the like; read as httpx reads it, by ``urllib.request.getproxies``).

    httpx routes a client through such a proxy only when the client has no transport of
    its own, so a backend that finds one builds a plain ``httpx.AsyncClient``.
    """
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class _TimedBody(httpx.AsyncByteStream):
    """A response body that sets its response's ``elapsed`` when it is closed, as httpx's
    client does, once :meth:`time_response` has told it which response and since when.

    Unlike httpx's wrapper it adds no generator layer to the iteration, and it holds its
    response by a weak reference: a response holds its body, and a strong reference back
    would make every response a cycle that only the garbage collector frees (measured: 8-10
    µs more CPU per request in a loop). ``ShardedTransport``'s bodies are of this kind
    already, so a :class:`DirectClient` over it wraps nothing.
    """

    __slots__ = ("_response", "_started", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self._response: weakref.ref[httpx.Response] | None = None
        self._started = 0.0

    def time_response(self, response: httpx.Response, started: float) -> None:
        """Set ``response.elapsed`` from ``started`` (a ``perf_counter``) when closed."""
        self._response = weakref.ref(response)
        self._started = started

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    def _settle(self) -> None:
        ref = self._response
        if ref is not None:
            self._response = None
            response = ref()
            if response is not None:
                response.elapsed = timedelta(0, time.perf_counter() - self._started)

    async def aclose(self) -> None:
        self._settle()
        await self._stream.aclose()


class DirectClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that sends straight to its transport when it can.

    Takes the arguments of ``httpx.AsyncClient``; ``transport`` is required (the direct
    path needs to know where requests go). A client given ``mounts`` or ``proxy`` always
    takes httpx's full path. (httpx ignores proxies in the environment when a client has
    its own transport: see :func:`proxies_in_environment`.)
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self._direct_transport = transport
        self._direct_encoding = kwargs.get("default_encoding", "utf-8")
        # httpx mounts a transport for ``proxy=`` and ``mounts=``; those requests must go
        # through its routing. Unknown to a later httpx without the attribute: then always
        # the full path.
        self._direct = not getattr(self, "_mounts", True)

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = _DEFAULT,
        follow_redirects: Any = _DEFAULT,
    ) -> httpx.Response:
        """Send ``request``: straight to the transport when no auth, redirect following or
        event hook applies and no proxy is mounted; else exactly as ``httpx.AsyncClient``.
        """
        if (
            not self._direct
            or auth is not _DEFAULT
            or follow_redirects is not _DEFAULT
            or self.follow_redirects
            or self.auth is not None
            or self.is_closed
        ):
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        hooks = self.event_hooks
        if hooks["request"] or hooks["response"]:
            return await super().send(request, stream=stream)
        if "timeout" not in request.extensions:
            request.extensions["timeout"] = self.timeout.as_dict()
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise RuntimeError("Attempted to send a sync request with an AsyncClient instance.")
        started = time.perf_counter()
        try:
            response = await self._direct_transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx does: the error names its request
            raise
        response.request = request
        body = response.stream
        if not isinstance(body, _TimedBody):  # ShardedTransport's bodies time themselves
            body = response.stream = _TimedBody(body)  # type: ignore[arg-type]
        body.time_response(response, started)
        response.default_encoding = self._direct_encoding
        if _httpx_logger.isEnabledFor(_INFO):
            _httpx_logger.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

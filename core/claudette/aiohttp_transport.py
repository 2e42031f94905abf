"""An httpx transport over aiohttp's connection pool, for backends that set
``http_client = "aiohttp"``.

httpx stays the API every plugin codes against (requests, responses, streams, its
exception classes); only the connection pool and the HTTP/1.1 parser underneath change.
aiohttp's pool and its C parser spend far less CPU per request than httpcore's, and the
gap grows with the connections a process keeps busy: it is the cheaper choice for a
process that sends many requests at once, such as ``claudette serve``.

Every aiohttp failure becomes the httpx exception that the same failure raises under
httpx's own transport (refused: ``ConnectError``, a connect or read timeout: their
``Timeout``, a connection cut or a malformed reply: ``RemoteProtocolError``), so
:func:`claudette.http.error_from_exception` and the plugins' ``except httpx.HTTPError``
see one vocabulary whichever client is underneath. aiohttp is imported when the first
such backend is built (``pip install 'claudette-core[aiohttp]'``).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport", "httpx_error_for"]

#: A proxy address and the headers that carry its credentials (from the address's user
#: info), or (None, None).
_Proxy = tuple["str | None", "dict[str, str] | None"]
#: Origins whose proxy decision a transport remembers before it starts over.
_ORIGINS_KEPT = 64


def httpx_error_for(exc: BaseException, request: httpx.Request) -> httpx.HTTPError | None:
    """The httpx exception for an aiohttp failure, None for anything else.

    :param exc: what aiohttp raised.
    :param request: the request it was sending (httpx's transport errors carry it).
    """
    import aiohttp

    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused (server or proxy), DNS, TLS
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # the proxy refused the tunnel
        return httpx.ProxyError(message, request=request)
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(exc, aiohttp.ClientOSError):  # reset or broken pipe on an open connection
        return httpx.ReadError(message, request=request)
    if isinstance(exc, aiohttp.ClientError):
        # A disconnect, a body cut short, a reply that is not HTTP: the peer broke the
        # protocol, as httpx's own transport reports it.
        return httpx.RemoteProtocolError(message, request=request)
    return None


@contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        error = httpx_error_for(exc, request)
        if error is None:
            raise
        raise error from exc


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp as it arrives; closing it frees the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; closed when it was not,
        # so that an abandoned stream stops the provider's work.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send an ``httpx.AsyncClient``'s requests through one ``aiohttp.ClientSession``.

    :param verify: the SSL context that verifies servers, or False not to verify.
    :param limits: ``max_connections`` bounds the pool (None: unbounded) and
        ``keepalive_expiry`` how long an idle connection is kept.

    The session is opened on the first request, inside the event loop that sends it, and
    closed by :meth:`aclose` (``httpx.AsyncClient.aclose`` calls it). httpx mounts no
    proxy of its own in front of a transport it is given, so this transport reads the
    proxy variables of the environment (``HTTPS_PROXY``, ``NO_PROXY`` ...) when it is
    built, as httpx does when a client is built, and decides once per origin which proxy
    carries its requests (aiohttp's own reading of the environment would run on every
    request, netrc file included). Every idle connection is kept until
    ``keepalive_expiry``: aiohttp's pool does not look through them per request, so
    keeping them costs no CPU. Responses are handed over undecoded: httpx decodes
    ``Content-Encoding`` as it does for its own transport.
    """

    def __init__(self, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits) -> None:
        self._verify = verify
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._proxies = urllib.request.getproxies()
        self._proxy_of: dict[tuple[bytes, str, int | None], _Proxy] = {}

    def _proxy_for(self, url: httpx.URL) -> _Proxy:
        """The proxy (and its credentials) for ``url``'s origin; (None, None) for none."""
        origin = (url.raw_scheme, url.host, url.port)
        found = self._proxy_of.get(origin)
        if found is not None:
            return found
        address = None
        if self._proxies and not urllib.request.proxy_bypass(url.host):
            address = self._proxies.get(url.scheme) or self._proxies.get("all")
        found = (None, None)
        if address:
            proxy = httpx.URL(address if "://" in address else f"http://{address}")
            headers = None
            if proxy.username:
                pair = f"{proxy.username}:{proxy.password or ''}".encode("latin-1")
                headers = {"Proxy-Authorization": f"Basic {base64.b64encode(pair).decode()}"}
            found = (str(proxy.copy_with(username=None, password=None)), headers)
        if len(self._proxy_of) >= _ORIGINS_KEPT:
            self._proxy_of.clear()
        self._proxy_of[origin] = found
        return found

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        ssl_option: ssl.SSLContext | bool = self._verify
        if ssl_option is True:
            ssl_option = ssl.create_default_context()
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,  # 0: no bound, as None is for httpx
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry,  # None: kept until closed
            ssl=ssl_option,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return the response with its body still to be read."""
        import aiohttp

        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        body: Any
        try:
            body = request.content or None
        except httpx.RequestNotRead:  # a streamed upload: aiohttp chunks it itself
            body = request.stream
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        proxy, proxy_headers = self._proxy_for(request.url)
        if proxy_headers and request.url.scheme == "http":
            # Plain HTTP goes to the proxy as it is (no CONNECT tunnel), credentials with it.
            headers.extend(proxy_headers.items())
            proxy_headers = None
        with _mapped(request):
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body,
                proxy=proxy,
                proxy_headers=proxy_headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        """Close the pool and every connection in it."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

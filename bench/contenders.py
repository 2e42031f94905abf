"""The three clients under test, behind one small interface.

- ``raw``: a bare ``httpx.AsyncClient`` with httpx's usual pool (100 connections, 20 kept
  alive): the limit, as an application would write it.
- ``claudette``: :class:`claudette.BackendRouter` with the ``openai`` plugin.
- ``litellm``: ``litellm.Router`` with the same deployment.
- ``floor`` (paired measurements only): the raw call wrapped in claudette's public types,
  a yardstick for how much of claudette's added cost those types alone impose.
- ``plugin`` (paired measurements only): the ``openai`` plugin's backend called directly,
  with no router: a yardstick for the provider protocol's share (building the body,
  decoding and checking the reply, pricing) against the router's.
- ``transport`` (paired measurements only): raw's request and reading, handed straight to
  httpx's transport (no ``AsyncClient``): the leanest call httpx allows, a yardstick below
  raw. claudette's backends skip the client's machinery the same way
  (``claudette.client.DirectClient``), so claudette's cost above *this* line is its own.

Each one sends the same chat request and reads the whole answer (parsing the JSON, or
every SSE event), so that the difference between them is the client's own cost.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, Protocol

__all__ = [
    "CONTENDERS",
    "PROMPT",
    "Contender",
    "ContractFloor",
    "PluginAlone",
    "TransportAlone",
    "make_contender",
    "openai_plugin_module",
]

PROMPT = "Say hello in two words."
MODEL = "gpt-4o-mini"
API_KEY = "sk-bench"
#: The raw client's pool: httpx's usual limits. claudette's own backends have the same
#: 100 connections, spread over several smaller pools (``claudette.transport``).
MAX_CONNECTIONS = 100
MAX_KEEPALIVE = 20
TIMEOUT = 60.0


class Contender(Protocol):
    """What the load generator drives."""

    name: str

    async def send(self) -> str:
        """One non-streamed request; returns the answer text."""
        ...

    async def stream(self) -> tuple[float, float]:
        """One streamed request; returns perf_counter() of the first text chunk and of the end."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _payload(stream: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


def _claudette_client(base_url: str, transport: Any) -> Any:
    """The client type a claudette backend builds for itself (its ``build_client``), over
    ``transport`` instead of the backend's own pools: for in-memory measurements."""
    import httpx
    from claudette.client import DirectClient

    return DirectClient(
        base_url=base_url,
        timeout=httpx.Timeout(TIMEOUT, connect=10.0),
        follow_redirects=False,
        transport=transport,
    )


def _client(base_url: str, transport: Any = None) -> Any:
    """An ``httpx.AsyncClient`` with one pool of 100 connections (and ``transport``, if given)."""
    import httpx

    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(TIMEOUT, connect=10.0),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE),
        follow_redirects=False,
        transport=transport,
    )


class RawHttpx:
    """The physical limit: the same HTTP call with nothing around it."""

    name = "raw"

    def __init__(self, base_url: str, transport: Any = None) -> None:
        import httpx

        self.client = _client(base_url, transport)
        self.headers = {"authorization": f"Bearer {API_KEY}"}
        # The URL parsed once, as claudette's backends do (BaseBackend.url_for): given the
        # string "/chat/completions", httpx would parse it and join it to the base URL on
        # every request, which costs more than claudette's whole routing. The limit is the
        # best a bare client can do, so it gets the same saving.
        self.url = httpx.URL(base_url.rstrip("/") + "/chat/completions")

    async def send(self) -> str:
        r = await self.client.post(self.url, json=_payload(False), headers=self.headers)
        if r.status_code != 200:
            raise RuntimeError(f"upstream answered {r.status_code}")
        data = json.loads(r.content)
        return str(data["choices"][0]["message"]["content"])

    async def stream(self) -> tuple[float, float]:
        first = 0.0
        async with self.client.stream(
            "POST", self.url, json=_payload(True), headers=self.headers
        ) as r:
            if r.status_code != 200:
                raise RuntimeError(f"upstream answered {r.status_code}")
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    continue  # read the body to its end: the connection goes back to the pool
                event = json.loads(data)
                for choice in event.get("choices") or ():
                    if (choice.get("delta") or {}).get("content") and not first:
                        first = time.perf_counter()
        return first, time.perf_counter()

    async def aclose(self) -> None:
        await self.client.aclose()


class _TransportCalls:
    """The two calls :class:`RawHttpx` makes of its client (``post`` and ``stream``), made
    of an httpx transport directly: the request built as the client would build it (its
    default headers included, so the same bytes go out), no cookie jar, auth or redirect
    loop, no event hooks."""

    def __init__(self, client: Any, transport: Any) -> None:
        import httpx

        self.transport = transport
        self.headers = httpx.Headers(client.headers)
        self.extensions = {"timeout": client.timeout.as_dict()}

    def _request(self, method: str, url: Any, json: Any, headers: dict[str, str]) -> Any:
        import httpx

        merged = self.headers.copy()
        merged.update(headers)
        return httpx.Request(method, url, json=json, headers=merged, extensions=dict(self.extensions))

    async def post(self, url: Any, *, json: Any, headers: dict[str, str]) -> Any:
        response = await self.transport.handle_async_request(self._request("POST", url, json, headers))
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: Any, *, json: Any, headers: dict[str, str]) -> Any:
        response = await self.transport.handle_async_request(self._request(method, url, json, headers))
        try:
            yield response
        finally:
            await response.aclose()


class TransportAlone:
    """Raw's exact request and reading (:meth:`RawHttpx.send`, :meth:`RawHttpx.stream`),
    with the client's two calls made of its transport directly (:class:`_TransportCalls`).

    Not how an application usually writes it: a yardstick below raw, the leanest call httpx
    allows. Its difference to raw is what ``httpx.AsyncClient``'s per-request machinery
    costs; claudette's backends skip that machinery too, so claudette's cost above this
    line is claudette's own.
    """

    name = "transport"
    send = RawHttpx.send
    stream = RawHttpx.stream

    def __init__(self, base_url: str, transport: Any = None) -> None:
        import httpx

        raw = RawHttpx(base_url, transport)
        self._owner = raw.client  # owns the pool (or the injected transport) and closes it
        self.url, self.headers = raw.url, raw.headers
        pool = transport if transport is not None else raw.client._transport
        self.client = _TransportCalls(raw.client, pool)
        assert isinstance(pool, httpx.AsyncBaseTransport)

    async def aclose(self) -> None:
        await self._owner.aclose()


class ContractFloor(RawHttpx):
    """The raw call wrapped in the objects claudette's API gives every caller, and nothing
    else: a :class:`~claudette.ClaudetteRequest` in, a :class:`~claudette.ClaudetteResponse`
    out, and for a stream a :class:`~claudette.StreamChunk` per text piece through one
    async generator. No routing, no pricing, no plugin, no deadline.

    Not a client anyone would use: a yardstick. Its cost above raw is the part of
    claudette's added cost that its public types alone impose (frozen attrs objects are
    validated and built field by field); what claudette adds above this floor is its own
    machinery (routing, breaker, deadline, accounting, the provider plugin).
    """

    name = "floor"

    def __init__(self, base_url: str, transport: Any = None) -> None:
        from claudette import ClaudetteRequest, ClaudetteResponse, StreamChunk

        super().__init__(base_url, transport)
        self.types = ClaudetteRequest, ClaudetteResponse, StreamChunk

    async def send(self) -> str:
        request_type, response_type, _ = self.types
        request_type(prompt=PROMPT)  # the caller's request, as claudette's API has it built
        r = await self.client.post(self.url, json=_payload(False), headers=self.headers)
        if r.status_code != 200:
            raise RuntimeError(f"upstream answered {r.status_code}")
        data = json.loads(r.content)
        choice, usage = data["choices"][0], data["usage"]
        response = response_type(
            choice["message"]["content"],
            "openai",
            data["model"],
            usage["prompt_tokens"],
            usage["completion_tokens"],
            0.0,
            0.0,
            False,
            choice["finish_reason"],
            {"request_id": r.headers.get("x-request-id")},
        )
        return str(response.content)

    async def _chunks(self) -> Any:
        request_type, response_type, chunk_type = self.types
        request_type(prompt=PROMPT, stream=True)
        parts: list[str] = []
        # RawHttpx.stream's loop, repeated on purpose: a helper shared by both would put a
        # call (or a generator layer) into the raw client, and raw must stay the limit.
        async with self.client.stream("POST", self.url, json=_payload(True), headers=self.headers) as r:
            if r.status_code != 200:
                raise RuntimeError(f"upstream answered {r.status_code}")
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    continue
                event = json.loads(data)
                for choice in event.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        yield chunk_type(text, "openai")
        response = response_type(
            "".join(parts), "openai", MODEL, 9, 2, 0.0, 0.0, False, "stop",
            {"request_id": r.headers.get("x-request-id")},
        )
        yield chunk_type("", "openai", response)

    async def stream(self) -> tuple[float, float]:
        first = 0.0
        async for chunk in self._chunks():
            if chunk.text and not first:
                first = time.perf_counter()
        return first, time.perf_counter()


def openai_plugin_module() -> tuple[Any, str]:
    """The ``openai`` plugin module and a label: the real plugin if importable, else the stand-in."""
    try:
        import claudette_backend_openai

        plugin = getattr(claudette_backend_openai, "plugin", None)
        if plugin is None:
            import claudette_backend_openai.plugin as plugin  # type: ignore[no-redef]
        return plugin, "claudette_backend_openai (the real plugin)"
    except ImportError:
        import minimal_openai

        return minimal_openai, "bench/minimal_openai.py (stand-in: claudette_backend_openai not importable)"


class Claudette:
    """claudette's router with one ``openai`` backend, health checks off."""

    name = "claudette"

    def __init__(self, base_url: str, transport: Any = None) -> None:
        from claudette import (
            BackendRouter,
            BackendSettings,
            ClaudettePlugins,
            ClaudetteRequest,
            RouterOptions,
        )

        self.request_type = ClaudetteRequest  # imported once, as an application would
        plugin, _ = openai_plugin_module()
        pm = ClaudettePlugins(autoload=False, plugins=[plugin])
        self.router = BackendRouter(RouterOptions(health_checks=False), plugins=pm)
        backend = pm.registry.create(
            "openai",
            BackendSettings(base_url=base_url, api_key=API_KEY, model=MODEL),
            client=_claudette_client(base_url, transport) if transport is not None else None,
        )
        self.router.register_backend(backend)
        # What answers a request (bound once, as an application would): the router here.
        self.answer = self.router.route_request
        self.answer_stream = self.router.stream

    async def send(self) -> str:
        response = await self.answer(self.request_type(prompt=PROMPT))
        return response.content

    async def stream(self) -> tuple[float, float]:
        first = 0.0
        async for chunk in self.answer_stream(self.request_type(prompt=PROMPT, stream=True)):
            if chunk.text and not first:
                first = time.perf_counter()
        return first, time.perf_counter()

    async def aclose(self) -> None:
        await self.router.aclose()


class PluginAlone(Claudette):
    """The ``openai`` plugin's backend called directly: ``backend.send(request)`` and
    ``backend.stream(request)``, with no router around it.

    Not a way to use claudette (no selection, breaker, deadline, fallback or accounting):
    a yardstick. Its cost above the contract floor is the provider protocol's (the body
    built from the request, the reply decoded and checked, the answer priced); claudette's
    cost above it is the router's.
    """

    name = "plugin"

    def __init__(self, base_url: str, transport: Any = None) -> None:
        super().__init__(base_url, transport)
        self.backend = self.router.get_backend("openai")
        self.answer = self.backend.send  # the backend itself answers: no router
        self.answer_stream = self.backend.stream


class LiteLLM:
    """LiteLLM's Router with the same single deployment."""

    name = "litellm"

    def __init__(self, base_url: str) -> None:
        import litellm
        from litellm import Router

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        self.router = Router(
            model_list=[
                {
                    "model_name": MODEL,
                    "litellm_params": {
                        "model": f"openai/{MODEL}",
                        "api_base": base_url,
                        "api_key": API_KEY,
                    },
                }
            ]
        )
        self.messages = [{"role": "user", "content": PROMPT}]

    async def send(self) -> str:
        r = await self.router.acompletion(model=MODEL, messages=self.messages)
        return str(r.choices[0].message.content)

    async def stream(self) -> tuple[float, float]:
        first = 0.0
        r = await self.router.acompletion(
            model=MODEL, messages=self.messages, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in r:
            if chunk.choices and chunk.choices[0].delta.content and not first:
                first = time.perf_counter()
        return first, time.perf_counter()

    async def aclose(self) -> None:
        return None


CONTENDERS = {"raw": RawHttpx, "claudette": Claudette, "litellm": LiteLLM}


def make_contender(name: str, base_url: str) -> Contender:
    """Build contender ``name`` against ``base_url`` (an OpenAI base with ``/v1``)."""
    return CONTENDERS[name](base_url)  # type: ignore[no-any-return]

""":class:`OllamaBackend`: claudette's backend for Ollama's native ``/api/chat`` API."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar, cast

import attrs
import httpx
from claudette import (
    BackendError,
    BackendSettings,
    BaseBackend,
    ClaudetteRequest,
    ClaudetteResponse,
    ConfigProblem,
    ResponseFormatError,
    StreamChunk,
    TokenPrices,
    get_logger,
)
from claudette.deadlines import CallDeadline, StreamClock
from claudette.errors import InvalidRequestError, StreamInterruptedError
from claudette.http import NDJSONDecoder, drain, mask_url, parse_json
from claudette.messages import ToolCall, ToolCallDelta
from claudette.ratelimit import rate_limits_from_headers

from claudette_backend_ollama._errors import translate_error
from claudette_backend_ollama._host import DEFAULT_BASE_URL, resolve_base_url
from claudette_backend_ollama._protocol import (
    CHAT_PATH,
    chat_payload,
    message_delta,
    message_tool_calls,
    read_final,
)
from claudette_backend_ollama._tools import parse_tool_calls

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_SETTINGS",
    "HEALTH_CHECK_TIMEOUT",
    "OllamaBackend",
    "model_is_listed",
]

logger = get_logger("claudette.backends.ollama")

#: The model asked for when the settings name none.
DEFAULT_MODEL = "qwen2.5:7b"
#: The plugin's defaults: a self-hosted backend. No ``base_url`` here on purpose: an
#: unset one is taken from ``$OLLAMA_HOST`` (see :mod:`claudette_backend_ollama._host`).
#: No price either: :meth:`OllamaBackend.default_prices` declares answers free, below
#: any configured price.
DEFAULT_SETTINGS = BackendSettings(
    model=DEFAULT_MODEL,
    backend_type="self_hosted",
)
#: The most seconds a health check may take, whatever ``settings.timeout`` says.
HEALTH_CHECK_TIMEOUT = 10.0
#: Keys of ``settings.extra`` this backend understands.
EXTRA_KEYS = frozenset({"keep_alive", "options"})


def _deltas(calls: tuple[ToolCall, ...], total: int) -> tuple[ToolCallDelta, ...]:
    """Whole calls as stream pieces: each one carries its id, name and all its arguments."""
    first = total - len(calls)
    return tuple(
        ToolCallDelta(first + i, c.id, c.name, c.arguments_json) for i, c in enumerate(calls)
    )


def model_is_listed(model: str | None, names: list[str]) -> bool:
    """Whether ``model`` is among the ``names`` of ``/api/tags`` (``x`` matches ``x:latest``)."""
    if not model:
        return True
    wanted = {model, f"{model}:latest"} if ":" not in model else {model}
    if model.endswith(":latest"):
        wanted.add(model[: -len(":latest")])
    return any(name in wanted for name in names)


def _error_text(error: object) -> str:
    """The ``error`` of an error line as text (a structure too deep to write is named)."""
    try:
        return str(error)
    except RecursionError:
        return f"a {type(error).__name__} nested too deeply to show"


class OllamaBackend(BaseBackend):
    """A backend that talks to an Ollama server's native API.

    - ``send`` posts ``/api/chat`` with ``stream: false``; ``stream`` reads the NDJSON stream.
    - Usage comes from ``prompt_eval_count`` / ``eval_count`` (absent means 0); the cost is
      0 (``price_source = "plugin default"``) unless prices are configured; timings are in
      ``metadata`` in milliseconds.
    - ``health_check`` lists ``/api/tags`` and is False when the server is unreachable or the
      configured model is not pulled (a request for it would fail with 404 everywhere).

    :param name: the backend's name in the router.
    :param settings: its settings; unset ones take :data:`DEFAULT_SETTINGS`, and an unset
        ``base_url`` is read from ``$OLLAMA_HOST`` (``host:port`` accepted), else
        ``http://localhost:11434``.
    :param client: an ``httpx.AsyncClient`` to use instead of the backend's own.
    """

    requires_api_key: ClassVar[bool] = False
    requires_base_url: ClassVar[bool] = False
    #: Ollama's chat API carries tools, images and a JSON-schema ``format`` (whether the
    #: model can use them depends on the model: set ``capabilities`` in the settings).
    default_capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "images", "json_schema"})

    def __init__(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        settings = (settings or BackendSettings()).with_defaults(DEFAULT_SETTINGS)
        self._host_problem: str | None = None
        try:
            base_url = resolve_base_url(settings.base_url)
        except ValueError as exc:
            self._host_problem = str(exc)
            base_url = DEFAULT_BASE_URL
        super().__init__(name, attrs.evolve(settings, base_url=base_url), client=client)

    def default_prices(self) -> TokenPrices | None:
        """Free: an answer from your own server costs no per-token fee (configure a
        price to account for the hardware)."""
        return TokenPrices.free()

    @property
    def base_url(self) -> str:
        """The server's base URL (without a trailing slash)."""
        return (self.settings.base_url or DEFAULT_BASE_URL).rstrip("/")

    # -- errors -----------------------------------------------------------------------------

    def _error(self, model: str | None = None, **facts: Any) -> BackendError:
        return translate_error(
            self.name, base_url=self.base_url, model=model or self.settings.model, **facts
        )

    async def _raise_for_status(self, response: httpx.Response, model: str | None) -> None:
        if response.status_code == 200:
            return
        body = await response.aread()
        raise self._error(model, status=response.status_code, body=body, headers=response.headers)

    # -- chat -------------------------------------------------------------------------------

    def refusal(self, request: ClaudetteRequest) -> str | None:
        """What the base class refuses, plus what Ollama cannot express: a forced tool call
        (it has no ``tool_choice``) and an image by URL (it takes base64 only)."""
        why = super().refusal(request)
        if why is not None or not request.required_capabilities:
            return why
        choice = request.tool_choice
        if request.tools and choice is not None and choice not in ("auto", "none"):
            return "cannot force a tool call (Ollama has no tool_choice)"
        for message in request.messages:
            if any(image.url is not None for image in message.images):
                return "takes images only inline as base64, not by URL"
        return None

    def _payload(self, request: ClaudetteRequest, *, stream: bool) -> dict[str, Any]:
        if request.required_capabilities:
            self.check_capabilities(request)
        try:
            return chat_payload(request, self.settings, stream=stream)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), self.name, False) from None

    def _tool_calls(self, obj: Mapping[str, Any], first_index: int = 0) -> tuple[ToolCall, ...]:
        raw = message_tool_calls(obj)
        if not raw:
            return ()
        try:
            return parse_tool_calls(raw, first_index)
        except ValueError as exc:
            raise ResponseFormatError(str(exc), self.name, True, 200) from None

    def _response(
        self,
        obj: Mapping[str, Any],
        content: str,
        latency_ms: float,
        request: ClaudetteRequest,
        model: str | None,
        tool_calls: tuple[ToolCall, ...] = (),
    ) -> ClaudetteResponse:
        facts = read_final(obj)
        finish = facts.finish_reason
        if tool_calls and finish in (None, "stop"):
            finish = "tool_calls"  # Ollama says "stop" after a tool call
        return self.create_success_response(
            content,
            facts.tokens_input,
            facts.tokens_output,
            latency_ms,
            facts.metadata,
            model=facts.model or model,
            finish_reason=finish,
            request=request,
            tool_calls=tool_calls,
        )

    def _check_object(self, obj: Any, model: str | None) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            raise ResponseFormatError(
                f"expected a JSON object from /api/chat, got {type(obj).__name__}", self.name, True
            )
        if "error" in obj:
            raise self._error(model, body=_error_text(obj["error"]))
        return obj

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Post ``/api/chat`` with ``stream: false`` and return the whole answer."""
        payload = self._payload(request, stream=False)
        model = payload["model"]
        started = time.perf_counter()
        try:
            async with CallDeadline(self.name, self.settings.timeout):  # a dripping body too
                response = await self.client.post(
                    self.url_for(f"{self.base_url}{CHAT_PATH}"), json=payload
                )
        except httpx.HTTPError as exc:
            raise self._error(model, exc=exc) from exc
        await self._raise_for_status(response, model)
        self.stats.update_rate_limits(**rate_limits_from_headers(response.headers))
        latency_ms = (time.perf_counter() - started) * 1000.0
        obj = self._check_object(parse_json(self.name, response.content, status=200), model)
        if obj.get("done") is not True:
            raise ResponseFormatError(
                "the answer to a stream:false request is not marked done:true", self.name, True, 200
            )
        return self._response(
            obj, message_delta(self.name, obj), latency_ms, request, model, self._tool_calls(obj)
        )

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        """Post ``/api/chat`` with ``stream: true`` and yield its NDJSON deltas.

        The last chunk carries the :class:`ClaudetteResponse` built from the ``done: true``
        line; the answer is complete then, whatever the connection does next (what follows
        is drained for a moment, so that the connection can be reused). An ``{"error": ...}``
        line, a broken connection, a stream that ends without ``done: true`` or one that
        runs out of its :class:`~claudette.deadlines.StreamClock` raise a
        :class:`~claudette.BackendError`.
        """
        payload = self._payload(request, stream=True)
        model = payload["model"]
        started = time.perf_counter()
        parts: list[str] = []
        calls: list[ToolCall] = []
        final: StreamChunk | None = None
        try:
            async with self.client.stream(
                "POST", self.url_for(f"{self.base_url}{CHAT_PATH}"), json=payload
            ) as response:
                await self._raise_for_status(response, model)
                self.stats.update_rate_limits(**rate_limits_from_headers(response.headers))
                decoder = NDJSONDecoder(self.name)
                clock = StreamClock(self.name, self.settings)

                def on_object(raw: Any) -> StreamChunk | None:
                    """The chunk for one line: a delta, or the final one (``done: true``)."""
                    obj = self._check_object(raw, model)
                    delta = message_delta(self.name, obj)
                    new_calls = self._tool_calls(obj, len(calls))  # they arrive whole
                    calls.extend(new_calls)
                    if obj.get("done") is True:
                        parts.append(delta)
                        latency_ms = (time.perf_counter() - started) * 1000.0
                        whole = self._response(
                            obj, "".join(parts), latency_ms, request, model, tuple(calls)
                        )
                        return StreamChunk(delta, self.name, whole, _deltas(new_calls, len(calls)))
                    if new_calls:
                        parts.append(delta)
                        return StreamChunk(delta, self.name, None, _deltas(new_calls, len(calls)))
                    if not delta:
                        return None
                    parts.append(delta)
                    return StreamChunk(delta, self.name)

                # The body is read as bytes, decoded (strict UTF-8) and split into lines by
                # the decoder (no step per line); aclosing() closes the byte iterator if the
                # loop stops early. Blank lines (keep-alives) complete no object and do not
                # count as progress.
                async with aclosing(cast("AsyncGenerator[bytes, None]", response.aiter_bytes())) as texts:
                    while (objects := await clock.wait(decoder.read(texts))) is not None:
                        if objects:
                            clock.progressed()
                        for raw in objects:
                            chunk = on_object(raw)
                            if chunk is None:
                                continue
                            if chunk.response is not None:
                                final = chunk
                                break
                            yield chunk
                        if final is not None:
                            await drain(texts)  # the end of the body: the connection is reused
                            break
        except httpx.HTTPError as exc:
            raise self._error(model, exc=exc) from exc
        if final is None:
            raise ResponseFormatError(
                f"the stream ended without a done:true line after {len(parts)} chunks",
                self.name,
                True,
                200,
            )
        whole = final.response
        if whole is not None and not whole.content and whole.finish_reason is None:
            raise StreamInterruptedError(
                "the stream ended with no content and no done_reason", self.name, True, 200
            )
        yield final

    # -- server facts ---------------------------------------------------------------------------

    async def _get_json(self, path: str, timeout: float | None = None) -> Any:
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(
                timeout, connect=min(timeout, self.settings.connect_timeout)
            )
        try:
            response = await self.client.get(f"{self.base_url}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise self._error(exc=exc) from exc
        await self._raise_for_status(response, None)
        return parse_json(self.name, response.content, status=200)

    async def list_models(self, *, timeout: float | None = None) -> list[str]:
        """The names of the models pulled on the server (``GET /api/tags``).

        :param timeout: seconds the call may take (default: the backend's timeouts).
        :raises BackendError: when the server cannot be reached or answers badly.
        """
        data = await self._get_json("/api/tags", timeout)
        models = data.get("models") if isinstance(data, Mapping) else None
        if not isinstance(models, list):
            raise ResponseFormatError(
                "/api/tags did not return a 'models' list", self.name, True, 200
            )
        names: list[str] = []
        for entry in models:
            if isinstance(entry, Mapping):
                name = entry.get("name") or entry.get("model")
                if isinstance(name, str):
                    names.append(name)
        return names

    async def version(self) -> str:
        """The server's version (``GET /api/version``).

        :raises BackendError: when the server cannot be reached or answers badly.
        """
        data = await self._get_json("/api/version")
        version = data.get("version") if isinstance(data, Mapping) else None
        if not isinstance(version, str):
            raise ResponseFormatError("/api/version did not return a version", self.name, True, 200)
        return version

    async def health_check(self) -> bool:
        """True when ``/api/tags`` answers and lists the configured model; never raises."""
        try:
            names = await self.list_models(timeout=min(self.settings.timeout, HEALTH_CHECK_TIMEOUT))
        except Exception as exc:  # a health check reports, it never raises
            logger.info("health check of Ollama backend %r failed: %s", self.name, exc)
            return False
        if not model_is_listed(self.settings.model, names):
            self.mark_misconfigured(
                f"model {self.settings.model!r} is not pulled on {mask_url(self.base_url)}"
                f" (run `ollama pull {self.settings.model}` there)"
            )
            return False
        return True

    # -- configuration ----------------------------------------------------------------------------

    def config_problems(self) -> list[ConfigProblem]:
        """The base checks, plus ``$OLLAMA_HOST`` and ``settings.extra`` checks."""
        problems = super().config_problems()
        where = f"backends.{self.name}"
        if self._host_problem:
            problems.append(ConfigProblem(f"{where}.base_url", self._host_problem))
        extra = self.settings.extra
        for key in sorted(set(extra) - EXTRA_KEYS):
            problems.append(
                ConfigProblem(
                    f"{where}.extra.{key}", f"unknown key (known: {', '.join(sorted(EXTRA_KEYS))})"
                )
            )
        keep_alive = extra.get("keep_alive")
        if keep_alive is not None and (
            isinstance(keep_alive, bool) or not isinstance(keep_alive, (str, int, float))
        ):
            problems.append(
                ConfigProblem(
                    f"{where}.extra.keep_alive", 'expected a duration such as "5m" or seconds'
                )
            )
        options = extra.get("options")
        if options is not None and not isinstance(options, Mapping):
            problems.append(
                ConfigProblem(f"{where}.extra.options", "expected a table of Ollama options")
            )
        return problems

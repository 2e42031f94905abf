"""The OpenAI Chat Completions protocol, once, for every server that speaks it.

:class:`OpenAICompatibleBackend` builds requests, parses replies and streams, and sends every
failure through :meth:`OpenAICompatibleBackend.translate_error` (HTTP error replies) and
:func:`claudette.http.error_from_exception` (transport failures). OpenAI itself
(:class:`~claudette_backend_openai.OpenAIBackend`), Qwen on vLLM or DashScope, llama.cpp
and Ollama's ``/v1`` differ only in defaults and in two switches:

- :attr:`~OpenAICompatibleBackend.max_tokens_field`: ``max_tokens`` for compatible servers,
  ``max_completion_tokens`` for OpenAI (``settings.extra["max_tokens_field"]`` overrides);
- :attr:`~OpenAICompatibleBackend.stream_usage`: ask for the usage chunk when streaming
  (``stream_options`` is sent *only* when streaming; ``settings.extra["stream_usage"]``
  overrides).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar, cast

import httpx
from claudette.backend import BaseBackend
from claudette.deadlines import CallDeadline, StreamClock
from claudette.errors import (
    BackendError,
    ConfigProblem,
    ResponseFormatError,
    StreamInterruptedError,
)
from claudette.http import SSEDecoder, drain, error_from_exception, parse_json
from claudette.messages import ToolCall, ToolCallDelta
from claudette.ratelimit import rate_limits_from_headers
from claudette.types import ClaudetteRequest, ClaudetteResponse, StreamChunk

from claudette_backend_openai._tools import (
    ToolCallAssembler,
    add_features,
    message_dict,
    parse_tool_calls,
)
from claudette_backend_openai.errors import REQUEST_ID_HEADER, error_from_event, error_from_response

__all__ = ["MAX_TOKENS_FIELDS", "OpenAICompatibleBackend", "usage_details"]

#: The two names servers use for the output-token budget.
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")
#: Seconds a health check may take at most.
HEALTH_TIMEOUT = 10.0
_DONE = "[DONE]"


def _is_map(value: Any) -> bool:
    """``isinstance(value, Mapping)``, with decoded JSON's plain dict and null first (no ABC check)."""
    return value.__class__ is dict or (value is not None and isinstance(value, Mapping))


def _count(value: Any) -> int | None:
    """A token count, or None for anything that is not a non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def usage_of(payload: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(prompt_tokens, completion_tokens)`` from a reply's ``usage``; None where absent."""
    usage: Any = payload.get("usage")
    if usage.__class__ is not dict and not _is_map(usage):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if prompt.__class__ is int and completion.__class__ is int and prompt >= 0 and completion >= 0:
        return prompt, completion  # the usual case, without two calls
    return _count(prompt), _count(completion)


def usage_details(payload: Mapping[str, Any]) -> tuple[int, int]:
    """``(cached prompt tokens, reasoning tokens)`` from a reply's ``usage`` details.

    ``usage.prompt_tokens_details.cached_tokens`` (part of ``prompt_tokens``) and
    ``usage.completion_tokens_details.reasoning_tokens`` (part of ``completion_tokens``),
    as OpenAI and vLLM report them; 0 where absent or malformed.
    """
    usage: Any = payload.get("usage")
    if not _is_map(usage):
        return 0, 0

    def detail(section: str, key: str) -> int:
        details = usage.get(section)
        return (_count(details.get(key)) or 0) if _is_map(details) else 0

    return (
        detail("prompt_tokens_details", "cached_tokens"),
        detail("completion_tokens_details", "reasoning_tokens"),
    )


def _content_text(content: Any) -> str | None:
    """Message content as text: a string, null (→ ""), or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if _is_map(p)]
        return "".join(p for p in parts if isinstance(p, str))
    return None


class OpenAICompatibleBackend(BaseBackend):
    """A backend for any server speaking OpenAI Chat Completions (``POST /chat/completions``).

    Subclasses set defaults and, if needed, :attr:`max_tokens_field` and
    :attr:`stream_usage`. ``settings.extra`` may hold ``organization`` and ``project``
    (sent as ``OpenAI-Organization`` / ``OpenAI-Project``), ``max_tokens_field``,
    ``stream_usage`` and ``extra_body`` (a mapping merged into every request body).
    """

    #: Output-token budget field: compatible servers (vLLM, DashScope, llama.cpp) want this.
    max_tokens_field: ClassVar[str] = "max_tokens"
    #: Ask for the usage chunk (``stream_options.include_usage``) when streaming.
    stream_usage: ClassVar[bool] = True
    #: Path of the chat endpoint, relative to the base URL.
    chat_path: ClassVar[str] = "/chat/completions"
    #: Path of the model list (the health check), relative to the base URL.
    models_path: ClassVar[str] = "/models"
    #: Chat Completions carries tools, image parts and JSON-schema output.
    default_capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "images", "json_schema"})
    #: ``owned_by`` values of servers that refuse a model they do not list (OpenAI, vLLM):
    #: on those, a model missing from the list is a misconfiguration. Servers that answer
    #: with whatever model they loaded (llama.cpp's ``llamacpp``, llama-cpp-python's ``me``)
    #: list it under another name, so their list proves nothing.
    authoritative_owners: ClassVar[frozenset[str]] = frozenset(
        {"openai", "system", "openai-internal", "openai-dev", "vllm"}
    )

    # -- settings ------------------------------------------------------------------------

    @property
    def token_field(self) -> str:
        """The body field this backend sends the output-token budget in."""
        field = self.settings.extra.get("max_tokens_field")
        return field if field in MAX_TOKENS_FIELDS else self.max_tokens_field

    @property
    def wants_stream_usage(self) -> bool:
        """Whether a streamed request asks for the usage chunk."""
        value = self.settings.extra.get("stream_usage")
        return value if isinstance(value, bool) else self.stream_usage

    def config_problems(self) -> list[ConfigProblem]:
        """Base checks plus the protocol's own ``extra`` options."""
        problems = super().config_problems()
        where = f"backends.{self.name}.extra"
        field = self.settings.extra.get("max_tokens_field")
        if field is not None and field not in MAX_TOKENS_FIELDS:
            problems.append(
                ConfigProblem(
                    f"{where}.max_tokens_field", f"must be one of {list(MAX_TOKENS_FIELDS)}"
                )
            )
        extra_body = self.settings.extra.get("extra_body")
        if extra_body is not None and not isinstance(extra_body, Mapping):
            problems.append(ConfigProblem(f"{where}.extra_body", "must be a table (mapping)"))
        return problems

    # -- requests --------------------------------------------------------------------------

    def _static_headers(self) -> dict[str, str]:
        """:meth:`request_headers`, built once per settings object (settings are frozen)."""
        cached = getattr(self, "_headers_cache", None)
        if cached is not None and cached[0] is self.settings:
            return cached[1]  # type: ignore[no-any-return]
        headers = self.request_headers()
        self._headers_cache = (self.settings, headers)
        return headers

    def request_headers(self) -> dict[str, str]:
        """Headers of every call: Bearer auth and the optional organization and project."""
        headers: dict[str, str] = {}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        extra = self.settings.extra
        for key, header in (("organization", "OpenAI-Organization"), ("project", "OpenAI-Project")):
            value = extra.get(key)
            if isinstance(value, str) and value:
                headers[header] = value
        return headers

    def build_payload(self, request: ClaudetteRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body for ``request``; ``stream_options`` only when ``stream`` is true."""
        s = self.settings
        opts = request.options
        messages: list[dict[str, Any]]
        if request.messages:
            messages = [message_dict(m) for m in request.all_messages]
        else:  # a lone prompt (the common case), without building the message tuple
            messages = [{"role": "user", "content": request.prompt}]
        body: dict[str, Any] = {"model": opts.model or s.model, "messages": messages}
        max_tokens = opts.max_tokens or s.max_tokens
        if max_tokens is not None:
            body[self.token_field] = max_tokens
        temperature = opts.temperature if opts.temperature is not None else s.temperature
        if temperature is not None:
            body["temperature"] = min(float(temperature), 2.0)
        if opts.stop:
            body["stop"] = list(opts.stop)
        if request.required_capabilities or request.tool_choice or request.response_format or (
            opts.top_p is not None or opts.seed is not None
        ):
            self.check_capabilities(request)
            add_features(body, request)
        extra_body = s.extra.get("extra_body")
        if extra_body is not None and isinstance(extra_body, Mapping):
            for key, value in extra_body.items():
                body.setdefault(key, value)
        if stream:
            body["stream"] = True
            if self.wants_stream_usage:
                body["stream_options"] = {"include_usage": True}
        return body

    # -- the one translation point -------------------------------------------------------------

    def translate_error(
        self, status: int, body: bytes | str | None, headers: Mapping[str, str] | httpx.Headers
    ) -> BackendError:
        """The claudette error for an HTTP error reply (every status error goes through here)."""
        return error_from_response(self.name, status, body, headers)

    def _format_error(
        self, message: str, status: int | None = None, request_id: str | None = None
    ) -> ResponseFormatError:
        return ResponseFormatError(message, self.name, True, status, request_id=request_id)

    def decode_json(
        self, body: bytes | str, status: int, headers: Mapping[str, str] | httpx.Headers
    ) -> Any:
        """Decode a JSON body or stream event; malformed → :class:`ResponseFormatError`
        carrying the reply's request id."""
        try:
            return parse_json(self.name, body, status=status)
        except ResponseFormatError as error:
            error.request_id = error.request_id or headers.get(REQUEST_ID_HEADER)
            raise

    # -- non-streamed -----------------------------------------------------------------------------

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """POST the request and parse the whole completion."""
        payload = self.build_payload(request, stream=False)
        started = time.perf_counter()
        try:
            async with CallDeadline(self.name, self.settings.timeout):  # a dripping body too
                reply = await self.client.post(
                    self.url_for(self.chat_path), json=payload, headers=self._static_headers()
                )
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        if reply.status_code >= 300:
            raise self.translate_error(reply.status_code, reply.content, reply.headers)
        self.stats.update_rate_limits(**rate_limits_from_headers(reply.headers))
        try:  # strict UTF-8, as in a stream (see claudette.http.parse_json)
            data = json.loads(reply.content.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
            data = self.decode_json(reply.content, reply.status_code, reply.headers)  # raises
        return self.parse_completion(data, reply.headers, latency_ms, request)

    def parse_completion(
        self,
        data: Any,
        headers: Mapping[str, str] | httpx.Headers,
        latency_ms: float,
        request: ClaudetteRequest,
    ) -> ClaudetteResponse:
        """Turn a decoded ``chat.completion`` into a response (usage → cost)."""
        # Decoded JSON is made of plain dicts, lists and strs: each check tests the exact
        # class first and only then the general (slower) one.
        if data.__class__ is not dict and not _is_map(data):
            raise self._format_error(
                f"expected a JSON object, got {type(data).__name__}",
                200,
                headers.get(REQUEST_ID_HEADER),
            )
        if data.get("error"):
            raise error_from_event(self.name, data, headers)
        choices = data.get("choices")
        if not choices or choices.__class__ is not list or not _is_map(choices[0]):
            raise self._format_error(
                "the completion has no choices", 200, headers.get(REQUEST_ID_HEADER)
            )
        choice = choices[0]
        message = choice.get("message")
        if message.__class__ is not dict and not _is_map(message):
            raise self._format_error(
                "the first choice has no message", 200, headers.get(REQUEST_ID_HEADER)
            )
        content = message.get("content")
        if content.__class__ is not str:
            content = _content_text(content)
            if content is None:
                raise self._format_error(
                    "the message content is not text", 200, headers.get(REQUEST_ID_HEADER)
                )
        raw_calls = message.get("tool_calls")
        calls: tuple[ToolCall, ...] = ()
        finish = choice.get("finish_reason")
        if raw_calls:
            try:
                calls = parse_tool_calls(raw_calls)
            except ValueError as exc:
                raise self._format_error(str(exc), 200, headers.get(REQUEST_ID_HEADER)) from None
            if finish == "stop" or finish is None:
                finish = "tool_calls"  # compatible servers that say "stop" after calls
        tokens_in, tokens_out = usage_of(data)
        cached, reasoning_tokens = usage_details(data)
        response_id = data.get("id")
        reasoning = message.get("reasoning_content")
        metadata = _metadata(
            headers.get(REQUEST_ID_HEADER),
            response_id if response_id.__class__ is str else None,
            reasoning if reasoning.__class__ is str else None,
        )
        model = data.get("model")
        return self.create_success_response(
            content,
            tokens_in,
            tokens_out,
            latency_ms,
            metadata,
            model=model if model.__class__ is str else None,
            finish_reason=finish if finish.__class__ is str else None,
            request=request,
            tool_calls=calls,
            tokens_cached_input=cached,
            tokens_reasoning=reasoning_tokens,
        )

    # -- streamed ---------------------------------------------------------------------------------

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        """Stream the completion: one chunk per text delta, then the final response.

        The stream is bounded by a :class:`~claudette.deadlines.StreamClock`: SSE comments
        (keep-alives) do not count as events. After ``[DONE]`` the answer is complete,
        whatever the connection does next.

        :raises ResponseFormatError: on a malformed event or a stream without ``[DONE]``.
        :raises StreamInterruptedError: for a ``[DONE]`` after no content and no finish
            reason (a server that stopped the generation, as llama.cpp's does when another
            request interrupts it).
        :raises BackendTimeoutError: when the stream's clock runs out.
        :raises BackendError: for an error event after the 200 status, or a transport failure.
        """
        payload = self.build_payload(request, stream=True)
        started = time.perf_counter()
        try:
            async with self.client.stream(
                "POST", self.url_for(self.chat_path), json=payload, headers=self._static_headers()
            ) as reply:
                if reply.status_code >= 300:
                    body = await reply.aread()
                    raise self.translate_error(reply.status_code, body, reply.headers)
                self.stats.update_rate_limits(**rate_limits_from_headers(reply.headers))
                state = _StreamState()
                read = SSEDecoder(self.name).read
                clock = StreamClock(self.name, self.settings)
                wait = clock.wait
                apply_event = self._apply_event
                headers = reply.headers
                name = self.name
                # The body is read as bytes, decoded (strict UTF-8) and split into events by
                # the decoder (no step per line); aclosing() closes the byte iterator if the
                # loop stops early.
                async with aclosing(cast("AsyncGenerator[bytes, None]", reply.aiter_bytes())) as texts:
                    while (events := await wait(read(texts))) is not None:
                        if events:  # an event, not a comment: the stream is alive
                            clock.progressed()
                        for event in events:
                            piece = apply_event(state, event.data, headers)
                            if state.pending:
                                yield StreamChunk(piece, name, None, state.take_pending())
                            elif piece:
                                yield StreamChunk(piece, name)
                            elif state.done:
                                break
                        if state.done:
                            await drain(texts)  # the end of the body: the connection is reused
                            break
                if not state.done:
                    raise self._format_error(
                        "the stream ended without its [DONE] terminator",
                        reply.status_code,
                        headers.get(REQUEST_ID_HEADER),
                    )
                if not state.parts and state.finish_reason is None:
                    raise StreamInterruptedError(
                        "the stream ended with no content and no finish reason",
                        name,
                        True,
                        reply.status_code,
                        request_id=headers.get(REQUEST_ID_HEADER),
                    )
                latency_ms = (time.perf_counter() - started) * 1000.0
                response = self._final_response(state, headers, latency_ms, request)
        except httpx.HTTPError as exc:
            raise error_from_exception(self.name, exc) from exc
        yield StreamChunk("", self.name, response)

    def _apply_event(
        self, state: _StreamState, data: str, headers: Mapping[str, str] | httpx.Headers
    ) -> str:
        """Fold one event's data into ``state``: a ``chat.completion.chunk`` (returns its
        new text) or the ``[DONE]`` terminator (sets ``state.done``, returns "")."""
        if data == _DONE:
            state.done = True
            return ""
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            if data.strip() == _DONE:
                state.done = True
                return ""
            chunk = self.decode_json(data, 200, headers)  # raises, naming the backend
        if chunk.__class__ is not dict and not _is_map(chunk):
            raise self._format_error(
                f"stream event is not a JSON object: {data[:80]!r}",
                200,
                headers.get(REQUEST_ID_HEADER),
            )
        if chunk.get("error"):
            raise error_from_event(self.name, chunk, headers)
        if state.model is None:  # the id and model are the same on every chunk
            response_id = chunk.get("id")
            if isinstance(response_id, str):
                state.response_id = response_id
            model = chunk.get("model")
            if isinstance(model, str):
                state.model = model
        if chunk.get("usage"):
            tokens_in, tokens_out = usage_of(chunk)
            if tokens_in is not None and tokens_out is not None:
                state.tokens_in, state.tokens_out = tokens_in, tokens_out
                state.tokens_cached, state.tokens_reasoning = usage_details(chunk)
        choices = chunk.get("choices")
        if not choices or choices.__class__ is not list:
            return ""
        choice = choices[0]
        if choice.__class__ is not dict and not _is_map(choice):
            return ""
        finish = choice.get("finish_reason")
        if finish is not None and isinstance(finish, str):
            state.finish_reason = finish
        delta = choice.get("delta")
        if delta.__class__ is not dict and not _is_map(delta):
            return ""
        reasoning = delta.get("reasoning_content")
        if reasoning is not None and isinstance(reasoning, str):
            state.reasoning.append(reasoning)
        if "tool_calls" in delta and (raw_calls := delta["tool_calls"]):
            if state.tools is None:
                state.tools = ToolCallAssembler()
            try:
                state.pending = state.tools.feed(raw_calls)
            except ValueError as exc:
                raise self._format_error(str(exc), 200, headers.get(REQUEST_ID_HEADER)) from None
        text: str | None = delta.get("content")
        if text and text.__class__ is str:
            state.parts.append(text)
            return text
        return ""

    def _final_response(
        self,
        state: _StreamState,
        headers: Mapping[str, str] | httpx.Headers,
        latency_ms: float,
        request: ClaudetteRequest,
    ) -> ClaudetteResponse:
        metadata = _metadata(
            headers.get(REQUEST_ID_HEADER),
            state.response_id,
            "".join(state.reasoning) if state.reasoning else None,
        )
        calls: tuple[ToolCall, ...] = ()
        finish = state.finish_reason
        if state.tools is not None:
            try:
                calls = state.tools.calls()
            except ValueError as exc:
                raise self._format_error(str(exc), 200, headers.get(REQUEST_ID_HEADER)) from None
            if calls and (finish == "stop" or finish is None):
                finish = "tool_calls"
        return self.create_success_response(
            "".join(state.parts),
            state.tokens_in,
            state.tokens_out,
            latency_ms,
            metadata,
            model=state.model,
            finish_reason=finish,
            request=request,
            tool_calls=calls,
            tokens_cached_input=state.tokens_cached,
            tokens_reasoning=state.tokens_reasoning,
        )

    # -- health -----------------------------------------------------------------------------------

    async def check_url(self, url: str, *, auth: bool = True) -> int | None:
        """GET ``url`` (relative to the base URL or absolute); its status, None if unreachable."""
        try:
            reply = await self.client.get(
                url,
                headers=self.request_headers() if auth else None,
                timeout=min(self.settings.timeout, HEALTH_TIMEOUT),
            )
        except httpx.HTTPError:
            return None
        return reply.status_code

    async def check_models(self, *, must_answer: bool = True) -> bool:
        """``GET {base}/models`` (free): True when it answers 200 and, on a server whose list
        is authoritative (:attr:`authoritative_owners`), lists the configured model.

        A refused key (401/403) or a model the server does not serve marks the backend
        misconfigured (:meth:`~claudette.backend.BaseBackend.mark_misconfigured`).

        :param must_answer: False when another check has already shown the server up: then
            only a misconfiguration makes the result False.
        """
        try:
            reply = await self.client.get(
                self.url_for(self.models_path),
                headers=self.request_headers(),
                timeout=min(self.settings.timeout, HEALTH_TIMEOUT),
            )
        except httpx.HTTPError:
            return not must_answer
        status = reply.status_code
        if status in (401, 403):
            self.mark_misconfigured(f"the server refused the API key (HTTP {status} listing models)")
            return False
        if status != 200:
            return not must_answer
        model = self.settings.model
        listed = _listed_models(reply.content)
        if model and listed is not None:
            ids, owners = listed
            if ids and owners and owners <= self.authoritative_owners and model not in ids:
                shown = ", ".join(sorted(ids)[:5]) + (" ..." if len(ids) > 5 else "")
                self.mark_misconfigured(f"model {model!r} is not served here (the server lists {shown})")
                return False
        return True

    async def health_check(self) -> bool:
        """:meth:`check_models` (costs nothing); never raises."""
        try:
            return await self.check_models()
        except Exception:  # a health check must never raise
            return False


def _listed_models(body: bytes) -> tuple[set[str], set[str]] | None:
    """The ids and owners of a ``/models`` reply, None when it is not the usual list."""
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    ids: set[str] = set()
    owners: set[str] = set()
    for card in data:
        if isinstance(card, dict) and isinstance(card.get("id"), str):
            ids.add(card["id"])
            owner = card.get("owned_by")
            owners.add(owner if isinstance(owner, str) else "")
    return ids, owners


def _metadata(
    request_id: str | None, response_id: str | None, reasoning: str | None
) -> dict[str, Any]:
    """A response's metadata: the request and response ids and the reasoning text, where set."""
    metadata: dict[str, Any] = {}
    if request_id:
        metadata["request_id"] = request_id
    if response_id is not None:
        metadata["response_id"] = response_id
    if reasoning:
        metadata["reasoning_content"] = reasoning
    return metadata


class _StreamState:
    """What a stream has said so far."""

    __slots__ = (
        "done",
        "finish_reason",
        "model",
        "parts",
        "pending",
        "reasoning",
        "response_id",
        "tokens_cached",
        "tokens_in",
        "tokens_out",
        "tokens_reasoning",
        "tools",
    )

    def __init__(self) -> None:
        #: Tool-call pieces of the last event, not yet passed on.
        self.pending: tuple[ToolCallDelta, ...] = ()
        self.tools: ToolCallAssembler | None = None
        self.parts: list[str] = []
        self.reasoning: list[str] = []
        self.done = False
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.response_id: str | None = None
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.tokens_cached = 0
        self.tokens_reasoning = 0

    def take_pending(self) -> tuple[ToolCallDelta, ...]:
        """The tool-call pieces not yet passed on (and forget them)."""
        pending, self.pending = self.pending, ()
        return pending

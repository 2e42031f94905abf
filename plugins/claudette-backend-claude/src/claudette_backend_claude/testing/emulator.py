"""A loopback emulator of the Anthropic Messages API, for tests, benchmarks and demos.

    with AnthropicEmulator(api_key="sk-test-123456") as api:
        backend = ClaudeBackend("claude", api.settings())
        api.fail_next(AnthropicFault.overloaded())   # the next message call gets a 529
        ...
        assert api.message_requests == 2
        assert api.usage_reported == (24, 4)

It serves ``POST /v1/messages`` (JSON, or the named-event stream when ``"stream": true``)
and ``GET /v1/models`` on a real socket (:class:`claudette.testing.LoopbackServer`),
checks ``x-api-key`` (401 ``authentication_error``) and ``anthropic-version``
(400 ``invalid_request_error``), validates the body as the API does (``model``,
``messages``, ``max_tokens`` required; no ``system`` role; temperature 0..1), and logs
every call with the usage it reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from claudette.testing import Fault, RecordedRequest, Reply, ScriptedEmulator, TransportFault
from claudette.testing.scripted_model import Conversation, Turn, next_turn
from claudette.types import BackendSettings

from claudette_backend_claude.testing.faults import AnthropicFault
from claudette_backend_claude.testing.render import (
    Answer,
    compose_answer,
    dumps,
    error_body,
    message_json,
    sse_event,
    stream_events,
)

__all__ = ["AnthropicEmulator", "EmulatorCall"]

#: ``anthropic-version`` values the emulator accepts.
KNOWN_VERSIONS = frozenset({"2023-06-01", "2023-01-01"})
#: A reply: fixed text, content blocks, or a function of the request body giving either.
ReplySpec = str | Sequence[Mapping[str, Any]] | Callable[[Mapping[str, Any]], "str | Sequence[Mapping[str, Any]]"]

_PROXY_413 = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@attrs.frozen
class EmulatorCall:
    """One request the emulator answered, and what it answered.

    :param method: ``GET`` or ``POST``.
    :param path: the request path.
    :param request_id: the ``request-id`` it sent back (None when it never answered).
    :param status: the HTTP status sent, None for a reset or hang.
    :param stream: whether the request asked for a stream.
    :param fault: the kind of scripted fault applied, None for a normal answer.
    :param completed: True when a whole message (with its final usage) was delivered.
    :param input_tokens: prompt tokens reported in a completed message, else 0.
    :param output_tokens: generated tokens reported in a completed message, else 0.
    :param body: the decoded JSON body, None when absent or not JSON.
    :param headers: the request headers (lower-cased names).
    """

    method: str
    path: str
    request_id: str | None
    status: int | None
    stream: bool = False
    fault: str | None = None
    completed: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)


class AnthropicEmulator(ScriptedEmulator[AnthropicFault]):
    """A deterministic Messages API on ``127.0.0.1`` with scriptable faults.

    :param api_key: the key ``x-api-key`` must carry.
    :param reply: the answer: a string, a list of content blocks (non-text blocks allowed),
        or a function of the request body returning either.
    :param models: the ids ``GET /v1/models`` lists.
    :param input_tokens: the prompt tokens to report (default: one per 4 characters).
    :param message_id: a fixed message id (default ``msg_emu_000001``, counting up).
    :param latency: seconds every answer waits before its first byte.
    :param chunk_delay: seconds before each streamed event.
    :param request_id_prefix: ``request-id`` values are this plus a counter.
    :param host: the loopback address to bind.
    :param port: the port (0 picks a free one).
    """

    #: Anthropic's ``ping`` event, which may appear anywhere in a stream.
    keep_alive: ClassVar[bytes] = b'event: ping\ndata: {"type": "ping"}\n\n'

    def __init__(
        self,
        *,
        api_key: str = "sk-ant-emulator-key",
        reply: ReplySpec = "Hello there",
        models: Sequence[str] = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"),
        input_tokens: int | None = None,
        message_id: str | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        request_id_prefix: str = "req_emu_",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.reply = reply
        self.models = tuple(models)
        self.input_tokens = input_tokens
        self.message_id = message_id
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.request_id_prefix = request_id_prefix
        #: When False, ``GET /v1/models`` answers 529 ``overloaded_error``.
        self.healthy = True
        super().__init__(host=host, port=port)
        self._calls: list[EmulatorCall] = []
        self._counter = 0
        self._messages = 0

    def settings(self, **overrides: Any) -> BackendSettings:
        """``BackendSettings`` pointing at this emulator with its key and a known model."""
        values: dict[str, Any] = {"base_url": self.url, "api_key": self.api_key, "model": self.models[0]}
        values.update(overrides)
        return BackendSettings(**values)

    # -- scripting ----------------------------------------------------------------------------

    def fail_next(self, *faults: AnthropicFault | TransportFault | None) -> None:
        """Answer the next message requests with these faults, in order (see :meth:`script`;
        None is a normal answer)."""
        self.script(*faults)

    def reset(self) -> None:
        """Forget queued faults, the standing fault and the call log; become healthy."""
        with self._lock:
            self._clear_faults()
            self._calls.clear()
        self.healthy = True

    # -- the log --------------------------------------------------------------------------------

    @property
    def calls(self) -> list[EmulatorCall]:
        """Every call answered so far (a copy), in order."""
        with self._lock:
            return list(self._calls)

    @property
    def message_requests(self) -> int:
        """How many ``POST /v1/messages`` requests arrived."""
        return sum(1 for c in self.calls if c.path == "/v1/messages" and c.method == "POST")

    @property
    def completed_messages(self) -> int:
        """How many messages were delivered whole, with their usage."""
        return sum(1 for c in self.calls if c.completed)

    @property
    def usage_reported(self) -> tuple[int, int]:
        """(input tokens, output tokens) summed over the completed messages."""
        calls = [c for c in self.calls if c.completed]
        return sum(c.input_tokens for c in calls), sum(c.output_tokens for c in calls)

    # -- serving --------------------------------------------------------------------------------

    def _next_ids(self, is_message: bool) -> tuple[str, str]:
        with self._lock:
            self._counter += 1
            if is_message:
                self._messages += 1
            request_id = f"{self.request_id_prefix}{self._counter:06d}"
            message_id = self.message_id or f"msg_emu_{self._messages:06d}"
        return request_id, message_id

    def _log(self, call: EmulatorCall) -> None:
        with self._lock:
            self._calls.append(call)

    def _error(
        self, status: int, etype: str, message: str, rid: str, headers: Mapping[str, str] | None = None
    ) -> Reply:
        all_headers = {"content-type": "application/json", "request-id": rid, **(headers or {})}
        return Reply(status, all_headers, error_body(etype, message, rid), delay=self.latency)

    def _auth_problem(self, request: RecordedRequest, rid: str) -> Reply | None:
        if request.headers.get("x-api-key") != self.api_key:
            return self._error(401, "authentication_error", "invalid x-api-key", rid)
        version = request.headers.get("anthropic-version")
        if version is None:
            return self._error(400, "invalid_request_error", "anthropic-version: header is required", rid)
        if version not in KNOWN_VERSIONS:
            return self._error(400, "invalid_request_error", f"anthropic-version: invalid version {version!r}", rid)
        return None

    async def _handle(self, request: RecordedRequest) -> Reply | Fault:
        is_message = request.path == "/v1/messages" and request.method == "POST"
        rid, mid = self._next_ids(is_message)
        body = _decode(request.body)
        stream = bool(isinstance(body, Mapping) and body.get("stream") is True)
        call = EmulatorCall(
            request.method, request.path, rid, None, stream, body=body, headers=dict(request.headers)
        )
        reply: Reply | Fault
        answer: Answer | None = None
        problem = self._auth_problem(request, rid)
        if problem is not None:
            reply = problem
        elif request.path == "/v1/models" and request.method == "GET":
            reply = self._models(rid)
        elif request.path.startswith("/v1/models/") and request.method == "GET":
            reply = self._model(request.path[len("/v1/models/") :], rid)
        elif not is_message:
            reply = self._error(404, "not_found_error", f"Not found: {request.method} {request.path}", rid)
        else:
            invalid = _validate(body)
            fault = self._take_fault()
            delivers = fault is None or (isinstance(fault, TransportFault) and fault.delivers)
            if invalid is not None and delivers:
                reply = self._error(400, "invalid_request_error", invalid, rid)
            else:
                assert isinstance(body, Mapping) or fault is not None
                answer = self._answer(body if isinstance(body, Mapping) else {}, mid)
                reply, completed = self._render(answer, stream, rid, fault)
                call = attrs.evolve(call, fault=fault.kind if fault else None, completed=completed)
                if completed:
                    call = attrs.evolve(
                        call, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens
                    )
        status = reply.status if isinstance(reply, Reply) else None
        if isinstance(reply, Fault):
            call = attrs.evolve(call, request_id=None)
        self._log(attrs.evolve(call, status=status))
        return reply

    def _models(self, rid: str) -> Reply:
        if not self.healthy:
            return self._error(529, "overloaded_error", "Overloaded", rid)
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"}
            for m in self.models
        ]
        payload = {
            "data": data,
            "has_more": False,
            "first_id": self.models[0] if self.models else None,
            "last_id": self.models[-1] if self.models else None,
        }
        return Reply(200, {"content-type": "application/json", "request-id": rid}, dumps(payload).encode())

    def _model(self, model_id: str, rid: str) -> Reply:
        if not self.healthy:
            return self._error(529, "overloaded_error", "Overloaded", rid)
        if model_id not in self.models:
            return self._error(404, "not_found_error", f"model: {model_id}", rid)
        card = {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2025-09-29T00:00:00Z"}
        return Reply(200, {"content-type": "application/json", "request-id": rid}, dumps(card).encode())

    def _answer(self, body: Mapping[str, Any], mid: str) -> Answer:
        turn = _turn(body)
        if turn is not None and turn.calls:
            spec: str | Sequence[Mapping[str, Any]] = [
                {"type": "tool_use", "id": f"toolu_emu{mid[-6:]}{i}", "name": c.name, "input": dict(c.arguments)}
                for i, c in enumerate(turn.calls)
            ]
            return compose_answer(body, spec, message_id=mid, input_tokens=self.input_tokens)
        if turn is not None and turn.text is not None:
            return compose_answer(body, turn.image_note + turn.text, message_id=mid, input_tokens=self.input_tokens)
        spec = self.reply(body) if callable(self.reply) else self.reply
        if turn is not None and turn.image_note and isinstance(spec, str):
            spec = turn.image_note + spec
        return compose_answer(body, spec, message_id=mid, input_tokens=self.input_tokens)

    def _render(
        self, answer: Answer, stream: bool, rid: str, fault: AnthropicFault | TransportFault | None
    ) -> tuple[Reply | Fault, bool]:
        """The reply for a valid message request, and whether it delivers the whole message."""
        headers = {"request-id": rid}
        common: dict[str, Any] = {"headers": headers, "delay": self.latency, "chunk_delay": self.chunk_delay}
        if not isinstance(fault, AnthropicFault):
            if stream:
                reply = Reply.stream(stream_events(answer), **common)
            else:
                body = message_json(answer)
                reply = Reply(200, {"content-type": "application/json", **headers}, body, delay=self.latency)
            if fault is None:
                return reply, True
            return fault.apply(reply, self.keep_alive), fault.delivers
        if fault.kind == "error":
            assert fault.error_type is not None
            return self._error(fault.status, fault.error_type, fault.message, rid, fault.headers), False
        if fault.kind == "proxy_413":
            return Reply.text(_PROXY_413, 413, "text/html", delay=self.latency), False
        if fault.kind == "raw":
            assert fault.reply is not None
            return fault.reply, False
        if fault.kind == "stream_error":
            events = stream_events(answer)[: fault.after_events]
            error = {"type": "error", "error": {"type": fault.error_type, "message": fault.message}}
            return Reply.stream([*events, sse_event("error", error)], **common), False
        raise ValueError(f"unknown fault kind {fault.kind!r}")


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None


def _validate(body: Any) -> str | None:
    """The API's complaint about a messages body, or None when it is acceptable."""
    if not isinstance(body, Mapping):
        return "There was an error parsing the body of your request"
    for field in ("model", "messages", "max_tokens"):
        if field not in body:
            return f"{field}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a valid string"
    max_tokens = body["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Input should be a positive integer"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return f"messages.{i}: Input should be a valid dictionary"
        role = message.get("role")
        if role == "system":
            return (
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if "content" not in message:
            return f"messages.{i}.content: Field required"
    last = messages[-1]
    content = last.get("content")
    if last.get("role") == "assistant" and isinstance(content, str) and content != content.rstrip():
        # A prefill the model continues may not end in whitespace.
        return "messages: final assistant content cannot end with trailing whitespace"
    problem = _tool_problem(body)
    if problem is not None:
        return problem
    if "system" in body and not isinstance(body["system"], (str, list)):
        return "system: Input should be a valid string"
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0.0 <= temperature <= 1.0
    ):
        return "temperature: Input should be less than or equal to 1"
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        return "stop_sequences: Input should be a valid list of strings"
    if "stream" in body and not isinstance(body["stream"], bool):
        return "stream: Input should be a valid boolean"
    return None


def _tool_problem(body: Mapping[str, Any]) -> str | None:
    """The API's complaint about tools, tool blocks and images in ``body``, or None."""
    names: set[str] = set()
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for i, tool in enumerate(tools):
            if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
                return f"tools.{i}.name: Field required"
            if not isinstance(tool.get("input_schema"), Mapping):
                return f"tools.{i}.input_schema: Field required"
            names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, Mapping) else None
        if kind not in ("auto", "any", "tool", "none"):
            return "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
        if kind == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: tool {choice.get('name')!r} not found in tools"
    previous_calls: set[str] = set()
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        calls: set[str] = set()
        if isinstance(content, list):
            for j, block in enumerate(content):
                kind = block.get("type") if isinstance(block, Mapping) else None
                where = f"messages.{i}.content.{j}"
                if kind == "text":
                    if not isinstance(block.get("text"), str):
                        return f"{where}.text: Field required"
                elif kind == "image":
                    source = block.get("source")
                    stype = source.get("type") if isinstance(source, Mapping) else None
                    if stype == "base64":
                        if not str(source.get("media_type", "")).startswith("image/") or not isinstance(source.get("data"), str):
                            return f"{where}.source: base64 needs media_type and data"
                    elif stype != "url" or not isinstance(source.get("url"), str):
                        return f"{where}.source: Input tag does not match 'base64', 'url'"
                elif kind == "tool_use":
                    if message.get("role") != "assistant":
                        return f"{where}: tool_use blocks belong in assistant messages"
                    if not isinstance(block.get("id"), str) or not isinstance(block.get("input"), Mapping):
                        return f"{where}: tool_use needs an id and an input object"
                    calls.add(block["id"])
                elif kind == "tool_result":
                    if message.get("role") != "user":
                        return f"{where}: tool_result blocks belong in user messages"
                    if block.get("tool_use_id") not in previous_calls:
                        return (
                            f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                            f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                            "corresponding `tool_use` block in the previous message."
                        )
                else:
                    return f"{where}.type: Input tag {kind!r} does not match any of the expected tags"
        previous_calls = calls
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, Mapping) and b.get("type") == "text")
    return ""


def _turn(body: Mapping[str, Any]) -> Turn | None:
    """The scripted model's turn for a request with tools, tool results or images; None for
    plain text (answered by the emulator's ``reply``)."""
    messages = body["messages"]
    last = messages[-1]
    content = last.get("content")
    results = [
        _text(b.get("content")) if not isinstance(b.get("content"), str) else b["content"]
        for b in (content if isinstance(content, list) else ())
        if isinstance(b, Mapping) and b.get("type") == "tool_result"
    ]
    images = 0
    user_text = ""
    for message in reversed(messages):
        if message.get("role") == "user" and _text(message.get("content")):
            user_text = _text(message.get("content"))
            break
    if isinstance(content, list) and last.get("role") == "user":
        images = sum(1 for b in content if isinstance(b, Mapping) and b.get("type") == "image")
    if not body.get("tools") and not results and not images:
        return None
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    choice_name = {"any": "required", "auto": "auto", "none": "none"}.get(str(kind))
    if kind == "tool":
        choice_name = str(choice.get("name"))  # type: ignore[union-attr]
    tools = tuple((t["name"], t.get("input_schema") or {}) for t in body.get("tools") or ())
    return next_turn(
        Conversation(
            last_role="tool" if results else str(last.get("role")),
            last_user_text=user_text,
            tool_results=tuple(results),
            tools=tools,
            tool_choice=choice_name,
            images=images,
        )
    )

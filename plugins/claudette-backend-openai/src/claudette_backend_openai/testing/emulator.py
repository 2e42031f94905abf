"""A deterministic emulator of an OpenAI-compatible server on a real loopback socket.

Built on :class:`claudette.testing.LoopbackServer`; see the package README for the API.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from claudette.testing import Fault, RecordedRequest, Reply, ScriptedEmulator, TransportFault
from claudette.testing.scripted_model import Conversation, Turn, next_turn

from claudette_backend_openai.testing.faults import ChatFault

__all__ = ["FLAVOURS", "ChatRecord", "OpenAIEmulator", "default_responder"]

#: Server flavours: whose error shapes, extra fields and endpoints to imitate.
FLAVOURS = ("openai", "dashscope", "vllm", "vllm-legacy", "llamacpp")
#: ``created`` of every reply (2025-01-01, as in the recorded fixtures).
DEFAULT_CREATED = 1735689600
_CHAT = "/v1/chat/completions"
_MODELS = "/v1/models"
_PIECE = re.compile(r"\s*\S+")
_OK_OUTCOMES = frozenset({"ok", "slow"})

Responder = Callable[[Sequence[Mapping[str, Any]]], str]


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def default_responder(messages: Sequence[Mapping[str, Any]]) -> str:
    """``"Echo: "`` and the first 32 words of the last user message (deterministic)."""
    text = ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            text = _text_of(message.get("content"))
            break
    words = text.split()[:32]
    return "Echo: " + (" ".join(words) if words else "(nothing)")


@attrs.frozen
class ChatRecord:
    """One chat request the emulator answered, for reconciliation.

    :param request_id: the ``x-request-id`` it sent back.
    :param model: the model asked for.
    :param stream: whether it was a streamed request.
    :param outcome: ``ok``, ``slow``, the kind of a :class:`ChatFault` or of a shared
        :class:`~claudette.testing.TransportFault`, ``unauthorized`` or ``bad_request``.
    :param status: the HTTP status sent (200 for faults after a 200 status, 0 for reset/hang).
    :param prompt_tokens: prompt tokens it counted.
    :param completion_tokens: completion tokens it generated.
    :param usage_reported: True when a complete, successful reply reported the usage.
    :param body: the decoded request body (None when it was not JSON).
    """

    request_id: str
    model: str | None
    stream: bool
    outcome: str
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_reported: bool = False
    body: Any = None

    @property
    def succeeded(self) -> bool:
        """True when the client got a complete, valid answer."""
        return self.outcome in _OK_OUTCOMES


class OpenAIEmulator(ScriptedEmulator[ChatFault]):
    """An OpenAI-compatible server: ``/v1/chat/completions`` (JSON and SSE), ``/v1/models``,
    and for vLLM flavours ``/health``, with scriptable faults and a request log.

    :param flavour: one of :data:`FLAVOURS`; decides error body shapes (vLLM's integer codes
        and bare ``{"error": "Unauthorized"}``, the legacy flat shape, DashScope's
        ``request_id``), whether ``/health`` exists, whether ``stream_options`` without
        ``stream`` is refused (vLLM: 400) and whether streams carry usage (llama.cpp: never).
    :param api_key: when set, ``/v1/*`` requires ``Authorization: Bearer <api_key>`` (401 else).
    :param models: the models ``/v1/models`` lists.
    :param strict_models: answer 404 for a model not in ``models``.
    :param responder: makes the reply text from the request's messages
        (default :func:`default_responder`); each whitespace-led word is one token and one
        stream event.
    :param prompt_tokens: a fixed prompt token count (default: 1 per 4 characters, per message).
    :param reply_delay: seconds before every chat reply (emulated latency).
    :param chunk_delay: seconds before every stream event.
    :param response_id: a fixed completion id (default ``chatcmpl-emuNNNNNN``, counting up).
    :param response_model: the model name replies report (default: the requested model).
    :param reasoning_content: vLLM flavours: reasoning text carried beside the content.
    :param host: the loopback address.
    :param port: the port (0: a free one).
    """

    #: An SSE comment, as proxies and servers send to keep a quiet stream open.
    keep_alive: ClassVar[bytes] = b": keep-alive\n\n"

    def __init__(
        self,
        *,
        flavour: str = "openai",
        api_key: str | None = None,
        models: Sequence[str] = ("gpt-4o-mini",),
        strict_models: bool = False,
        responder: Responder | None = None,
        prompt_tokens: int | None = None,
        reply_delay: float = 0.0,
        chunk_delay: float = 0.0,
        response_id: str | None = None,
        response_model: str | None = None,
        reasoning_content: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        self.flavour = flavour
        self.api_key = api_key
        self.models = tuple(models)
        self.strict_models = strict_models
        self.responder: Responder = responder or default_responder
        self.prompt_tokens = prompt_tokens
        self.reply_delay = reply_delay
        self.chunk_delay = chunk_delay
        self.response_id = response_id
        self.response_model = response_model
        self.reasoning_content = reasoning_content
        #: False makes ``/health`` and ``/v1/models`` answer 503.
        self.healthy = True
        super().__init__(host=host, port=port)
        self._records: list[ChatRecord] = []
        self._counter = 0

    @property
    def base_url(self) -> str:
        """The API base, ``http://127.0.0.1:PORT/v1`` (a backend's ``base_url``)."""
        return f"{self.server.url}/v1"

    # -- scripting ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget queued faults, the standing fault, the logs; healthy again."""
        with self._lock:
            self._clear_faults()
            self._records.clear()
            self.healthy = True
        self.server.clear()

    # -- the log -----------------------------------------------------------------------------

    @property
    def records(self) -> list[ChatRecord]:
        """Every chat request answered so far (a copy), in arrival order."""
        with self._lock:
            return list(self._records)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every HTTP request received (all paths), as the loopback server logged them."""
        return list(self.server.requests)

    @property
    def chat_count(self) -> int:
        """Chat requests received (faults included)."""
        with self._lock:
            return len(self._records)

    @property
    def success_count(self) -> int:
        """Chat requests answered completely and successfully."""
        with self._lock:
            return sum(1 for r in self._records if r.succeeded)

    @property
    def prompt_tokens_reported(self) -> int:
        """Prompt tokens reported in the usage of successful replies."""
        with self._lock:
            return sum(r.prompt_tokens for r in self._records if r.usage_reported)

    @property
    def completion_tokens_reported(self) -> int:
        """Completion tokens reported in the usage of successful replies."""
        with self._lock:
            return sum(r.completion_tokens for r in self._records if r.usage_reported)

    # -- serving -----------------------------------------------------------------------------

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _is_vllm(self) -> bool:
        return self.flavour in ("vllm", "vllm-legacy")

    def _handle(self, request: RecordedRequest) -> Reply | Fault:
        path = request.path.rstrip("/") or "/"
        if path == "/health" and self._is_vllm():
            return Reply(200 if self.healthy else 503)
        if path.startswith("/v1/") and not self._authorized(request):
            if path == _CHAT:
                self._record(
                    ChatRecord(self._request_id(self._next_id()), None, False, "unauthorized", 401)
                )
            return self._error_reply(ChatFault.unauthorized(), "req_unauthorized")
        if path == _MODELS and request.method == "GET":
            return self._models_reply()
        if path == _CHAT and request.method == "POST":
            return self._chat(request)
        return self._error_reply(
            ChatFault.error(
                404,
                f"Unknown request URL: {request.method} {request.path}",
                error_type="invalid_request_error",
                code="unknown_url",
            ),
            "req_unknown",
        )

    def _authorized(self, request: RecordedRequest) -> bool:
        if self.api_key is None:
            return True
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def _request_id(n: int) -> str:
        return f"req_{n:06d}"

    def _record(self, record: ChatRecord) -> None:
        with self._lock:
            self._records.append(record)

    # -- replies -------------------------------------------------------------------------------

    def _models_reply(self) -> Reply:
        if not self.healthy:
            return self._error_reply(ChatFault.overloaded(), "req_models")
        owner = "vllm" if self._is_vllm() else "llamacpp" if self.flavour == "llamacpp" else "openai"
        data = []
        for model in self.models:
            card: dict[str, Any] = {
                "id": model,
                "object": "model",
                "created": DEFAULT_CREATED,
                "owned_by": owner,
            }
            if self._is_vllm():
                card["max_model_len"] = 32768
            data.append(card)
        return Reply.json({"object": "list", "data": data})

    def _error_body(self, fault: ChatFault, request_id: str) -> Any:
        if self._is_vllm() and fault.status == 401:
            return {"error": "Unauthorized"}
        message = fault.message or f"HTTP {fault.status}"
        if self.flavour == "vllm-legacy":
            return {
                "object": "error",
                "message": message,
                "type": fault.error_type,
                "param": None,
                "code": fault.status,
            }
        code: Any = fault.status if self.flavour == "vllm" else fault.code
        body: dict[str, Any] = {
            "error": {"message": message, "type": fault.error_type, "param": None, "code": code}
        }
        if self.flavour == "dashscope":
            body["request_id"] = request_id
        return body

    def _error_reply(self, fault: ChatFault, request_id: str) -> Reply:
        headers = {"x-request-id": request_id, **fault.headers}
        return Reply.json(
            self._error_body(fault, request_id), fault.status, headers, delay=self.reply_delay
        )

    def _chat(self, request: RecordedRequest) -> Reply | Fault:
        n = self._next_id()
        rid = self._request_id(n)
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        stream = isinstance(body, dict) and body.get("stream") is True
        problem = self._body_problem(body)
        if problem is not None:
            self._record(ChatRecord(rid, None, stream, "bad_request", 400, body=body))
            refusal = ChatFault.error(
                400, problem, error_type="invalid_request_error", code="invalid_request"
            )
            return self._error_reply(refusal, rid)
        assert isinstance(body, dict)
        model = body.get("model")
        if self.strict_models and model not in self.models:
            self._record(ChatRecord(rid, model, stream, "not_found", 404, body=body))
            return self._error_reply(ChatFault.not_found(str(model)), rid)
        fault = self._take_fault()
        if isinstance(fault, ChatFault) and fault.kind == "status":
            self._record(ChatRecord(rid, model, stream, "status", fault.status, body=body))
            return self._error_reply(fault, rid)
        return self._answer(body, n, rid, stream, fault)

    def _body_problem(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "We could not parse the JSON body of your request."
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array."
        if not isinstance(body.get("model"), str):
            return "you must provide a model parameter"
        if self._is_vllm() and "stream_options" in body and body.get("stream") is not True:
            return "Stream options can only be defined when `stream=True`."
        return _tool_problem(body)

    def _count_prompt(self, messages: Sequence[Any]) -> int:
        if self.prompt_tokens is not None:
            return self.prompt_tokens
        total = 0
        for m in messages:
            content = m.get("content") if isinstance(m, Mapping) else None
            total += max(1, math.ceil(len(content) / 4)) if isinstance(content, str) else 1
        return total

    def _answer(
        self,
        body: dict[str, Any],
        n: int,
        rid: str,
        stream: bool,
        fault: ChatFault | TransportFault | None,
    ) -> Reply | Fault:
        messages = body["messages"]
        turn = _turn(body)
        if turn is not None and turn.calls:
            return self._answer_calls(body, n, rid, stream, fault, turn)
        if turn is not None and turn.text is not None:
            text = turn.image_note + turn.text
        else:
            text = (turn.image_note if turn is not None else "") + self.responder(messages)
        pieces = _PIECE.findall(text) or ([text] if text else [])
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        prompt_tokens = self._count_prompt(messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        model = self.response_model or body.get("model")
        kind = fault.kind if fault is not None else "ok"
        own = fault if isinstance(fault, ChatFault) else None
        if kind == "missing_done" and not stream:
            kind, own = "ok", None  # only a stream has a terminator to leave out
        ident = self.response_id or f"chatcmpl-emu{n:06d}"
        headers = {"x-request-id": rid}
        if stream:
            reply, reported = self._stream_reply(
                body, ident, model, pieces, finish, usage, own, headers
            )
        else:
            reply, reported = self._json_reply(
                ident, model, "".join(pieces), finish, usage, own, headers
            )
        sent = fault.apply(reply, self.keep_alive) if isinstance(fault, TransportFault) else reply
        if isinstance(sent, Fault):  # nothing was answered
            self._record(ChatRecord(rid, body.get("model"), stream, kind, 0, body=body))
            return sent
        self._record(
            ChatRecord(
                rid,
                body.get("model"),
                stream,
                kind,
                200,
                prompt_tokens,
                len(pieces),
                reported and kind in _OK_OUTCOMES,
                body,
            )
        )
        return sent

    def _answer_calls(
        self,
        body: dict[str, Any],
        n: int,
        rid: str,
        stream: bool,
        fault: ChatFault | TransportFault | None,
        turn: Turn,
    ) -> Reply | Fault:
        """A reply that calls tools: ``message.tool_calls`` or streamed ``delta.tool_calls``."""
        calls = [
            {
                "id": f"call_emu{n:04d}{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": _dumps(c.arguments)},
            }
            for i, c in enumerate(turn.calls)
        ]
        prompt_tokens = self._count_prompt(body["messages"])
        completion = sum(max(1, len(c["function"]["arguments"]) // 4) for c in calls)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        model = self.response_model or body.get("model")
        ident = self.response_id or f"chatcmpl-emu{n:06d}"
        headers = {"x-request-id": rid}
        if stream:
            options = body.get("stream_options")
            with_usage = (
                isinstance(options, Mapping)
                and options.get("include_usage") is True
                and self.flavour != "llamacpp"
            )

            def chunk(delta: dict[str, Any], reason: str | None) -> str:
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                return self._chunk(ident, model, [choice], None, with_usage)

            events = [chunk({"role": "assistant", "content": None}, None)]
            for i, call in enumerate(calls):
                head = {**call, "index": i, "function": {"name": call["function"]["name"], "arguments": ""}}
                events.append(chunk({"tool_calls": [head]}, None))
                arguments = call["function"]["arguments"]
                half = len(arguments) // 2
                for piece in (arguments[:half], arguments[half:]):
                    if piece:
                        events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}, None))
            events.append(chunk({}, "tool_calls"))
            if with_usage:
                events.append(self._chunk(ident, model, [], usage, True))
            events.append("data: [DONE]\n\n")
            reply = Reply.stream(events, headers=headers, delay=self.reply_delay, chunk_delay=self.chunk_delay)
            reported = with_usage
        else:
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": calls}
            if self.flavour == "openai":
                message["refusal"] = None
            data = {
                "id": ident,
                "object": "chat.completion",
                "created": DEFAULT_CREATED,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}],
                "usage": usage,
            }
            reply = Reply(200, {"content-type": "application/json", **headers}, _dumps(data).encode(), delay=self.reply_delay)
            reported = True
        sent = fault.apply(reply) if isinstance(fault, TransportFault) else reply
        kind = fault.kind if fault is not None else "ok"
        if isinstance(sent, Fault):
            self._record(ChatRecord(rid, body.get("model"), stream, kind, 0, body=body))
            return sent
        self._record(
            ChatRecord(rid, body.get("model"), stream, kind, 200, prompt_tokens, completion, reported, body)
        )
        return sent

    def _message(self, content: str) -> dict[str, Any]:
        if self._is_vllm():
            return {
                "role": "assistant",
                "content": content,
                "tool_calls": [],
                "reasoning_content": self.reasoning_content,
            }
        if self.flavour == "openai":
            return {"role": "assistant", "content": content, "refusal": None}
        return {"role": "assistant", "content": content}

    def _json_reply(
        self,
        ident: str,
        model: Any,
        content: str,
        finish: str,
        usage: dict[str, int],
        fault: ChatFault | None,
        headers: dict[str, str],
    ) -> tuple[Reply, bool]:
        delay = self.reply_delay
        kind = fault.kind if fault is not None else "ok"
        if kind == "error_event":
            assert fault is not None
            return Reply.json(
                self._error_body(fault, headers["x-request-id"]), 200, headers, delay=delay
            ), False
        if kind == "bad_shape":
            return Reply.json([{"unexpected": "shape"}], 200, headers, delay=delay), False
        choice: dict[str, Any] = {
            "index": 0,
            "message": self._message(content),
            "logprobs": None,
            "finish_reason": finish,
        }
        if self._is_vllm():
            choice["stop_reason"] = None
        data: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion",
            "created": DEFAULT_CREATED,
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
        if self.flavour == "openai":
            data["system_fingerprint"] = None
        json_headers = {"content-type": "application/json", **headers}
        return Reply(200, json_headers, _dumps(data).encode(), delay=delay), True

    def _chunk(
        self, ident: str, model: Any, choices: list[Any], usage: Any, with_usage: bool
    ) -> str:
        data: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": DEFAULT_CREATED,
            "model": model,
            "choices": choices,
        }
        if with_usage:
            data["usage"] = usage
        return f"data: {_dumps(data)}\n\n"

    def _stream_reply(
        self,
        body: dict[str, Any],
        ident: str,
        model: Any,
        pieces: list[str],
        finish: str,
        usage: dict[str, int],
        fault: ChatFault | None,
        headers: dict[str, str],
    ) -> tuple[Reply, bool]:
        options = body.get("stream_options")
        wants_usage = isinstance(options, Mapping) and options.get("include_usage") is True
        with_usage = wants_usage and self.flavour != "llamacpp"

        def choice(delta: dict[str, Any], reason: str | None) -> list[Any]:
            c: dict[str, Any] = {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": reason,
            }
            if self._is_vllm():
                c["stop_reason"] = None
            return [c]

        first: dict[str, Any] = {"role": "assistant", "content": ""}
        if self._is_vllm() and self.reasoning_content:
            first["reasoning_content"] = self.reasoning_content
        events = [self._chunk(ident, model, choice(first, None), None, with_usage)]
        events += [
            self._chunk(ident, model, choice({"content": p}, None), None, with_usage)
            for p in pieces
        ]
        events.append(self._chunk(ident, model, choice({}, finish), None, with_usage))
        if with_usage:
            events.append(self._chunk(ident, model, [], usage, True))
        kind = fault.kind if fault is not None else "ok"
        if kind == "error_event":
            assert fault is not None
            error = self._error_body(fault, headers["x-request-id"])
            events = [*events[: fault.after_chunks], f"data: {_dumps(error)}\n\n"]
        elif kind != "missing_done":
            events.append("data: [DONE]\n\n")
        reply = Reply.stream(
            events, headers=headers, delay=self.reply_delay, chunk_delay=self.chunk_delay
        )
        return reply, with_usage


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def _tool_problem(body: Mapping[str, Any]) -> str | None:
    """What the API would refuse in the tools, tool calls and tool results of ``body``."""
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            return "'tools' must be a non-empty array."
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if not isinstance(tool, Mapping) or tool.get("type") != "function" or not isinstance(function, Mapping):
                return f"Invalid 'tools[{i}]': expected an object with type 'function'."
            if not isinstance(function.get("name"), str):
                return f"Missing required parameter: 'tools[{i}].function.name'."
            names.add(function["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if tools is None:
            return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
        if isinstance(choice, Mapping):
            function = choice.get("function")
            if choice.get("type") != "function" or not isinstance(function, Mapping) or function.get("name") not in names:
                return "Invalid value for 'tool_choice': no function with that name."
        elif choice not in ("auto", "none", "required"):
            return f"Invalid value for 'tool_choice': {choice!r}."
    fmt = body.get("response_format")
    if fmt is not None:
        if not isinstance(fmt, Mapping) or fmt.get("type") not in ("text", "json_object", "json_schema"):
            return "Invalid 'response_format'."
        if fmt.get("type") == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), Mapping):
                return "Missing required parameter: 'response_format.json_schema.name'."
    calls: set[str] = set()
    for i, message in enumerate(body["messages"]):
        if not isinstance(message, Mapping):
            return f"Invalid 'messages[{i}]': expected an object."
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                kind = part.get("type") if isinstance(part, Mapping) else None
                if kind == "image_url":
                    url = part["image_url"].get("url") if isinstance(part.get("image_url"), Mapping) else None
                    if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
                        return f"Invalid 'messages[{i}].content[{j}].image_url.url'."
                elif kind != "text" or not isinstance(part.get("text"), str):
                    return f"Invalid 'messages[{i}].content[{j}]'."
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if (
                not isinstance(call, Mapping)
                or not isinstance(call.get("id"), str)
                or call.get("type") != "function"
                or not isinstance(function, Mapping)
                or not isinstance(function.get("arguments"), str)
            ):
                return f"Invalid 'messages[{i}].tool_calls': each needs id, type 'function' and string arguments."
            calls.add(call["id"])
        if role == "tool":
            if message.get("tool_call_id") not in calls:
                return (
                    f"Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    f"message with 'tool_calls' (messages[{i}])."
                )
    return None


def _turn(body: Mapping[str, Any]) -> Turn | None:
    """The scripted model's turn for a request with tools, a response format, tool results or
    images; None for a plain text request (answered by the responder)."""
    messages = body["messages"]
    last = messages[-1] if isinstance(messages[-1], Mapping) else {}
    images = 0
    user_text = ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            user_text = _text_of(content)
            if isinstance(content, list):
                images = sum(1 for p in content if isinstance(p, Mapping) and p.get("type") == "image_url")
            break
    fmt = body.get("response_format")
    schema: Mapping[str, Any] | None = None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = fmt["json_schema"]["schema"]
    elif isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        schema = {}
    if not body.get("tools") and schema is None and last.get("role") != "tool" and not images:
        return None
    results: list[str] = []
    for message in reversed(messages):
        if not (isinstance(message, Mapping) and message.get("role") == "tool"):
            break
        results.insert(0, _text_of(message.get("content")))
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        choice = choice["function"]["name"]
    tools = tuple(
        (t["function"]["name"], t["function"].get("parameters") or {}) for t in body.get("tools") or ()
    )
    return next_turn(
        Conversation(
            last_role="tool" if last.get("role") == "tool" else str(last.get("role")),
            last_user_text=user_text,
            tool_results=tuple(results),
            tools=tools,
            tool_choice=choice if isinstance(choice, str) else None,
            json_schema=schema,
            images=images,
        )
    )

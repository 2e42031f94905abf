"""An Ollama server emulator on a real loopback socket (:class:`OllamaEmulator`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from claudette.testing import (
    Fault,
    RecordedRequest,
    Reply,
    ScriptedEmulator,
    TransportFault,
    faults,
)
from claudette.testing.scripted_model import Conversation, Turn, next_turn

from claudette_backend_ollama.testing._faults import OllamaFault

__all__ = [
    "ChatRecord",
    "OllamaEmulator",
    "default_prompt_tokens",
    "model_not_found_message",
    "pieces_of",
]

JSON_TYPE = "application/json; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"
#: Timings (nanoseconds) every answer reports, as in the recorded fixtures.
DEFAULT_DURATIONS: Mapping[str, int] = {
    "total_duration": 512345678,
    "load_duration": 12345678,
    "prompt_eval_duration": 45678901,
    "eval_duration": 34567890,
}
_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
_WORD = re.compile(r"\s*\S+")


def model_not_found_message(model: str) -> str:
    """Ollama's error text for a model that is not pulled."""
    return f"model '{model}' not found, try pulling it first"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _timestamp(ns_after_epoch: int) -> str:
    """Ollama's ``created_at``: RFC 3339 with nanoseconds."""
    seconds, nanos = divmod(ns_after_epoch, 1_000_000_000)
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def pieces_of(text: str) -> list[str]:
    """``text`` split into the deltas (one "token" each) the emulator streams."""
    pieces = _WORD.findall(text)
    rest = text[len("".join(pieces)) :]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces = [rest]
    return pieces


def default_prompt_tokens(body: Mapping[str, Any]) -> int:
    """Deterministic prompt "tokens": words of every message plus 4 per message."""
    total = 0
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            content = message.get("content")
            total += 4 + (len(content.split()) if isinstance(content, str) else 0)
    return total


@attrs.frozen
class ChatRecord:
    """One ``/api/chat`` request the emulator answered, for reconciliation.

    :param body: the request body (None when it was not JSON).
    :param stream: whether the answer was streamed (Ollama streams when ``stream`` is absent).
    :param outcome: ``ok``, ``slow``, ``error:STATUS``, or the kind of an :class:`OllamaFault`
        or of a shared :class:`~claudette.testing.TransportFault` (``reset`` ...).
    :param content: the text of the answer (all of it, even when a fault cut it short).
    :param prompt_eval_count: prompt tokens the final object reported (0 if none was sent).
    :param eval_count: output tokens the final object reported (0 if none was sent).
    """

    body: Mapping[str, Any] | None
    stream: bool
    outcome: str
    content: str = ""
    prompt_eval_count: int = 0
    eval_count: int = 0

    @property
    def completed(self) -> bool:
        """True when the whole answer, with its ``done: true`` metrics, was sent."""
        return self.outcome in ("ok", "slow")


Reply_ = Callable[[Mapping[str, Any]], str]


class OllamaEmulator(ScriptedEmulator[OllamaFault]):
    """An Ollama server on ``127.0.0.1`` that answers like the real one, byte for byte.

    Endpoints: ``POST /api/chat`` (JSON, or NDJSON when ``stream`` is true or absent),
    ``GET /api/tags``, ``GET /api/version``, ``GET /`` ("Ollama is running"); anything else
    is Gin's plain ``404 page not found``. An unknown model gets Ollama's 404 body.

    Answers are deterministic: ``reply`` (text or a function of the request body) split into
    word deltas; ``eval_count`` is the number of deltas, ``prompt_eval_count`` comes from
    ``prompt_tokens`` (a number or a function; by default words + 4 per message). Metrics
    that are 0 are left out, as Ollama does. ``options.num_predict`` caps the deltas
    (``done_reason: "length"``) and ``options.stop`` cuts the text.

    Failures: :meth:`script` queues :class:`OllamaFault` or the shared
    :class:`~claudette.testing.TransportFault` for the next chat requests;
    :meth:`fail_always` applies one to every chat request until cleared. :attr:`chats`
    logs every chat request with what it reported, for reconciliation.

    :param models: the pulled models (listed by ``/api/tags``).
    :param reply: the answer text, or a function of the request body returning it.
    :param prompt_tokens: the ``prompt_eval_count`` to report, or a function of the body.
    :param version: what ``/api/version`` reports.
    :param delay: seconds before every chat answer.
    :param chunk_delay: seconds before every streamed line.
    """

    def __init__(
        self,
        *,
        models: Iterable[str] = ("qwen2.5:7b",),
        reply: str | Reply_ = "Hello there",
        prompt_tokens: int | Callable[[Mapping[str, Any]], int] | None = None,
        version: str = "0.5.1",
        delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> None:
        self.models = list(models)
        self.reply = reply
        self.prompt_tokens = prompt_tokens
        self.version = version
        self.delay = delay
        self.chunk_delay = chunk_delay
        self.chats: list[ChatRecord] = []
        super().__init__()

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form ``$OLLAMA_HOST`` takes."""
        return f"{self.server.host}:{self.server.port}"

    # -- scripting and the log ----------------------------------------------------------------

    def clear(self) -> None:
        """Forget queued faults, the persistent fault and every log."""
        with self._lock:
            self._clear_faults()
            self.chats.clear()
        self.server.clear()

    @property
    def chat_count(self) -> int:
        """How many chat requests arrived."""
        return len(self.chats)

    @property
    def completed(self) -> list[ChatRecord]:
        """The chat requests answered in full (with their ``done: true`` metrics)."""
        return [c for c in self.chats if c.completed]

    def reported_usage(self) -> tuple[int, int]:
        """Total (``prompt_eval_count``, ``eval_count``) reported by completed answers."""
        done = self.completed
        return sum(c.prompt_eval_count for c in done), sum(c.eval_count for c in done)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every HTTP request received (any path), from the underlying server."""
        return self.server.requests

    # -- answers ------------------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> Reply | Fault:
        route = (request.method, request.path)
        if route == ("GET", "/"):
            return Reply.text("Ollama is running")
        if route == ("GET", "/api/version"):
            return Reply(
                200, {"content-type": JSON_TYPE}, _dumps({"version": self.version}).encode()
            )
        if route == ("GET", "/api/tags"):
            return Reply(
                200, {"content-type": JSON_TYPE}, _dumps({"models": self._tags()}).encode()
            )
        if route == ("POST", "/api/chat"):
            return self._chat(request)
        return Reply.text("404 page not found", 404)

    def _tags(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "model": name,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 4683087332,
                "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": name.split(":")[0],
                    "families": [name.split(":")[0]],
                    "parameter_size": "7.6B",
                    "quantization_level": "Q4_K_M",
                },
            }
            for name in self.models
        ]

    def _log(self, record: ChatRecord) -> None:
        with self._lock:
            self.chats.append(record)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        return Reply(
            status,
            {"content-type": JSON_TYPE, **(headers or {})},
            _dumps({"error": message}).encode(),
        )

    def _text_for(self, body: Mapping[str, Any]) -> tuple[list[str], str]:
        """The deltas of the answer and its ``done_reason``."""
        turn = _turn(body)
        if turn is not None and turn.text is not None:
            text = turn.image_note + turn.text
        else:
            text = self.reply(body) if callable(self.reply) else self.reply
            if turn is not None:
                text = turn.image_note + text
        raw_options = body.get("options")
        options: Mapping[str, Any] = raw_options if isinstance(raw_options, Mapping) else {}
        stops = options.get("stop") or ()
        for stop in stops if isinstance(stops, list) else ():
            if isinstance(stop, str) and stop and stop in text:
                text = text[: text.index(stop)]
        pieces = pieces_of(text)
        limit = options.get("num_predict")
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(pieces):
            return pieces[:limit], "length"
        return pieces, "stop"

    def _metrics(self, body: Mapping[str, Any], eval_count: int) -> dict[str, int]:
        tokens = self.prompt_tokens
        prompt = tokens(body) if callable(tokens) else tokens
        if prompt is None:
            prompt = default_prompt_tokens(body)
        d = DEFAULT_DURATIONS
        metrics = {
            "total_duration": d["total_duration"],
            "load_duration": d["load_duration"],
            "prompt_eval_count": prompt,
            "prompt_eval_duration": d["prompt_eval_duration"] if prompt else 0,
            "eval_count": eval_count,
            "eval_duration": d["eval_duration"] if eval_count else 0,
        }
        return {k: v for k, v in metrics.items() if v}  # Ollama omits zero metrics

    def _chat(self, request: RecordedRequest) -> Reply | Fault:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            self._log(ChatRecord(None, False, "error:400"))
            return self._error(400, "invalid character 'x' looking for beginning of value")
        if not isinstance(body, dict):
            self._log(ChatRecord(None, False, "error:400"))
            return self._error(400, "json: cannot unmarshal into Go value of type api.ChatRequest")
        stream = body.get("stream", True) is not False
        fault = self._take_fault()
        own = fault if isinstance(fault, OllamaFault) else None
        if own is not None and own.kind == "status":
            self._log(ChatRecord(body, stream, f"error:{own.status}"))
            return self._error(own.status, own.message or "error", own.headers)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._log(ChatRecord(body, stream, "error:400"))
            return self._error(400, "model is required")
        if model not in self.models:
            self._log(ChatRecord(body, stream, "error:404"))
            return self._error(404, model_not_found_message(model))
        problem = _tool_problem(body)
        if problem is not None:
            self._log(ChatRecord(body, stream, "error:400"))
            return self._error(400, problem)
        turn = _turn(body)
        calls = [
            {"function": {"name": c.name, "arguments": dict(c.arguments)}}
            for c in (turn.calls if turn is not None else ())
        ]
        if calls:
            pieces, reason = [], "stop"
        else:
            pieces, reason = self._text_for(body)
        metrics = self._metrics(body, len(pieces) + sum(len(_dumps(c)) // 4 for c in calls))
        if stream:
            reply, record = self._stream_reply(body, model, pieces, reason, metrics, own, calls)
        else:
            reply, record = self._json_reply(body, model, pieces, reason, metrics, own, calls)
        if isinstance(fault, TransportFault):
            if fault.delivers:
                record = attrs.evolve(record, outcome=fault.kind)
            else:
                record = ChatRecord(body, stream, fault.kind, record.content)
            self._log(record)
            return fault.apply(reply, self.keep_alive)
        self._log(record)
        return reply

    def _final(
        self, model: str, created: str, content: str, reason: str, metrics: Mapping[str, int]
    ) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": created,
            "message": {"role": "assistant", "content": content},
            "done_reason": reason,
            "done": True,
            **metrics,
        }

    def _json_reply(
        self,
        body: Mapping[str, Any],
        model: str,
        pieces: list[str],
        reason: str,
        metrics: Mapping[str, int],
        fault: OllamaFault | None,
        calls: list[dict[str, Any]] | None = None,
    ) -> tuple[Reply, ChatRecord]:
        """The non-streamed answer (or Ollama's own fault) and its log record."""
        content = "".join(pieces)
        if fault is not None and fault.kind == "error_line":
            return self._error(500, fault.message or "error"), ChatRecord(body, False, "error:500")
        if fault is not None and fault.kind == "stream_unfinished":
            unfinished = {
                "model": model,
                "created_at": _timestamp(123456789),
                "message": {"role": "assistant", "content": content},
                "done": False,
            }
            reply = Reply(200, {"content-type": JSON_TYPE}, _dumps(unfinished).encode())
            return reply, ChatRecord(body, False, fault.kind, content)
        final = self._final(model, _timestamp(123456789), content, reason, metrics)
        if calls:
            final["message"]["tool_calls"] = calls
        reply = Reply(200, {"content-type": JSON_TYPE}, _dumps(final).encode(), delay=self.delay)
        return reply, self._done_record(body, False, content, metrics)

    def _stream_reply(
        self,
        body: Mapping[str, Any],
        model: str,
        pieces: list[str],
        reason: str,
        metrics: Mapping[str, int],
        fault: OllamaFault | None,
        calls: list[dict[str, Any]] | None = None,
    ) -> tuple[Reply, ChatRecord]:
        """The NDJSON stream (or Ollama's own fault in it) and its log record; tool calls
        arrive whole, in one line before the final one."""
        lines = [
            _dumps(
                {
                    "model": model,
                    "created_at": _timestamp(100_000_000 + 20_000_000 * i),
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
            )
            + "\n"
            for i, piece in enumerate(pieces)
        ]
        if calls:
            line = {
                "model": model,
                "created_at": _timestamp(100_000_000),
                "message": {"role": "assistant", "content": "", "tool_calls": calls},
                "done": False,
            }
            lines.append(_dumps(line) + "\n")
        final = self._final(
            model, _timestamp(100_000_000 + 20_000_000 * len(pieces)), "", reason, metrics
        )
        lines.append(_dumps(final) + "\n")
        reply = Reply.stream(lines, NDJSON_TYPE, chunk_delay=self.chunk_delay, delay=self.delay)
        if fault is None:
            return reply, self._done_record(body, True, "".join(pieces), metrics)
        # Ollama's own faults strike before the final ``done: true`` line.
        after = min(fault.after_lines, len(lines) - 1)
        record = ChatRecord(body, True, fault.kind, "".join(pieces[:after]))
        if fault.kind == "error_line":
            error = _dumps({"error": fault.message}) + "\n"
            return attrs.evolve(reply, chunks=[c.encode() for c in (*lines[:after], error)]), record
        unfinished = faults.end_after(after).apply(reply)  # stream_unfinished
        assert isinstance(unfinished, Reply)
        return unfinished, record

    def _done_record(
        self, body: Mapping[str, Any], stream: bool, content: str, metrics: Mapping[str, int]
    ) -> ChatRecord:
        """The log record of a whole answer, with the usage its final object reported."""
        return ChatRecord(
            body,
            stream,
            "ok",
            content,
            metrics.get("prompt_eval_count", 0),
            metrics.get("eval_count", 0),
        )


_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _tool_problem(body: Mapping[str, Any]) -> str | None:
    """Ollama's complaint about the tools, images and format of ``body``, or None."""
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "json: cannot unmarshal object into Go struct field ChatRequest.tools of type api.Tools"
        for tool in tools:
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
                return "json: cannot unmarshal tool: a function with a name is required"
    if "tool_choice" in body:
        return "json: unknown field \"tool_choice\""
    fmt = body.get("format")
    if fmt is not None and fmt != "json" and not isinstance(fmt, Mapping):
        return f"invalid format: {fmt!r}"
    for message in body.get("messages") or ():
        if not isinstance(message, Mapping):
            return "json: cannot unmarshal messages"
        if not isinstance(message.get("content", ""), str):
            return "json: cannot unmarshal array into Go struct field Message.messages.content of type string"
        for image in message.get("images") or ():
            if not isinstance(image, str) or _BASE64.fullmatch(image) is None:
                return "illegal base64 data in images"
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(function, Mapping) or not isinstance(function.get("arguments"), Mapping):
                return "json: cannot unmarshal string into Go struct field ToolCallFunction.arguments of type api.ToolCallFunctionArguments"
    return None


def _turn(body: Mapping[str, Any]) -> Turn | None:
    """The scripted model's turn for a request with tools, a format, tool results or images;
    None for plain text (answered by the emulator's ``reply``)."""
    messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
    if not messages:
        return None
    last = messages[-1]
    fmt = body.get("format")
    schema: Mapping[str, Any] | None = fmt if isinstance(fmt, Mapping) else ({} if fmt == "json" else None)
    images = len(last.get("images") or ()) if last.get("role") == "user" else 0
    if not body.get("tools") and schema is None and last.get("role") != "tool" and not images:
        return None
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, str(message.get("content", "")))
    user_text = next(
        (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    tools = tuple(
        (t["function"]["name"], t["function"].get("parameters") or {}) for t in body.get("tools") or ()
    )
    return next_turn(
        Conversation(
            last_role=str(last.get("role")),
            last_user_text=user_text,
            tool_results=tuple(results),
            tools=tools,
            json_schema=schema,
            images=images,
        )
    )

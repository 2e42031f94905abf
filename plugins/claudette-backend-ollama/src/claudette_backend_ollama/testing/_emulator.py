"""An Ollama server emulator on a real loopback socket (:class:`OllamaEmulator`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from claudette.testing import Fault, RecordedRequest, Reply, ScriptedEmulator

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
    :param outcome: ``ok``, ``slow``, ``error:STATUS``, or a fault kind (``reset`` ...).
    :param content: the text the answer carried (all of it, even when cut short).
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

    Failures: :meth:`script` queues :class:`OllamaFault` for the next chat requests;
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
        text = self.reply(body) if callable(self.reply) else self.reply
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
        if fault is not None and fault.kind == "status":
            self._log(ChatRecord(body, stream, f"error:{fault.status}"))
            return self._error(fault.status, fault.message or "error", fault.headers)
        if fault is not None and fault.kind in ("reset", "hang"):
            self._log(ChatRecord(body, stream, fault.kind))
            return Fault.reset() if fault.kind == "reset" else Fault.hang(fault.seconds)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._log(ChatRecord(body, stream, "error:400"))
            return self._error(400, "model is required")
        if model not in self.models:
            self._log(ChatRecord(body, stream, "error:404"))
            return self._error(404, model_not_found_message(model))
        pieces, reason = self._text_for(body)
        metrics = self._metrics(body, len(pieces))
        if stream:
            return self._stream_reply(body, model, pieces, reason, metrics, fault)
        return self._json_reply(body, model, pieces, reason, metrics, fault)

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

    def _record_done(
        self,
        body: Mapping[str, Any],
        stream: bool,
        outcome: str,
        content: str,
        metrics: Mapping[str, int],
    ) -> None:
        self._log(
            ChatRecord(
                body,
                stream,
                outcome,
                content,
                metrics.get("prompt_eval_count", 0),
                metrics.get("eval_count", 0),
            )
        )

    def _json_reply(
        self,
        body: Mapping[str, Any],
        model: str,
        pieces: list[str],
        reason: str,
        metrics: Mapping[str, int],
        fault: OllamaFault | None,
    ) -> Reply:
        content = "".join(pieces)
        data = _dumps(self._final(model, _timestamp(123456789), content, reason, metrics)).encode()
        kind = fault.kind if fault is not None else None
        if kind == "error_line":
            self._log(ChatRecord(body, False, "error:500"))
            return self._error(500, fault.message or "error")  # type: ignore[union-attr]
        if kind == "stream_unfinished":
            self._log(ChatRecord(body, False, kind, content))
            unfinished = {
                "model": model,
                "created_at": _timestamp(123456789),
                "message": {"role": "assistant", "content": content},
                "done": False,
            }
            return Reply(200, {"content-type": JSON_TYPE}, _dumps(unfinished).encode())
        if kind == "truncated_json":
            self._log(ChatRecord(body, False, kind, content))
            return Reply(200, {"content-type": JSON_TYPE}, data[: len(data) // 2])
        if kind in ("cut_body", "stream_cut"):
            self._log(ChatRecord(body, False, "cut_body", content))
            return Reply(
                200,
                {"content-type": JSON_TYPE, "content-length": str(len(data))},
                data,
                truncate_at=len(data) // 2,
            )
        delay = self.delay + (fault.seconds if kind == "slow" else 0.0)  # type: ignore[union-attr]
        self._record_done(body, False, kind or "ok", content, metrics)
        return Reply(200, {"content-type": JSON_TYPE}, data, delay=delay)

    def _stream_reply(
        self,
        body: Mapping[str, Any],
        model: str,
        pieces: list[str],
        reason: str,
        metrics: Mapping[str, int],
        fault: OllamaFault | None,
    ) -> Reply:
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
        final = self._final(
            model, _timestamp(100_000_000 + 20_000_000 * len(pieces)), "", reason, metrics
        )
        lines.append(_dumps(final) + "\n")
        kind = fault.kind if fault is not None else None
        headers = {"content-type": NDJSON_TYPE}
        chunk_delay = self.chunk_delay
        if kind == "error_line":
            assert fault is not None
            sent = lines[: min(fault.after_lines, len(lines) - 1)]
            self._log(ChatRecord(body, True, kind, "".join(pieces[: len(sent)])))
            error = _dumps({"error": fault.message}) + "\n"
            return Reply.stream(
                [*sent, error], NDJSON_TYPE, chunk_delay=chunk_delay, delay=self.delay
            )
        if kind == "stream_unfinished":
            assert fault is not None
            sent = lines[: min(fault.after_lines, len(lines) - 1)]
            self._log(ChatRecord(body, True, kind, "".join(pieces[: len(sent)])))
            return Reply.stream(sent, NDJSON_TYPE, chunk_delay=chunk_delay, delay=self.delay)
        if kind in ("stream_cut", "cut_body", "truncated_json"):
            assert fault is not None
            after = min(fault.after_lines, len(lines) - 1)
            sent = lines[:after]
            if kind == "truncated_json":  # one more line arrives half-written before the cut
                sent.append(lines[after][: len(lines[after]) // 2])
            self._log(ChatRecord(body, True, "stream_cut", "".join(pieces[:after])))
            chunks = [c.encode() for c in (*sent, "never sent")]
            return Reply(
                200,
                headers,
                b"",
                chunks,
                delay=self.delay,
                chunk_delay=chunk_delay,
                truncate_at=len(sent),
            )
        delay = self.delay
        if kind == "slow":
            assert fault is not None
            delay += fault.seconds
            chunk_delay += fault.chunk_delay
        self._record_done(body, True, kind or "ok", "".join(pieces), metrics)
        return Reply.stream(lines, NDJSON_TYPE, chunk_delay=chunk_delay, delay=delay)

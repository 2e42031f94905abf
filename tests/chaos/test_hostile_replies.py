"""Hostile provider replies: every one is an answer or a documented error, in bounded time.

Where ``test_bad_responses`` mutates valid answers one place at a time, this suite sends
what a broken or malicious server could: usage counts and timings of 10**400, JSON nested
100,000 deep, error messages of 20 MB, one 9 MB line, invalid UTF-8, bodies cut anywhere.
The four backends are called directly (so the router's safety net cannot hide a bug),
and through the router where the router's own accounting is the point.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from claudette import ClaudetteRequest
from claudette.errors import (
    BackendError,
    NoBackendAvailableError,
    ResponseFormatError,
)
from claudette.http import MAX_EVENT_CHARS
from claudette.testing import LoopbackServer, RecordedRequest, Reply
from claudette.testing.pytest_plugin import build_router
from claudette.types import BackendSettings, ClaudetteResponse, RouterOptions
from claudette_backend_claude import ClaudeBackend
from claudette_backend_ollama import OllamaBackend
from claudette_backend_openai import OpenAIBackend
from claudette_backend_qwen import QwenBackend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAMES = ("openai", "claude", "qwen", "ollama")
HUGE = 10**400
#: CPU seconds one hostile reply may cost at most (the decoders are linear; a quadratic
#: one takes many seconds on the largest bodies here).
CPU_BOUND = 3.0


def _backend(name: str, url: str) -> Any:
    settings = BackendSettings(api_key="sk-hostile-replies-0000", timeout=20.0, cost_per_token=1e-6)
    if name == "openai":
        return OpenAIBackend(name, settings.with_defaults(BackendSettings(base_url=f"{url}/v1")))
    if name == "qwen":
        return QwenBackend(name, settings.with_defaults(BackendSettings(base_url=f"{url}/v1", extra={"health": "models"})))
    if name == "claude":
        return ClaudeBackend(name, settings.with_defaults(BackendSettings(base_url=url)))
    return OllamaBackend(name, BackendSettings(base_url=url, timeout=20.0, cost_per_token=1e-6))


def _dump(data: Any) -> str:
    return json.dumps(data, allow_nan=True)


def answer(name: str, usage_in: Any = 3, usage_out: Any = 1, duration: Any = 1000) -> tuple[bytes, list[bytes]]:
    """(the whole answer, the streamed answer's pieces) of ``name``, with these usage facts."""
    if name in ("openai", "qwen"):
        usage = {"prompt_tokens": usage_in, "completion_tokens": usage_out}
        body = {"id": "c", "model": "m", "usage": usage, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
        events = [
            {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
            {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"id": "c", "model": "m", "choices": [], "usage": usage},
        ]
        pieces = [f"data: {_dump(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
        return _dump(body).encode(), pieces
    if name == "claude":
        usage = {"input_tokens": usage_in, "output_tokens": usage_out, "cache_read_input_tokens": usage_in}
        body = {"id": "msg", "type": "message", "role": "assistant", "model": "claude", "usage": usage,
                "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"}
        frames = [
            ("message_start", {"type": "message_start", "message": {"id": "msg", "model": "claude", "usage": usage}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "hi"}}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                               "usage": {"output_tokens": usage_out}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        return _dump(body).encode(), [f"event: {e}\ndata: {_dump(d)}\n\n".encode() for e, d in frames]
    timings = {f: duration for f in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")}
    final = {"model": "q", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
             "prompt_eval_count": usage_in, "eval_count": usage_out, **timings}
    first = {"model": "q", "message": {"role": "assistant", "content": "hi"}, "done": False}
    body = {**final, "message": {"role": "assistant", "content": "hi"}}
    return _dump(body).encode(), [(_dump(first) + "\n").encode(), (_dump(final) + "\n").encode()]


def _stream_type(name: str) -> str:
    return "application/x-ndjson" if name == "ollama" else "text/event-stream"


class Script:
    """A loopback server answering each request with the reply set last."""

    def __init__(self) -> None:
        self.reply: Reply = Reply.text("unset", 500)
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)

    def _handle(self, _request: RecordedRequest) -> Reply:
        with self._lock:
            return self.reply

    def set(self, reply: Reply) -> None:
        with self._lock:
            self.reply = reply


@pytest.fixture(scope="module")
def script() -> Iterator[Script]:
    scripted = Script()
    with scripted.server:
        yield scripted


async def _outcome(name: str, url: str, *, stream: bool) -> ClaudetteResponse | BackendError:
    """What one call ends in: the answer, or a BackendError naming the backend (anything
    else fails the test)."""
    backend = _backend(name, url)
    try:
        if stream:
            chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="hello"))]
            assert chunks and chunks[-1].response is not None
            return chunks[-1].response
        return await backend.send(ClaudetteRequest(prompt="hello"))
    except BackendError as exc:
        assert exc.backend == name, f"the error names {exc.backend!r}"
        assert len(str(exc)) < 5000, "an error message was not bounded"
        return exc
    finally:
        await backend.aclose()


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.process_time()
    result = call()
    return result, time.process_time() - started


# -- usage and timings ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("usage_in", "usage_out", "duration"),
    [(HUGE, 1, 1000), (3, HUGE, 1000), (HUGE, HUGE, HUGE), (3, 1, HUGE), (3, 1, 1e308), (3, 1, -5)],
)
async def test_implausible_usage_keeps_the_answer_and_is_flagged(script, name, stream, usage_in, usage_out, duration):
    plain, pieces = answer(name, usage_in, usage_out, duration)
    script.set(Reply.stream(pieces, _stream_type(name)) if stream else Reply(200, {"content-type": "application/json"}, plain))
    outcome = await _outcome(name, script.server.url, stream=stream)
    assert isinstance(outcome, ClaudetteResponse), outcome
    assert outcome.content == "hi"
    assert 0 <= outcome.tokens_input < 100 and 0 <= outcome.tokens_output < 100
    assert 0 <= outcome.cost_eur < 1e-3
    json.dumps(outcome.to_dict(), allow_nan=False)  # every number in it is an ordinary one
    if HUGE in (usage_in, usage_out):
        assert outcome.metadata["usage_implausible"]
        assert outcome.metadata["usage_estimated"] is True
    if name == "ollama" and duration != 1000:
        assert outcome.metadata["implausible_timings"]


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
async def test_through_the_router_implausible_usage_is_no_failure(script, stream):
    backends = [_backend(name, script.server.url) for name in NAMES]
    router = build_router(*backends, options=RouterOptions(health_checks=False, fallback_enabled=False))
    try:
        for name in NAMES:
            plain, pieces = answer(name, HUGE, HUGE, HUGE)
            script.set(Reply.stream(pieces, _stream_type(name)) if stream else Reply(200, {"content-type": "application/json"}, plain))
            request = ClaudetteRequest(prompt="hello", backend=name)
            if stream:
                chunks = [c async for c in router.stream(request)]
                response = chunks[-1].response
            else:
                response = await router.route_request(request)
            assert response is not None and response.content == "hi"
            assert response.metadata["usage_implausible"] == ["tokens_input", "tokens_output"]
        stats = router.stats()
        assert all(stats["backends"][n]["failures"] == 0 for n in NAMES), stats["backends"]
    finally:
        await router.aclose()


# -- nesting, size, encoding ------------------------------------------------------------------


def _deep(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


def _hostile_bodies(name: str) -> dict[str, tuple[Reply, Reply]]:
    """Named (non-streamed, streamed) replies, each of them malformed in one hostile way."""
    plain, pieces = answer(name)
    ctype = _stream_type(name)
    sse_prefix = b"event: content_block_delta\ndata: " if name == "claude" else b"data: "
    line = (lambda body: body + b"\n") if name == "ollama" else (lambda body: sse_prefix + body + b"\n\n")
    at = len(plain) // 2
    huge_line = b"x" * (MAX_EVENT_CHARS + 4096)
    return {
        "deep-100k": (Reply(200, {"content-type": "application/json"}, _deep(100_000)),
                      Reply.stream([pieces[0], line(_deep(100_000)), *pieces[1:]], ctype)),
        "deep-array": (Reply(200, {"content-type": "application/json"}, b"[" * 100_000),
                       Reply.stream([pieces[0], line(b"[" * 100_000), *pieces[1:]], ctype)),
        "invalid-utf8": (Reply(200, {"content-type": "application/json"}, plain[:at] + b"\xff\xfe" + plain[at:]),
                         Reply.stream([pieces[0], b"\xff" + pieces[1], *pieces[2:]], ctype)),
        "huge-line": (Reply(200, {"content-type": "application/json"}, b'{"x": "' + huge_line),
                      Reply.stream([pieces[0], *[sse_prefix + huge_line[i : i + 65536] for i in range(0, len(huge_line), 65536)]], ctype)),
    }


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("kind", ["deep-100k", "deep-array", "invalid-utf8", "huge-line"])
@pytest.mark.parametrize("name", NAMES)
async def test_a_hostile_body_is_a_format_error_in_bounded_time(script, name, kind, stream):
    plain, streamed = _hostile_bodies(name)[kind]
    script.set(streamed if stream else plain)
    started = time.process_time()
    outcome = await _outcome(name, script.server.url, stream=stream)
    spent = time.process_time() - started
    assert isinstance(outcome, ResponseFormatError), outcome
    assert outcome.retryable
    if kind == "invalid-utf8":
        assert "UTF-8" in outcome.message or "utf-8" in outcome.message
    assert spent < CPU_BOUND, f"{spent:.1f} s of CPU for one reply"


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("name", NAMES)
async def test_a_huge_error_message_is_cut_and_says_so(script, name, stream):
    message = "overloaded " * 2_000_000  # 22 MB
    if name == "claude":
        body = {"type": "error", "error": {"type": "api_error", "message": message}}
    elif name == "ollama":
        body = {"error": message}
    else:
        body = {"error": {"message": message, "type": "server_error"}}
    script.set(Reply.json(body, 500))
    backends = [_backend(name, script.server.url)]
    router = build_router(*backends, options=RouterOptions(health_checks=False, max_attempts=1))
    try:
        with pytest.raises((BackendError, NoBackendAvailableError)) as caught:
            if stream:
                async for _ in router.stream(ClaudetteRequest(prompt="hello")):
                    pass
            else:
                await router.route_request(ClaudetteRequest(prompt="hello"))
    finally:
        await router.aclose()
    text = str(caught.value)
    assert len(text) < 10_000 and "more characters]" in text
    assert "overloaded overloaded" in text


# -- the fuzz: anything a server may send ----------------------------------------------------

numbers = st.one_of(
    st.integers(), st.integers(min_value=10**20, max_value=10**4000),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([HUGE, -HUGE, -1, 2**63, 1e400]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def hostile_replies(draw: st.DrawFn, name: str) -> tuple[bool, Reply]:
    """(streamed?, a reply): valid answers with hostile usage, random JSON, deep nesting,
    bytes cut or corrupted anywhere, long lines."""
    stream = draw(st.booleans())
    plain, pieces = answer(name, draw(json_values), draw(json_values), draw(json_values))
    body = b"".join(pieces) if stream else plain
    kind = draw(st.sampled_from(["usage", "random-json", "deep", "cut", "corrupt", "long-line"]))
    if kind == "random-json":
        body = _dump(draw(json_values)).encode()
        if stream:
            body = (body + b"\n") if name == "ollama" else b"data: " + body + b"\n\n"
    elif kind == "deep":
        depth = draw(st.integers(min_value=900, max_value=200_000))
        body = draw(st.sampled_from([b"[" * depth, _deep(depth)]))
        if stream:
            body = pieces[0] + ((body + b"\n") if name == "ollama" else b"data: " + body + b"\n\n")
    elif kind == "cut":
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    elif kind == "corrupt":
        at = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=4)) + body[at:]
    elif kind == "long-line":
        body = pieces[0] + b"data: " + b"y" * draw(st.sampled_from([70_000, 1_000_000, MAX_EVENT_CHARS + 1]))
    if not stream:
        return False, Reply(200, {"content-type": "application/json"}, body)
    split = draw(st.integers(min_value=1, max_value=max(1, len(body))))
    return True, Reply.stream([body[:split], body[split:]], _stream_type(name))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_reply_is_an_answer_or_a_backend_error_in_bounded_time(script, name, data):
    stream, reply = data.draw(hostile_replies(name))
    script.set(reply)
    outcome, spent = _timed(lambda: asyncio.run(_outcome(name, script.server.url, stream=stream)))
    if isinstance(outcome, ClaudetteResponse):
        assert outcome.backend_used == name
        assert isinstance(outcome.tokens_input, int) and 0 <= outcome.tokens_input <= 10**9
        assert isinstance(outcome.tokens_output, int) and 0 <= outcome.tokens_output <= 10**9
        assert outcome.cost_eur >= 0
    else:
        assert isinstance(outcome, BackendError)
    assert spent < CPU_BOUND, f"{spent:.1f} s of CPU for one reply"

"""Malformed provider answers end as a BackendError naming the backend, for all four backends.

Every valid answer (JSON and stream) is mutated at every place in its JSON tree (key
removed, value replaced by null, a number, a string, a boolean, a list, an object), and
whole bodies are replaced by non-JSON, JSON arrays, scalars and truncated text. The
backends are called directly, so that the router's safety net (which turns any stray
exception into a ``ResponseFormatError``) cannot hide a parsing bug.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from _providers import request_tag
from claudette import ClaudetteRequest
from claudette.errors import BackendError
from claudette.testing import LoopbackServer, RecordedRequest, Reply
from claudette.types import BackendSettings, ClaudetteResponse
from claudette_backend_claude import ClaudeBackend
from claudette_backend_ollama import OllamaBackend
from claudette_backend_openai import OpenAIBackend
from claudette_backend_qwen import QwenBackend

DELETE = object()
REPLACEMENTS: list[Any] = [DELETE, None, 0, -1, "x", True, [], {}]

OPENAI_BODY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
OPENAI_EVENTS = [
    {"id": "c", "object": "chat.completion.chunk", "model": "m",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}]},
    {"id": "c", "object": "chat.completion.chunk", "model": "m",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [],
     "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
]
CLAUDE_BODY = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
CLAUDE_EVENTS = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
        "stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": 1}}),
    ("message_stop", {"type": "message_stop"}),
]
OLLAMA_BODY = {
    "model": "qwen2.5:7b", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": "hi"},
    "done_reason": "stop", "done": True, "prompt_eval_count": 3, "eval_count": 1, "eval_duration": 1000,
}
OLLAMA_EVENTS = [
    {"model": "qwen2.5:7b", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": "hi"}, "done": False},
    {"model": "qwen2.5:7b", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": ""},
     "done_reason": "stop", "done": True, "prompt_eval_count": 3, "eval_count": 1},
]
RAW_BODIES = [b"", b"not json", b"<html>502 Bad Gateway</html>", b"[]", b"null", b"1", b'"text"', b"{", b'{"a": [1, 2']


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _mutated(document: Any) -> Iterator[Any]:
    """``document`` with one place changed, for every place and every replacement."""
    for path in _paths(document):
        for replacement in REPLACEMENTS:
            if replacement is DELETE and isinstance(path[-1], int):
                continue
            doc = copy.deepcopy(document)
            parent = doc
            for step in path[:-1]:
                parent = parent[step]
            if replacement is DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(replacement)
            yield doc


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _replies(name: str) -> tuple[list[Reply], list[Reply]]:
    """(non-streamed replies, streamed replies) for one provider, all malformed or odd."""
    plain: list[Reply] = [Reply(200, {"content-type": "application/json"}, raw) for raw in RAW_BODIES]
    streamed: list[Reply] = []
    if name in ("openai", "qwen"):
        plain += [Reply.json(doc) for doc in _mutated(OPENAI_BODY)]
        for i, event in enumerate(OPENAI_EVENTS):
            for doc in _mutated(event):
                events = [_sse(e) for e in OPENAI_EVENTS]
                events[i] = _sse(doc)
                streamed.append(Reply.stream([*events, "data: [DONE]\n\n"]))
        streamed += [Reply.stream([_sse(OPENAI_EVENTS[0]), f"data: {raw.decode()}\n\n", "data: [DONE]\n\n"]) for raw in RAW_BODIES]
    elif name == "claude":
        plain += [Reply.json(doc) for doc in _mutated(CLAUDE_BODY)]

        def frame(event: str, data: Any) -> str:
            return f"event: {event}\ndata: {json.dumps(data)}\n\n"

        for i, (event, data) in enumerate(CLAUDE_EVENTS):
            for doc in _mutated(data):
                events = [frame(e, d) for e, d in CLAUDE_EVENTS]
                events[i] = frame(event, doc)
                streamed.append(Reply.stream(events))
        streamed += [
            Reply.stream([frame(*CLAUDE_EVENTS[0]), f"event: content_block_delta\ndata: {raw.decode()}\n\n"])
            for raw in RAW_BODIES
        ]
    else:
        plain += [Reply.json(doc) for doc in _mutated(OLLAMA_BODY)]
        for i, event in enumerate(OLLAMA_EVENTS):
            for doc in _mutated(event):
                lines = [json.dumps(e) + "\n" for e in OLLAMA_EVENTS]
                lines[i] = json.dumps(doc) + "\n"
                streamed.append(Reply.stream(lines, "application/x-ndjson"))
        streamed += [Reply.stream([json.dumps(OLLAMA_EVENTS[0]) + "\n", raw.decode() + "\n"], "application/x-ndjson") for raw in RAW_BODIES]
    return plain, streamed


def _backend(name: str, url: str):
    settings = BackendSettings(api_key="sk-bad-responses-0000", timeout=10.0)
    if name == "openai":
        return OpenAIBackend(name, settings.with_defaults(BackendSettings(base_url=f"{url}/v1")))
    if name == "qwen":
        return QwenBackend(name, settings.with_defaults(BackendSettings(base_url=f"{url}/v1", extra={"health": "models"})))
    if name == "claude":
        return ClaudeBackend(name, settings.with_defaults(BackendSettings(base_url=url)))
    return OllamaBackend(name, BackendSettings(base_url=url, timeout=10.0))


def _well_formed(response: ClaudetteResponse, name: str) -> None:
    assert response.backend_used == name
    assert isinstance(response.content, str)
    assert isinstance(response.tokens_input, int) and response.tokens_input >= 0
    assert isinstance(response.tokens_output, int) and response.tokens_output >= 0
    assert response.cost_eur >= 0


@pytest.mark.parametrize("name", ["openai", "claude", "qwen", "ollama"])
async def test_every_malformed_answer_is_a_backend_error_naming_the_backend(name):
    plain, streamed = _replies(name)
    cases: dict[int, Reply] = dict(enumerate([*plain, *streamed]))

    def handler(request: RecordedRequest) -> Reply:
        return cases[request_tag(request.body)]

    outcomes: dict[str, int] = {"response": 0, "error": 0}
    with LoopbackServer(handler) as server:
        backend = _backend(name, server.url)

        async def call(i: int) -> None:
            request = ClaudetteRequest(prompt=f"req-{i} hello")
            try:
                if i < len(plain):
                    response = await backend.send(request)
                else:
                    chunks = [c async for c in backend.stream(request)]
                    assert chunks and chunks[-1].response is not None
                    assert all(c.response is None for c in chunks[:-1])
                    response = chunks[-1].response
            except BackendError as exc:
                assert exc.backend == name, f"case {i}: the error names {exc.backend!r}"
                outcomes["error"] += 1
            except Exception as exc:  # the bug this test looks for
                pytest.fail(f"{name} case {i}: {type(exc).__name__}: {exc} for {cases[i]!r}"[:600])
            else:
                _well_formed(response, name)
                outcomes["response"] += 1

        try:
            for start in range(0, len(cases), 50):
                await asyncio.gather(*(call(i) for i in range(start, min(start + 50, len(cases)))))
        finally:
            await backend.aclose()
    assert outcomes["error"] >= len(RAW_BODIES) * 2
    assert sum(outcomes.values()) == len(cases)


@pytest.mark.parametrize("name", ["openai", "claude", "qwen", "ollama"])
@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503, 529])
@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b"[]", b"null", b'{"error": null}', b'{"error": 5}', b'{"error": {"message": 7}}', b"{"])
async def test_an_error_status_with_any_body_is_a_backend_error_naming_the_backend(name, status, body):
    with LoopbackServer(lambda r: Reply(status, {"content-type": "application/json"}, body)) as server:
        backend = _backend(name, server.url)
        try:
            with pytest.raises(BackendError) as caught:
                await backend.send(ClaudetteRequest(prompt="hello"))
        finally:
            await backend.aclose()
    assert caught.value.backend == name
    assert caught.value.status_code == status

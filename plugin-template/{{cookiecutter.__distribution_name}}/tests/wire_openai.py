"""The provider's wire format (OpenAI-compatible), for scripting the loopback server in tests."""

from __future__ import annotations

import json
from collections.abc import Sequence

from claudette.testing import Reply

#: Where the backend sends completions and health checks.
COMPLETION_PATH = "/chat/completions"
HEALTH_PATH = "/models"


def success(text: str, tokens_input: int = 12, tokens_output: int = 3, *, model: str = "served-model") -> Reply:
    """A Chat Completions answer."""
    return Reply.json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1735689600,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": tokens_input,
                "completion_tokens": tokens_output,
                "total_tokens": tokens_input + tokens_output,
            },
        },
        headers={"x-request-id": "req-123"},
    )


def _event(data: object) -> str:
    return f"data: {json.dumps(data)}\n\n"


def stream(pieces: Sequence[str], tokens_input: int = 12, tokens_output: int = 3) -> Reply:
    """A streamed answer: one SSE event per piece, a finish event, the usage event, [DONE]."""
    base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "served-model"}
    events = [_event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
    events += [
        _event({**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
        for p in pieces
    ]
    events.append(_event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    usage = {"prompt_tokens": tokens_input, "completion_tokens": tokens_output}
    events.append(_event({**base, "choices": [], "usage": usage}))
    events.append("data: [DONE]\n\n")
    return Reply.stream(events)


def error(
    status: int,
    message: str,
    *,
    type_: str = "api_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """The provider's error body for ``status``."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return Reply.json(body, status=status, headers=headers)


def health() -> Reply:
    """The model list the health check asks for."""
    return Reply.json({"object": "list", "data": [{"id": "served-model", "object": "model"}]})

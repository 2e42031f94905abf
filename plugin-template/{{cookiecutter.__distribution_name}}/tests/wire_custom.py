"""The provider's wire format (custom JSON protocol), for scripting the loopback server in tests.

ADAPT these together with the backend when you change the protocol.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from claudette.testing import Reply

#: Where the backend sends completions and health checks.
COMPLETION_PATH = "/generate"
HEALTH_PATH = "/health"


def success(text: str, tokens_input: int = 12, tokens_output: int = 3, *, model: str = "served-model") -> Reply:
    """A completion answer."""
    return Reply.json(
        {
            "output": text,
            "model": model,
            "finish_reason": "stop",
            "usage": {"input_tokens": tokens_input, "output_tokens": tokens_output},
        },
        headers={"x-request-id": "req-123"},
    )


def stream(pieces: Sequence[str], tokens_input: int = 12, tokens_output: int = 3) -> Reply:
    """A streamed answer: one NDJSON line per piece, then the done line with the usage."""
    lines = [json.dumps({"delta": p}) + "\n" for p in pieces]
    usage = {"input_tokens": tokens_input, "output_tokens": tokens_output}
    lines.append(json.dumps({"done": True, "finish_reason": "stop", "usage": usage}) + "\n")
    return Reply.stream(lines, content_type="application/x-ndjson")


def error(
    status: int,
    message: str,
    *,
    type_: str = "api_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """The provider's error body for ``status`` (``code`` is unused by this protocol)."""
    return Reply.json({"error": {"message": message, "type": type_}}, status=status, headers=headers)


def health() -> Reply:
    """The health endpoint's answer."""
    return Reply.json({"status": "ok"})

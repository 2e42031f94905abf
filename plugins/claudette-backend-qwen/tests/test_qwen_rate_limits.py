"""Rate-limit headers on successful replies: vLLM sends none, a compatible gateway may.

A loopback server replays the recorded vLLM completion, once with a recorded vLLM header
set (no rate-limit headers: the router's own limits stay as they are) and once with
OpenAI-style ``x-ratelimit-*`` headers, as an OpenAI-compatible gateway in front of the
model sends them (read exactly as for OpenAI).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claudette import ClaudetteRequest
from claudette.testing import LoopbackServer, Reply

from claudette_backend_qwen import QwenBackend

FIXTURES = Path(__file__).parent / "fixtures"
VLLM_HEADERS: dict[str, str] = json.loads((FIXTURES / "vllm-chat-headers.json").read_text())
OPENAI_STYLE: dict[str, str] = json.loads((FIXTURES / "openai-ratelimit-headers.json").read_text())[
    "documented"
]


def _left(router: Any) -> tuple[int, int]:
    snap = router.stats()["patterns"]["rate_limits"]["qwen"]
    return snap["requests_left"], snap["tokens_left"]


async def test_a_reply_without_rate_limit_headers_leaves_the_limits_alone(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., QwenBackend],
    transcript: Callable[[str], bytes],
    claudette_make_router: Callable[..., Any],
) -> None:
    server = claudette_loopback_server
    server.script(Reply(200, VLLM_HEADERS, transcript("vllm-chat.json")))
    backend = make_backend(f"{server.url}/v1", rpm=100, tpm=1_000_000)
    async with claudette_make_router(backend) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hi"))
        used = response.tokens_input + response.tokens_output
        assert _left(router) == (99, 1_000_000 - used)  # only the router's own count
        assert backend.stats.cooldown_until <= time.monotonic()


async def test_openai_style_headers_of_a_compatible_server_cap_the_limits(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., QwenBackend],
    transcript: Callable[[str], bytes],
    claudette_make_router: Callable[..., Any],
) -> None:
    server = claudette_loopback_server
    server.script(Reply(200, OPENAI_STYLE, transcript("vllm-chat.json")))
    backend = make_backend(f"{server.url}/v1", rpm=100, tpm=1_000_000)
    async with claudette_make_router(backend) as router:
        await router.route_request(ClaudetteRequest(prompt="hi"))
        assert _left(router) == (59, 149984)

"""Ollama sends no rate-limit headers: a reply without them leaves the limits alone.

A loopback server replays the recorded chat answer with a recorded Ollama header set.
The backend still reads rate-limit headers, so a proxy in front of Ollama that sends
OpenAI-style ones is heard.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from claudette import ClaudetteRequest
from claudette.testing import LoopbackServer, Reply

from claudette_backend_ollama import OllamaBackend
from conftest import FIXTURES, fixture_bytes

OLLAMA_HEADERS: dict[str, str] = json.loads((FIXTURES / "ollama-chat-headers.json").read_text())


def _left(router: Any) -> tuple[int, int]:
    snap = router.stats()["patterns"]["rate_limits"]["ollama"]
    return snap["requests_left"], snap["tokens_left"]


async def test_a_reply_without_rate_limit_headers_leaves_the_limits_alone(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., OllamaBackend],
    claudette_make_router: Callable[..., Any],
) -> None:
    server = claudette_loopback_server
    server.script(Reply(200, OLLAMA_HEADERS, fixture_bytes("ollama-chat.json")))
    backend = make_backend(base_url=server.url, rpm=100, tpm=1_000_000)
    async with claudette_make_router(backend) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hi"))
        used = response.tokens_input + response.tokens_output
        assert _left(router) == (99, 1_000_000 - used)  # only the router's own count
        assert backend.stats.cooldown_until <= time.monotonic()


async def test_a_proxy_s_rate_limit_headers_are_heard(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., OllamaBackend],
    claudette_make_router: Callable[..., Any],
) -> None:
    server = claudette_loopback_server
    headers = {
        **OLLAMA_HEADERS,
        "x-ratelimit-remaining-requests": "7",
        "x-ratelimit-reset-requests": "30s",
    }
    server.script(Reply(200, headers, fixture_bytes("ollama-chat.json")))
    backend = make_backend(base_url=server.url, rpm=100)
    async with claudette_make_router(backend) as router:
        await router.route_request(ClaudetteRequest(prompt="hi"))
        assert _left(router)[0] == 7

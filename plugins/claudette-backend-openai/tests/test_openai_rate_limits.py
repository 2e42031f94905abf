"""The rate-limit headers of a successful reply reach the router's limits.

A loopback server replays a recorded completion with recorded header sets: one from a
real chat completion, one from OpenAI's rate-limit documentation (``"6m0s"`` resets).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from claudette import ClaudetteRequest
from claudette.ratelimit import rate_limits_from_headers
from claudette.testing import LoopbackServer, Reply

from claudette_backend_openai import OpenAIBackend

HEADERS: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "fixtures" / "openai-ratelimit-headers.json").read_text()
)


def test_the_recorded_header_sets_read_as_the_provider_documents() -> None:
    assert rate_limits_from_headers(HEADERS["chat-completion"]) == {
        "remaining_requests": 4999,
        "remaining_tokens": 159976,
        "reset_s": pytest.approx(0.012),
    }
    assert rate_limits_from_headers(HEADERS["documented"]) == {
        "remaining_requests": 59,
        "remaining_tokens": 149984,
        "reset_s": 360.0,  # the later of 1s and 6m0s
    }


def _limited(server: LoopbackServer, make_backend: Callable[..., OpenAIBackend]) -> OpenAIBackend:
    # The router's own limits are looser than what the provider reports.
    return make_backend(f"{server.url}/v1", rpm=100, tpm=1_000_000)


def _left(router: Any) -> tuple[int, int]:
    snap = router.stats()["patterns"]["rate_limits"]["openai"]
    return snap["requests_left"], snap["tokens_left"]


async def test_a_successful_reply_caps_the_routers_limits(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., OpenAIBackend],
    transcript: Callable[[str], bytes],
    claudette_make_router: Callable[..., Any],
) -> None:
    server = claudette_loopback_server
    server.script(Reply(200, HEADERS["documented"], transcript("openai-chat.json")))
    async with claudette_make_router(_limited(server, make_backend)) as router:
        await router.route_request(ClaudetteRequest(prompt="hi"))
        assert _left(router) == (59, 149984)


async def test_a_streamed_reply_caps_the_routers_limits(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., OpenAIBackend],
    transcript: Callable[[str], bytes],
    claudette_make_router: Callable[..., Any],
) -> None:
    server = claudette_loopback_server
    headers = {**HEADERS["documented"], "content-type": "text/event-stream"}
    server.script(Reply(200, headers, transcript("openai-chat-stream.sse")))
    async with claudette_make_router(_limited(server, make_backend)) as router:
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
        assert chunks[-1].response is not None
        assert _left(router) == (59, 149984)


async def test_no_requests_left_keeps_the_backend_out_until_the_reset(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., OpenAIBackend],
    transcript: Callable[[str], bytes],
    claudette_make_router: Callable[..., Any],
) -> None:
    server = claudette_loopback_server
    spent = {
        **HEADERS["chat-completion"],
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "20s",
    }
    server.script(Reply(200, spent, transcript("openai-chat.json")))
    backend = make_backend(f"{server.url}/v1")  # no rpm of its own: the provider's word counts
    async with claudette_make_router(backend) as router:
        await router.route_request(ClaudetteRequest(prompt="hi"))
        assert 19.0 < backend.stats.cooldown_until - time.monotonic() <= 20.0
        [candidate] = router.explain(ClaudetteRequest(prompt="again"))
        assert candidate.skipped is not None and candidate.skipped.startswith("rate limited")

"""The rate-limit headers of a successful reply reach the router's limits.

A loopback server replays the recorded message with a recorded header set of a real
Messages API reply (``anthropic-ratelimit-*``, resets as RFC 3339 times). The resets of
the recording lie in the past; the tests that need a live window move them to the
test's present.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from claude_support import API_KEY, FIXTURES, fixture_bytes
from claudette import BackendSettings, ClaudetteRequest
from claudette.ratelimit import rate_limits_from_headers
from claudette.testing import LoopbackServer, Reply

from claudette_backend_claude import ClaudeBackend

RECORDED: dict[str, str] = json.loads((FIXTURES / "anthropic-ratelimit-headers.json").read_text())[
    "message"
]


def _live(headers: dict[str, str], seconds: float = 30.0, **changes: str) -> dict[str, str]:
    """``headers`` with every reset ``seconds`` from now, and ``changes`` applied."""
    reset = (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()
    out = {k: (reset if k.endswith("-reset") else v) for k, v in headers.items()}
    out.update({k.replace("_", "-"): v for k, v in changes.items()})
    return out


@pytest.fixture
async def backend(claudette_loopback_server: LoopbackServer) -> AsyncIterator[ClaudeBackend]:
    """A ClaudeBackend with looser limits of its own than the provider reports."""
    b = ClaudeBackend(
        "claude",
        BackendSettings(
            base_url=claudette_loopback_server.url, api_key=API_KEY, rpm=2000, tpm=1_000_000
        ),
    )
    yield b
    await b.aclose()


def _left(router: Any) -> tuple[int, int]:
    snap = router.stats()["patterns"]["rate_limits"]["claude"]
    return snap["requests_left"], snap["tokens_left"]


def test_the_recorded_header_set_reads_as_the_provider_documents() -> None:
    recorded_at = calendar.timegm((2025, 8, 21, 12, 40, 30))
    assert rate_limits_from_headers(RECORDED, now=recorded_at) == {
        "remaining_requests": 999,
        "remaining_tokens": 96000,
        "reset_s": 29.0,
    }


def test_without_a_combined_token_count_the_tighter_of_input_and_output_counts() -> None:
    headers = {k: v for k, v in RECORDED.items() if "ratelimit-tokens" not in k}
    headers["anthropic-ratelimit-output-tokens-remaining"] = "1200"
    assert rate_limits_from_headers(headers)["remaining_tokens"] == 1200


async def test_a_successful_reply_caps_the_routers_limits(
    claudette_loopback_server: LoopbackServer,
    backend: ClaudeBackend,
    claudette_make_router: Callable[..., Any],
) -> None:
    claudette_loopback_server.script(
        Reply(200, _live(RECORDED), fixture_bytes("anthropic-message.json"))
    )
    async with claudette_make_router(backend) as router:
        await router.route_request(ClaudetteRequest(prompt="hi"))
        assert _left(router) == (999, 96000)


async def test_a_streamed_reply_caps_the_routers_limits(
    claudette_loopback_server: LoopbackServer,
    backend: ClaudeBackend,
    claudette_make_router: Callable[..., Any],
) -> None:
    headers = {**_live(RECORDED), "content-type": "text/event-stream"}
    claudette_loopback_server.script(
        Reply(200, headers, fixture_bytes("anthropic-message-stream.sse"))
    )
    async with claudette_make_router(backend) as router:
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
        assert chunks[-1].response is not None
        assert _left(router) == (999, 96000)


async def test_no_requests_left_keeps_the_backend_out_until_the_reset(
    claudette_loopback_server: LoopbackServer,
    backend: ClaudeBackend,
    claudette_make_router: Callable[..., Any],
) -> None:
    spent = _live(RECORDED, 20.0, anthropic_ratelimit_requests_remaining="0")
    claudette_loopback_server.script(Reply(200, spent, fixture_bytes("anthropic-message.json")))
    async with claudette_make_router(backend) as router:
        await router.route_request(ClaudetteRequest(prompt="hi"))
        assert 18.0 < backend.stats.cooldown_until - time.monotonic() <= 20.0
        [candidate] = router.explain(ClaudetteRequest(prompt="again"))
        assert candidate.skipped is not None and candidate.skipped.startswith("rate limited")

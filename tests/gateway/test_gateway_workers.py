"""Two gateway workers on a real Redis share one breaker.

A backend failing through one worker opens the breaker for both: the other worker keeps it
out without failing a single request on it itself. At the default breaker policy.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from _gateway import claude_backend, connections_by_worker, openai_backend
from claudette_backend_openai.testing import ChatFault

sys.path.insert(0, str(Path(__file__).parent.parent / "redis"))

from _redis_server import redis_for_tests

redis = pytest.importorskip("redis")
#: The fixed five-minute breaker of ``[router.breaker]``: it stays open for the whole test.
FAILURE_THRESHOLD = 5
BREAKER = {"failure_threshold": FAILURE_THRESHOLD, "reset_timeout": 300.0, "reset_timeout_growth": 1.0}
HELLO = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "hello workers"}]})


def _no_redis(reason: str) -> NoReturn:
    pytest.fail(f"{reason}: nox -s gateway needs one")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_for_tests(_no_redis) as url:
        yield url


def test_a_failure_seen_through_one_worker_keeps_the_backend_out_for_the_other(
    start_gateway, openai_emulator, claude_emulator, redis_url
):
    namespace = f"gateway-test-{uuid.uuid4().hex[:10]}"
    gateway = start_gateway(
        {
            "state": {"url": redis_url, "namespace": namespace},
            "router.breaker": BREAKER,
            "backends.openai": openai_backend(openai_emulator.base_url),
            "backends.claude": claude_backend(claude_emulator.url),
        },
        "--workers",
        "2",
    )
    first, second = connections_by_worker(gateway).values()
    try:
        openai_emulator.fail_always(ChatFault.server_error())
        for _ in range(FAILURE_THRESHOLD):  # all through the first worker
            response = first.post("/v1/chat/completions", content=HELLO)
            assert response.status_code == 200 and response.headers["x-claudette-backend"] == "claude"
        assert openai_emulator.chat_count == FAILURE_THRESHOLD
        time.sleep(1.5)  # a few refresh rounds of the store (0.5 s each by default)
        for _ in range(10):  # the second worker never failed on openai itself
            response = second.post("/v1/chat/completions", content=HELLO)
            assert response.status_code == 200 and response.headers["x-claudette-backend"] == "claude"
        assert openai_emulator.chat_count == FAILURE_THRESHOLD
    finally:
        first.close()
        second.close()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert gateway.stop() == 0

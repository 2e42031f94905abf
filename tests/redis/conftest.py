"""Fixtures: a real Redis ($CLAUDETTE_REDIS_URL, else a private redis-server), one key
namespace per test (only that namespace is deleted afterwards), and store factories."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
from _redis_server import RedisServer, redis_for_tests
from claudette.redis_store import RedisStateStore

pytestmark = pytest.mark.redis


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``redis``."""
    for item in items:
        if "tests/redis" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The Redis every shared-state test uses."""
    with redis_for_tests(pytest.skip) as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous client, for inspecting keys."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def namespace(redis_client: redis.Redis) -> Iterator[str]:
    """A key namespace of this test alone; its keys (only those) are deleted afterwards."""
    ns = f"claudette-test-{uuid.uuid4().hex[:12]}"
    yield ns
    keys = list(redis_client.scan_iter(match=f"{ns}:*", count=500))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
async def make_store(
    redis_url: str, namespace: str
) -> AsyncIterator[Callable[..., RedisStateStore]]:
    """Build stores on the test's namespace (each one stands for a router process)."""
    stores: list[RedisStateStore] = []

    def make(url: str | None = None, **options: Any) -> RedisStateStore:
        options.setdefault("namespace", namespace)
        options.setdefault("refresh_interval", 0.05)
        options.setdefault("timeout", 2.0)  # a busy CI box must not look like an outage
        store = RedisStateStore(url or redis_url, **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.aclose()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test may kill and restart."""
    if not RedisServer.available():
        pytest.skip("needs the redis-server binary (to kill and restart a private server)")
    server = RedisServer().start()
    yield server
    server.stop()

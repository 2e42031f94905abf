"""Key layout, TTLs on every key, namespaces, and the [state] configuration."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import pytest
import redis
from claudette import BreakerPolicy, ClaudetteResponse
from claudette.config import parse_config
from claudette.errors import ConfigError
from claudette.factory import store_from_config
from claudette.redis_store import KeyLayout, RedisStateStore
from claudette.types import CacheOptions

POLICY = BreakerPolicy(failure_threshold=1, reset_timeout=0.05)
RESPONSE = ClaudetteResponse(content="hi", backend_used="b")


def test_key_layout_puts_every_key_under_the_namespace() -> None:
    keys = KeyLayout("prod-eu")
    assert keys.breaker("openai") == "prod-eu:backend:{openai}:breaker"
    assert keys.probe("openai") == "prod-eu:backend:{openai}:probe"
    assert keys.stats("openai") == "prod-eu:backend:{openai}:stats"
    assert keys.latencies("openai") == "prod-eu:backend:{openai}:latency"
    assert keys.counter("rpm:openai", 1_700_000_040_000) == "prod-eu:counter:rpm:openai:1700000040000"
    assert keys.rate("openai", 1_700_000_040_000) == "prod-eu:backend:{openai}:rate:1700000040000"
    assert keys.cache("abc") == "prod-eu:cache:abc"
    assert keys.pattern == "prod-eu:*"


@pytest.mark.parametrize("bad", ["", "has space"])
def test_a_namespace_must_be_a_plain_word(bad: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        KeyLayout(bad)


async def test_every_key_written_has_a_ttl(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis, namespace: str
) -> None:
    store = make_store(ttl=120.0, probe_lease=30.0)
    stats, breaker = store.stats("b"), store.breaker("b", POLICY)
    stats.record_success(12.0)
    stats.record_failure()
    stats.start_cooldown(3.0)
    breaker.record_failure()
    await store.sync()
    await asyncio.sleep(0.06)
    assert await breaker.acquire()
    assert await store.reserve("rpm:b", 1, 10, window=60.0)
    store.rate_limiter("b", 10, None).acquire(5)
    await store.response_cache(CacheOptions()).set("k", RESPONSE, 15.0)
    await store.sync()
    keys = sorted(redis_client.scan_iter(match=f"{namespace}:*"))
    assert len(keys) == 7  # breaker, probe, stats, latency, rate, counter, cache
    ttls = {key: redis_client.pttl(key) for key in keys}
    assert all(ms > 0 for ms in ttls.values()), ttls
    assert 119_000 < redis_client.pttl(store.keys.breaker("b")) <= 120_000
    assert 119_000 < redis_client.pttl(store.keys.latencies("b")) <= 120_000
    assert 29_000 < redis_client.pttl(store.keys.probe("b")) <= 30_000
    assert 14_000 < redis_client.pttl(store.keys.cache("k")) <= 15_000


async def test_two_namespaces_on_one_redis_do_not_share_state(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis, namespace: str
) -> None:
    a, other = make_store(), make_store(namespace=f"{namespace}-other")
    try:
        a.breaker("b", POLICY).record_failure()
        await a.sync()
        await other.sync()
        assert other.breaker("b", POLICY).consecutive_failures == 0
    finally:
        for key in redis_client.scan_iter(match=f"{namespace}-other:*"):
            redis_client.delete(key)


def test_the_factory_builds_a_redis_store_from_the_state_table(redis_url: str) -> None:
    config = parse_config(
        {"state": {"url": redis_url, "namespace": "prod", "refresh_interval": 1, "timeout": 0.1}}
    )
    store = store_from_config(config)
    assert isinstance(store, RedisStateStore)
    assert store.keys.namespace == "prod"
    assert (store.refresh_interval, store.timeout) == (1, 0.1)
    assert store.window == config.router.latency_window


def test_prefix_is_an_alias_of_namespace() -> None:
    store = RedisStateStore.from_config({"url": "redis://127.0.0.1:1/0", "prefix": "blue"})
    assert store.keys.namespace == "blue"


def test_bad_state_options_are_all_reported_with_their_path() -> None:
    with pytest.raises(ConfigError) as info:
        RedisStateStore.from_config(
            {"url": "redis://127.0.0.1:1/0", "refresh_interval": 0, "colour": "red", "queue_size": 1.5}
        )
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["state.colour", "state.queue_size", "state.refresh_interval"]


def test_the_password_of_the_url_never_shows() -> None:
    store = RedisStateStore("redis://:hunter2@127.0.0.1:6399/3")
    assert "hunter2" not in repr(store)
    assert "127.0.0.1:6399/3" in repr(store)


def test_import_claudette_does_not_import_redis() -> None:
    code = "import sys, claudette, claudette.factory; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_state_table_without_a_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        RedisStateStore.from_config({"namespace": "x"})
    assert [p.path for p in info.value.problems] == ["state.url"]

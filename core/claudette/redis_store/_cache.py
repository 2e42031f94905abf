"""The response cache on Redis: an answer stored by one process is a hit in every other."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from claudette.cache import READ_BONUS
from claudette.redis_store._clock import epoch_ms
from claudette.types import ClaudetteResponse

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.typing import EncodableT, FieldT

    from claudette.redis_store._store import RedisStateStore
    from claudette.types import CacheOptions

__all__ = ["RedisResponseCache"]

#: KEYS: entry. ARGV: now_ms, read_bonus, max_ttl_ms, adaptive (1/0).
#: Returns the response JSON (and lengthens an extendable entry's life), or nil.
CACHE_GET = """
local h = redis.call('HMGET', KEYS[1], 'response', 'ttl', 'stored_at', 'extendable')
if not h[1] then return false end
local hits = redis.call('HINCRBY', KEYS[1], 'hits', 1)
if h[4] == '1' and ARGV[4] == '1' then
  local life = math.min(tonumber(h[2]) * (1 + tonumber(ARGV[2]) * hits), tonumber(ARGV[3]))
  local until_ms = math.floor(tonumber(h[3]) + life)
  local current = redis.call('PTTL', KEYS[1])
  if until_ms - tonumber(ARGV[1]) > current then redis.call('PEXPIREAT', KEYS[1], until_ms) end
end
return h[1]
"""


def _dump(response: ClaudetteResponse) -> str:
    data = attrs.asdict(response, recurse=False)
    data["metadata"] = dict(response.metadata)
    return json.dumps(data, default=str, separators=(",", ":"))


def _load(raw: str) -> ClaudetteResponse:
    data: dict[str, Any] = json.loads(raw)
    return ClaudetteResponse(**data)


class RedisResponseCache:
    """The :class:`~claudette.cache.ResponseCache` of a :class:`RedisStateStore`.

    Entries are Redis hashes with a TTL (adaptive TTLs as in memory; reads lengthen an
    extendable entry's life atomically). When Redis cannot answer, a lookup is a miss and a
    store is skipped: the request is routed as if nothing were cached.

    :param store: the store whose connection and namespace it uses.
    :param options: TTLs (``max_entries`` is not enforced: Redis's TTLs bound the size).
    """

    def __init__(self, store: RedisStateStore, options: CacheOptions) -> None:
        #: The store whose connection and key names it uses.
        self.store = store
        self.options = options
        #: Lookups this process had answered from Redis.
        self.hits = 0
        #: Lookups that found nothing (or found Redis down).
        self.misses = 0
        #: Entries found but unreadable (counted as misses too).
        self.errors = 0

    async def get(self, key: str) -> ClaudetteResponse | None:
        """The live answer under ``key`` from any process, or None."""
        o = self.options
        entry = self.store.keys.cache(key)

        async def read(client: aioredis.Redis) -> str | None:
            raw: str | None = await client.eval(
                CACHE_GET,
                1,
                entry,
                epoch_ms(),
                READ_BONUS,
                int(o.max_ttl * 1000),
                1 if o.adaptive_ttl else 0,
            )
            return raw

        raw = await self.store.link.run(read)
        if raw is None:
            self.misses += 1
            return None
        try:
            response = _load(raw)
        except (ValueError, TypeError):
            self.errors += 1
            self.misses += 1
            return None
        self.hits += 1
        return response

    async def set(
        self, key: str, response: ClaudetteResponse, ttl: float, *, extendable: bool = True
    ) -> None:
        """Store ``response`` for ``ttl`` seconds, for every process."""
        if ttl <= 0:
            return
        entry = self.store.keys.cache(key)
        fields: dict[FieldT, EncodableT] = {
            "response": _dump(response),
            "ttl": int(ttl * 1000),
            "stored_at": epoch_ms(),
            "extendable": 1 if extendable else 0,
            "hits": 0,
        }

        async def write(client: aioredis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.delete(entry)
            pipe.hset(entry, mapping=fields)
            pipe.pexpire(entry, int(ttl * 1000))
            await pipe.execute()

        await self.store.link.run(write)

    async def clear(self) -> None:
        """Drop every entry of this namespace."""
        await self.store.link.delete_matching(self.store.keys.cache("*"))

    def snapshot(self) -> dict[str, Any]:
        """This process's hits and misses (the entries live in Redis)."""
        return {"shared": True, "hits": self.hits, "misses": self.misses, "errors": self.errors}

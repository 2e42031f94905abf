"""A shared state store on Redis: many router processes, one view of every backend.

Needs the ``redis`` extra (``pip install 'claudette-core[redis]'``). Select it with
``[state] url = "redis://..."``; see ``docs/redis.md`` for the key layout and the
consistency model.
"""

from claudette.redis_store._cache import RedisResponseCache
from claudette.redis_store._keys import KeyLayout
from claudette.redis_store._objects import RedisBackendStats, RedisCircuitBreaker
from claudette.redis_store._ratelimit import RedisRateLimiter
from claudette.redis_store._store import RedisStateStore

__all__ = [
    "KeyLayout",
    "RedisBackendStats",
    "RedisCircuitBreaker",
    "RedisRateLimiter",
    "RedisResponseCache",
    "RedisStateStore",
]

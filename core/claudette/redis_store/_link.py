"""The connection to Redis, and what the store does while Redis does not answer.

Every call has a short socket and connect timeout and no retry, so a dead or hung Redis
costs a request at most one timeout. The first failed call of an outage logs one warning
and marks the link down; from then on the request path does not even try (it decides on
the local view) until the store's background sync reaches Redis again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from claudette._log import logger

__all__ = ["REDIS_ERRORS", "RedisLink", "where"]

T = TypeVar("T")

#: What a failed Redis call can raise (the client's errors, sockets, our own timeout).
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


def where(url: str) -> str:
    """``host:port/db`` of a Redis URL, never its password."""
    try:
        pool_kwargs = aioredis.connection.parse_url(url)
    except ValueError:
        return "redis"
    if "path" in pool_kwargs:
        return f"unix:{pool_kwargs['path']}"
    return f"{pool_kwargs.get('host', 'localhost')}:{pool_kwargs.get('port', 6379)}/{pool_kwargs.get('db', 0)}"


class RedisLink:
    """The store's Redis client, and whether Redis answers.

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL.
    :param timeout: socket (and connect) timeout of each call, in seconds.
    :param client: an existing ``redis.asyncio.Redis`` to use instead of ``url``; it is
        never replaced or closed here.
    """

    def __init__(self, url: str, timeout: float, client: aioredis.Redis | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self._given_client = client
        self._client: aioredis.Redis | None = client
        #: False after a failed call, until one succeeds again.
        self.connected = True
        #: Warnings logged about Redis being unreachable (one per outage).
        self.outages = 0
        #: Clients retired at the start of an outage, being closed in the background.
        self._closing: set[asyncio.Task[None]] = set()
        #: Called after every failed call; the store starts its sync task there, since that
        #: task is what notices that Redis is back.
        self.on_failure: Callable[[], None] | None = None

    @property
    def location(self) -> str:
        """``host:port/db`` of the server, for messages (never the password)."""
        return where(self.url)

    def client(self) -> aioredis.Redis:
        """The client, made from the URL on first use (on the running event loop)."""
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        return self._client

    def drop_client(self) -> None:
        """Forget the client made from the URL: its connections belong to a loop that is gone.

        A client given to the constructor is kept.
        """
        if self._given_client is None:
            self._client = None

    def failed(self, exc: BaseException) -> None:
        """Note a failed call: the first of an outage logs one warning and marks the link down."""
        if self.on_failure is not None:
            self.on_failure()
        if self.connected:
            self.connected = False
            self.outages += 1
            self._retire_client()
            logger.warning(
                "Redis state store at %s is unreachable (%s: %s); routing continues on this "
                "process's local state and re-syncs when Redis is back",
                self.location,
                type(exc).__name__,
                exc,
            )

    def _retire_client(self) -> None:
        """Close the client made from the URL at the start of an outage, and start afresh.

        After Redis restarts, every pooled connection is dead: kept, each would fail once
        on its next use, and each failure would look like a new outage. The old client is
        closed in the background (its calls under way fail, within this same outage); a
        client given to the constructor is left alone.
        """
        if self._given_client is not None or self._client is None:
            return
        old, self._client = self._client, None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to close it on: its connections go with it
            return
        task = loop.create_task(self._close(old))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(client: aioredis.Redis) -> None:
        try:
            await client.aclose()
        except (RedisError, OSError, RuntimeError):
            logger.debug("Redis state store: error while disconnecting", exc_info=True)

    def answered(self) -> None:
        """Note a call that succeeded: the end of an outage, if there was one."""
        if not self.connected:
            self.connected = True
            logger.warning("Redis state store at %s is reachable again; state re-synced", self.location)

    async def run(self, command: Callable[[aioredis.Redis], Awaitable[T]]) -> T | None:
        """``await command(client)`` for the request path; None when Redis cannot answer.

        While Redis is known to be down it does not even try, so no request waits for a
        timeout; the sync task notices when Redis is back.
        """
        if not self.connected:
            return None
        try:
            return await command(self.client())
        except REDIS_ERRORS as exc:
            self.failed(exc)
            return None

    async def delete_matching(self, pattern: str) -> int:
        """Delete the keys matching ``pattern`` (SCAN, never KEYS); how many went."""
        deleted = 0
        try:
            client = self.client()
            batch: list[str] = []
            async for key in client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await client.delete(*batch)
                    batch = []
            if batch:
                deleted += await client.delete(*batch)
        except REDIS_ERRORS as exc:
            self.failed(exc)
        return deleted

    async def aclose(self) -> None:
        """Disconnect the client made from the URL (a given client stays open)."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None and self._given_client is None:
            try:
                await client.aclose()
            except (RedisError, OSError, RuntimeError):  # e.g. connections of a closed loop
                logger.debug("Redis state store: error while disconnecting", exc_info=True)

"""Small shims for the oldest supported Python (3.10)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from asyncio import timeout as timeout
else:  # pragma: no cover - exercised on 3.10 only
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator


    @contextlib.asynccontextmanager
    async def timeout(delay: float | None) -> AsyncIterator[None]:
        """``asyncio.timeout`` for 3.10: cancel the current task after ``delay`` seconds."""
        if delay is None:
            yield
            return
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        fired = False

        def _fire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        handle = loop.call_later(delay, _fire)
        try:
            yield
        except asyncio.CancelledError:
            if fired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()

__all__ = ["timeout"]

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
        # 3.10's own tasks do not count cancellation requests; a backported task (as test
        # runners use) does, and then the deadline's request is taken back, as 3.11 does.
        cancelling = getattr(task, "cancelling", None)
        pending = cancelling() if cancelling is not None else 0
        fired = False

        def _fire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        handle = loop.call_later(delay, _fire)
        try:
            yield
        except asyncio.CancelledError:
            if fired and (cancelling is None or task.uncancel() <= pending):  # type: ignore[attr-defined]
                raise TimeoutError from None
            raise  # the caller's own cancellation
        finally:
            handle.cancel()

__all__ = ["timeout"]

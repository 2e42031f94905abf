"""A backend's stream of chunks within one attempt: what reached the caller, and its end.

``BackendRouter.stream`` reads each backend's stream through a :class:`BackendStream`::

    stream = BackendStream(backend, request)
    async with router.attempt(backend, request) as attempt, stream:
        chunk = await attempt.within_deadline(stream.first(), "first chunk")
        while chunk.response is None:
            stream.passed_on(chunk)
            yield chunk
            chunk = await stream.next()

Entering starts the backend's stream; leaving closes it at once, so that its connection is
released. A stream that ends before its final chunk is a retryable failure of the
backend. Once a
chunk has reached the caller there is no fallback: :meth:`BackendStream.interrupted` is
the error that carries the text received so far.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING

from claudette.errors import BackendError, StreamInterruptedError

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.types import ClaudetteRequest, StreamChunk

__all__ = ["BackendStream"]


class BackendStream:
    """The chunks of ``backend.stream(request)``, and what of them reached the caller.

    :param backend: the backend streaming.
    :param request: the request it answers.
    """

    __slots__ = ("_chunks", "_request", "_texts", "backend", "delivered")

    def __init__(self, backend: BaseBackend, request: ClaudetteRequest) -> None:
        self.backend = backend
        self._request = request
        self._chunks: AsyncIterator[StreamChunk] | None = None
        self._texts: list[str] = []
        #: True once a chunk has reached the caller (no fallback is possible then).
        self.delivered = False

    async def __aenter__(self) -> BackendStream:
        self._chunks = self.backend.stream(self._request)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # A plain async iterator has nothing to close.
        if isinstance(self._chunks, AsyncGenerator):
            await self._chunks.aclose()

    async def first(self) -> StreamChunk:
        """The first chunk.

        :raises BackendError: when the stream ends before any chunk.
        """
        return await self._read("the stream ended before any chunk")

    async def next(self) -> StreamChunk:
        """The next chunk.

        :raises BackendError: when the stream ends without its final chunk.
        """
        return await self._read("the stream ended without its final response")

    async def _read(self, ended: str) -> StreamChunk:
        assert self._chunks is not None, "read the stream inside `async with`"
        chunk = await anext(self._chunks, None)
        if chunk is None:
            raise BackendError(ended, self.backend.name, True)
        return chunk

    def passed_on(self, chunk: StreamChunk) -> None:
        """``chunk`` is about to reach the caller."""
        if chunk.text:
            self._texts.append(chunk.text)
        self.delivered = True

    def interrupted(self, error: BackendError) -> StreamInterruptedError:
        """The error of this stream failing with ``error`` after chunks reached the caller."""
        return StreamInterruptedError(
            f"stream failed after {len(self._texts)} chunks: {error.message}",
            self.backend.name,
            error.retryable,
            error.status_code,
            error.retry_after,
            partial_text="".join(self._texts),
            error_type=error.error_type,
            request_id=error.request_id,
        )

"""Mid-stream continuation: a stream cut after its first chunk goes on on another backend.

With ``RouterOptions(stream_continuation=True)``, ``BackendRouter.stream`` keeps a
:class:`Continuation` per request. When a backend's stream fails after text reached the
caller, the next backend is asked for the rest: the conversation plus the text so far as
an assistant message (a prefix the model continues), and what it streams goes on to the
caller. The final response carries the whole text and says who wrote which part::

    metadata["continuation"] == [
        {"backend": "openai", "start": 0, "error": "... connection reset ..."},
        {"backend": "claude", "start": 57},
    ]

``start`` is the character of the whole answer where that backend's text begins; the
failed ones carry their ``error``. The assistant prefix is sent without its trailing
whitespace (Anthropic refuses a prefill that ends in whitespace), so whitespace at the
start of the continuation is dropped where the caller already has it.

A provider that does not continue a trailing assistant message (it starts a new answer)
repeats what the caller has: the option is off by default for that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from claudette.errors import StreamInterruptedError
from claudette.types import Message

if TYPE_CHECKING:
    from claudette.errors import BackendError, NoBackendAvailableError
    from claudette.types import ClaudetteRequest, ClaudetteResponse

__all__ = ["Continuation"]


class Continuation:
    """The text one streamed request delivered so far, across the backends that wrote it.

    :param request: the caller's request.
    """

    __slots__ = ("_parts", "_segments", "_start", "_trimming", "request")

    def __init__(self, request: ClaudetteRequest) -> None:
        self.request = request
        self._parts: list[str] = []
        self._segments: list[dict[str, Any]] = []
        self._start = 0  # where the current backend's text begins
        self._trimming = False  # dropping whitespace the caller already has

    @property
    def text(self) -> str:
        """Everything that reached the caller so far."""
        return "".join(self._parts)

    @property
    def started(self) -> bool:
        """True once a backend failed after text reached the caller."""
        return bool(self._segments)

    def passed_on(self, text: str) -> str:
        """``text`` of the current backend, as it reaches the caller (leading whitespace
        the caller already has is dropped)."""
        if self._trimming and text:
            text = text.lstrip()
            self._trimming = not text
        if text:
            self._parts.append(text)
        return text

    def failed(self, backend: str, error: BackendError) -> None:
        """``backend``'s stream failed after its text reached the caller."""
        self._segments.append({"backend": backend, "start": self._start, "error": str(error)})
        self._start = len(self.text)

    def request_for_rest(self) -> ClaudetteRequest:
        """The caller's conversation plus the text so far as the assistant's prefix."""
        text = self.text
        prefix = text.rstrip()
        self._trimming = prefix != text
        messages = (*self.request.all_messages, Message("assistant", prefix))
        return attrs.evolve(self.request, prompt=None, messages=messages)

    def joined(self, response: ClaudetteResponse) -> ClaudetteResponse:
        """The final ``response`` of the backend that finished, with the whole text and the
        ``continuation`` metadata."""
        done = self.text[: self._start]
        rest = response.content.lstrip() if done != done.rstrip() else response.content
        segments = [*self._segments, {"backend": response.backend_used, "start": self._start}]
        return attrs.evolve(
            response,
            content=done + rest,
            metadata={**response.metadata, "continuation": segments},
        )

    def interrupted(self, error: BackendError | NoBackendAvailableError) -> StreamInterruptedError:
        """The error that ends the stream when no backend could continue it."""
        backend = getattr(error, "backend", None) or (
            self._segments[-1]["backend"] if self._segments else ""
        )
        written = ", ".join(s["backend"] for s in self._segments)
        return StreamInterruptedError(
            f"stream failed after {len(self.text)} characters from {written}; "
            f"no backend continued it: {error}",
            backend,
            getattr(error, "retryable", True),
            getattr(error, "status_code", None),
            partial_text=self.text,
        )

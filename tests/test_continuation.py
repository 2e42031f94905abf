"""Continuation's bookkeeping: the prefix sent, the text passed on, the final metadata."""

from __future__ import annotations

from claudette.errors import (
    BackendUnavailableError,
    NoBackendAvailableError,
    StreamInterruptedError,
)
from claudette.router.continuation import Continuation
from claudette.types import ClaudetteRequest, ClaudetteResponse, Message

REQUEST = ClaudetteRequest(prompt="count", messages=[Message("system", "be brief")])


def _cut(continuation: Continuation, backend: str, *texts: str) -> None:
    for text in texts:
        continuation.passed_on(text)
    continuation.failed(backend, BackendUnavailableError("connection reset", backend, True))


def test_the_rest_is_asked_for_with_the_text_so_far_as_the_assistant_prefix() -> None:
    continuation = Continuation(REQUEST)
    _cut(continuation, "a", "one", " two")
    asked = continuation.request_for_rest()
    assert asked.prompt is None
    assert asked.all_messages == (
        Message("system", "be brief"),
        Message("user", "count"),
        Message("assistant", "one two"),
    )


def test_a_prefix_ending_in_whitespace_is_sent_without_it_and_not_repeated() -> None:
    """Anthropic refuses a prefill that ends in whitespace; the caller already has it."""
    continuation = Continuation(REQUEST)
    _cut(continuation, "a", "one", " two ")
    assert continuation.request_for_rest().all_messages[-1] == Message("assistant", "one two")
    assert continuation.passed_on(" ") == ""
    assert continuation.passed_on(" three") == "three"
    assert continuation.passed_on(" four") == " four"
    final = continuation.joined(ClaudetteResponse(" three four", "b"))
    assert final.content == continuation.text == "one two three four"
    assert final.metadata["continuation"] == [
        {"backend": "a", "start": 0, "error": str(BackendUnavailableError("connection reset", "a", True))},
        {"backend": "b", "start": len("one two ")},
    ]


def test_the_error_when_nobody_continues_carries_every_character_delivered() -> None:
    continuation = Continuation(REQUEST)
    _cut(continuation, "a", "one")
    continuation.request_for_rest()
    _cut(continuation, "b", " two")
    error = continuation.interrupted(NoBackendAvailableError("no usable backend left", {}))
    assert isinstance(error, StreamInterruptedError)
    assert (error.partial_text, error.backend, error.retryable) == ("one two", "b", True)
    assert "from a, b" in error.message

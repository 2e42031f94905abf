"""Transport faults every provider emulator understands: one set, one implementation.

A provider emulator renders the reply it would send for a request, then a
:class:`TransportFault` breaks it the way a network, a proxy or a dying server does. The
faults know nothing of any provider's wire format, so they mean the same on every emulator:

    from claudette.testing import faults

    emulator.script(faults.reset(), faults.cut_after(2), None)  # the next three chat requests
    emulator.fail_always(faults.slow(0.5))

- :func:`reset`: the connection closes without an answer.
- :func:`hang`: the request is read, then nothing is sent for a while.
- :func:`truncated_json`: the HTTP framing is complete but a JSON document stops half-way.
- :func:`cut_after`: the connection is reset part-way through the body.
- :func:`end_after`: a stream ends cleanly, early (without its last events).
- :func:`stall_after`: a stream stops sending, with the connection left open.
- :func:`slow`: the whole answer, late.

A provider's own faults (an error status with its JSON body, an error event after a 200)
live in its plugin; where they break a reply's bytes they are built from these.
"""

from __future__ import annotations

from typing import Literal

import attrs

from claudette.testing.server import Fault, Reply

__all__ = [
    "SharedTransportFaults",
    "TransportFault",
    "TransportFaultKind",
    "cut_after",
    "end_after",
    "hang",
    "reset",
    "slow",
    "stall_after",
    "truncated_json",
]

#: The kinds of :class:`TransportFault`, each named after the function that builds it.
TransportFaultKind = Literal[
    "reset", "hang", "truncated_json", "cut_after", "end_after", "stall_after", "slow"
]


@attrs.frozen
class TransportFault:
    """One scripted transport fault; build it with the functions of this module.

    :param kind: what happens (see :data:`TransportFaultKind`).
    :param seconds: how long a ``hang`` lasts, or how late a ``slow`` answer starts.
    :param chunks: for a streamed reply, the chunks sent whole before the fault strikes
        (None: half of them).
    :param chunk_delay: for ``slow``: extra seconds before each streamed chunk.
    """

    kind: TransportFaultKind
    seconds: float = 0.0
    chunks: int | None = None
    chunk_delay: float = 0.0

    @property
    def delivers(self) -> bool:
        """True when the client still receives the whole answer (only ``slow`` does)."""
        return self.kind == "slow"

    def apply(self, reply: Reply) -> Reply | Fault:
        """Break ``reply`` (the answer the emulator would have sent) with this fault."""
        if self.kind == "reset":
            return Fault.reset()
        if self.kind == "hang":
            return Fault.hang(self.seconds)
        if self.kind == "slow":
            return attrs.evolve(
                reply,
                delay=reply.delay + self.seconds,
                chunk_delay=reply.chunk_delay + self.chunk_delay,
            )
        if reply.chunks is None:
            return self._break_body(reply)
        return self._break_stream(reply, list(reply.chunks))

    def _break_body(self, reply: Reply) -> Reply:
        """A plain (non-streamed) reply broken half-way through its body."""
        half = len(reply.body) // 2
        if self.kind == "cut_after":
            # The full length is announced, half the body is sent, the connection is reset.
            return attrs.evolve(reply, truncate_at=half)
        if self.kind == "stall_after":
            # Sent in two chunks (chunked framing): the first half, then nothing.
            return attrs.evolve(
                reply, body=b"", chunks=[reply.body[:half], reply.body[half:]], hang_after_chunks=1
            )
        # truncated_json, end_after: the body itself ends half-way, its length announced to match.
        headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-length"}
        return attrs.evolve(reply, headers=headers, body=reply.body[:half])

    def _break_stream(self, reply: Reply, chunks: list[bytes]) -> Reply:
        """A streamed reply broken after (or inside) one of its chunks."""
        count = len(chunks) // 2 if self.chunks is None else max(0, self.chunks)
        if self.kind == "stall_after":
            return attrs.evolve(reply, chunks=chunks, hang_after_chunks=count)
        if self.kind == "end_after":  # at least the last chunk is left out
            return attrs.evolve(reply, chunks=chunks[: min(count, len(chunks) - 1)])
        if self.kind == "truncated_json":  # at least the last chunk is half-written
            count = max(0, min(count, len(chunks) - 1))
        sent = chunks[:count]
        if count < len(chunks):
            sent.append(chunks[count][: len(chunks[count]) // 2])
        if self.kind == "truncated_json":  # the body ends there, its framing complete
            return attrs.evolve(reply, chunks=sent)
        # cut_after: ``count`` whole chunks and half of the next, then the connection is reset.
        return attrs.evolve(reply, chunks=sent, truncate_at=len(sent))


def reset() -> TransportFault:
    """Close the connection as soon as the request is read, without an answer."""
    return TransportFault("reset")


def hang(seconds: float = 30.0) -> TransportFault:
    """Read the request, send nothing for ``seconds``, then close the connection."""
    return TransportFault("hang", seconds=seconds)


def truncated_json(chunks: int = 1) -> TransportFault:
    """A body that ends cleanly in the middle of a JSON document (its framing complete).

    A plain reply carries the first half of its body, its length announced to match; a
    stream sends ``chunks`` whole chunks and the first half of the next one (at most the
    last), then ends, so the client reads a malformed last line or event.
    """
    return TransportFault("truncated_json", chunks=chunks)


def cut_after(chunks: int | None = None) -> TransportFault:
    """Reset the connection part-way through the body (a transfer broken mid-way).

    A plain reply announces its full length and sends half of its body; a stream sends
    ``chunks`` whole chunks (default: half of them) and half of the next one.
    """
    return TransportFault("cut_after", chunks=chunks)


def end_after(chunks: int | None = None) -> TransportFault:
    """End a stream cleanly after ``chunks`` chunks (default: half; at most all but the last).

    The client sees a well-formed body that lacks its last events (a stream without its
    terminator). A plain reply ends half-way through its body, as with :func:`truncated_json`.
    """
    return TransportFault("end_after", chunks=chunks)


def stall_after(chunks: int | None = None) -> TransportFault:
    """Send ``chunks`` stream chunks (default: half), then nothing more, connection open.

    A plain reply sends half of its body, then stalls.
    """
    return TransportFault("stall_after", chunks=chunks)


def slow(seconds: float = 0.0, *, chunk_delay: float = 0.0) -> TransportFault:
    """The whole answer, ``seconds`` late and ``chunk_delay`` more before each streamed chunk."""
    return TransportFault("slow", seconds=seconds, chunk_delay=chunk_delay)


class SharedTransportFaults:
    """The shared transport faults as static methods of a provider's own fault class.

    A provider emulator's fault class (``ChatFault``, ``AnthropicFault``, ``OllamaFault``)
    derives from this, so ``ChatFault.reset()`` and ``faults.reset()`` are one fault, and
    the provider class adds only what is its provider's own.
    """

    __slots__ = ()

    @staticmethod
    def reset() -> TransportFault:
        """Close the connection without answering (:func:`reset`)."""
        return reset()

    @staticmethod
    def hang(seconds: float = 30.0) -> TransportFault:
        """Read the request, then answer nothing for ``seconds`` (:func:`hang`)."""
        return hang(seconds)

    @staticmethod
    def truncated_json() -> TransportFault:
        """A complete 200 whose JSON stops half-way; in a stream, a half-written event
        (:func:`truncated_json`)."""
        return truncated_json()

    @staticmethod
    def slow(seconds: float = 0.0, chunk_delay: float = 0.0) -> TransportFault:
        """The normal answer, ``seconds`` late and ``chunk_delay`` more between chunks
        (:func:`slow`)."""
        return slow(seconds, chunk_delay=chunk_delay)

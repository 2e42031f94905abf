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
- :func:`drip`: the answer one byte at a time, a pause before each.
- :func:`keep_alive_only`: after some chunks (none by default), only keep-alives, forever.
- :func:`never_answer`: the request is read, then nothing is ever sent.
- :func:`held_open`: the whole answer, then the connection held open without ending the body.

A keep-alive is the provider's own (an SSE comment, Anthropic's ``ping`` event, a blank
NDJSON line): the emulator passes its bytes to :meth:`TransportFault.apply`.

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
    "drip",
    "end_after",
    "hang",
    "held_open",
    "keep_alive_only",
    "never_answer",
    "reset",
    "slow",
    "stall_after",
    "truncated_json",
]

#: Seconds :func:`never_answer` waits: longer than any test runs (the server's stop ends it).
NEVER = 3600.0

#: The kinds of :class:`TransportFault`, each named after the function that builds it.
TransportFaultKind = Literal[
    "reset",
    "hang",
    "truncated_json",
    "cut_after",
    "end_after",
    "stall_after",
    "slow",
    "drip",
    "keep_alive_only",
    "held_open",
]


@attrs.frozen
class TransportFault:
    """One scripted transport fault; build it with the functions of this module.

    :param kind: what happens (see :data:`TransportFaultKind`).
    :param seconds: how long a ``hang`` lasts, how late a ``slow`` answer starts, or
        the pause before each byte of a ``drip`` and each keep-alive of ``keep_alive_only``.
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
        """True when the client still receives the whole answer (``slow``, ``drip`` and
        ``held_open`` do)."""
        return self.kind in ("slow", "drip", "held_open")

    def apply(self, reply: Reply, keep_alive: bytes = b"\n") -> Reply | Fault:
        """Break ``reply`` (the answer the emulator would have sent) with this fault.

        :param keep_alive: the provider's keep-alive in a stream (``keep_alive_only``); a
            plain reply's keep-alive is whitespace before its JSON.
        """
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
        if self.kind == "drip":
            return attrs.evolve(reply, drip=self.seconds)
        if self.kind == "keep_alive_only":
            headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-length"}
            if reply.chunks is None:
                return attrs.evolve(reply, headers=headers, body=b"", chunks=[], trickle=b" ",
                                    trickle_interval=self.seconds)
            count = 0 if self.chunks is None else max(0, self.chunks)
            return attrs.evolve(reply, headers=headers, chunks=list(reply.chunks)[:count],
                                trickle=keep_alive, trickle_interval=self.seconds)
        if self.kind == "held_open":
            if reply.chunks is None:
                return reply  # a body of announced length is complete; the connection stays open
            return attrs.evolve(reply, hang_after_chunks=len(reply.chunks))
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


def drip(seconds: float = 0.5) -> TransportFault:
    """The whole answer, one byte at a time, ``seconds`` before each (a crawling upstream).

    Every byte arrives well within any read timeout, so only a deadline on the whole call
    (or, in a stream, on the time between events) ends it.
    """
    return TransportFault("drip", seconds=seconds)


def keep_alive_only(seconds: float = 0.5, chunks: int = 0) -> TransportFault:
    """A 200 whose stream sends ``chunks`` chunks, then only keep-alives, ``seconds`` apart.

    The keep-alive is the provider's own (the emulator passes it to :meth:`~TransportFault.apply`);
    a plain reply sends whitespace instead of its JSON. The body never ends.
    """
    return TransportFault("keep_alive_only", seconds=seconds, chunks=chunks)


def never_answer() -> TransportFault:
    """Read the request, then send nothing at all (until the server stops)."""
    return TransportFault("hang", seconds=NEVER)


def held_open() -> TransportFault:
    """The whole answer, then a stream's body left open: its end never comes.

    A plain reply is sent whole (its length is announced, so the answer is complete).
    """
    return TransportFault("held_open")


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

    @staticmethod
    def drip(seconds: float = 0.5) -> TransportFault:
        """The normal answer, one byte at a time, ``seconds`` before each (:func:`drip`)."""
        return drip(seconds)

    @staticmethod
    def keep_alive_only(seconds: float = 0.5, chunks: int = 0) -> TransportFault:
        """After ``chunks`` chunks, only the provider's keep-alives (:func:`keep_alive_only`)."""
        return keep_alive_only(seconds, chunks)

    @staticmethod
    def never_answer() -> TransportFault:
        """Read the request, then send nothing at all (:func:`never_answer`)."""
        return never_answer()

    @staticmethod
    def held_open() -> TransportFault:
        """The whole answer, then the body left open (:func:`held_open`)."""
        return held_open()

"""Scriptable failures of the Ollama emulator's ``/api/chat``.

:class:`OllamaFault` holds Ollama's own failures (an error status with ``{"error": ...}``,
an error line after a 200, a stream without its ``done`` line). Broken connections and
bodies are the shared :mod:`claudette.testing.faults`, which the emulator takes too; the
class methods :meth:`~OllamaFault.reset`, :meth:`~OllamaFault.cut_body` ... build them.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from claudette.testing import faults
from claudette.testing.faults import SharedTransportFaults, TransportFault

__all__ = ["STATUS_MESSAGES", "OllamaFault"]

#: Error messages the emulator sends for a status when the fault names none (real
#: Ollama wording where Ollama has one).
STATUS_MESSAGES: Mapping[int, str] = {
    400: "invalid options: num_predict must be an integer",
    404: "model 'qwen9:404b' not found, try pulling it first",
    429: "server busy, please try again.  maximum pending requests exceeded",
    500: "llama runner process has terminated: exit status 2",
    502: "bad gateway: upstream Ollama did not answer",
    503: "server overloaded, please try again later",
}

#: The error line an ``error_line`` fault sends after a 200 by default.
DEFAULT_STREAM_ERROR = "an error was encountered while running the model: unexpected EOF"


@attrs.frozen
class OllamaFault(SharedTransportFaults):
    """One scripted failure of a chat request in Ollama's own format; build it with a classmethod.

    :param kind: ``status``, ``stream_unfinished`` or ``error_line``.
    :param status: the HTTP status of a ``status`` fault.
    :param message: the ``error`` text of a ``status`` or ``error_line`` fault.
    :param headers: extra response headers of a ``status`` fault (``retry-after`` ...).
    :param after_lines: NDJSON lines sent before a ``stream_unfinished`` or ``error_line``.
    """

    kind: str
    status: int = 200
    message: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    after_lines: int = 1

    @classmethod
    def status_error(
        cls, status: int, message: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> OllamaFault:
        """Answer ``status`` with Ollama's body ``{"error": message}``."""
        return cls(
            "status",
            status=status,
            message=message if message is not None else STATUS_MESSAGES.get(status, "error"),
            headers=dict(headers or {}),
        )

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> OllamaFault:
        """A 429 "server busy", with ``retry-after`` when given."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else None
        return cls.status_error(429, headers=headers)

    @classmethod
    def model_not_found(cls, model: str = "qwen9:404b") -> OllamaFault:
        """Ollama's 404 for a model that is not pulled."""
        return cls.status_error(404, f"model '{model}' not found, try pulling it first")

    @classmethod
    def stream_unfinished(cls, after_lines: int = 1) -> OllamaFault:
        """Stream ``after_lines`` lines and end the response cleanly, without ``done: true``.

        A non-streamed request gets a complete 200 whose object says ``done: false``.
        """
        return cls("stream_unfinished", after_lines=after_lines)

    @classmethod
    def error_line(cls, message: str | None = None, *, after_lines: int = 1) -> OllamaFault:
        """Stream ``after_lines`` lines after a 200, then ``{"error": message}`` and end.

        A non-streamed request gets a 500 with that error instead, as Ollama does.
        """
        return cls("error_line", message=message or DEFAULT_STREAM_ERROR, after_lines=after_lines)

    # -- broken connections and bodies (reset, hang, truncated_json and slow come from
    #    SharedTransportFaults)

    @staticmethod
    def cut_body() -> TransportFault:
        """Announce the whole body, send half of it, then close the connection."""
        return faults.cut_after()

    @staticmethod
    def stream_cut(after_lines: int = 1) -> TransportFault:
        """Stream ``after_lines`` lines and half of the next, then close the connection
        (without the ``done: true`` line). A non-streamed request gets :meth:`cut_body`."""
        return faults.cut_after(after_lines)


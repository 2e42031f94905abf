"""Scriptable failures for :class:`~claudette_backend_claude.testing.AnthropicEmulator`.

Each :class:`AnthropicFault` replaces the emulator's answer to one ``POST /v1/messages``
(queue it with ``emulator.fail_next(...)``) or to every one (``emulator.fail_always(...)``).
Health checks (``GET /v1/models``) never consume a fault. Broken connections and bodies
are the shared :mod:`claudette.testing.faults`, which the emulator takes too; the class
methods :meth:`~AnthropicFault.reset`, :meth:`~AnthropicFault.cut_connection` ... build them.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from claudette.testing import Fault, Reply, faults
from claudette.testing.faults import SharedTransportFaults, TransportFault

__all__ = ["AnthropicFault"]


@attrs.frozen
class AnthropicFault(SharedTransportFaults):
    """One scripted failure in the API's own format, built with the class methods below.

    :param kind: what happens: ``error``, ``proxy_413``, ``stream_error`` or ``raw``.
    :param status: the HTTP status of an ``error``.
    :param error_type: the Anthropic error type of an ``error`` or ``stream_error``.
    :param message: the error message.
    :param headers: extra response headers (``retry-after``, ``x-should-retry`` ...).
    :param after_events: stream events sent before a ``stream_error``.
    :param reply: for ``raw``: the reply or server fault to send as it is.
    """

    kind: str
    status: int = 200
    error_type: str | None = None
    message: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    after_events: int = 0
    reply: Reply | Fault | None = None

    # -- HTTP errors with the API's own JSON body ----------------------------------------

    @classmethod
    def error(
        cls,
        status: int,
        error_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> AnthropicFault:
        """An error reply ``{"type": "error", "error": {type, message}, "request_id"}``."""
        return cls("error", status, error_type, message, dict(headers or {}))

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0) -> AnthropicFault:
        """429 ``rate_limit_error`` with a ``retry-after`` header (seconds) unless None."""
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return cls.error(
            429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.", headers
        )

    @classmethod
    def overloaded(cls) -> AnthropicFault:
        """529 ``overloaded_error``."""
        return cls.error(529, "overloaded_error", "Overloaded")

    @classmethod
    def api_error(cls) -> AnthropicFault:
        """500 ``api_error``."""
        return cls.error(500, "api_error", "Internal server error")

    @classmethod
    def invalid_request(cls, message: str = "messages: field required") -> AnthropicFault:
        """400 ``invalid_request_error``."""
        return cls.error(400, "invalid_request_error", message)

    @classmethod
    def authentication(cls) -> AnthropicFault:
        """401 ``authentication_error``."""
        return cls.error(401, "authentication_error", "invalid x-api-key")

    @classmethod
    def permission(cls) -> AnthropicFault:
        """403 ``permission_error``."""
        return cls.error(403, "permission_error", "Your API key does not have permission")

    @classmethod
    def not_found(cls, message: str = "model: claude-nonexistent") -> AnthropicFault:
        """404 ``not_found_error``."""
        return cls.error(404, "not_found_error", message)

    # -- failures outside the API's own format --------------------------------------------

    @classmethod
    def proxy_413(cls) -> AnthropicFault:
        """413 from a proxy in front of the API: an HTML page, no JSON, no request id."""
        return cls("proxy_413", 413)

    @classmethod
    def raw(cls, reply: Reply | Fault) -> AnthropicFault:
        """Send this :class:`~claudette.testing.Reply` or server :class:`~claudette.testing.Fault` as it is."""
        return cls("raw", reply=reply)

    # -- streams ------------------------------------------------------------------------------

    @classmethod
    def stream_error(
        cls,
        error_type: str = "overloaded_error",
        after_events: int = 1,
        message: str = "Overloaded",
    ) -> AnthropicFault:
        """HTTP 200, ``after_events`` normal events, then an ``error`` event and the end."""
        return cls("stream_error", error_type=error_type, message=message, after_events=after_events)

    # -- broken connections and bodies (reset, hang, truncated_json and slow come from
    #    SharedTransportFaults)

    @staticmethod
    def cut_connection() -> TransportFault:
        """A 200 whose body is cut off half-way by a connection reset."""
        return faults.cut_after()

    @staticmethod
    def stream_cut(after_events: int = 3, *, abort: bool = False) -> TransportFault:
        """A stream that stops after ``after_events`` events, without ``message_stop``.

        :param abort: reset the connection (a broken transfer) instead of ending cleanly.
        """
        return faults.cut_after(after_events) if abort else faults.end_after(after_events)

    @staticmethod
    def stream_hang(after_events: int = 3) -> TransportFault:
        """A stream that sends ``after_events`` events, then nothing more."""
        return faults.stall_after(after_events)

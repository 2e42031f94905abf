"""Scriptable failures of the emulated chat endpoint (see :class:`ChatFault`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from claudette.testing import faults
from claudette.testing.faults import SharedTransportFaults, TransportFault

__all__ = ["ChatFault"]


@attrs.frozen
class ChatFault(SharedTransportFaults):
    """One scripted misbehaviour of ``POST /v1/chat/completions`` in OpenAI's own format.

    Build them with the class methods; :meth:`OpenAIEmulator.script` queues them for the
    next chat requests, :meth:`OpenAIEmulator.fail_always` applies one to every chat request.
    Broken connections and bodies are the shared :mod:`claudette.testing.faults` (the
    emulator takes those too); :meth:`reset`, :meth:`hang`, :meth:`truncated_json`,
    :meth:`cut_body`, :meth:`stream_cut` and :meth:`slow` build them.

    :param kind: ``status``, ``error_event``, ``missing_done`` or ``bad_shape``.
    :param status: the HTTP status of a ``status`` fault.
    :param message: the error message in the body.
    :param error_type: the error ``type`` in the body.
    :param code: the error ``code`` in the body (flavours with integer codes use the status).
    :param headers: extra reply headers (``retry-after`` ...).
    :param after_chunks: stream events sent before an ``error_event``.
    """

    kind: str
    status: int = 200
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    after_chunks: int = 2
    # -- HTTP error statuses, with the provider's real bodies --------------------------

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        error_type: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ChatFault:
        """Any error status with an OpenAI-style error body (shaped by the flavour)."""
        return cls("status", status, message, error_type, code, dict(headers or {}))

    @classmethod
    def rate_limit(
        cls, retry_after: float | None = 1.0, *, retry_after_ms: float | None = None
    ) -> ChatFault:
        """429 ``rate_limit_exceeded`` with ``retry-after`` (and optionally ``retry-after-ms``)."""
        headers = {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1s",
        }
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        return cls.error(
            429,
            "Rate limit reached for requests. Please try again in 1s.",
            error_type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )

    @classmethod
    def insufficient_quota(cls) -> ChatFault:
        """429 ``insufficient_quota``: the account is out of credit."""
        return cls.error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            error_type="insufficient_quota",
            code="insufficient_quota",
        )

    @classmethod
    def unauthorized(cls) -> ChatFault:
        """401 ``invalid_api_key`` (vLLM flavours answer ``{"error": "Unauthorized"}``)."""
        return cls.error(
            401,
            "Incorrect API key provided: sk-test****.",
            error_type="invalid_request_error",
            code="invalid_api_key",
        )

    @classmethod
    def not_found(cls, model: str = "no-such-model") -> ChatFault:
        """404: the model does not exist."""
        return cls.error(
            404,
            f"The model `{model}` does not exist.",
            error_type="invalid_request_error",
            code="model_not_found",
        )

    @classmethod
    def server_error(cls) -> ChatFault:
        """500 ``server_error``."""
        return cls.error(
            500, "The server had an error while processing your request.", error_type="server_error"
        )

    @classmethod
    def overloaded(cls, retry_after: float | None = None) -> ChatFault:
        """503: the engine is overloaded (optionally with ``retry-after``)."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return cls.error(
            503,
            "The engine is currently overloaded, please try again later.",
            error_type="server_error",
            headers=headers,
        )

    @classmethod
    def bad_shape(cls) -> ChatFault:
        """A 200 reply with valid JSON of the wrong shape (a list)."""
        return cls("bad_shape")

    @classmethod
    def missing_done(cls) -> ChatFault:
        """A stream that ends cleanly but without ``data: [DONE]`` (a plain reply is whole)."""
        return cls("missing_done")

    # -- broken connections and bodies (reset, hang, truncated_json and slow come from
    #    SharedTransportFaults)

    @staticmethod
    def cut_body() -> TransportFault:
        """A 200 reply whose connection is cut half-way through the body."""
        return faults.cut_after()

    @staticmethod
    def stream_cut(after_chunks: int = 2) -> TransportFault:
        """Cut the connection inside the event after ``after_chunks`` events
        (non-streamed: like :meth:`cut_body`)."""
        return faults.cut_after(after_chunks)

    # -- streams ---------------------------------------------------------------------------------

    @classmethod
    def error_event(
        cls,
        after_chunks: int = 2,
        *,
        message: str = "The server had an error while processing your request.",
        error_type: str = "server_error",
        code: str | None = None,
    ) -> ChatFault:
        """A ``data: {"error": ...}`` event after a 200 (non-streamed: a 200 error body)."""
        return cls("error_event", 200, message, error_type, code, {}, after_chunks)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (for logs)."""
        return {"kind": self.kind, "status": self.status}

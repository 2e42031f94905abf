"""Errors in OpenAI's shape, with the HTTP status its SDKs expect.

:class:`GatewayError` is what the gateway answers with; :func:`error_for` turns one of
claudette's exceptions into it:

    RequestValidationError                 400 invalid_request_error
    NoBackendAvailableError, all rate limited   429 rate_limit_exceeded + Retry-After
    BudgetExceededError                    429 insufficient_quota
    NoBackendAvailableError (otherwise)    503 no_backend_available
    RateLimitError (a forced backend)      429 + Retry-After
    InvalidRequestError (the provider's)   400, the provider's message
    BackendTimeoutError                    504
    any other BackendError                 502 (an error reply) or 503 (unreachable, overloaded)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from claudette.errors import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    BudgetExceededError,
    InvalidRequestError,
    NoBackendAvailableError,
    RateLimitError,
    RequestValidationError,
)

__all__ = ["GatewayError", "error_for"]

# How the router words a rate limit in a skip reason or a failure.
_RATE_LIMITED = re.compile(r"rate limit|HTTP 429")
_SECONDS = re.compile(r"(?:rate limited for |retry after |\()([0-9]+(?:\.[0-9]+)?)s")


class GatewayError(Exception):
    """An error the gateway answers with: a status and OpenAI's ``{"error": {...}}`` body.

    :param status: the HTTP status.
    :param message: what went wrong, for the client (never a secret).
    :param type: OpenAI's error ``type`` (``invalid_request_error``, ``rate_limit_error`` ...).
    :param param: the request field at fault, if any.
    :param code: OpenAI's error ``code`` (``model_not_found`` ...), if any.
    :param retry_after: seconds, sent as ``Retry-After``.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """OpenAI's error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body_bytes(self) -> bytes:
        """:meth:`body` as JSON."""
        return json.dumps(self.body(), ensure_ascii=False).encode()

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The extra headers of the reply (``Retry-After``)."""
        if self.retry_after is None:
            return []
        return [(b"retry-after", str(max(1, math.ceil(self.retry_after))).encode())]


def _all_rate_limited(error: NoBackendAvailableError) -> float | None:
    """Seconds until the first backend is back when every reason is a rate limit, else None."""
    if not error.reasons or not all(_RATE_LIMITED.search(r) for r in error.reasons.values()):
        return None
    waits = [float(m.group(1)) for r in error.reasons.values() for m in _SECONDS.finditer(r)]
    cause = error.__cause__
    if isinstance(cause, BackendError) and cause.retry_after is not None:
        waits.append(cause.retry_after)
    return min(waits) if waits else 1.0


def error_for(exc: BaseException) -> GatewayError:
    """The OpenAI-shaped error for one of claudette's exceptions (see the module's table)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RequestValidationError):
        return GatewayError(400, str(exc))
    if isinstance(exc, BudgetExceededError):
        return GatewayError(429, exc.message, "insufficient_quota", code="budget_exceeded")
    if isinstance(exc, NoBackendAvailableError):
        wait = _all_rate_limited(exc)
        if wait is not None:
            return GatewayError(
                429, str(exc), "rate_limit_error", code="rate_limit_exceeded", retry_after=wait
            )
        return GatewayError(503, str(exc), "service_unavailable", code="no_backend_available")
    if isinstance(exc, RateLimitError):
        return GatewayError(
            429,
            str(exc),
            "rate_limit_error",
            code="rate_limit_exceeded",
            retry_after=exc.retry_after if exc.retry_after is not None else 1.0,
        )
    if isinstance(exc, InvalidRequestError):
        return GatewayError(400, str(exc), code=exc.error_type)
    if isinstance(exc, BackendTimeoutError):
        return GatewayError(504, str(exc), "timeout", code="backend_timeout")
    if isinstance(exc, BackendUnavailableError):
        return GatewayError(503, str(exc), "service_unavailable", code="backend_unavailable")
    if isinstance(exc, BackendError):
        return GatewayError(502, str(exc), "api_error", code="backend_error")
    return GatewayError(500, "internal error in the gateway", "server_error")

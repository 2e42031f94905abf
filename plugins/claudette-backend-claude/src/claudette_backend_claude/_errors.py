"""The one place where Anthropic failures become claudette errors.

- :func:`translate_error` — an HTTP error status with its body (any body: the API's own
  ``{"type": "error", "error": {...}}``, a proxy's HTML page, nothing, truncated JSON), or
  an ``error`` event received inside a 200 stream;
- :func:`translate_exception` — a transport failure (refused, reset, timeout) or a body
  that does not follow the protocol.

Classification is :func:`claudette.http.error_from_status`'s, so every backend agrees:
429 → ``RateLimitError`` (with ``retry-after``), 529 and 5xx → ``BackendUnavailableError``,
401/403 → ``AuthenticationError``, other 4xx → ``InvalidRequestError``; ``x-should-retry``
overrides. Messages never include the API key (the request is never echoed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from claudette.errors import BackendError, ResponseFormatError
from claudette.http import error_from_exception, error_from_status

from claudette_backend_claude._protocol import ProtocolError

__all__ = ["ERROR_STATUS", "translate_error", "translate_exception"]

#: The HTTP status Anthropic uses for each error type; an ``error`` event inside a 200
#: stream is classified as if it had come with this status.
ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_QUOTA_TYPES = frozenset({"billing_error"})
_SNIPPET = 160


def _snippet(body: bytes) -> str:
    text = body[:_SNIPPET].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text + ("..." if len(body) > _SNIPPET else "")


def _describe(status: int, headers: Mapping[str, str] | httpx.Headers, body: bytes) -> str:
    ctype = headers.get("content-type") or "no content type"
    if not body.strip():
        return f"HTTP {status} with an empty body ({ctype})"
    return f"HTTP {status} with a body that is not an Anthropic error ({ctype}): {_snippet(body)!r}"


def _message_text(message: object) -> str | None:
    """An error message as text (a structure too deep to write is named, not shown)."""
    if message is None or message == "":
        return None
    try:
        return str(message)
    except RecursionError:
        return f"a {type(message).__name__} nested too deeply to show"


def _fields(payload: object) -> tuple[str | None, str | None, str | None]:
    """(error type, message, request id) from an error object, whatever its shape."""
    if not isinstance(payload, Mapping):
        return None, None, None
    request_id = payload.get("request_id")
    error = payload.get("error")
    if isinstance(error, Mapping):
        etype, message = error.get("type"), error.get("message")
    else:
        etype, message = payload.get("type"), error
        if etype == "error":
            etype = None
    return (
        etype if isinstance(etype, str) and etype else None,
        _message_text(message),
        request_id if isinstance(request_id, str) and request_id else None,
    )


def translate_error(
    backend: str,
    status: int | None,
    body: bytes | Mapping[str, Any] | None,
    headers: Mapping[str, str] | httpx.Headers | None = None,
) -> BackendError:
    """The claudette error for an Anthropic error reply or ``error`` stream event.

    :param backend: the backend's name.
    :param status: the HTTP status, or None for an ``error`` event inside a 200 stream
        (then the status Anthropic uses for that error type classifies it).
    :param body: the raw response body, or the already decoded event payload.
    :param headers: the response headers (``request-id``, ``retry-after``, ``x-should-retry``).
    """
    headers = headers if headers is not None else {}
    payload: object = body
    if isinstance(body, bytes):
        try:
            payload = json.loads(body.decode("utf-8")) if body.strip() else None
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
            payload = None
    etype, message, request_id = _fields(payload)
    request_id = request_id or headers.get("request-id") or None
    in_stream = status is None
    if in_stream:
        status = ERROR_STATUS.get(etype or "", 500)
    assert status is not None
    if message is None:
        if isinstance(body, bytes) and etype is None:
            message = _describe(status, headers, body)
        else:
            message = f"HTTP {status}" if not in_stream else "error event without a message"
    if in_stream:
        message = f"error event in the stream: {message}"
    return error_from_status(
        backend,
        status,
        message,
        headers=headers,
        error_type=etype,
        error_code="quota_exceeded" if etype in _QUOTA_TYPES else None,
        request_id=request_id,
    )


def translate_exception(
    backend: str, exc: BaseException, *, request_id: str | None = None
) -> BackendError:
    """The claudette error for a transport failure or a body outside the protocol.

    A ``BackendError`` is returned as it is, given ``request_id`` when it has none.
    """
    if isinstance(exc, ProtocolError):
        return ResponseFormatError(
            f"response does not follow the Messages API: {exc}", backend, True, request_id=request_id
        )
    error = error_from_exception(backend, exc)
    if request_id and error.request_id is None:
        error.request_id = request_id
    return error

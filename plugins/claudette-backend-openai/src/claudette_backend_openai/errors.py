"""The one place where OpenAI-compatible error replies become claudette errors.

Error bodies come in several shapes and every one is understood:

- OpenAI, DashScope and vLLM >= 0.10.1: ``{"error": {"message", "type", "param", "code"}}``
  (vLLM's ``code`` is the integer status; DashScope adds a top-level ``request_id``);
- vLLM before 0.10.1: the flat ``{"object": "error", "message", "type", "param", "code"}``;
- vLLM's auth middleware: ``{"error": "Unauthorized"}`` (a bare string);
- FastAPI-style ``{"detail": ...}`` and anything else (HTML from a proxy, an empty body,
  a JSON list): the status decides the class and the message quotes the body's start.

Nothing here raises ``KeyError``/``TypeError``/``AttributeError`` on a strange body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import httpx
from claudette.errors import BackendError
from claudette.http import error_from_status

__all__ = ["ErrorDetails", "error_details", "error_from_event", "error_from_response"]

#: Header carrying the provider's request id.
REQUEST_ID_HEADER = "x-request-id"
_SNIPPET = 200


class ErrorDetails(NamedTuple):
    """What an error body says: message, type, code and request id (each may be None)."""

    message: str | None
    error_type: str | None
    error_code: str | None
    request_id: str | None


def _text(value: Any) -> str | None:
    """A non-empty string form of a scalar field, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (str, int, float)):
        text = str(value).strip()
        return text or None
    return None


def _details_of_mapping(payload: Mapping[str, Any]) -> ErrorDetails:
    request_id = _text(payload.get("request_id"))
    error = payload.get("error")
    if isinstance(error, Mapping):
        return ErrorDetails(
            _text(error.get("message")),
            _text(error.get("type")),
            _text(error.get("code")),
            request_id,
        )
    if isinstance(error, str):  # vLLM auth middleware: {"error": "Unauthorized"}
        return ErrorDetails(error.strip() or None, None, None, request_id)
    if payload.get("object") == "error" or "message" in payload:  # vLLM < 0.10.1, flat
        return ErrorDetails(
            _text(payload.get("message")),
            _text(payload.get("type")),
            _text(payload.get("code")),
            request_id,
        )
    detail = payload.get("detail")
    if detail is not None:  # FastAPI validation errors
        message = detail if isinstance(detail, str) else _dumped(detail)
        return ErrorDetails(message, None, None, request_id)
    return ErrorDetails(None, None, None, request_id)


def _dumped(value: Any) -> str:
    """The start of ``value`` as JSON (a structure too deep to write is named, not shown)."""
    try:
        return json.dumps(value)[:_SNIPPET]
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} nested too deeply to show"


def error_details(body: bytes | str | Mapping[str, Any] | None) -> ErrorDetails:
    """Read message, type, code and request id from an error body of any shape."""
    if body is None:
        return ErrorDetails(None, None, None, None)
    payload: Any = body
    if isinstance(body, (bytes, str)):
        try:
            payload = json.loads(body) if body else None
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
            payload = None
    if isinstance(payload, Mapping):
        return _details_of_mapping(payload)
    return ErrorDetails(None, None, None, None)


def _snippet(body: bytes | str | None) -> str:
    if not body:
        return "empty body"
    start = body[: _SNIPPET * 4]  # whitespace is collapsed below: enough to fill the snippet
    text = start.decode("utf-8", "replace") if isinstance(start, bytes) else start
    text = " ".join(text.split())
    return f"body starts {text[:_SNIPPET]!r}"


def error_from_response(
    backend: str,
    status: int,
    body: bytes | str | None,
    headers: Mapping[str, str] | httpx.Headers | None = None,
) -> BackendError:
    """The claudette error for an HTTP error reply from an OpenAI-compatible server.

    :param backend: the backend's name.
    :param status: the HTTP status.
    :param body: the raw reply body (any shape, possibly empty or not JSON).
    :param headers: the reply headers: ``retry-after-ms``, ``retry-after``,
        ``x-should-retry`` and ``x-request-id`` are honoured.
    """
    headers = headers if headers is not None else {}
    details = error_details(body)
    request_id = headers.get(REQUEST_ID_HEADER) or details.request_id
    message = details.message or f"HTTP {status} without an error message ({_snippet(body)})"
    return error_from_status(
        backend,
        status,
        message,
        headers=headers,
        error_type=details.error_type,
        error_code=details.error_code,
        request_id=request_id,
    )


def _status_of_event(details: ErrorDetails, payload: Mapping[str, Any]) -> int:
    """The status an in-stream error stands for (it arrives after a 200)."""
    error = payload.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    words = f"{details.error_type or ''} {details.error_code or ''}".lower()
    if "rate_limit" in words:
        return 429
    if "invalid_request" in words or "context_length" in words:
        return 400
    return 500


def error_from_event(
    backend: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str] | httpx.Headers | None = None,
) -> BackendError:
    """The claudette error for an error that arrived inside a 200 reply (a stream event).

    The status used for classification is the error's integer ``code`` when it has one,
    429 for a rate-limit type, 400 for an invalid request, else 500 (retryable).
    """
    headers = headers if headers is not None else {}
    details = _details_of_mapping(payload)
    status = _status_of_event(details, payload)
    message = f"error after HTTP 200: {details.message or 'no message'}"
    return error_from_status(
        backend,
        status,
        message,
        headers=headers,
        error_type=details.error_type,
        error_code=details.error_code,
        request_id=headers.get(REQUEST_ID_HEADER) or details.request_id,
    )

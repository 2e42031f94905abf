"""The one place where Ollama failures become claudette errors.

=====================================  ==========================================================
What happened                          claudette error
=====================================  ==========================================================
404 ``{"error": "model ... not found"}``  ``InvalidRequestError`` (not retryable), hint: ``ollama pull``
400 / other 4xx                        ``InvalidRequestError`` (not retryable)
429                                    ``RateLimitError`` (retryable, honours ``retry-after``)
500, 502, 503 ...                      ``BackendUnavailableError`` (retryable)
non-JSON or truncated error body       same class by status; the message quotes the body start
``{"error": ...}`` line after a 200    ``BackendUnavailableError`` (retryable), or
                                       ``InvalidRequestError`` when the model is not found
connection refused                     ``BackendUnavailableError``: "is Ollama running?"
timeouts, resets                       ``BackendTimeoutError`` / ``BackendUnavailableError``
=====================================  ==========================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx
from claudette import BackendError, BackendUnavailableError, InvalidRequestError
from claudette.http import error_from_exception, error_from_status, mask_url

__all__ = ["translate_error"]

_SNIPPET = 160


def _snippet(body: bytes | str) -> str:
    start = body[: _SNIPPET * 4]  # stripped below: enough to fill the snippet
    text = start.decode("utf-8", "replace") if isinstance(start, bytes) else start
    text = text.strip()
    return text[:_SNIPPET] + ("..." if len(body.strip()) > _SNIPPET else "")


def _error_text(body: bytes | str) -> str | None:
    """The ``error`` of an Ollama error body, or None when the body is not one."""
    try:
        data: Any = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        return None
    if not isinstance(data, Mapping):
        return None
    error = data.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return str(error["message"])  # the OpenAI shape, from a proxy in front of Ollama
    return None


def _is_model_missing(message: str) -> bool:
    lowered = message.lower()
    return "not found" in lowered and "model" in lowered


_MODEL_IN_MESSAGE = re.compile(r"""model ['"]([^'"]+)['"]""")


def _pull_hint(message: str, model: str | None) -> str:
    named = _MODEL_IN_MESSAGE.search(message)
    name = named.group(1) if named else (model or "MODEL")
    return f"{message} (the model is not on the server: run `ollama pull {name}` there)"


def translate_error(
    backend: str,
    *,
    base_url: str,
    model: str | None,
    status: int | None = None,
    body: bytes | str | None = None,
    headers: httpx.Headers | Mapping[str, str] | None = None,
    exc: BaseException | None = None,
) -> BackendError:
    """The claudette error for one Ollama failure; exactly one of its sources is given.

    :param backend: the backend's name.
    :param base_url: the server's base URL, named in connection errors.
    :param model: the model asked for, named in the ``ollama pull`` hint.
    :param status: the HTTP status of an error response (with ``body`` and ``headers``).
    :param body: the error response's body; without ``status``, the message of an
        ``{"error": ...}`` line received in a stream after a 200.
    :param headers: the error response's headers (``retry-after``).
    :param exc: a transport exception (refused, reset, timeout) instead of a response.
    """
    if exc is not None:
        error = error_from_exception(backend, exc)
        if isinstance(exc, httpx.ConnectError) and not isinstance(exc, httpx.TimeoutException):
            return BackendUnavailableError(
                f"cannot connect to Ollama at {mask_url(base_url)}: is Ollama running "
                f"(`ollama serve`) and is base_url / $OLLAMA_HOST right? ({exc})",
                backend,
                True,
            )
        return error
    if status is None:
        message = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        message = message or "unknown error"
        if _is_model_missing(message):
            return InvalidRequestError(
                _pull_hint(message, model), backend, False, error_type="model_not_found"
            )
        return BackendUnavailableError(
            f"Ollama reported an error after a 200 response: {message}",
            backend,
            True,
            error_type="stream_error",
        )
    raw = body if body is not None else b""
    text = _error_text(raw)
    error_type: str | None = None
    if text is None:
        shown = _snippet(raw)
        text = (
            f"HTTP {status} with a non-JSON body: {shown!r}"
            if shown
            else f"HTTP {status} with an empty body"
        )
        if status == 404:
            text += f" (is {mask_url(base_url)} an Ollama server, without a /v1 suffix?)"
    elif 400 <= status < 500 and _is_model_missing(text):
        text = _pull_hint(text, model)
        error_type = "model_not_found"
    return error_from_status(backend, status, text, headers=headers, error_type=error_type)

"""The {{ cookiecutter.provider_name }} backend: OpenAI-compatible Chat Completions over HTTP.

- ``send``: ``POST {base_url}/chat/completions`` with JSON, answer in ``choices[0].message``.
- ``stream``: the same with ``"stream": true``; Server-Sent Events ``data: {chunk}`` with
  ``choices[0].delta.content``, a last chunk with ``usage``, then ``data: [DONE]``.
- ``health_check``: ``GET {base_url}/models`` (free).

Every failure is translated into claudette's error family in one place,
:meth:`{{ cookiecutter.class_name }}._error_for`, with the helpers of :mod:`claudette.http`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

import httpx
from claudette import BackendError, BaseBackend, ClaudetteRequest, ClaudetteResponse, StreamChunk
from claudette.errors import ResponseFormatError
from claudette.http import drain, error_from_exception, error_from_status, iter_sse, parse_json

__all__ = ["{{ cookiecutter.class_name }}"]

COMPLETIONS_PATH = "chat/completions"
MODELS_PATH = "models"


class {{ cookiecutter.class_name }}(BaseBackend):
    """A backend for {{ cookiecutter.provider_name }}'s OpenAI-compatible API.

    :param name: the backend's name in the router.
    :param settings: its settings, merged with the plugin's defaults.
    :param client: an ``httpx.AsyncClient`` to use instead of the backend's own.
    """

    requires_api_key: ClassVar[bool] = {{ "True" if cookiecutter.backend_type == "cloud" else "False" }}
    requires_base_url: ClassVar[bool] = True

    # -- the request ------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.settings.api_key:
            headers["authorization"] = f"Bearer {self.settings.api_key}"
        return headers

    def _payload(self, request: ClaudetteRequest, *, stream: bool) -> dict[str, Any]:
        options = request.options
        payload: dict[str, Any] = {
            "model": options.model or self.settings.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.all_messages],
        }
        max_tokens = options.max_tokens or self.settings.max_tokens
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        temperature = options.temperature if options.temperature is not None else self.settings.temperature
        if temperature is not None:
            payload["temperature"] = temperature
        if options.stop:
            payload["stop"] = list(options.stop)
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    # -- error translation: the one place ---------------------------------------------------

    def _error_for(self, response: httpx.Response) -> BackendError:
        """The claudette error for an HTTP error response (body already read)."""
        message, error_type, error_code = _error_facts(response)
        return error_from_status(
            self.name,
            response.status_code,
            message,
            headers=response.headers,
            error_type=error_type,
            error_code=error_code,
            request_id=response.headers.get("x-request-id"),
        )

    # -- the provider protocol ----------------------------------------------------------------

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Send ``request`` and return the whole answer, or raise a ``BackendError``."""
        started = time.perf_counter()
        try:
            response = await self.client.post(
                self.url_for(COMPLETIONS_PATH), json=self._payload(request, stream=False), headers=self._headers()
            )
            if response.status_code >= 400:
                raise self._error_for(response)
            data = parse_json(self.name, response.content, status=response.status_code)
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
            latency_ms = (time.perf_counter() - started) * 1000.0
            return self.create_success_response(
                content,
                usage.get("prompt_tokens"),
                usage.get("completion_tokens"),
                latency_ms,
                _metadata(data, response.headers),
                model=data.get("model"),
                finish_reason=choice.get("finish_reason"),
                request=request,
            )
        except BackendError:
            raise
        except Exception as exc:
            raise error_from_exception(self.name, exc) from exc

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer as it is generated; the last chunk carries the whole response."""
        started = time.perf_counter()
        parts: list[str] = []
        usage: Mapping[str, Any] = {}
        facts: dict[str, Any] = {}
        finish_reason: str | None = None
        done = False
        try:
            async with self.client.stream(
                "POST",
                self.url_for(COMPLETIONS_PATH),
                json=self._payload(request, stream=True),
                headers=self._headers(),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error_for(response)
                # aclosing() closes the event parser at once if the loop stops early.
                async with aclosing(iter_sse(response.aiter_lines())) as events:
                    async for event in events:
                        if event.data.strip() == "[DONE]":
                            done = True
                            # Read what is left of the body (given up after a second on a
                            # server that holds it open): the connection goes back to the pool.
                            await drain(events)
                            break
                        chunk = parse_json(self.name, event.data)
                        if "error" in chunk:
                            raise self._stream_error(chunk["error"])
                        facts.setdefault("id", chunk.get("id"))
                        facts.setdefault("model", chunk.get("model"))
                        usage = chunk.get("usage") or usage
                        for choice in chunk.get("choices") or ():
                            text = (choice.get("delta") or {}).get("content") or ""
                            finish_reason = choice.get("finish_reason") or finish_reason
                            if text:
                                parts.append(text)
                                yield StreamChunk(text, self.name)
                metadata = _metadata(facts, response.headers)
        except BackendError:
            raise
        except Exception as exc:
            raise error_from_exception(self.name, exc) from exc
        if not done:
            raise ResponseFormatError("the stream ended without its [DONE] event", self.name, True)
        final = self.create_success_response(
            "".join(parts),
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            (time.perf_counter() - started) * 1000.0,
            metadata,
            model=facts.get("model"),
            finish_reason=finish_reason,
            request=request,
        )
        yield StreamChunk("", self.name, final)

    def _stream_error(self, error: Any) -> BackendError:
        """The claudette error for an ``{"error": ...}`` event inside a 200 stream."""
        error = error if isinstance(error, Mapping) else {"message": str(error)}
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        return error_from_status(
            self.name,
            status,
            str(error.get("message") or "error event in stream"),
            error_type=error.get("type"),
            error_code=code if isinstance(code, str) else None,
        )

    async def health_check(self) -> bool:
        """True when ``GET /models`` answers 200 (listing models costs nothing)."""
        try:
            response = await self.client.get(self.url_for(MODELS_PATH), headers=self._headers())
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _error_facts(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(message, type, code) from an OpenAI-style error body, tolerating other shapes."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:500] or f"HTTP {response.status_code}"), None, None
    error = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(error, Mapping):
        code = error.get("code")
        return (
            str(error.get("message") or f"HTTP {response.status_code}"),
            error.get("type") if isinstance(error.get("type"), str) else None,
            code if isinstance(code, str) else None,
        )
    return str(error), None, None


def _metadata(data: Mapping[str, Any], headers: httpx.Headers) -> dict[str, Any]:
    """Response metadata: the provider's completion id and request id, when given."""
    metadata: dict[str, Any] = {}
    if data.get("id"):
        metadata["id"] = data["id"]
    request_id = headers.get("x-request-id")
    if request_id:
        metadata["request_id"] = request_id
    return metadata

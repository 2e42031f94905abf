"""The {{ cookiecutter.provider_name }} backend: a custom JSON-over-HTTP protocol.

A working starting point: adapt the paths, field names and error shape marked ``ADAPT``
to the provider's documentation. As generated it speaks this protocol:

- ``send``: ``POST {base_url}/generate`` with ``{"model", "messages", "max_tokens",
  "temperature", "stop", "stream": false}``; the answer is ``{"output", "model",
  "finish_reason", "usage": {"input_tokens", "output_tokens"}}``.
- ``stream``: the same with ``"stream": true``; newline-delimited JSON, ``{"delta": text}``
  per piece, then ``{"done": true, "finish_reason", "usage": {...}}``.
- errors: any status >= 400 with ``{"error": {"message", "type"}}``.
- ``health_check``: ``GET {base_url}/health`` answers 200.

Every failure is translated into claudette's error family in one place,
:meth:`{{ cookiecutter.class_name }}._error_for`, with the helpers of :mod:`claudette.http`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar

import httpx
from claudette import (
    BackendError,
    BaseBackend,
    ClaudetteRequest,
    ClaudetteResponse,
    StreamChunk,
    TokenPrices,
)
from claudette.deadlines import CallDeadline, StreamClock
from claudette.errors import ResponseFormatError, StreamInterruptedError
from claudette.http import drain, error_from_exception, error_from_status, iter_ndjson, parse_json

__all__ = ["{{ cookiecutter.class_name }}"]

GENERATE_PATH = "generate"  # ADAPT: the provider's completion endpoint
HEALTH_PATH = "health"  # ADAPT: a free endpoint that answers 200 when the service is up


class {{ cookiecutter.class_name }}(BaseBackend):
    """A backend for {{ cookiecutter.provider_name }}'s HTTP API.

    :param name: the backend's name in the router.
    :param settings: its settings, merged with the plugin's defaults.
    :param client: an ``httpx.AsyncClient`` to use instead of the backend's own.
    """

    requires_api_key: ClassVar[bool] = {{ "True" if cookiecutter.backend_type == "cloud" else "False" }}
    requires_base_url: ClassVar[bool] = True

    def default_prices(self) -> TokenPrices | None:
{%- if cookiecutter.backend_type == "cloud" %}
        """The provider's list prices in EUR per token, used when the config sets none."""
        return TokenPrices(0.000001, 0.000004, source="plugin default")
{%- else %}
        """Free: a server of your own charges no per-token fee (a configured price wins)."""
        return TokenPrices.free()
{%- endif %}

    # -- the request ------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.settings.api_key:
            headers["authorization"] = f"Bearer {self.settings.api_key}"  # ADAPT: auth header
        return headers

    def _payload(self, request: ClaudetteRequest, *, stream: bool) -> dict[str, Any]:
        # ADAPT: this protocol carries text only (no `default_capabilities`): a request with
        # tools, images or a JSON schema is refused here, before any network call, and the
        # router never sends it one. Translate them here when your provider has them.
        if request.required_capabilities:
            self.check_capabilities(request)
        options = request.options
        payload: dict[str, Any] = {
            "model": options.model or self.settings.model,
            "messages": [{"role": m.role, "content": m.text} for m in request.all_messages],
            "stream": stream,
        }
        max_tokens = options.max_tokens or self.settings.max_tokens
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        temperature = options.temperature if options.temperature is not None else self.settings.temperature
        if temperature is not None:
            payload["temperature"] = temperature
        if options.stop:
            payload["stop"] = list(options.stop)
        return payload

    # -- error translation: the one place ---------------------------------------------------

    def _error_for(self, response: httpx.Response) -> BackendError:
        """The claudette error for an HTTP error response (body already read)."""
        message, error_type = _error_facts(response)
        return error_from_status(
            self.name,
            response.status_code,
            message,
            headers=response.headers,
            error_type=error_type,
            request_id=response.headers.get("x-request-id"),
        )

    # -- the provider protocol ----------------------------------------------------------------

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Send ``request`` and return the whole answer, or raise a ``BackendError``."""
        started = time.perf_counter()
        try:
            # The whole call, body included, within the backend's timeout.
            async with CallDeadline(self.name, self.settings.timeout):
                response = await self.client.post(
                    self.url_for(GENERATE_PATH), json=self._payload(request, stream=False), headers=self._headers()
                )
            if response.status_code >= 400:
                raise self._error_for(response)
            data = parse_json(self.name, response.content, status=response.status_code)
            content = data["output"]
            if not isinstance(content, str):
                raise ResponseFormatError("the answer's output is not text", self.name, True)
            usage = data.get("usage") or {}
            return self.create_success_response(
                content,
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                (time.perf_counter() - started) * 1000.0,
                _metadata(response.headers),
                model=data.get("model"),
                finish_reason=data.get("finish_reason"),
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
        last: Mapping[str, Any] | None = None
        try:
            async with self.client.stream(
                "POST",
                self.url_for(GENERATE_PATH),
                json=self._payload(request, stream=True),
                headers=self._headers(),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error_for(response)
                # The clock bounds the wait for each event (blank lines are not events);
                # aclosing() closes the line parser at once if the loop stops early.
                clock = StreamClock(self.name, self.settings)
                async with aclosing(iter_ndjson(self.name, response.aiter_lines())) as events:
                    while (event := await clock.wait(anext(events, None))) is not None:
                        clock.progressed()
                        if not isinstance(event, Mapping):
                            raise ResponseFormatError("a stream event is not an object", self.name, True)
                        if "error" in event:
                            error = event["error"] if isinstance(event["error"], Mapping) else {}
                            raise error_from_status(
                                self.name,
                                500,
                                str(error.get("message") or event["error"]),
                                error_type=error.get("type"),
                            )
                        if event.get("done"):
                            last = event
                            # Read what is left of the body (given up after a second on a
                            # server that holds it open): the connection goes back to the pool.
                            await drain(events)
                            break
                        text = event.get("delta") or ""
                        if text:
                            parts.append(text)
                            yield StreamChunk(text, self.name)
                metadata = _metadata(response.headers)
        except BackendError:
            raise
        except Exception as exc:
            raise error_from_exception(self.name, exc) from exc
        if last is None:
            raise ResponseFormatError("the stream ended without its done event", self.name, True)
        if not parts and not last.get("finish_reason"):
            raise StreamInterruptedError("the stream ended with no text and no finish reason", self.name, True)
        usage = last.get("usage") or {}
        final = self.create_success_response(
            "".join(parts),
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            (time.perf_counter() - started) * 1000.0,
            metadata,
            model=last.get("model"),
            finish_reason=last.get("finish_reason"),
            request=request,
        )
        yield StreamChunk("", self.name, final)

    async def health_check(self) -> bool:
        """True when the provider's health endpoint answers 200."""
        try:
            response = await self.client.get(self.url_for(HEALTH_PATH), headers=self._headers())
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _error_facts(response: httpx.Response) -> tuple[str, str | None]:
    """(message, type) from the provider's error body, tolerating other shapes."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:500] or f"HTTP {response.status_code}"), None
    error = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(error, Mapping):
        kind = error.get("type")
        return (
            str(error.get("message") or f"HTTP {response.status_code}"),
            kind if isinstance(kind, str) else None,
        )
    return str(error), None


def _metadata(headers: httpx.Headers) -> dict[str, Any]:
    """Response metadata: the provider's request id, when given."""
    request_id = headers.get("x-request-id")
    return {"request_id": request_id} if request_id else {}

""":class:`ClaudeBackend`: claudette's backend for the Anthropic Messages API."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, ClassVar, cast
from urllib.parse import quote

import httpx
from claudette.backend import BaseBackend
from claudette.deadlines import CallDeadline, StreamClock
from claudette.errors import (
    ConfigProblem,
    InvalidRequestError,
    ResponseFormatError,
    StreamInterruptedError,
)
from claudette.http import SSEDecoder, SSEEvent, drain, mask_url, parse_json
from claudette.ratelimit import rate_limits_from_headers
from claudette.types import BackendSettings, ClaudetteRequest, ClaudetteResponse, StreamChunk

from claudette_backend_claude._errors import translate_error, translate_exception
from claudette_backend_claude._protocol import (
    ANTHROPIC_VERSION,
    BODY_EXTRAS,
    DEFAULT_BASE_URL,
    ParsedMessage,
    ProtocolError,
    build_body,
    cache_tokens,
    normalise_stop_reason,
    parse_message,
    usage_metadata,
)
from claudette_backend_claude._stream import StreamState
from claudette_backend_claude._tools import STRUCTURED_TOOL

__all__ = ["BASE_URL_ENV", "DEFAULT_SETTINGS", "ClaudeBackend"]

#: Environment variable that overrides the API base URL when ``base_url`` is unset.
BASE_URL_ENV = "ANTHROPIC_BASE_URL"

#: The plugin's defaults. No prices: the configured ones apply, else the price table's
#: list prices of the model (``claudette-core[prices]``), else the price is unknown.
DEFAULT_SETTINGS = BackendSettings(
    model="claude-sonnet-4-5",
    api_key_env="ANTHROPIC_API_KEY",
    backend_type="cloud",
)

#: ``settings.extra`` keys this backend understands.
EXTRA_KEYS = frozenset({"anthropic_version", "anthropic_beta", *BODY_EXTRAS})


def _resolve_base_url(settings: BackendSettings) -> str:
    base = settings.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    base = base.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base


class ClaudeBackend(BaseBackend):
    """A backend that talks to Anthropic's Messages API (``POST /v1/messages``).

    Settings left unset take :data:`DEFAULT_SETTINGS`; the base URL is ``base_url``, else
    ``$ANTHROPIC_BASE_URL``, else ``https://api.anthropic.com`` (a trailing ``/v1`` is
    accepted). ``extra`` may hold ``anthropic_version``, ``anthropic_beta``, ``top_k`` and
    ``top_p``.
    """

    requires_api_key: ClassVar[bool] = True
    #: The Messages API carries tools, images and (through a forced tool) JSON-schema output.
    default_capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "images", "json_schema"})

    def __init__(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        merged = (settings or BackendSettings()).with_defaults(DEFAULT_SETTINGS)
        super().__init__(name, merged, client=client)
        #: The API root the ``/v1/...`` paths are appended to.
        self.base_url = _resolve_base_url(self.settings)

    def price_table_provider(self) -> str | None:
        """Claude models are looked up in the price table as ``anthropic``'s."""
        return "anthropic"

    # -- HTTP details -------------------------------------------------------------------

    def _url(self, path: str) -> httpx.URL:
        return self.url_for(f"{self.base_url}{path}")

    def _headers(self) -> dict[str, str]:
        extra = self.settings.extra
        headers = {
            "anthropic-version": str(extra.get("anthropic_version") or ANTHROPIC_VERSION),
            "content-type": "application/json",
            "accept": "application/json",
        }
        beta = extra.get("anthropic_beta")
        if beta:
            headers["anthropic-beta"] = ",".join(beta) if isinstance(beta, (list, tuple)) else str(beta)
        if self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        return headers

    def _body(self, request: ClaudetteRequest, *, stream: bool) -> dict[str, Any]:
        if request.required_capabilities:
            self.check_capabilities(request)
        try:
            body = build_body(request, self.settings, stream=stream)
        except ValueError as exc:
            raise InvalidRequestError(str(exc), self.name, False) from None
        if not body["messages"]:
            raise InvalidRequestError(
                "the Messages API needs at least one user or assistant message "
                "(system messages alone are not enough)",
                self.name,
                False,
            )
        return body

    def _response(
        self,
        parsed: ParsedMessage,
        latency_ms: float,
        request: ClaudetteRequest,
        request_id: str | None,
        *,
        streamed: bool,
    ) -> ClaudetteResponse:
        metadata: dict[str, Any] = {
            "stop_reason": parsed.stop_reason,
            "stop_sequence": parsed.stop_sequence,
            "message_id": parsed.message_id,
            "request_id": request_id,
            **usage_metadata(parsed.usage),
        }
        if parsed.skipped_blocks:
            metadata["skipped_blocks"] = list(parsed.skipped_blocks)
        if streamed:
            metadata["streamed"] = True
        finish = normalise_stop_reason(parsed.stop_reason)
        if finish == "tool_calls" and not parsed.tool_calls:
            finish = "stop"  # the forced structured-output tool: its input is the answer
        # Anthropic counts cache reads and writes apart from input_tokens; claudette's
        # tokens_input is every prompt token, those included.
        cache_read, cache_write = cache_tokens(parsed.usage)
        tokens_input = parsed.input_tokens
        if tokens_input is not None:
            tokens_input += cache_read + cache_write
        return self.create_success_response(
            parsed.text,
            tokens_input,
            parsed.output_tokens,
            latency_ms,
            {k: v for k, v in metadata.items() if v is not None},
            model=parsed.model,
            finish_reason=finish,
            request=request,
            tool_calls=parsed.tool_calls,
            tokens_cached_input=cache_read,
            tokens_cache_write=cache_write,
        )

    # -- the provider protocol ------------------------------------------------------------

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Send ``request`` as one Messages API call and return the whole answer.

        :raises BackendError: the subclass that fits the failure (see the module docs).
        """
        body = self._body(request, stream=False)
        started = time.perf_counter()
        request_id: str | None = None
        try:
            async with CallDeadline(self.name, self.settings.timeout), self.client.stream(
                "POST", self._url("/v1/messages"), json=body, headers=self._headers()
            ) as response:
                # Headers first, so that a body cut off half-way still names its request id.
                request_id = response.headers.get("request-id")
                raw = await response.aread()  # within the deadline, a dripping body too
            if response.status_code != 200:
                raise translate_error(self.name, response.status_code, raw, response.headers)
            self.stats.update_rate_limits(**rate_limits_from_headers(response.headers))
            parsed = parse_message(
                parse_json(self.name, raw, status=response.status_code), _structured(request)
            )
        except Exception as exc:
            error = translate_exception(self.name, exc, request_id=request_id)
            if error is exc:
                raise
            raise error from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        return self._response(parsed, latency_ms, request, request_id, streamed=False)

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        """Stream the answer: one chunk per text delta, then a final chunk with the response.

        ``ping`` and unknown events are ignored (a ``ping`` does not count as progress on
        the stream's :class:`~claudette.deadlines.StreamClock`); an ``error`` event raises
        the matching error; a stream that ends without ``message_stop`` raises
        ``ResponseFormatError``, one that stops with no text and no stop reason
        ``StreamInterruptedError``. After ``message_stop`` the answer is complete, whatever
        the connection does next.
        """
        body = self._body(request, stream=True)
        started = time.perf_counter()
        request_id: str | None = None
        try:
            async with self.client.stream(
                "POST",
                self._url("/v1/messages"),
                json=body,
                headers={**self._headers(), "accept": "text/event-stream"},
            ) as response:
                request_id = response.headers.get("request-id")
                if response.status_code != 200:
                    raw = await response.aread()
                    raise translate_error(self.name, response.status_code, raw, response.headers)
                self.stats.update_rate_limits(**rate_limits_from_headers(response.headers))
                ctype = response.headers.get("content-type", "")
                if "text/event-stream" not in ctype:
                    if "json" not in ctype:
                        raise ResponseFormatError(
                            f"expected an event stream, got content type {ctype or 'none'!r}",
                            self.name,
                            True,
                            200,
                            request_id=request_id,
                        )
                    # A server that ignored "stream": answer with the whole message.
                    parsed = parse_message(
                        parse_json(self.name, await response.aread(), status=200),
                        _structured(request),
                    )
                    final = self._response(
                        parsed, (time.perf_counter() - started) * 1000.0, request, request_id,
                        streamed=True,
                    )
                    yield StreamChunk(final.content, self.name, final)
                    return
                state = StreamState(_structured(request))
                decoder = SSEDecoder(self.name)
                clock = StreamClock(self.name, self.settings)
                on_event = self._on_event
                headers = response.headers
                # The body is read as bytes, decoded (strict UTF-8) and split into events by
                # the decoder (no step per line); aclosing() closes the byte iterator if the
                # loop stops early.
                async with aclosing(cast("AsyncGenerator[bytes, None]", response.aiter_bytes())) as texts:
                    while (events := await clock.wait(decoder.read(texts))) is not None:
                        for event in events:
                            if event.event != "ping":
                                clock.progressed()
                            text = on_event(state, event, headers)
                            if state.pending:
                                yield StreamChunk(text, self.name, None, state.take_pending())
                            elif text:
                                yield StreamChunk(text, self.name)
                            if state.stopped:
                                break
                        if state.stopped:
                            await drain(texts)  # the end of the body: the connection is reused
                            break
                if not state.stopped:
                    raise ResponseFormatError(
                        "the event stream ended without message_stop", self.name, True, 200,
                        request_id=request_id,
                    )
                if not state.parts and state.stop_reason is None:
                    raise StreamInterruptedError(
                        "the event stream stopped with no text and no stop reason",
                        self.name,
                        True,
                        200,
                        request_id=request_id,
                    )
                latency_ms = (time.perf_counter() - started) * 1000.0
                final = self._response(state.message(), latency_ms, request, request_id, streamed=True)
            yield StreamChunk("", self.name, final)
        except Exception as exc:
            error = translate_exception(self.name, exc, request_id=request_id)
            if error is exc:
                raise
            raise error from exc

    def _on_event(
        self, state: StreamState, event: SSEEvent, headers: httpx.Headers
    ) -> str:
        """Fold one event into ``state``; the text it adds. ``error`` events raise."""
        name = event.event
        if name not in StreamState.HANDLED:
            return ""
        payload = parse_json(self.name, event.data, status=200)
        if name == "error":
            raise translate_error(self.name, None, _as_mapping(payload), headers)
        return state.feed(name, payload)

    async def health_check(self) -> bool:
        """``GET /v1/models/{model}`` (free): True on HTTP 200, False on anything else.

        The API answers 404 for a model it does not know (ids and aliases are both
        accepted) and 401/403 for a refused key: both mark the backend misconfigured
        (:meth:`~claudette.backend.BaseBackend.mark_misconfigured`). Without a configured
        model it lists ``/v1/models``. Never raises.
        """
        model = self.settings.model
        try:
            if model:
                response = await self.client.get(self._url(f"/v1/models/{quote(model, safe='')}"), headers=self._headers())
            else:
                response = await self.client.get(
                    self._url("/v1/models"), params={"limit": 1}, headers=self._headers()
                )
        except Exception:
            return False
        status = response.status_code
        if status in (401, 403):
            self.mark_misconfigured(f"the API refused the key (HTTP {status} reading the model)")
        elif status == 404 and model:
            self.mark_misconfigured(f"model {model!r} is not known to the API (HTTP 404)")
        return status == 200

    # -- configuration --------------------------------------------------------------------------

    def config_problems(self) -> list[ConfigProblem]:
        """The base checks plus: a usable base URL and only known ``extra`` keys."""
        problems = super().config_problems()
        where = f"backends.{self.name}"
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(
                ConfigProblem(
                    f"{where}.base_url",
                    f"${BASE_URL_ENV} must be an http:// or https:// URL",
                )
            )
        elif "@" in self.base_url.partition("://")[2].split("/", 1)[0]:
            problems.append(
                ConfigProblem(
                    f"{where}.base_url",
                    f"${BASE_URL_ENV} must not carry a user name or password "
                    f"({mask_url(self.base_url)}): the key goes in api_key",
                )
            )
        for key in sorted(set(self.settings.extra) - EXTRA_KEYS):
            problems.append(
                ConfigProblem(
                    f"{where}.extra.{key}",
                    f"unknown option; the claude backend understands {sorted(EXTRA_KEYS)}",
                )
            )
        return problems


def _structured(request: ClaudetteRequest) -> str | None:
    """The structured-output tool's name when the request asks for a response format."""
    return STRUCTURED_TOOL if request.response_format is not None else None


def _as_mapping(payload: object) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    raise ProtocolError(f"an error event carried {type(payload).__name__}, not an object")

"""A minimal OpenAI-format backend, used only when ``claudette_backend_openai`` is absent.

It is a stand-in so that the harness runs before the real plugin lands; the report says
which one was measured. It is registered as plugin ``openai`` like the real one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from claudette import (
    BackendSettings,
    BaseBackend,
    ClaudetteRequest,
    ClaudetteResponse,
    StreamChunk,
    hookimpl,
)
from claudette.http import error_from_exception, error_from_status, iter_sse

__all__ = ["MinimalOpenAIBackend", "claudette_register_backends"]


class MinimalOpenAIBackend(BaseBackend):
    """``POST {base_url}/chat/completions``, JSON or SSE."""

    requires_base_url = True

    def _payload(self, request: ClaudetteRequest, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.options.model or self.settings.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.all_messages],
        }
        if request.options.max_tokens:
            payload["max_tokens"] = request.options.max_tokens
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.settings.api_key}"}

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """One non-streamed completion."""
        started = time.perf_counter()
        try:
            r = await self.client.post(
                "/chat/completions", json=self._payload(request, False), headers=self._headers()
            )
        except Exception as exc:
            raise error_from_exception(self.name, exc) from exc
        if r.status_code != 200:
            raise error_from_status(self.name, r.status_code, r.text[:200], headers=r.headers)
        data = json.loads(r.content)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return self.create_success_response(
            choice["message"].get("content") or "",
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            (time.perf_counter() - started) * 1000.0,
            model=data.get("model"),
            finish_reason=choice.get("finish_reason"),
            request=request,
        )

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        """A streamed completion; the last chunk carries usage."""
        started = time.perf_counter()
        parts: list[str] = []
        usage: dict[str, Any] = {}
        finish: str | None = None
        model: str | None = None
        async with self.client.stream(
            "POST", "/chat/completions", json=self._payload(request, True), headers=self._headers()
        ) as r:
            if r.status_code != 200:
                await r.aread()
                raise error_from_status(self.name, r.status_code, r.text[:200], headers=r.headers)
            async for event in iter_sse(r.aiter_lines()):
                if event.data == "[DONE]":
                    break
                data = json.loads(event.data)
                model = data.get("model") or model
                if data.get("usage"):
                    usage = data["usage"]
                for choice in data.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if text:
                        parts.append(text)
                        yield StreamChunk(text, self.name)
        yield StreamChunk(
            "",
            self.name,
            self.create_success_response(
                "".join(parts),
                usage.get("prompt_tokens"),
                usage.get("completion_tokens"),
                (time.perf_counter() - started) * 1000.0,
                model=model,
                finish_reason=finish,
                request=request,
            ),
        )


@hookimpl
def claudette_register_backends(registry: Any) -> None:
    """Register the stand-in as ``openai``."""
    registry.register(
        "openai",
        MinimalOpenAIBackend,
        defaults=BackendSettings(model="gpt-4o-mini", base_url="https://api.openai.com/v1"),
    )

"""The three clients compared, each sending the same chat request and reading the whole answer.

- ``raw``: a bare ``httpx.AsyncClient`` with httpx's default pool, the request an
  application would write by hand: the floor claudette's added time is measured from.
- ``claudette``: :class:`claudette.BackendRouter` with the ``openai`` plugin's backend, built
  with its default client (``BaseBackend.build_client``).
- ``litellm``: ``litellm.Router`` with the same single deployment.

Each parses the JSON answer (or every SSE event), so a difference between two of them is
the client's own work.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

PROMPT = "Say hello in two words."
MODEL = "gpt-4o-mini"
API_KEY = "sk-bench"


class Contender(Protocol):
    """What the measurements drive."""

    name: str

    async def send(self) -> str:
        """One non-streamed request; the answer's text."""

    async def stream(self) -> tuple[float, float]:
        """One streamed request; ``perf_counter()`` at the first text chunk and at the end."""

    async def aclose(self) -> None:
        """Release the connections."""


def _payload(stream: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        payload.update(stream=True, stream_options={"include_usage": True})
    return payload


class Raw:
    """The same HTTP call with nothing around it."""

    name = "raw"

    def __init__(self, base_url: str) -> None:
        import httpx

        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        self.headers = {"authorization": f"Bearer {API_KEY}"}
        # Parsed once: the leanest way to name the endpoint, so the floor is the best a
        # hand-written call does.
        self.url = httpx.URL(base_url.rstrip("/") + "/chat/completions")

    async def send(self) -> str:
        r = await self.client.post(self.url, json=_payload(False), headers=self.headers)
        r.raise_for_status()
        return str(json.loads(r.content)["choices"][0]["message"]["content"])

    async def stream(self) -> tuple[float, float]:
        first = 0.0
        async with self.client.stream(
            "POST", self.url, json=_payload(True), headers=self.headers
        ) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                data = line[5:].strip()
                if not line.startswith("data:") or data == "[DONE]":
                    continue  # read to the end: the connection goes back to the pool
                for choice in json.loads(data).get("choices") or ():
                    if (choice.get("delta") or {}).get("content") and not first:
                        first = time.perf_counter()
        return first, time.perf_counter()

    async def aclose(self) -> None:
        await self.client.aclose()


class Claudette:
    """claudette's router with one ``openai`` backend; health checks off."""

    name = "claudette"

    def __init__(self, base_url: str) -> None:
        import claudette_backend_openai.plugin as openai_plugin
        from claudette import (
            BackendRouter,
            BackendSettings,
            ClaudettePlugins,
            ClaudetteRequest,
            RouterOptions,
        )

        self.request = ClaudetteRequest
        pm = ClaudettePlugins(autoload=False, plugins=[openai_plugin])
        self.router = BackendRouter(RouterOptions(health_checks=False), plugins=pm)
        settings = BackendSettings(base_url=base_url, api_key=API_KEY, model=MODEL)
        self.router.register_backend(pm.registry.create("openai", settings))

    async def send(self) -> str:
        return (await self.router.route_request(self.request(prompt=PROMPT))).content

    async def stream(self) -> tuple[float, float]:
        first = 0.0
        async for chunk in self.router.stream(self.request(prompt=PROMPT, stream=True)):
            if chunk.text and not first:
                first = time.perf_counter()
        return first, time.perf_counter()

    async def aclose(self) -> None:
        await self.router.aclose()


class LiteLLM:
    """LiteLLM's Router with the same single deployment."""

    name = "litellm"

    def __init__(self, base_url: str) -> None:
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        params = {"model": f"openai/{MODEL}", "api_base": base_url, "api_key": API_KEY}
        self.router = litellm.Router(model_list=[{"model_name": MODEL, "litellm_params": params}])
        self.messages = [{"role": "user", "content": PROMPT}]

    async def send(self) -> str:
        r = await self.router.acompletion(model=MODEL, messages=self.messages)
        return str(r.choices[0].message.content)

    async def stream(self) -> tuple[float, float]:
        first = 0.0
        options = {"include_usage": True}
        r = await self.router.acompletion(
            model=MODEL, messages=self.messages, stream=True, stream_options=options
        )
        async for chunk in r:
            if chunk.choices and chunk.choices[0].delta.content and not first:
                first = time.perf_counter()
        return first, time.perf_counter()

    async def aclose(self) -> None:
        return None


CONTENDERS: dict[str, Any] = {"raw": Raw, "claudette": Claudette, "litellm": LiteLLM}

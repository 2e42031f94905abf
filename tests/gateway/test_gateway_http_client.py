"""What carries the served backends' HTTP: aiohttp by default, httpx where a backend says so.

The worker's own factory (:func:`app_from_environment`, what uvicorn calls) is driven
in-process, so the test sees which transport each provider call went through.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from _gateway import openai_backend, write_config
from claudette.aiohttp_transport import AiohttpTransport
from claudette.gateway.serve import CONFIG_ENV, app_from_environment
from claudette_backend_openai.testing import OpenAIEmulator

HELLO = [{"role": "user", "content": "Say hello"}]


async def test_served_backends_use_aiohttp_unless_their_table_says_httpx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai_emulator: OpenAIEmulator
) -> None:
    config = write_config(
        tmp_path / "claudette.toml",
        {
            "backends.unset": openai_backend(openai_emulator.base_url),
            "backends.own": openai_backend(openai_emulator.base_url, http_client="httpx"),
        },
    )
    monkeypatch.setenv(CONFIG_ENV, str(config))
    through_aiohttp: list[str] = []
    send = AiohttpTransport.handle_async_request

    async def counted(self: AiohttpTransport, request: httpx.Request) -> httpx.Response:
        through_aiohttp.append(request.url.path)
        return await send(self, request)

    monkeypatch.setattr(AiohttpTransport, "handle_async_request", counted)
    app = app_from_environment()
    assert app.options.http_client == "aiohttp"  # no [server] table: the default
    await app.startup()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client:
            answers = [
                await client.post("/v1/chat/completions", json={"model": name, "messages": HELLO})
                for name in ("unset", "own", "unset")
            ]
    finally:
        await app.shutdown()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["x-claudette-backend"] for a in answers] == ["unset", "own", "unset"]
    assert through_aiohttp == ["/v1/chat/completions"] * 2  # the two calls to "unset" only
    assert len(openai_emulator.requests) == 3

"""Qwen's backend against a real llama.cpp OpenAI-compatible server (``-m llama``).

Starts ``python -m llama_cpp.server`` on ``$CLAUDETTE_TEST_GGUF`` (``nox -s llama`` sets it
to Gemma 3 270M) with ``--chat_format gemma``. Facts this relies on: the server accepts
``max_tokens`` and ``stream_options``, never sends usage in streams (it is estimated), has
no ``/health`` (the check falls back to ``/v1/models``), and answers a bad body with 500.
A forced ``tool_choice`` (a named function) makes the server constrain the output with a
grammar built from the tool's JSON schema and answer a real ``tool_calls`` message.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from claudette import (
    BackendRouter,
    BackendSettings,
    ClaudettePlugins,
    ClaudetteRequest,
    Message,
    RouterOptions,
    Tool,
)
from claudette.errors import BackendUnavailableError

import claudette_backend_qwen.plugin as qwen_plugin
from claudette_backend_qwen import QwenBackend

pytestmark = pytest.mark.llama

GGUF_ENV = "CLAUDETTE_TEST_GGUF"
START_TIMEOUT = 120.0
PROMPT = "Say hello in one short sentence."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"llama.cpp server exited with {process.returncode}:\n{log.read_text()[-2000:]}"
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"llama.cpp server not ready in {START_TIMEOUT:g}s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def llama_base_url() -> Iterator[str]:
    """The ``/v1`` base URL of a llama.cpp server started for this module, stopped after."""
    model = os.environ.get(GGUF_ENV)
    if not model:
        pytest.skip(f"{GGUF_ENV} is not set: point it at a GGUF model file (nox -s llama does)")
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "llama-server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    model,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--chat_format",
                    "gemma",
                    "--n_ctx",
                    "2048",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                base_url = f"http://127.0.0.1:{port}/v1"
                _wait_ready(base_url, process, log)
                yield base_url
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=15)


def _settings(base_url: str, **extra: object) -> BackendSettings:
    return BackendSettings(
        base_url=base_url, max_tokens=16, timeout=60.0, verify_tls=False, **extra
    )  # type: ignore[arg-type]


async def test_send_returns_real_text_and_usage(llama_base_url: str) -> None:
    backend = QwenBackend("qwen", _settings(llama_base_url))
    try:
        response = await backend.send(ClaudetteRequest(prompt=PROMPT))
    finally:
        await backend.aclose()
    assert response.content.strip()
    assert response.tokens_input > 0 and response.tokens_output > 0
    assert response.finish_reason in ("stop", "length")
    assert "usage_estimated" not in response.metadata
    assert response.cost_eur == 0.0


async def test_stream_yields_text_and_an_estimated_final_usage(llama_base_url: str) -> None:
    backend = QwenBackend("qwen", _settings(llama_base_url))
    try:
        chunks = [c async for c in backend.stream(ClaudetteRequest(prompt=PROMPT))]
    finally:
        await backend.aclose()
    final = chunks[-1].response
    assert final is not None
    assert any(c.text for c in chunks[:-1])
    assert final.content == "".join(c.text for c in chunks)
    assert final.tokens_input > 0 and final.tokens_output > 0
    assert final.finish_reason in ("stop", "length")
    assert final.metadata["usage_estimated"] is True


async def test_health_check_falls_back_to_models(llama_base_url: str) -> None:
    backend = QwenBackend("qwen", _settings(llama_base_url))
    try:
        assert await backend.health_check() is True
    finally:
        await backend.aclose()


async def test_bad_body_is_a_retryable_server_error(llama_base_url: str) -> None:
    backend = QwenBackend("qwen", _settings(llama_base_url, extra={"extra_body": {"n": "many"}}))
    try:
        with pytest.raises(BackendUnavailableError) as info:
            await backend.send(ClaudetteRequest(prompt=PROMPT))
    finally:
        await backend.aclose()
    assert info.value.status_code == 500
    assert info.value.request_id


async def test_router_sends_and_streams_through_qwen(llama_base_url: str) -> None:
    pm = ClaudettePlugins(autoload=False, plugins=[qwen_plugin])
    async with BackendRouter(RouterOptions(health_checks=False), plugins=pm) as router:
        router.register_backend(
            pm.registry.create("qwen", _settings(llama_base_url), instance_name="local-qwen")
        )
        sent = await router.route_request(ClaudetteRequest(prompt=PROMPT))
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt=PROMPT))]
    streamed = chunks[-1].response
    assert sent.backend_used == "local-qwen" and sent.content.strip() and sent.tokens_output > 0
    assert streamed is not None and streamed.content.strip() and streamed.tokens_output > 0
    assert streamed.finish_reason in ("stop", "length")


async def test_first_request_on_a_new_router_streams_the_full_answer(llama_base_url: str) -> None:
    """At the default router options, the first request is a stream.

    llama.cpp's Python server interrupts a running stream when another request reaches it
    (its default), and ends the interrupted stream with ``[DONE]``: a health check that
    raced the first stream would leave it with no text and no finish reason. The router
    must return the whole answer, never an empty success.
    """
    pm = ClaudettePlugins(autoload=False, plugins=[qwen_plugin])
    async with BackendRouter(RouterOptions(), plugins=pm) as router:
        router.register_backend(
            pm.registry.create("qwen", _settings(llama_base_url), instance_name="local-qwen")
        )
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt=PROMPT))]
    final = chunks[-1].response
    assert final is not None
    assert final.content.strip()
    assert final.content == "".join(c.text for c in chunks)
    assert final.finish_reason in ("stop", "length")


WEATHER = Tool(
    "get_weather",
    "The current weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "Rome", "Oslo"]},
            "celsius": {"type": "boolean"},
        },
        "required": ["city", "celsius"],
    },
)


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
async def test_forced_tool_choice_gives_a_grammar_constrained_tool_call(
    llama_base_url: str, stream: bool
) -> None:
    backend = QwenBackend("qwen", _settings(llama_base_url, capabilities=("tools",)))
    request = ClaudetteRequest(
        prompt="What is the weather in Paris?",
        tools=[WEATHER],
        tool_choice={"name": "get_weather"},
        options={"max_tokens": 64},
    )
    try:
        if stream:
            chunks = [c async for c in backend.stream(request)]
            response = chunks[-1].response
            assert response is not None
            assert any(c.tool_call_deltas for c in chunks[:-1])
            assert all(c.text == "" for c in chunks)
        else:
            response = await backend.send(request)
        (call,) = response.tool_calls
        follow_up = ClaudetteRequest(
            messages=[*request.all_messages, response.message, Message("tool", "21C", tool_call_id=call.id)],
            tools=[WEATHER],
            tool_choice="none",
        )
        answer = await backend.send(follow_up)
    finally:
        await backend.aclose()
    assert response.finish_reason == "tool_calls"
    assert call.name == "get_weather" and call.id
    assert call.arguments["city"] in ("Paris", "Rome", "Oslo")
    assert isinstance(call.arguments["celsius"], bool)
    assert answer.tool_calls == ()
    assert answer.content.strip()

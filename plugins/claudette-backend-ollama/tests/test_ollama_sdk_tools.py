"""The official ``ollama`` client parses the emulator's tool calls, sent and streamed."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from claudette_backend_ollama.testing import OllamaEmulator

TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
]
ASK = [{"role": "user", "content": "Use get_weather for Rome"}]


@pytest.fixture(scope="module")
def client() -> Iterator[ollama.Client]:
    with OllamaEmulator() as server:
        yield ollama.Client(host=server.url)


def test_sdk_reads_a_tool_call(client: ollama.Client) -> None:
    reply = client.chat(model="qwen2.5:7b", messages=ASK, tools=TOOLS)
    (call,) = reply.message.tool_calls or []
    assert (call.function.name, dict(call.function.arguments)) == ("get_weather", {"city": "Rome"})


def test_sdk_reads_a_tool_call_that_arrives_whole_in_one_stream_line(client: ollama.Client) -> None:
    parts = list(client.chat(model="qwen2.5:7b", messages=ASK, tools=TOOLS, stream=True))
    with_calls = [p for p in parts if p.message.tool_calls]
    assert len(with_calls) == 1
    assert with_calls[0].message.tool_calls[0].function.arguments == {"city": "Rome"}  # type: ignore[index]
    assert parts[-1].done


def test_sdk_sends_a_tool_result_and_an_image(client: ollama.Client) -> None:
    first = client.chat(model="qwen2.5:7b", messages=ASK, tools=TOOLS)
    second = client.chat(
        model="qwen2.5:7b",
        tools=TOOLS,
        messages=[*ASK, first.message, {"role": "tool", "content": "21C", "tool_name": "get_weather"}],
    )
    assert second.message.content == "Tool results: 21C"
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
    seen = client.chat(model="qwen2.5:7b", messages=[{"role": "user", "content": "What?", "images": [png]}])
    assert (seen.message.content or "").startswith("[1 image] ")

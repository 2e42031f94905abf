"""The official ``openai`` client parses the emulator's tool calls, structured output and images."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from claudette import Tool

from claudette_backend_openai.testing import OpenAIEmulator

WEATHER = Tool(
    "get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}
).to_openai()
ASK = [{"role": "user", "content": "Use get_weather and tell me about Rome"}]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with OpenAIEmulator() as server:
        yield openai.OpenAI(base_url=server.base_url, api_key="sk-sdk", max_retries=0)


def test_sdk_reads_a_tool_call(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=[WEATHER])  # type: ignore[list-item]
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Rome"}  # type: ignore[union-attr]


def test_sdk_assembles_a_streamed_tool_call(client: openai.OpenAI) -> None:
    arguments, names = "", []
    finish = None
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=[WEATHER], stream=True  # type: ignore[list-item]
    ):
        for choice in chunk.choices:
            for piece in choice.delta.tool_calls or []:
                assert piece.index == 0
                if piece.function and piece.function.name:
                    names.append(piece.function.name)
                if piece.function and piece.function.arguments:
                    arguments += piece.function.arguments
            finish = choice.finish_reason or finish
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "Rome"}
    assert finish == "tool_calls"


def test_sdk_sends_a_tool_result_and_reads_the_answer(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=[WEATHER])  # type: ignore[list-item]
    call = (first.choices[0].message.tool_calls or [])[0]
    messages = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "21C"},
    ]
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER])  # type: ignore[arg-type, list-item]
    assert second.choices[0].message.content == "Tool results: 21C"


def test_sdk_reads_structured_output_and_an_image_answer(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "JSON please"}],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"ok": True}
    image = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is it?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            }
        ],
    )
    assert (image.choices[0].message.content or "").startswith("[1 image] ")

"""The official ``anthropic`` client parses the emulator's tool_use blocks, sent and streamed."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from claudette_backend_claude.testing import AnthropicEmulator

TOOLS = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
ASK = [{"role": "user", "content": "Use get_weather for Rome"}]


@pytest.fixture(scope="module")
def client() -> Iterator[anthropic.Anthropic]:
    with AnthropicEmulator() as api:
        # The emulator checks the API key header and version the Messages API documents.
        yield anthropic.Anthropic(
            base_url=api.url,
            api_key=api.api_key,
            max_retries=0,
            default_headers={"x-api-key": api.api_key, "anthropic-version": "2023-06-01"},
        )


def test_sdk_reads_a_tool_use_block(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=ASK, tools=TOOLS)  # type: ignore[arg-type]
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", {"city": "Rome"})


def test_sdk_assembles_a_streamed_tool_use_block(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=ASK, tools=TOOLS) as stream:  # type: ignore[arg-type]
        message = stream.get_final_message()
    (block,) = message.content
    assert block.type == "tool_use"
    assert block.input == {"city": "Rome"}


def test_sdk_sends_a_tool_result_and_reads_the_answer(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=ASK, tools=TOOLS)  # type: ignore[arg-type]
    block = first.content[0]
    assert block.type == "tool_use"
    second = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        tools=TOOLS,  # type: ignore[arg-type]
        messages=[
            *ASK,  # type: ignore[list-item]
            {"role": "assistant", "content": [block.model_dump(exclude_none=True)]},  # type: ignore[list-item]
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "21C"}]},
        ],
    )
    assert second.content[0].type == "text"
    assert second.content[0].text == "Tool results: 21C"

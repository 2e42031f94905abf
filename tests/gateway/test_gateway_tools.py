"""Tools, tool_choice, response_format, images, top_p and seed through the gateway, in
OpenAI's format, with the official ``openai`` SDK, on backends of two protocols.

The emulators answer tool conversations with one deterministic scripted model: a tool the
last user text names is called, a string argument gets the last word of that text, tool
results are quoted back, a response format gets a JSON object of its schema.
"""

from __future__ import annotations

import json

import openai
import pytest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK = [{"role": "user", "content": "use get_weather for Paris"}]
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=30.0)


@pytest.mark.parametrize("model", ["openai", "claude"])
def test_a_tool_call_and_its_result_round_trip(gateway, model):
    client = _client(gateway)
    first = client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    follow_up = [
        *ASK,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    second = client.chat.completions.create(model=model, messages=follow_up, tools=[WEATHER])
    assert second.choices[0].message.content == "Tool results: sunny, 21 C"
    assert second.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ["openai", "claude"])
def test_a_streamed_tool_call_assembles_in_the_sdk(gateway, model):
    stream = _client(gateway).chat.completions.create(
        model=model, messages=ASK, tools=[WEATHER], tool_choice="required", stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        for delta in chunk.choices[0].delta.tool_calls or ():
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["name"] += (delta.function.name or "") if delta.function else ""
            entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert list(calls) == [0] and calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}


def test_a_forced_tool_choice_reaches_the_provider(gateway, openai_emulator):
    _client(gateway).chat.completions.create(
        model="openai",
        messages=[{"role": "user", "content": "what now"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    body = openai_emulator.records[-1].body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_a_json_schema_response_format_gives_json(gateway):
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    answer = _client(gateway).chat.completions.create(
        model="openai",
        messages=[{"role": "user", "content": "name a colour: blue"}],
        response_format={"type": "json_schema", "json_schema": {"name": "colour", "schema": schema}},
    )
    assert json.loads(answer.choices[0].message.content) == {"colour": "blue"}


@pytest.mark.parametrize("model", ["openai", "claude"])
def test_an_image_reaches_the_model(gateway, model):
    answer = _client(gateway).chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            }
        ],
    )
    assert answer.choices[0].message.content.startswith("[1 image]")


def test_top_p_and_seed_reach_the_provider(gateway, openai_emulator):
    _client(gateway).chat.completions.create(model="openai", messages=ASK[:1], top_p=0.5, seed=42)
    body = openai_emulator.records[-1].body
    assert body["top_p"] == 0.5 and body["seed"] == 42


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools"),
        ({"tools": "get_weather"}, "tools"),
        ({"tool_choice": "sometimes", "tools": [WEATHER]}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": [WEATHER]}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"top_p": 3}, "top_p"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_a_bad_tool_field_is_a_400_naming_it(gateway, fields, param):
    with pytest.raises(openai.BadRequestError) as caught:
        _client(gateway).chat.completions.create(model="openai", messages=ASK, **fields)
    assert caught.value.param == param

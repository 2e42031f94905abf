"""Messages, parts, tools and tool calls: what is accepted, how it is normalised, what is refused."""

from __future__ import annotations

import json

import pytest
from claudette import (
    BackendSettings,
    ClaudetteRequest,
    ClaudetteResponse,
    GenerationOptions,
    ImagePart,
    Message,
    RequestValidationError,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from claudette.cache import cache_key
from claudette.messages import IMAGE_TOKEN_ESTIMATE

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}


def _conversation() -> list[dict[str, object]]:
    return [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "20C"},
    ]


def test_plain_message_keeps_its_string() -> None:
    message = Message("user", "hi")
    assert message.content == "hi"
    assert message.tool_calls == ()
    assert message.text == "hi"


def test_openai_parts_become_text_and_image_parts() -> None:
    message = Message(
        "user",
        [
            {"type": "text", "text": "What is "},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            TextPart("this?"),
        ],
    )
    assert message.content == (
        TextPart("What is "),
        ImagePart(data=PNG, media_type="image/png"),
        ImagePart(url="https://example.com/cat.png"),
        TextPart("this?"),
    )
    assert message.text == "What is this?"
    assert len(message.images) == 2


def test_openai_message_dicts_become_messages_with_calls_and_results() -> None:
    request = ClaudetteRequest(messages=_conversation(), tools=[WEATHER])
    _, assistant, tool = request.messages
    assert assistant.tool_calls == (ToolCall("call_1", "get_weather", {"city": "Rome"}),)
    assert assistant.content == ""
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "call_1", "20C")
    assert request.tools == (
        Tool("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}),
    )


def test_an_assistant_dict_of_tool_calls_alone_needs_no_content() -> None:
    request = ClaudetteRequest(
        messages=[{"role": "user", "content": "Weather in Rome?"}, {"role": "assistant", "tool_calls": [CALL]}]
    )
    assistant = request.messages[1]
    assert assistant.content == ""
    assert assistant.tool_calls == (ToolCall("call_1", "get_weather", {"city": "Rome"}),)


def test_message_to_dict_reads_back_the_same_message() -> None:
    request = ClaudetteRequest(messages=_conversation(), tools=[WEATHER])
    again = ClaudetteRequest(messages=[m.to_dict() for m in request.messages], tools=[WEATHER])
    assert again.messages == request.messages


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"role": "user", "content": [{"type": "audio"}]}, "expected 'text' or 'image_url'"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}, "http"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,xyz"}}]}, "base64"),
        ({"role": "user", "content": 42}, "string or a sequence of parts"),
        ({"role": "user", "content": "x", "tool_calls": [CALL]}, "only an assistant message"),
        ({"role": "assistant", "content": "", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}, "not valid JSON"),
        ({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f"}}]}, "lacks 'id'"),
        ({"role": "user", "content": "x", "tool_call_id": "c"}, "only a tool message"),
        ({"role": "user", "content": "x", "colour": "red"}, "unknown keys"),
    ],
)
def test_bad_shapes_are_refused_with_a_clear_error(message: dict[str, object], error: str) -> None:
    with pytest.raises(RequestValidationError, match=error):
        ClaudetteRequest(messages=[message])


def test_inline_image_needs_a_media_type_and_base64() -> None:
    with pytest.raises(RequestValidationError, match="media_type"):
        ImagePart(data=PNG)
    with pytest.raises(RequestValidationError, match="base64"):
        ImagePart(data="not base64!", media_type="image/png")
    with pytest.raises(RequestValidationError, match="exactly one"):
        ImagePart()


def test_a_tool_result_must_answer_an_earlier_call() -> None:
    with pytest.raises(RequestValidationError, match="no earlier assistant message made"):
        ClaudetteRequest(
            messages=[{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "1"}]
        )


def test_tool_choice_forms() -> None:
    named = ClaudetteRequest(prompt="x", tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert dict(named.tool_choice) == {"name": "get_weather"}  # type: ignore[arg-type]
    assert ClaudetteRequest(prompt="x", tools=[WEATHER], tool_choice="none").tool_choice == "none"
    with pytest.raises(RequestValidationError, match="not among the tools"):
        ClaudetteRequest(prompt="x", tools=[WEATHER], tool_choice={"name": "other"})
    with pytest.raises(RequestValidationError, match="needs tools"):
        ClaudetteRequest(prompt="x", tool_choice="required")
    with pytest.raises(RequestValidationError, match="tool_choice must be"):
        ClaudetteRequest(prompt="x", tools=[WEATHER], tool_choice="always")


def test_response_format_is_normalised_and_checked() -> None:
    request = ClaudetteRequest(
        prompt="x",
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True}},
    )
    assert request.response_format is not None
    assert request.response_format["json_schema"]["strict"] is True
    assert ClaudetteRequest(prompt="x", response_format={"type": "text"}).response_format is None
    with pytest.raises(RequestValidationError, match=r"json_schema\.schema"):
        ClaudetteRequest(prompt="x", response_format={"type": "json_schema", "json_schema": {"name": "w"}})
    with pytest.raises(RequestValidationError, match="'json_object' or 'json_schema'"):
        ClaudetteRequest(prompt="x", response_format={"type": "yaml"})


def test_required_capabilities_follow_the_request() -> None:
    assert ClaudetteRequest(prompt="x").required_capabilities == frozenset()
    assert ClaudetteRequest(prompt="x", response_format={"type": "json_object"}).required_capabilities == frozenset()
    picture = Message("user", [TextPart("x"), ImagePart(url="https://e.com/a.png")])
    full = ClaudetteRequest(
        messages=[picture, *_conversation()[1:]],
        tools=[WEATHER],
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
    )
    assert full.required_capabilities == {"tools", "images", "json_schema"}


def test_token_estimates_count_tools_images_and_schemas() -> None:
    plain = ClaudetteRequest(prompt="Weather in Rome?")
    with_tools = ClaudetteRequest(prompt="Weather in Rome?", tools=[WEATHER])
    assert with_tools.text_length > plain.text_length + len(json.dumps(WEATHER["function"]["parameters"])) - 5  # type: ignore[index]
    picture = ClaudetteRequest(messages=[Message("user", [TextPart("x"), ImagePart(data=PNG, media_type="image/png")])])
    assert picture.text_length == 1 + IMAGE_TOKEN_ESTIMATE * 4


def test_cache_key_tells_apart_tools_images_formats_and_sampling() -> None:
    base = ClaudetteRequest(prompt="Weather in Rome?")
    variants = [
        ClaudetteRequest(prompt="Weather in Rome?", tools=[WEATHER]),
        ClaudetteRequest(prompt="Weather in Rome?", tools=[WEATHER], tool_choice="none"),
        ClaudetteRequest(prompt="Weather in Rome?", response_format={"type": "json_object"}),
        ClaudetteRequest(prompt="Weather in Rome?", options={"top_p": 0.5}),
        ClaudetteRequest(prompt="Weather in Rome?", options={"seed": 7}),
        ClaudetteRequest(messages=[Message("user", [TextPart("Weather in Rome?"), ImagePart(url="https://e.com/a.png")])]),
        ClaudetteRequest(messages=[Message("user", [TextPart("Weather in Rome?"), ImagePart(url="https://e.com/b.png")])]),
    ]
    keys = {cache_key(r) for r in variants}
    assert len(keys) == len(variants)
    assert cache_key(base) not in keys
    assert cache_key(ClaudetteRequest(messages=[{"role": "user", "content": "Weather in Rome?"}])) == cache_key(base)


def test_generation_options_take_top_p_and_seed() -> None:
    options = GenerationOptions(top_p=0.9, seed=42)
    assert (options.top_p, options.seed) == (0.9, 42)
    assert ClaudetteRequest(prompt="x", options={"top_p": 0.1, "seed": 1}).options.seed == 1
    with pytest.raises(RequestValidationError, match="top_p"):
        GenerationOptions(top_p=1.5)
    with pytest.raises(RequestValidationError, match="seed"):
        GenerationOptions(seed=1.5)  # type: ignore[arg-type]


def test_response_message_and_dict_round_trip_carry_tool_calls() -> None:
    call = ToolCall("call_9", "get_weather", {"city": "Oslo"})
    response = ClaudetteResponse("", "openai", finish_reason="tool_calls", tool_calls=(call,))
    assert response.message == Message("assistant", "", tool_calls=(call,))
    data = response.to_dict()
    assert data["tool_calls"] == [{"id": "call_9", "name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert ClaudetteResponse(**json.loads(json.dumps(data))) == response


def test_tool_call_delta_shape() -> None:
    first, more = ToolCallDelta(0, "call_1", "f", ""), ToolCallDelta(0, arguments='{"a"')
    assert (first.index, first.id, first.name) == (0, "call_1", "f")
    assert (more.id, more.name, more.arguments) == (None, None, '{"a"')


def test_settings_capabilities_are_checked() -> None:
    assert BackendSettings(capabilities=["tools"]).capabilities == ("tools",)
    with pytest.raises(ValueError, match="capabilities must be among"):
        BackendSettings(capabilities=("telepathy",))

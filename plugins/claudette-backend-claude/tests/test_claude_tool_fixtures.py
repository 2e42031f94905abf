"""tool_use replies in the shapes Anthropic documents (fixtures), parsed by the backend."""

from __future__ import annotations

from claude_support import API_KEY, fixture_bytes
from claudette import BackendSettings, ClaudetteRequest, Tool
from claudette.testing import LoopbackServer, Reply

from claudette_backend_claude import ClaudeBackend

TOOL = Tool("get_weather", "", {"type": "object", "properties": {"location": {"type": "string"}}})


def _backend(server: LoopbackServer) -> ClaudeBackend:
    return ClaudeBackend("claude", BackendSettings(base_url=server.url, api_key=API_KEY))


async def test_text_and_a_tool_use_block() -> None:
    with LoopbackServer() as server:
        server.script(Reply(200, {"content-type": "application/json"}, fixture_bytes("anthropic-message-tool-use.json")))
        backend = _backend(server)
        try:
            response = await backend.send(ClaudetteRequest(prompt="weather?", tools=[TOOL]))
        finally:
            await backend.aclose()
    assert response.content == "I'll check the current weather in San Francisco for you."
    assert [(c.id, c.name, dict(c.arguments)) for c in response.tool_calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", {"location": "San Francisco, CA", "unit": "celsius"})
    ]
    assert response.finish_reason == "tool_calls"


async def test_streamed_input_json_deltas_become_one_call() -> None:
    events = fixture_bytes("anthropic-message-tool-use-stream.sse").decode().split("\n\n")
    with LoopbackServer() as server:
        server.script(Reply.stream([e + "\n\n" for e in events if e.strip()]))
        backend = _backend(server)
        try:
            chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="weather?", tools=[TOOL]))]
        finally:
            await backend.aclose()
    final = chunks[-1].response
    assert final is not None
    assert "".join(c.text for c in chunks) == "Okay, let me check."
    assert [(c.id, c.name, dict(c.arguments)) for c in final.tool_calls] == [
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", {"location": "San Francisco, CA", "unit": "fahrenheit"})
    ]
    assert [d.arguments for c in chunks for d in c.tool_call_deltas] == [
        "",
        '{"location":',
        ' "San Francisco, CA", "unit": "fahrenheit"}',
    ]
    assert (final.tokens_input, final.tokens_output, final.finish_reason) == (472, 89, "tool_calls")

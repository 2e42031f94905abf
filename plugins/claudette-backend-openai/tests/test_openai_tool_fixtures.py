"""Tool-call replies in the shapes OpenAI documents (fixtures), parsed by the backend."""

from __future__ import annotations

from pathlib import Path

from claudette import BackendSettings, ClaudetteRequest, Tool
from claudette.testing import LoopbackServer, Reply

from claudette_backend_openai import OpenAIBackend

FIXTURES = Path(__file__).parent / "fixtures"
TOOL = Tool("get_current_weather", "", {"type": "object", "properties": {"location": {"type": "string"}}})
EXPECTED = [
    ("call_abc123", "get_current_weather", {"location": "Boston, MA"}),
    ("call_def456", "get_current_weather", {"location": "Paris, FR"}),
]


def _backend(server: LoopbackServer) -> OpenAIBackend:
    return OpenAIBackend("openai", BackendSettings(base_url=server.url, api_key="sk-fixture"))


async def test_parallel_tool_calls_of_a_completion() -> None:
    body = (FIXTURES / "openai-chat-tool-calls.json").read_bytes()
    with LoopbackServer() as server:
        server.script(Reply(200, {"content-type": "application/json"}, body))
        backend = _backend(server)
        try:
            response = await backend.send(ClaudetteRequest(prompt="weather?", tools=[TOOL]))
        finally:
            await backend.aclose()
    expected = [(*c[:2], {"location": "Paris, FR", "unit": "celsius"}) if c[0] == "call_def456" else c for c in EXPECTED]
    assert [(c.id, c.name, dict(c.arguments)) for c in response.tool_calls] == expected
    assert response.content == ""
    assert response.finish_reason == "tool_calls"
    assert (response.tokens_input, response.tokens_output) == (82, 17)


async def test_streamed_tool_calls_are_assembled_by_index() -> None:
    events = (FIXTURES / "openai-chat-tool-calls-stream.sse").read_text().split("\n\n")
    with LoopbackServer() as server:
        server.script(Reply.stream([e + "\n\n" for e in events if e.strip()]))
        backend = _backend(server)
        try:
            chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="weather?", tools=[TOOL]))]
        finally:
            await backend.aclose()
    final = chunks[-1].response
    assert final is not None
    assert [(c.id, c.name, dict(c.arguments)) for c in final.tool_calls] == EXPECTED
    assert final.finish_reason == "tool_calls"
    pieces = [(d.index, d.id, d.arguments) for c in chunks for d in c.tool_call_deltas]
    assert pieces == [
        (0, "call_abc123", ""),
        (0, None, '{"lo'),
        (0, None, 'cation": "Boston, MA"}'),
        (1, "call_def456", ""),
        (1, None, '{"location": "Paris, FR"}'),
    ]
    assert "".join(c.text for c in chunks) == ""

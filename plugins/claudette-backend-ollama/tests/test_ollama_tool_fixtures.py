"""Tool calls in the shapes Ollama documents (fixtures): no ids, arguments as objects."""

from __future__ import annotations

from pathlib import Path

from claudette import BackendSettings, ClaudetteRequest, Message, Tool
from claudette.testing import LoopbackServer, Reply

from claudette_backend_ollama import OllamaBackend

FIXTURES = Path(__file__).parent / "fixtures"
TOOL = Tool("get_current_weather", "", {"type": "object", "properties": {"location": {"type": "string"}}})
ARGUMENTS = {"format": "celsius", "location": "Paris, FR"}


def _backend(server: LoopbackServer) -> OllamaBackend:
    return OllamaBackend("ollama", BackendSettings(base_url=server.url, model="llama3.2"))


async def test_a_call_without_id_gets_a_stable_one_that_maps_back_to_its_name() -> None:
    body = (FIXTURES / "ollama-chat-tool-calls.json").read_bytes()
    with LoopbackServer() as server:
        server.script(Reply(200, {"content-type": "application/json"}, body), Reply(200, {"content-type": "application/json"}, body))
        backend = _backend(server)
        try:
            first = await backend.send(ClaudetteRequest(prompt="weather?", tools=[TOOL]))
            again = await backend.send(ClaudetteRequest(prompt="weather?", tools=[TOOL]))
            (call,) = first.tool_calls
            follow_up = ClaudetteRequest(
                messages=[Message("user", "weather?"), first.message, Message("tool", "21C", tool_call_id=call.id)],
                tools=[TOOL],
            )
            server.script(Reply.json({"model": "llama3.2", "message": {"role": "assistant", "content": "Warm."}, "done": True}))
            await backend.send(follow_up)
            sent = server.requests[-1].json()
        finally:
            await backend.aclose()
    assert (call.name, dict(call.arguments)) == ("get_current_weather", ARGUMENTS)
    assert call.id.startswith("call_") and again.tool_calls[0].id == call.id
    assert first.finish_reason == "tool_calls"
    assert sent["messages"][1]["tool_calls"] == [{"function": {"name": "get_current_weather", "arguments": ARGUMENTS}}]
    assert sent["messages"][2] == {"role": "tool", "content": "21C", "tool_name": "get_current_weather"}


async def test_a_call_that_arrives_whole_in_one_stream_line() -> None:
    lines = (FIXTURES / "ollama-chat-tool-calls-stream.ndjson").read_text().splitlines(keepends=True)
    with LoopbackServer() as server:
        server.script(Reply.stream(lines, "application/x-ndjson"))
        backend = _backend(server)
        try:
            chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="weather?", tools=[TOOL]))]
        finally:
            await backend.aclose()
    final = chunks[-1].response
    assert final is not None
    (call,) = final.tool_calls
    assert dict(call.arguments) == ARGUMENTS
    (delta,) = [d for c in chunks for d in c.tool_call_deltas]
    assert (delta.index, delta.id, delta.name) == (0, call.id, "get_current_weather")
    assert "".join(c.text for c in chunks) == ""
    assert final.finish_reason == "tool_calls"

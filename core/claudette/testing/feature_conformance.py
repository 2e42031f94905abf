"""The feature conformance suite: tools, structured output and images, on any backend.

:class:`FeatureConformance` is an abstract pytest test class, the companion of
:class:`~claudette.testing.conformance.BackendConformance`. A plugin's test module
subclasses it (the name must start with ``Test``), names its plugin and backend, and
starts its provider's emulator: a loopback server speaking the provider's wire format
whose model is :mod:`claudette.testing.scripted_model`, so the same conversation gets
the same answer from every provider. The tests check, for each capability the backend
declares (``BaseBackend.capabilities``), sent and streamed:

- tools: a call with its id, name and parsed arguments, ``finish_reason ==
  "tool_calls"``; streamed pieces (:class:`~claudette.ToolCallDelta`) whose arguments,
  joined by index, are the final call's; parallel calls; the two-turn conversation
  (call → tool result → answer) with ``response.message`` appended as the next turn;
  ``tool_choice`` ``none`` (no call), ``required`` and a named tool (where the provider
  can force a call; elsewhere a clear ``InvalidRequestError`` before any network call);
  arguments that are not a JSON object are a retryable ``ResponseFormatError``;
- json_schema: the answer is JSON that follows the schema, and ``json_object`` mode;
- images: an inline (base64) image reaches the model, and one by URL (where the provider
  takes URLs; elsewhere an ``InvalidRequestError`` before any call).

And for every backend, whatever it declares: a request that needs a capability the
backend lacks (its own, or one switched off with ``BackendSettings(capabilities=...)``)
is refused with ``InvalidRequestError`` before any network call.

Usage, in a plugin's ``tests/test_feature_conformance.py``::

    import contextlib

    from claudette.testing.feature_conformance import FeatureConformance
    from claudette_backend_acme.testing import AcmeEmulator
    import claudette_backend_acme.plugin as plugin


    class TestAcmeFeatures(FeatureConformance):
        plugin = plugin
        backend_name = "acme"

        @contextlib.contextmanager
        def emulator(self):
            with AcmeEmulator() as server:
                yield server.settings()    # BackendSettings pointing at the emulator

A backend that declares no capability needs no emulator: only the refusal tests run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, TypeVar

import pytest

from claudette.backend import BaseBackend
from claudette.errors import InvalidRequestError, ResponseFormatError
from claudette.messages import CAPABILITIES, ImagePart, Message, TextPart, Tool, ToolCall
from claudette.plugins import ClaudettePlugins
from claudette.testing.conformance import _closed_port_url
from claudette.testing.server import LoopbackServer, Reply
from claudette.types import BackendSettings, ClaudetteRequest, ClaudetteResponse, StreamChunk

__all__ = [
    "FEATURE_IMAGE_PNG",
    "FEATURE_TOOLS",
    "WEATHER_SCHEMA",
    "FeatureConformance",
    "assemble_deltas",
]

_T = TypeVar("_T")

#: The tools every feature test offers.
FEATURE_TOOLS = (
    Tool(
        "get_weather",
        "The current weather in a city.",
        {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name."}},
            "required": ["city"],
        },
    ),
    Tool(
        "get_time",
        "The local time in a city.",
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "utc_offset": {"type": "integer"}},
            "required": ["city"],
        },
    ),
)
#: The response schema of the structured-output tests.
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature_c": {"type": "number"},
        "sunny": {"type": "boolean"},
    },
    "required": ["city", "temperature_c", "sunny"],
    "additionalProperties": False,
}
#: A 1x1 transparent PNG, base64-encoded.
FEATURE_IMAGE_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_WEATHER_PROMPT = "Use get_weather: what is the weather in Paris"


def assemble_deltas(chunks: Sequence[StreamChunk]) -> dict[int, dict[str, Any]]:
    """The tool calls a stream's pieces add up to: ``{index: {"id", "name", "arguments"}}``,
    the arguments parsed from the joined fragments."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in chunk.tool_call_deltas:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            if delta.id is not None:
                call["id"] = delta.id
            if delta.name is not None:
                call["name"] = delta.name
            call["arguments"] += delta.arguments
    for call in calls.values():
        call["arguments"] = json.loads(call["arguments"] or "{}")
    return calls


class FeatureConformance:
    """Abstract feature tests for one backend; subclass it as ``Test...``.

    Set :attr:`plugin` and :attr:`backend_name` (or override :meth:`make_backend`) and,
    for a backend with capabilities, :meth:`emulator`.
    """

    #: The plugin module (or object) implementing ``claudette_register_backends``.
    plugin: ClassVar[Any] = None
    #: The name the plugin registers the backend class under.
    backend_name: ClassVar[str] = ""
    #: False where the provider cannot force a call (``tool_choice`` required or a name).
    forces_tools: ClassVar[bool] = True
    #: False where the provider takes images only inline (base64), not by URL.
    images_by_url: ClassVar[bool] = True

    # -- the adapter --------------------------------------------------------------------

    def emulator(self) -> AbstractContextManager[BackendSettings]:
        """Start the provider's emulator; yield settings that point the backend at it."""
        raise NotImplementedError(
            "a backend with capabilities needs emulator(): a context manager yielding "
            "BackendSettings for the provider's emulator"
        )

    def bad_arguments_reply(self) -> Reply | None:
        """A non-streamed reply, in the provider's format, with one tool call whose
        arguments are not a JSON object; None to skip that test."""
        return None

    def make_backend(self, settings: BackendSettings) -> BaseBackend:
        """Build the backend from ``settings`` through the plugin's registration."""
        if self.plugin is None or not self.backend_name:
            raise NotImplementedError(
                "set `plugin` and `backend_name` on the conformance class, or override make_backend()"
            )
        plugins = ClaudettePlugins(autoload=False, plugins=[self.plugin])
        return plugins.registry.create(self.backend_name, settings)

    # -- helpers ------------------------------------------------------------------------

    def _run(self, coro: Awaitable[_T]) -> _T:
        async def main() -> _T:
            return await coro

        return asyncio.run(main())

    def _capabilities(self) -> frozenset[str]:
        backend = self.make_backend(BackendSettings(base_url=_closed_port_url(), api_key="sk-x"))
        return backend.capabilities

    def _needs(self, capability: str) -> None:
        if capability not in self._capabilities():
            pytest.skip(f"the backend does not declare {capability!r}")

    def _ask(self, request: ClaudetteRequest, *, stream: bool) -> tuple[ClaudetteResponse, list[StreamChunk]]:
        with self.emulator() as settings:
            backend = self.make_backend(settings)

            async def go() -> tuple[ClaudetteResponse, list[StreamChunk]]:
                try:
                    if not stream:
                        return await backend.send(request), []
                    chunks = [c async for c in backend.stream(request)]
                    final = chunks[-1].response
                    assert final is not None, "a stream ends with its final chunk"
                    return final, chunks
                finally:
                    await backend.aclose()

            return self._run(go())

    def _conversation(self, stream: bool) -> tuple[ClaudetteResponse, ClaudetteResponse]:
        """Turn one: the model calls get_weather; turn two: it answers from the result."""
        first_request = ClaudetteRequest(prompt=_WEATHER_PROMPT, tools=FEATURE_TOOLS)
        first, _ = self._ask(first_request, stream=stream)
        (call,) = first.tool_calls
        second_request = ClaudetteRequest(
            messages=[
                *first_request.all_messages,
                first.message,
                Message("tool", json.dumps({"temperature_c": 18}), tool_call_id=call.id),
            ],
            tools=FEATURE_TOOLS,
        )
        second, _ = self._ask(second_request, stream=stream)
        return first, second

    # -- every backend: refuse what it lacks ----------------------------------------------

    def test_capabilities_are_known_names(self) -> None:
        assert self._capabilities() <= CAPABILITIES

    @pytest.mark.parametrize("capability", sorted(CAPABILITIES))
    def test_request_needing_what_backend_lacks_is_refused_before_any_call(
        self, capability: str
    ) -> None:
        requests = {
            "tools": ClaudetteRequest(prompt=_WEATHER_PROMPT, tools=FEATURE_TOOLS),
            "images": ClaudetteRequest(
                messages=[
                    Message(
                        "user",
                        [TextPart("What is this?"), ImagePart(data=FEATURE_IMAGE_PNG, media_type="image/png")],
                    )
                ]
            ),
            "json_schema": ClaudetteRequest(
                prompt="Weather in Paris as JSON",
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA},
                },
            ),
        }
        others = tuple(sorted(self._capabilities() - {capability}))
        # Nothing listens at the URL: a network call would fail as unavailable instead.
        backend = self.make_backend(
            BackendSettings(base_url=_closed_port_url(), api_key="sk-x", capabilities=others)
        )
        assert capability not in backend.capabilities

        async def go() -> None:
            try:
                with pytest.raises(InvalidRequestError, match=capability):
                    await backend.send(requests[capability])
                with pytest.raises(InvalidRequestError, match=capability):
                    async for _ in backend.stream(requests[capability]):
                        pass
            finally:
                await backend.aclose()

        self._run(go())

    # -- tools ------------------------------------------------------------------------------

    @pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
    def test_tool_call(self, stream: bool) -> None:
        self._needs("tools")
        response, _ = self._ask(
            ClaudetteRequest(prompt=_WEATHER_PROMPT, tools=FEATURE_TOOLS), stream=stream
        )
        assert response.finish_reason == "tool_calls"
        (call,) = response.tool_calls
        assert isinstance(call, ToolCall)
        assert (call.name, dict(call.arguments)) == ("get_weather", {"city": "Paris"})
        assert call.id
        assert response.message.role == "assistant"
        assert response.message.tool_calls == response.tool_calls

    def test_streamed_tool_call_pieces_add_up_to_the_final_calls(self) -> None:
        self._needs("tools")
        response, chunks = self._ask(
            ClaudetteRequest(prompt=_WEATHER_PROMPT, tools=FEATURE_TOOLS), stream=True
        )
        assembled = assemble_deltas(chunks)
        assert [
            {"id": c.id, "name": c.name, "arguments": dict(c.arguments)} for c in response.tool_calls
        ] == [assembled[i] for i in sorted(assembled)]
        assert all(c.text == "" for c in chunks if c.tool_call_deltas), "tool calls are never text"

    @pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
    def test_parallel_tool_calls(self, stream: bool) -> None:
        self._needs("tools")
        response, _ = self._ask(
            ClaudetteRequest(
                prompt="Use get_weather and get_time for Tokyo", tools=FEATURE_TOOLS
            ),
            stream=stream,
        )
        assert [(c.name, dict(c.arguments)) for c in response.tool_calls] == [
            ("get_weather", {"city": "Tokyo"}),
            ("get_time", {"city": "Tokyo", "utc_offset": 1}),
        ]
        assert len({c.id for c in response.tool_calls}) == 2

    @pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
    def test_two_turn_tool_conversation(self, stream: bool) -> None:
        self._needs("tools")
        first, second = self._conversation(stream)
        assert first.content == ""
        assert second.tool_calls == ()
        assert second.finish_reason == "stop"
        assert second.content == 'Tool results: {"temperature_c": 18}'

    def test_tool_choice_none_answers_text(self) -> None:
        self._needs("tools")
        response, _ = self._ask(
            ClaudetteRequest(prompt=_WEATHER_PROMPT, tools=FEATURE_TOOLS, tool_choice="none"),
            stream=False,
        )
        assert response.tool_calls == ()
        assert response.content
        assert response.finish_reason == "stop"

    @pytest.mark.parametrize(
        ("choice", "expected"),
        [("required", "get_weather"), ({"name": "get_time"}, "get_time")],
        ids=["required", "named"],
    )
    def test_forced_tool_choice(self, choice: Any, expected: str) -> None:
        self._needs("tools")
        request = ClaudetteRequest(
            prompt="Tell me about Oslo", tools=FEATURE_TOOLS, tool_choice=choice
        )
        if not self.forces_tools:
            backend = self.make_backend(BackendSettings(base_url=_closed_port_url(), api_key="sk-x"))
            with pytest.raises(InvalidRequestError, match="tool_choice"):
                self._run(backend.send(request))
            return
        response, _ = self._ask(request, stream=False)
        assert [c.name for c in response.tool_calls] == [expected]
        assert response.tool_calls[0].arguments["city"] == "Oslo"

    def test_invalid_tool_arguments_are_a_retryable_response_format_error(self) -> None:
        self._needs("tools")
        reply = self.bad_arguments_reply()
        if reply is None:
            pytest.skip("no bad_arguments_reply() for this provider")
        with LoopbackServer() as server:
            server.script(reply)
            backend = self.make_backend(
                BackendSettings(base_url=server.url, api_key="sk-x", model="conformance-model-1")
            )

            async def go() -> None:
                try:
                    with pytest.raises(ResponseFormatError) as caught:
                        await backend.send(
                            ClaudetteRequest(prompt=_WEATHER_PROMPT, tools=FEATURE_TOOLS)
                        )
                    assert caught.value.retryable
                    assert "argument" in str(caught.value) or "input" in str(caught.value)
                finally:
                    await backend.aclose()

            self._run(go())

    # -- structured output --------------------------------------------------------------------

    @pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
    def test_json_schema_answer_follows_the_schema(self, stream: bool) -> None:
        self._needs("json_schema")
        response, _ = self._ask(
            ClaudetteRequest(
                prompt="The weather in Paris as JSON",
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA, "strict": True},
                },
            ),
            stream=stream,
        )
        assert json.loads(response.content) == {"city": "JSON", "temperature_c": 1.5, "sunny": True}
        assert response.tool_calls == ()
        assert response.finish_reason == "stop"

    def test_json_object_answer_is_json(self) -> None:
        self._needs("json_schema")
        response, _ = self._ask(
            ClaudetteRequest(prompt="Answer in JSON", response_format={"type": "json_object"}),
            stream=False,
        )
        assert isinstance(json.loads(response.content), dict)

    # -- images --------------------------------------------------------------------------------

    @pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
    def test_inline_image_reaches_the_model(self, stream: bool) -> None:
        self._needs("images")
        response, _ = self._ask(
            ClaudetteRequest(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is in this picture?"},
                            {
                                "type": "image_url",
                                "image_url": {"url": f"data:image/png;base64,{FEATURE_IMAGE_PNG}"},
                            },
                        ],
                    }
                ]
            ),
            stream=stream,
        )
        assert response.content.startswith("[1 image] ")

    def test_image_by_url(self) -> None:
        self._needs("images")
        request = ClaudetteRequest(
            messages=[
                Message(
                    "user",
                    [TextPart("Describe both"), ImagePart(url="https://example.com/a.png"),
                     ImagePart(url="https://example.com/b.png")],
                )
            ]
        )
        if not self.images_by_url:
            backend = self.make_backend(BackendSettings(base_url=_closed_port_url(), api_key="sk-x"))
            with pytest.raises(InvalidRequestError, match="URL"):
                self._run(backend.send(request))
            return
        response, _ = self._ask(request, stream=False)
        assert response.content.startswith("[2 images] ")

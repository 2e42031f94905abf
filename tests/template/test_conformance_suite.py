"""The conformance suite passes a conforming backend and catches broken ones.

``TestMinimalConformance`` runs the whole suite against a small, correct backend (so the
suite is collected and passes here); the other tests call single conformance tests on
deliberately broken backends and expect them to fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from claudette import (
    BackendSettings,
    BaseBackend,
    ClaudetteRequest,
    ClaudetteResponse,
    StreamChunk,
    hookimpl,
)
from claudette.deadlines import CallDeadline, StreamClock
from claudette.errors import BackendError, ResponseFormatError
from claudette.http import error_from_exception, error_from_status, iter_ndjson, parse_json
from claudette.testing import LoopbackServer, Reply
from claudette.testing.conformance import BackendConformance


class MinimalBackend(BaseBackend):
    """A tiny JSON protocol: POST /generate, NDJSON streams, GET /health."""

    def _payload(self, request: ClaudetteRequest, stream: bool) -> dict[str, Any]:
        messages = [{"role": m.role, "content": m.content} for m in request.all_messages]
        return {"model": self.settings.model, "messages": messages, "stream": stream}

    def _error(self, response: Any) -> BackendError:
        message = response.json().get("error", {}).get("message", "") if response.content else ""
        return error_from_status(self.name, response.status_code, message, headers=response.headers)

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        started = time.perf_counter()
        try:
            async with CallDeadline(self.name, self.settings.timeout):
                response = await self.client.post("generate", json=self._payload(request, False))
            if response.status_code >= 400:
                raise self._error(response)
            data = parse_json(self.name, response.content)
            usage = data["usage"]
            latency = (time.perf_counter() - started) * 1000
            return self.create_success_response(data["output"], usage["in"], usage["out"], latency, request=request)
        except BackendError:
            raise
        except Exception as exc:
            raise error_from_exception(self.name, exc) from exc

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        started, parts, usage = time.perf_counter(), [], None
        try:
            async with self.client.stream("POST", "generate", json=self._payload(request, True)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error(response)
                clock = StreamClock(self.name, self.settings)
                events = iter_ndjson(self.name, response.aiter_lines())
                while (event := await clock.wait(anext(events, None))) is not None:
                    clock.progressed()
                    if event.get("done"):
                        usage = event["usage"]
                        break
                    parts.append(event["delta"])
                    yield StreamChunk(event["delta"], self.name)
        except BackendError:
            raise
        except Exception as exc:
            raise error_from_exception(self.name, exc) from exc
        if usage is None:
            raise ResponseFormatError("no done event", self.name)
        latency = (time.perf_counter() - started) * 1000
        final = self.create_success_response("".join(parts), usage["in"], usage["out"], latency, request=request)
        yield StreamChunk("", self.name, final)

    async def health_check(self) -> bool:
        try:
            return (await self.client.get("health")).status_code == 200
        except Exception:
            return False


class MinimalPlugin:
    """Registers :class:`MinimalBackend` as ``minimal``."""

    @hookimpl
    def claudette_register_backends(self, registry: Any) -> None:
        registry.register("minimal", MinimalBackend, defaults=BackendSettings(model="minimal-1"))


class MinimalWire:
    """The adapter half of a conformance class for the minimal protocol."""

    plugin = MinimalPlugin()
    backend_name = "minimal"

    def success_reply(self, text: str, tokens_input: int, tokens_output: int) -> Reply:
        return Reply.json({"output": text, "usage": {"in": tokens_input, "out": tokens_output}})

    def stream_reply(self, pieces: Sequence[str], tokens_input: int, tokens_output: int) -> Reply:
        lines = [json.dumps({"delta": p}) + "\n" for p in pieces]
        lines.append(json.dumps({"done": True, "usage": {"in": tokens_input, "out": tokens_output}}) + "\n")
        return Reply.stream(lines, content_type="application/x-ndjson")

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply.json({"error": {"message": message}}, status=status)

    def health_reply(self) -> Reply:
        return Reply.json({"status": "ok"})


class TestMinimalConformance(MinimalWire, BackendConformance):
    """The whole suite against the correct minimal backend: every test passes."""


# -- broken backends fail the suite ----------------------------------------------------------


def suite_for(backend_cls: type[BaseBackend]) -> BackendConformance:
    """A conformance instance whose backend is ``backend_cls``."""

    class Broken(MinimalWire, BackendConformance):
        def make_backend(self, settings: BackendSettings) -> BaseBackend:
            return backend_cls("minimal", settings.with_defaults(BackendSettings(model="minimal-1")))

    return Broken()


class LeaksTransportErrors(MinimalBackend):
    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        await self.client.post("generate", json=self._payload(request, False))
        raise AssertionError("unreachable in this test")


class EverythingRetryable(MinimalBackend):
    def _error(self, response: Any) -> BackendError:
        return BackendError("failed", self.name, True, response.status_code)


class IgnoresUsage(MinimalBackend):
    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        response = await super().send(request)
        return self.create_success_response(response.content, None, None, 1.0, request=request)


class BoundsEachReadOnly(MinimalBackend):
    """Relies on httpx's timeout, which bounds each read but not the whole call."""

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        response = await self.client.post("generate", json=self._payload(request, False))
        data = parse_json(self.name, response.content)
        return self.create_success_response(data["output"], 1, 1, 1.0, request=request)

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        async with self.client.stream("POST", "generate", json=self._payload(request, True)) as response:
            async for event in iter_ndjson(self.name, response.aiter_lines()):
                if event.get("done"):
                    break
                yield StreamChunk(event["delta"], self.name)
        final = self.create_success_response("done", 1, 1, 1.0, request=request)
        yield StreamChunk("", self.name, final)


class BuffersTheStream(MinimalBackend):
    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        chunks = [chunk async for chunk in super().stream(request)]
        final = chunks[-1].response
        assert final is not None
        yield StreamChunk(final.content, self.name, final)


def test_raw_transport_error_fails_the_refused_connection_test() -> None:
    with pytest.raises(Exception) as info:
        suite_for(LeaksTransportErrors).test_connection_refused_is_retryable()

    assert not isinstance(info.value, BackendError)


def test_retryable_client_error_fails_the_client_error_test() -> None:
    from claudette.errors import InvalidRequestError

    with LoopbackServer() as server, pytest.raises(AssertionError):
        suite_for(EverythingRetryable).test_client_errors_are_not_retryable(server, 400, InvalidRequestError)


def test_estimated_usage_fails_the_usage_test() -> None:
    with LoopbackServer() as server, pytest.raises(AssertionError):
        suite_for(IgnoresUsage).test_send_reports_usage_and_cost(server)


def test_one_chunk_stream_fails_the_streaming_test() -> None:
    with LoopbackServer() as server, pytest.raises(AssertionError):
        suite_for(BuffersTheStream).test_stream_yields_pieces_then_final_response(server)


def test_a_call_bounded_only_per_read_fails_the_dripping_tests() -> None:
    """The dripped answer arrives in the end, long after the bound: the tests fail."""
    suite = suite_for(BoundsEachReadOnly)
    failed = (AssertionError, pytest.fail.Exception)
    with LoopbackServer() as server, pytest.raises(failed):
        suite.test_dripping_provider_times_out(server)
    with LoopbackServer() as server, pytest.raises(failed):
        suite.test_dripping_stream_times_out(server)

"""The conformance suite every claudette backend can run: subclass, adapt, done.

:class:`BackendConformance` is an abstract pytest test class. A plugin's test module
subclasses it (the subclass name must start with ``Test``), names its plugin module and
backend, and says how its provider's wire protocol looks for four kinds of reply. The
suite's tests then run against a real loopback server (:class:`~claudette.testing.LoopbackServer`)
and check what the router relies on:

- success: the text, the backend's name, the model and prompt actually sent;
- usage and cost: the provider's token counts and ``cost_eur`` from the settings' prices;
- streaming: several chunks, the last one final with the whole response and its usage;
- errors: retryable (429, 500, 503, reset, refused, truncated stream, malformed body)
  versus non-retryable (400, 401, 404), each as the right ``BackendError`` subclass,
  ``retry-after`` honoured, the provider's message kept;
- timeout: a provider that never answers, or drips its answer a byte at a time (a send or
  a stream), raises ``BackendTimeoutError`` in time;
- health check: True when the provider answers, False (or a ``BackendError``) when not;
- no secret in errors: the API key never appears in ``str()`` or ``repr()`` of an error,
  even when the provider echoes it back.

Usage, in ``tests/test_conformance.py`` of a plugin package::

    import json

    from claudette.testing import Reply
    from claudette.testing.conformance import BackendConformance

    import claudette_backend_acme.plugin as plugin


    class TestAcmeConformance(BackendConformance):
        plugin = plugin              # the module with the claudette_register_backends hook
        backend_name = "acme"        # the name it registers

        def success_reply(self, text, tokens_input, tokens_output):
            return Reply.json({"output": text, "usage": {"in": tokens_input, "out": tokens_output}})

        def stream_reply(self, pieces, tokens_input, tokens_output):
            events = [f"data: {json.dumps({'delta': p})}\\n\\n" for p in pieces]
            usage = {"in": tokens_input, "out": tokens_output}
            events.append(f"data: {json.dumps({'done': True, 'usage': usage})}\\n\\n")
            return Reply.stream(events)

        def error_reply(self, status, message):
            return Reply.json({"error": {"message": message}}, status=status)

        def health_reply(self):
            return Reply.json({"status": "ok"})

Everything else is optional: override :meth:`BackendConformance.make_backend` to build the
backend another way than through the plugin's registry, set ``supports_streaming = False``
for a backend that keeps the default one-chunk ``stream()``, ``stream_reports_usage =
False`` when the protocol cannot report usage in a stream, or ``checks_health = False``
when ``health_check()`` does not ask the provider. A health reply that must list the
configured model can use :data:`CONFORMANCE_MODEL`.

The tests are plain (synchronous) functions that drive the backend with ``asyncio.run``,
so the suite needs neither pytest-asyncio nor any ``asyncio_mode`` setting. Scripted
replies answer whatever path the backend calls, in order; requests that find no scripted
reply get HTTP 500.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import attrs
import pytest

from claudette.backend import BaseBackend
from claudette.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    InvalidRequestError,
    RateLimitError,
)
from claudette.plugins import ClaudettePlugins
from claudette.router import BackendRouter
from claudette.testing.server import Fault, LoopbackServer, Reply
from claudette.types import BackendSettings, ClaudetteRequest, RouterOptions, StreamChunk

__all__ = [
    "CONFORMANCE_MODEL",
    "CONFORMANCE_PROMPT",
    "SECRET_API_KEY",
    "BackendConformance",
    "ScriptedReply",
]

#: The API key every conformance backend is built with; it must never appear in an error.
SECRET_API_KEY = "sk-conformance-SECRET-5f3c9a1e7d2b4c6a8e0f"
#: What an adapter method may return: one reply, or several for several requests.
ScriptedReply = Reply | Fault | Sequence[Reply | Fault]

_T = TypeVar("_T")
#: The prompt of every conformance request; it must reach the provider.
CONFORMANCE_PROMPT = "conformance prompt 7f3a: say hello"
#: The model every conformance backend is configured with (for health replies that list models).
CONFORMANCE_MODEL = "conformance-model-1"
_INPUT_PRICE = 0.000002
_OUTPUT_PRICE = 0.000006


def _closed_port_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class BackendConformance:
    """Abstract conformance tests for one backend; subclass it as ``Test...``.

    Set :attr:`plugin` and :attr:`backend_name` (or override :meth:`make_backend`) and
    implement the four reply methods. Each reply method returns a
    :class:`~claudette.testing.Reply` (or a list of replies when the backend makes several
    requests for one call) in the provider's own wire format.
    """

    #: The plugin module (or object) implementing ``claudette_register_backends``.
    plugin: ClassVar[Any] = None
    #: The name the plugin registers the backend class under.
    backend_name: ClassVar[str] = ""
    #: False when the backend does not override ``stream()`` (one chunk from ``send``).
    supports_streaming: ClassVar[bool] = True
    #: False when the protocol cannot report token usage in a stream.
    stream_reports_usage: ClassVar[bool] = True
    #: False when ``health_check()`` does not ask the provider (the default ``BaseBackend``
    #: one trusts it): the tests that expect False from a failing provider are skipped.
    checks_health: ClassVar[bool] = True
    #: Seconds the timeout tests give the backend.
    short_timeout: ClassVar[float] = 0.5

    # -- the adapter: what a plugin implements ------------------------------------------

    def make_backend(self, settings: BackendSettings) -> BaseBackend:
        """Build the backend under test from ``settings`` (base_url, api_key, timeout, prices).

        The default creates it through the plugin's own registration, so the plugin's
        defaults fill whatever ``settings`` leaves unset.
        """
        if self.plugin is None or not self.backend_name:
            raise NotImplementedError(
                "set `plugin` and `backend_name` on the conformance class, or override make_backend()"
            )
        plugins = ClaudettePlugins(autoload=False, plugins=[self.plugin])
        return plugins.registry.create(self.backend_name, settings)

    def success_reply(self, text: str, tokens_input: int, tokens_output: int) -> ScriptedReply:
        """The provider's reply to a (non-streamed) completion answering ``text``."""
        raise NotImplementedError

    def stream_reply(
        self, pieces: Sequence[str], tokens_input: int, tokens_output: int
    ) -> ScriptedReply:
        """The provider's streamed reply: one event per piece, then its end with usage.

        Build it with :meth:`Reply.stream`, one chunk per event, the terminating event
        (with the usage) last.
        """
        raise NotImplementedError

    def error_reply(self, status: int, message: str) -> ScriptedReply:
        """The provider's own error reply for HTTP ``status`` carrying ``message``."""
        raise NotImplementedError

    def health_reply(self) -> ScriptedReply:
        """The provider's reply (or replies) to the backend's health check when healthy."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------

    @pytest.fixture
    def conformance_server(self) -> Iterator[LoopbackServer]:
        """A loopback server for one conformance test."""
        with LoopbackServer() as server:
            yield server

    def settings(self, base_url: str, *, timeout: float = 10.0) -> BackendSettings:
        """The settings the suite builds every backend with."""
        return BackendSettings(
            base_url=base_url,
            api_key=SECRET_API_KEY,
            model=CONFORMANCE_MODEL,
            timeout=timeout,
            connect_timeout=min(timeout, 5.0),
            input_cost_per_token=_INPUT_PRICE,
            output_cost_per_token=_OUTPUT_PRICE,
            health_check_ttl=0.0,
        )

    @staticmethod
    def request() -> ClaudetteRequest:
        """The request every test sends."""
        return ClaudetteRequest(prompt=CONFORMANCE_PROMPT, options={"max_tokens": 32})

    @staticmethod
    def _as_list(reply: ScriptedReply) -> list[Reply | Fault]:
        if isinstance(reply, (Reply, Fault)):
            return [reply]
        return list(reply)

    def script(self, server: LoopbackServer, reply: ScriptedReply) -> None:
        """Queue an adapter's reply (or replies) on ``server``."""
        server.script(*self._as_list(reply))

    def run_with(
        self,
        base_url: str,
        action: Callable[[BaseBackend], Awaitable[_T]],
        *,
        timeout: float = 10.0,
    ) -> _T:
        """Build a backend for ``base_url``, run ``action`` on it in a fresh loop, close it."""

        async def main() -> _T:
            backend = self.make_backend(self.settings(base_url, timeout=timeout))
            try:
                return await action(backend)
            finally:
                await backend.aclose()

        return asyncio.run(main())

    def send_expecting_error(
        self, base_url: str, *, timeout: float = 10.0
    ) -> BackendError:
        """Send the standard request; return the ``BackendError`` it must raise."""

        async def send(backend: BaseBackend) -> Any:
            return await backend.send(self.request())

        with pytest.raises(BackendError) as info:
            self.run_with(base_url, send, timeout=timeout)
        self.assert_no_secret(info.value)
        return info.value

    @staticmethod
    def assert_no_secret(error: BaseException) -> None:
        """Fail when the API key shows in the error (its text, repr or args)."""
        for shown in (str(error), repr(error), *map(str, error.args)):
            assert SECRET_API_KEY not in shown, "the API key leaked into an error"

    async def _collect(self, backend: BaseBackend) -> list[StreamChunk]:
        return [chunk async for chunk in backend.stream(self.request())]

    # -- success, usage and cost --------------------------------------------------------

    def test_send_returns_provider_text(self, conformance_server: LoopbackServer) -> None:
        """A successful call returns the provider's text, named after the backend."""
        self.script(conformance_server, self.success_reply("Hello from conformance", 11, 5))

        async def send(backend: BaseBackend) -> tuple[str, Any]:
            return backend.name, await backend.send(self.request())

        name, response = self.run_with(conformance_server.url, send)
        assert response.content == "Hello from conformance"
        assert response.backend_used == name

    def test_send_carries_prompt_and_model(self, conformance_server: LoopbackServer) -> None:
        """The request the provider receives holds the prompt and the configured model."""
        self.script(conformance_server, self.success_reply("ok", 3, 1))

        async def send(backend: BaseBackend) -> Any:
            return await backend.send(self.request())

        self.run_with(conformance_server.url, send)
        sent = conformance_server.requests[-1]
        seen = sent.path + sent.body.decode("utf-8", "replace")
        assert CONFORMANCE_PROMPT in seen
        assert CONFORMANCE_MODEL in seen

    def test_send_reports_usage_and_cost(self, conformance_server: LoopbackServer) -> None:
        """Reported token counts are kept and priced with the settings' prices."""
        self.script(conformance_server, self.success_reply("priced answer", 120, 30))

        async def send(backend: BaseBackend) -> Any:
            return await backend.send(self.request())

        response = self.run_with(conformance_server.url, send)
        assert (response.tokens_input, response.tokens_output) == (120, 30)
        assert response.cost_eur == pytest.approx(120 * _INPUT_PRICE + 30 * _OUTPUT_PRICE)
        assert not response.metadata.get("usage_estimated", False)
        assert response.latency_ms >= 0.0

    # -- streaming ---------------------------------------------------------------------------

    def test_stream_yields_pieces_then_final_response(
        self, conformance_server: LoopbackServer
    ) -> None:
        """A stream yields the text in several chunks; only the last carries the response."""
        pieces = ["Hel", "lo, ", "stream", "ing world"]
        if self.supports_streaming:
            self.script(conformance_server, self.stream_reply(pieces, 9, 4))
        else:
            self.script(conformance_server, self.success_reply("".join(pieces), 9, 4))
        chunks = self.run_with(conformance_server.url, self._collect)
        assert chunks, "the stream yielded nothing"
        final = chunks[-1]
        assert final.is_final
        assert not any(c.is_final for c in chunks[:-1])
        text = "".join(c.text for c in chunks)
        assert text == "Hello, streaming world"
        assert final.response is not None
        assert final.response.content == text
        assert {c.backend for c in chunks} == {final.response.backend_used}
        if self.supports_streaming:
            assert sum(1 for c in chunks if c.text) >= 2, "the answer arrived in one piece"

    def test_stream_reports_usage(self, conformance_server: LoopbackServer) -> None:
        """The final chunk's response has the usage the provider reported, priced."""
        if self.supports_streaming and not self.stream_reports_usage:
            pytest.skip("this protocol reports no usage in a stream")
        if self.supports_streaming:
            self.script(conformance_server, self.stream_reply(["a", "b"], 21, 2))
        else:
            self.script(conformance_server, self.success_reply("ab", 21, 2))
        response = self.run_with(conformance_server.url, self._collect)[-1].response
        assert response is not None
        assert (response.tokens_input, response.tokens_output) == (21, 2)
        assert response.cost_eur == pytest.approx(21 * _INPUT_PRICE + 2 * _OUTPUT_PRICE)

    def test_stream_error_status_is_translated(self, conformance_server: LoopbackServer) -> None:
        """A stream refused with 429 raises ``RateLimitError`` before any chunk."""
        self.script(conformance_server, self.error_reply(429, "slow down"))
        with pytest.raises(RateLimitError) as info:
            self.run_with(conformance_server.url, self._collect)
        assert info.value.retryable is True
        self.assert_no_secret(info.value)

    def test_stream_cut_off_raises_retryable_error(
        self, conformance_server: LoopbackServer
    ) -> None:
        """A stream whose connection dies before its end raises a retryable error."""
        if not self.supports_streaming:
            pytest.skip("the backend does not stream")
        replies = self._as_list(self.stream_reply(["one ", "two ", "three"], 5, 3))
        reply = replies[-1]
        assert isinstance(reply, Reply) and reply.chunks, "stream_reply must use Reply.stream"
        replies[-1] = attrs.evolve(reply, truncate_at=1)
        conformance_server.script(*replies)
        with pytest.raises(BackendError) as info:
            self.run_with(conformance_server.url, self._collect)
        assert info.value.retryable is True
        self.assert_no_secret(info.value)

    # -- errors ----------------------------------------------------------------------------

    @pytest.mark.parametrize("status", [429, 500, 502, 503])
    def test_server_errors_are_retryable(
        self, conformance_server: LoopbackServer, status: int
    ) -> None:
        """429 and 5xx become retryable errors carrying the status and the provider's message."""
        self.script(conformance_server, self.error_reply(status, f"provider trouble {status}"))
        error = self.send_expecting_error(conformance_server.url)
        assert error.retryable is True
        assert error.status_code == status
        assert f"provider trouble {status}" in error.message
        if status == 429:
            assert isinstance(error, RateLimitError)

    @pytest.mark.parametrize(
        ("status", "kind"),
        [(400, InvalidRequestError), (401, AuthenticationError), (404, InvalidRequestError)],
    )
    def test_client_errors_are_not_retryable(
        self, conformance_server: LoopbackServer, status: int, kind: type[BackendError]
    ) -> None:
        """400, 401 and 404 are the caller's fault: not retryable, the right error class."""
        self.script(conformance_server, self.error_reply(status, f"bad call {status}"))
        error = self.send_expecting_error(conformance_server.url)
        assert isinstance(error, kind)
        assert error.retryable is False
        assert error.status_code == status
        assert f"bad call {status}" in error.message

    def test_retry_after_header_is_honoured(self, conformance_server: LoopbackServer) -> None:
        """A 429 with ``retry-after: 7`` raises ``RateLimitError`` with ``retry_after == 7``."""
        replies = self._as_list(self.error_reply(429, "rate limited"))
        reply = replies[-1]
        assert isinstance(reply, Reply)
        replies[-1] = attrs.evolve(reply, headers={**reply.headers, "retry-after": "7"})
        conformance_server.script(*replies)
        error = self.send_expecting_error(conformance_server.url)
        assert isinstance(error, RateLimitError)
        assert error.retry_after == pytest.approx(7.0)

    def test_malformed_body_is_retryable(self, conformance_server: LoopbackServer) -> None:
        """A 200 whose body is not the protocol raises a retryable error, not a crash."""
        conformance_server.script(
            Reply(200, {"content-type": "application/json"}, b"<html>gateway oops</html>")
        )
        error = self.send_expecting_error(conformance_server.url)
        assert error.retryable is True

    def test_connection_reset_is_retryable(self, conformance_server: LoopbackServer) -> None:
        """A connection closed without an answer raises a retryable error."""
        conformance_server.script(Fault.reset())
        error = self.send_expecting_error(conformance_server.url)
        assert error.retryable is True

    def test_connection_refused_is_retryable(self) -> None:
        """A provider that is not listening raises a retryable error."""
        error = self.send_expecting_error(_closed_port_url())
        assert error.retryable is True

    # -- timeout -----------------------------------------------------------------------------

    def test_silent_provider_times_out(self, conformance_server: LoopbackServer) -> None:
        """A provider that never answers raises ``BackendTimeoutError`` within the timeout."""
        conformance_server.script(Fault.hang(30))
        started = time.monotonic()
        error = self.send_expecting_error(conformance_server.url, timeout=self.short_timeout)
        elapsed = time.monotonic() - started
        assert isinstance(error, BackendTimeoutError)
        assert error.retryable is True
        assert elapsed < self.short_timeout * 4 + 1.0

    def test_dripping_provider_times_out(self, conformance_server: LoopbackServer) -> None:
        """An answer sent a byte at a time (each well within a read timeout) still ends
        within the call's ``timeout``: the backend bounds the whole call, not each read."""
        self._script_dripping(conformance_server, self.success_reply("Hello from conformance", 11, 5))
        started = time.monotonic()
        error = self.send_expecting_error(conformance_server.url, timeout=self.short_timeout)
        elapsed = time.monotonic() - started
        assert isinstance(error, BackendTimeoutError)
        assert error.retryable is True
        assert elapsed < self.short_timeout * 4 + 1.0

    def test_dripping_stream_times_out(self, conformance_server: LoopbackServer) -> None:
        """A stream sent a byte at a time ends within the bound of its first event
        (``timeout``), in a retryable ``BackendTimeoutError``."""
        pieces = ["Hel", "lo, ", "stream", "ing world"]
        if self.supports_streaming:
            self._script_dripping(conformance_server, self.stream_reply(pieces, 9, 4))
        else:
            self._script_dripping(conformance_server, self.success_reply("".join(pieces), 9, 4))
        started = time.monotonic()
        with pytest.raises(BackendError) as info:
            self.run_with(conformance_server.url, self._collect, timeout=self.short_timeout)
        elapsed = time.monotonic() - started
        assert isinstance(info.value, BackendTimeoutError)
        assert info.value.retryable is True
        assert elapsed < self.short_timeout * 4 + 1.0

    def _script_dripping(self, server: LoopbackServer, reply: ScriptedReply) -> None:
        """Queue ``reply`` with its last reply dripped: a byte every third of the timeout."""
        replies = self._as_list(reply)
        last = replies[-1]
        assert isinstance(last, Reply), "the adapter's reply must be a Reply"
        replies[-1] = attrs.evolve(last, drip=self.short_timeout / 3)
        server.script(*replies)

    # -- health ------------------------------------------------------------------------------

    def test_health_check_true_when_provider_answers(
        self, conformance_server: LoopbackServer
    ) -> None:
        """The health check is True when the provider answers its health request."""
        self.script(conformance_server, self.health_reply())

        async def check(backend: BaseBackend) -> bool:
            return await backend.health_check()

        assert self.run_with(conformance_server.url, check) is True

    @pytest.mark.parametrize("failure", ["status_503", "refused"])
    def test_health_check_false_when_provider_fails(
        self, conformance_server: LoopbackServer, failure: str
    ) -> None:
        """The health check is False (or raises a ``BackendError``) when the provider fails."""
        if not self.checks_health:
            pytest.skip("this backend's health check does not ask the provider")
        url = conformance_server.url
        if failure == "refused":
            url = _closed_port_url()
        else:
            for _ in range(4):
                self.script(conformance_server, self.error_reply(503, "overloaded"))

        async def check(backend: BaseBackend) -> bool | BackendError:
            try:
                return await backend.health_check()
            except BackendError as exc:
                return exc

        result = self.run_with(url, check, timeout=2.0)
        if isinstance(result, BackendError):
            self.assert_no_secret(result)
        else:
            assert result is False

    # -- secrets ------------------------------------------------------------------------------

    def test_echoed_api_key_never_shows_in_error(
        self, conformance_server: LoopbackServer
    ) -> None:
        """A provider that echoes the key in its 401 message does not leak it through us."""
        self.script(
            conformance_server,
            self.error_reply(401, f"Incorrect API key provided: {SECRET_API_KEY}"),
        )
        error = self.send_expecting_error(conformance_server.url)
        assert isinstance(error, AuthenticationError)
        assert "Incorrect API key provided" in error.message

    # -- through the router ----------------------------------------------------------------------

    def test_router_answers_through_backend(self, conformance_server: LoopbackServer) -> None:
        """A router holding only this backend routes a request to it and counts the cost."""
        self.script(conformance_server, self.success_reply("routed answer", 10, 10))

        async def main() -> tuple[str, Any, float]:
            backend = self.make_backend(self.settings(conformance_server.url))
            plugins = ClaudettePlugins(autoload=False, plugins=[self.plugin] if self.plugin else [])
            async with BackendRouter(RouterOptions(health_checks=False), plugins=plugins) as router:
                router.register_backend(backend)
                response = await router.route_request(self.request())
                return backend.name, response, router.counters.cost_eur

        name, response, spent = asyncio.run(main())
        assert response.backend_used == name
        assert response.content == "routed answer"
        assert spent == pytest.approx(10 * _INPUT_PRICE + 10 * _OUTPUT_PRICE)

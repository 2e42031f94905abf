"""The shared skeleton of provider emulators: a loopback server plus scripted faults.

A provider plugin's emulator subclasses :class:`ScriptedEmulator`, implements
:meth:`~ScriptedEmulator._handle` in its provider's wire format, and asks
:meth:`~ScriptedEmulator._take_fault` which fault (if any) the current request gets: one
of the provider's own faults, or a :class:`~claudette.testing.faults.TransportFault` that
it applies to the reply it would have sent.

    class MyEmulator(ScriptedEmulator[MyFault]):
        def _handle(self, request):
            fault = self._take_fault()
            reply = self._answer(request)
            if isinstance(fault, TransportFault):
                return fault.apply(reply, self.keep_alive)
            ...
"""

from __future__ import annotations

import abc
import threading
from collections import deque
from collections.abc import Awaitable
from typing import Any, ClassVar, Generic, TypeVar

from claudette.testing.faults import TransportFault
from claudette.testing.server import Fault, LoopbackServer, RecordedRequest, Reply

__all__ = ["ScriptedEmulator"]

F = TypeVar("F")
E = TypeVar("E", bound="ScriptedEmulator[Any]")


class ScriptedEmulator(abc.ABC, Generic[F]):
    """A provider emulator's lifetime and fault script, on a real loopback socket.

    Faults are of the emulator's own type ``F`` or shared :class:`TransportFault`: queued ones
    (:meth:`script`) are used one per request, in order; then the standing one
    (:meth:`fail_always`), if any.

    :param host: the loopback address to bind.
    :param port: the port (0 picks a free one).
    """

    #: The provider's keep-alive in a stream, for the ``keep_alive_only`` fault (a blank
    #: line by default; an SSE comment, Anthropic's ``ping`` event ...).
    keep_alive: ClassVar[bytes] = b"\n"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = LoopbackServer(self._handle, host=host, port=port)
        self._lock = threading.Lock()
        self._faults: deque[F | TransportFault | None] = deque()
        self._always: F | TransportFault | None = None

    @abc.abstractmethod
    def _handle(self, request: RecordedRequest) -> Reply | Fault | Awaitable[Reply | Fault]:
        """Answer one request in the provider's wire format (may be a coroutine)."""

    # -- lifetime ---------------------------------------------------------------------

    def start(self: E) -> E:
        """Start serving; returns self."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self.server.stop()

    def __enter__(self: E) -> E:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT``."""
        return self.server.url

    # -- scripting --------------------------------------------------------------------

    def script(self, *faults: F | TransportFault | None) -> None:
        """Queue outcomes for the next requests that take faults, in order (None: a normal answer)."""
        with self._lock:
            self._faults.extend(faults)

    def fail_always(self, fault: F | TransportFault | None) -> None:
        """Apply ``fault`` to every such request with nothing queued (None: stop failing)."""
        with self._lock:
            self._always = fault

    def _clear_faults(self) -> None:
        """Forget queued faults and the standing one (call with ``self._lock`` held)."""
        self._faults.clear()
        self._always = None

    def _take_fault(self) -> F | TransportFault | None:
        """The fault for the current request: the next queued one, else the standing one."""
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            return self._always

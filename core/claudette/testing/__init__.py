"""What plugin authors import in their tests.

- :class:`LoopbackServer`, :class:`Reply`, :class:`Fault`: a real-socket HTTP server on
  loopback with scripted replies and faults.
- :class:`ScriptedEmulator`: the base of provider emulators (lifetime, fault script).
- The pytest plugin :mod:`claudette.testing.pytest_plugin` (auto-loaded through the
  ``pytest11`` entry point) provides the ``loopback_server`` fixture and friends.
"""

from claudette.testing.emulator import ScriptedEmulator
from claudette.testing.server import Fault, LoopbackServer, RecordedRequest, Reply

__all__ = ["Fault", "LoopbackServer", "RecordedRequest", "Reply", "ScriptedEmulator"]

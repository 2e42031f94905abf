"""What plugin authors import in their tests.

- :class:`LoopbackServer`, :class:`Reply`, :class:`Fault`: a real-socket HTTP server on
  loopback with scripted replies and faults.
- :class:`ScriptedEmulator`: the base of provider emulators (lifetime, fault script).
- :mod:`claudette.testing.faults`: the transport faults every provider emulator
  understands (:class:`TransportFault`: reset, hang, truncated JSON, a cut body ...).
- :mod:`claudette.testing.conformance`: the suite every backend can run.
- :mod:`claudette.testing.ordering`: plugins that fix the order of attempts
  (:class:`~claudette.testing.ordering.ByPriority`) and open breakers early
  (:class:`~claudette.testing.ordering.BreakAfter`).
- :mod:`claudette.testing.pytest_plugin`: the ``claudette_loopback_server`` and
  ``claudette_make_router`` fixtures, for a ``conftest.py`` that opts in with
  ``pytest_plugins = ["claudette.testing.pytest_plugin"]``.
"""

from claudette.testing import faults
from claudette.testing.emulator import ScriptedEmulator
from claudette.testing.faults import TransportFault
from claudette.testing.server import Fault, LoopbackServer, RecordedRequest, Reply

__all__ = [
    "Fault",
    "LoopbackServer",
    "RecordedRequest",
    "Reply",
    "ScriptedEmulator",
    "TransportFault",
    "faults",
]

"""Test helpers for the Claude backend: a loopback emulator of the Anthropic Messages API.

- :class:`AnthropicEmulator` — ``/v1/messages`` (JSON and named-event streams, byte for byte
  as the API frames them) and ``/v1/models`` on a real socket, with header and body checks,
  deterministic answers and a call log for reconciliation;
- :class:`AnthropicFault` — scriptable failures: 429 with ``retry-after``, 529, 500, 400,
  401, a proxy's 413, ``error`` events; resets, hangs, truncated bodies and cut streams are
  the shared transport faults of :mod:`claudette.testing.faults` (the emulator takes them
  as they are, or built by ``AnthropicFault.reset()`` ...).

Reusable by benchmarks, chaos tests and CLI tests (it runs in its own thread, so a
subprocess can talk to it too).
"""

from claudette_backend_claude.testing.emulator import AnthropicEmulator, EmulatorCall
from claudette_backend_claude.testing.faults import AnthropicFault

__all__ = ["AnthropicEmulator", "AnthropicFault", "EmulatorCall"]

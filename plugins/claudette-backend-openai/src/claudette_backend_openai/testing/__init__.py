"""Test helpers: an OpenAI-compatible server emulator on a real loopback socket.

- :class:`OpenAIEmulator`: answers ``/v1/chat/completions`` (JSON and SSE, byte for byte like
  recorded OpenAI transcripts), ``/v1/models`` and vLLM's ``/health``, deterministically,
  and logs every chat request (:class:`ChatRecord`) for reconciliation.
- :class:`ChatFault`: scripted failures (error statuses with real bodies and headers,
  resets, hangs, truncated JSON, cut streams, error events after 200, slow replies).

Used by this package's tests and by anything that needs an OpenAI-compatible upstream
(benchmarks, chaos tests, CLI tests, the demo).
"""

from __future__ import annotations

from claudette_backend_openai.testing.emulator import (
    FLAVOURS,
    ChatRecord,
    OpenAIEmulator,
    default_responder,
)
from claudette_backend_openai.testing.faults import ChatFault

__all__ = ["FLAVOURS", "ChatFault", "ChatRecord", "OpenAIEmulator", "default_responder"]

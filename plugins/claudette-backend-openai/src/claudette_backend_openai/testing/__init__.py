"""Test helpers: an OpenAI-compatible server emulator on a real loopback socket.

- :class:`OpenAIEmulator`: answers ``/v1/chat/completions`` (JSON and SSE, byte for byte like
  recorded OpenAI transcripts), ``/v1/models`` and vLLM's ``/health``, deterministically,
  and logs every chat request (:class:`ChatRecord`) for reconciliation.
- :class:`ChatFault`: scripted failures in OpenAI's format (error statuses with real bodies
  and headers, error events after 200, streams without ``[DONE]``); its ``reset``, ``hang``,
  ``truncated_json``, ``cut_body``, ``stream_cut`` and ``slow`` build the shared transport
  faults of :mod:`claudette.testing.faults`, which the emulator also takes as they are.

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

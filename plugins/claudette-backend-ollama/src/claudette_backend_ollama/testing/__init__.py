"""Test helpers for code that talks to Ollama: a protocol-faithful emulator on loopback.

    from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault

    with OllamaEmulator(models=["qwen2.5:7b"], reply="Hello there") as ollama:
        ollama.script(OllamaFault.status_error(500), OllamaFault.stream_cut(after_lines=1))
        ...  # point an OllamaBackend (base_url=ollama.url) or $OLLAMA_HOST at it
        assert ollama.chat_count == 2

Besides :class:`OllamaFault`, the emulator takes the shared transport faults of
:mod:`claudette.testing.faults` (``faults.reset()``, ``faults.cut_after(2)`` ...).

Reusable by benchmarks, chaos tests, CLI tests and demos: it runs in its own thread, so
both sync and async code can use it.
"""

from claudette_backend_ollama.testing._emulator import (
    ChatRecord,
    OllamaEmulator,
    default_prompt_tokens,
    model_not_found_message,
    pieces_of,
)
from claudette_backend_ollama.testing._faults import STATUS_MESSAGES, OllamaFault

__all__ = [
    "STATUS_MESSAGES",
    "ChatRecord",
    "OllamaEmulator",
    "OllamaFault",
    "default_prompt_tokens",
    "model_not_found_message",
    "pieces_of",
]

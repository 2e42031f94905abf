"""claudette backend for OpenAI Chat Completions, and the shared OpenAI-compatible protocol.

- :class:`OpenAIBackend`: OpenAI itself (plugin name ``openai``).
- :class:`OpenAICompatibleBackend`: the protocol, for subclasses serving compatible servers
  (vLLM, DashScope, llama.cpp, Ollama's ``/v1``).
- :func:`error_from_response`: the translation of error replies into claudette errors.
- :mod:`claudette_backend_openai.testing`: :class:`~claudette_backend_openai.testing.OpenAIEmulator`,
  a scriptable loopback emulator of the API.
"""

from __future__ import annotations

from claudette_backend_openai.backend import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    OpenAIBackend,
    default_settings,
)
from claudette_backend_openai.errors import error_details, error_from_event, error_from_response
from claudette_backend_openai.protocol import OpenAICompatibleBackend

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "OpenAIBackend",
    "OpenAICompatibleBackend",
    "__version__",
    "default_settings",
    "error_details",
    "error_from_event",
    "error_from_response",
]

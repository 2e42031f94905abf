"""claudette-backend-ollama: route claudette requests to an Ollama server.

Install it next to ``claudette-core`` and the router can use ``plugin = "ollama"``.
Test helpers (a protocol-faithful Ollama emulator) live in
:mod:`claudette_backend_ollama.testing`.
"""

from __future__ import annotations

from claudette_backend_ollama._errors import translate_error
from claudette_backend_ollama._host import DEFAULT_BASE_URL, HOST_ENV, base_url_from_host
from claudette_backend_ollama.backend import DEFAULT_MODEL, DEFAULT_SETTINGS, OllamaBackend

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_SETTINGS",
    "HOST_ENV",
    "OllamaBackend",
    "__version__",
    "base_url_from_host",
    "translate_error",
]

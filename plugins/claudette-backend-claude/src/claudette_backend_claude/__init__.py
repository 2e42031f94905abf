"""Anthropic Claude backend for claudette (the Messages API).

Install ``claudette-backend-claude`` and the router finds it through the entry point
``claude``; configure it with ``[backends.NAME] plugin = "claude"``. Test helpers (the
loopback API emulator) live in :mod:`claudette_backend_claude.testing`.
"""

from __future__ import annotations

from claudette_backend_claude._errors import ERROR_STATUS, translate_error
from claudette_backend_claude.backend import BASE_URL_ENV, DEFAULT_SETTINGS, ClaudeBackend

__version__ = "0.1.0"

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_SETTINGS",
    "ERROR_STATUS",
    "ClaudeBackend",
    "__version__",
    "translate_error",
]

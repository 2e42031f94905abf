"""The loggers claudette writes to, with secrets redacted.

:data:`logger` is claudette's own; :func:`get_logger` gives a plugin (or a module) a
logger of its own with the same redacting filter. A filter on a logger applies only to
records logged on that very logger, so every logger that may carry a secret gets one:
claudette's, the plugins' (through :func:`get_logger`), httpx's and httpcore's (whose
INFO line names each URL and whose DEBUG lines print response headers), and aiohttp's
client loggers (``http_client = "aiohttp"``).
"""

from __future__ import annotations

import logging

from claudette._redact import install_log_filter

__all__ = ["HTTP_LOGGERS", "get_logger", "logger"]

#: The loggers of the HTTP stack, each given the redacting filter on import.
HTTP_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp.client",
    "aiohttp.internal",
)

#: claudette's logger; plugins log through it or through :func:`get_logger`.
logger = logging.getLogger("claudette")
install_log_filter(logger)


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` with claudette's redacting filter attached (registered keys,
    URL passwords and secret header values are masked in every record it logs)."""
    named = logging.getLogger(name)
    install_log_filter(named)
    return named


for _name in HTTP_LOGGERS:
    get_logger(_name)

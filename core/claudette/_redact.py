"""A process-wide set of secrets that must never be shown, and the function that hides them."""

from __future__ import annotations

import logging
import threading

_MIN_SECRET_LENGTH = 6
_secrets: set[str] = set()
_lock = threading.Lock()
_MASK = "***"


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` hides it everywhere from now on."""
    if secret and len(secret) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    if not _secrets:
        return text
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def mask(secret: str | None) -> str:
    """Show that a secret is set without showing any of it."""
    return "None" if secret is None else f"'{_MASK}'"


class RedactingFilter(logging.Filter):
    """A logging filter that hides registered secrets in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg = cleaned
                record.args = None
        return True


def install_log_filter(logger: logging.Logger) -> None:
    """Attach one :class:`RedactingFilter` to ``logger`` (idempotent)."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())

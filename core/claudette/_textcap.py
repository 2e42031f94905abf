"""Bounding text that a provider controls before claudette keeps or shows it.

A provider's error message, error type or request id ends up in exceptions, in
``NoBackendAvailableError.reasons``, in logs and on the CLI's stderr. A provider that
answers with megabytes of text must not make every one of those megabytes long:
:func:`cap_text` keeps the start and says how much was cut.
"""

from __future__ import annotations

__all__ = ["MAX_FIELD_CHARS", "MAX_MESSAGE_CHARS", "cap_text"]

#: The most characters of a provider's message an error keeps.
MAX_MESSAGE_CHARS = 2000
#: The most characters of a short provider field (error type, request id) an error keeps.
MAX_FIELD_CHARS = 200


def cap_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` when it has at most ``limit`` characters, else its start and a note of the cut.

    The note names the number of characters left out, so a reader knows the text was
    longer (``... [cut: 18,000,000 more characters]``).
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text) - limit:,} more characters]"

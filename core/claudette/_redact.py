"""Hiding secrets: the process-wide registry of them, and the ways claudette masks them.

- :func:`register_secret` remembers a key; :func:`redact` hides every remembered one in
  a text (exceptions, logs and CLI output pass through it).
- :func:`is_secret_name` tells which header or option names carry a secret
  (``authorization``, ``api-key``, ``x-api-key``, anything naming a key, token, secret,
  password, cookie or session); :func:`masked_mapping` shows such a mapping for a repr.
- :func:`mask_url` hides the user name and password of a URL (``http://***@host/``).
- :func:`describe` names the type and shape of a value without showing it (config errors).
- :class:`RedactingFilter` does all of it to log records, header lines of httpcore's
  DEBUG log included.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

__all__ = [
    "RedactingFilter",
    "describe",
    "install_log_filter",
    "is_secret_name",
    "mask",
    "mask_url",
    "masked_mapping",
    "redact",
    "register_secret",
    "register_secret_values",
    "url_has_userinfo",
]

_MIN_SECRET_LENGTH = 6
_secrets: set[str] = set()
_lock = threading.Lock()
_MASK = "***"

#: Names that carry a secret: these words anywhere, or these shorter ones as a whole word
#: between separators (so ``x-api-key`` and ``access_token`` match, ``max_tokens_field``
#: does not).
_SECRET_NAME = re.compile(
    r"apikey|api[-_.]key|secret|passw|credential|authori[sz]ation|cookie"
    r"|(?:^|[-_.\s])(?:key|token|auth|session|signature|pwd)(?:$|[-_.\s])",
    re.IGNORECASE,
)
#: ``scheme://userinfo@`` in a URL anywhere in a text.
_URL_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@?#'\"]+@")
#: A header as httpcore's DEBUG lines print it: ``(b'name', b'value')``.
_HEADER_TUPLE = re.compile(r"""\((b?)(['"])([^'"]*)\2, b?(['"])((?:\\.|(?!\4).)*)\4\)""")


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


def is_secret_name(name: object) -> bool:
    """Whether a header or option called ``name`` carries a secret (``Authorization``,
    ``api-key``, ``x-api-key``, ``X-Auth-Token``, ``cookie`` ...)."""
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def register_secret_values(values: Mapping[str, Any] | None) -> None:
    """Register the value of every secret-named entry of ``values`` (and the credential
    after an ``Authorization`` scheme such as ``Bearer``)."""
    for name, value in (values or {}).items():
        if is_secret_name(name) and isinstance(value, str):
            register_secret(value)
            _scheme, _, credential = value.partition(" ")
            register_secret(credential.strip())


def masked_mapping(values: Mapping[str, Any] | None) -> str:
    """A repr of ``values`` with the value of every secret-named entry shown as ``'***'``."""
    if not values:
        return "{}"
    shown = ", ".join(
        f"{name!r}: {mask('') if is_secret_name(name) else repr(value)}"
        for name, value in values.items()
    )
    return "{" + shown + "}"


def url_has_userinfo(url: str) -> bool:
    """Whether ``url`` carries a user name or password (``scheme://user:pass@host``)."""
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return False
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return "@" in authority


def mask_url(url: str) -> str:
    """``url`` with its user name and password, if any, replaced by ``***``."""
    return _URL_USERINFO.sub(rf"\g<1>{_MASK}@", url)


def describe(value: object) -> str:
    """The type and shape of ``value``, never its text: what a config error shows of a
    value that might be a secret put in the wrong place.

    Numbers, booleans and None are shown (they are what range errors are about); a
    string by its length, a list or table by its size and the types in it.
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 40 else f"an {type(value).__name__} of {len(text):,} digits"
    if isinstance(value, str):
        if not value:
            return "an empty str"
        return f"a str of {len(value):,} character{'s' if len(value) != 1 else ''}"
    if isinstance(value, (list, tuple, set, frozenset)):
        if not value:
            return f"an empty {type(value).__name__}"
        kinds = " and ".join(sorted({type(v).__name__ for v in value}))
        return f"a {type(value).__name__} of {len(value):,} {kinds}"
    if isinstance(value, Mapping):
        size = len(value)
        return f"a table of {size:,} key{'s' if size != 1 else ''}" if size else "an empty table"
    return f"a {type(value).__name__}"


def _clean(text: str) -> str:
    """``text`` with secrets, URL passwords and secret header values masked."""
    text = redact(text)
    if "://" in text and "@" in text:
        text = mask_url(text)
    if "(b'" in text or '(b"' in text:
        text = _HEADER_TUPLE.sub(_mask_header, text)
    return text


def _mask_header(match: re.Match[str]) -> str:
    if not is_secret_name(match.group(3)):
        return match.group(0)
    b, quote = match.group(1), match.group(4)
    return f"({b}{match.group(2)}{match.group(3)}{match.group(2)}, {b}{quote}{_MASK}{quote})"


class RedactingFilter(logging.Filter):
    """A logging filter that hides secrets in every record it passes: registered
    secrets, the password of a URL, and secret header values in httpcore's DEBUG lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _clean(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def install_log_filter(logger: logging.Logger) -> None:
    """Attach one :class:`RedactingFilter` to ``logger`` (idempotent)."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())

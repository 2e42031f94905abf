"""Where the Ollama server is: ``settings.base_url``, else ``$OLLAMA_HOST``, else localhost.

``$OLLAMA_HOST`` is read the way the Ollama CLI and the official Python client read it:
``host``, ``host:port``, ``http://host:port`` or ``https://host``. Without a scheme the
scheme is ``http`` and the port 11434; with a scheme and no port the scheme's own port.
The bind-all addresses ``0.0.0.0`` and ``::`` (what a server is often started with) are
reached through the loopback address.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_PORT", "HOST_ENV", "base_url_from_host", "resolve_base_url"]

#: The environment variable the Ollama tools read the server address from.
HOST_ENV = "OLLAMA_HOST"
#: Ollama's default port.
DEFAULT_PORT = 11434
#: Where Ollama listens when nothing else is configured.
DEFAULT_BASE_URL = f"http://localhost:{DEFAULT_PORT}"

_BIND_ALL = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}


def _shown(host: str) -> str:
    """``host`` as a message may show it: anything before an ``@`` is masked."""
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "", host
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"


def base_url_from_host(host: str) -> str:
    """The base URL for an ``$OLLAMA_HOST`` value.

    :raises ValueError: when the value has an unsupported scheme or no usable host.
    """
    raw = host.strip()
    if not raw:
        raise ValueError("the value is empty")
    if "@" in raw.partition("://")[2 if "://" in raw else 0].split("/", 1)[0]:
        raise ValueError(
            "a user name or password in the address is not supported "
            "(send credentials with the backend's headers)"
        )
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest, port = "http", raw, DEFAULT_PORT
    else:
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r} (use http or https)")
        port = 443 if scheme == "https" else 80
    try:
        split = urlsplit(f"{scheme}://{rest}")
        explicit_port = split.port
    except ValueError as exc:
        raise ValueError(f"cannot parse {_shown(host)!r}: {exc}") from None
    hostname = split.hostname
    if not hostname:
        raise ValueError(f"no host name in {_shown(host)!r}")
    if hostname in _BIND_ALL:
        netloc_host = _BIND_ALL[hostname]
    elif ":" in hostname:
        netloc_host = f"[{hostname}]"
    else:
        netloc_host = hostname
    path = split.path.rstrip("/")
    return f"{scheme}://{netloc_host}:{explicit_port or port}{path}"


def resolve_base_url(base_url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``base_url`` when set, else the URL from ``$OLLAMA_HOST``, else :data:`DEFAULT_BASE_URL`.

    :raises ValueError: when ``$OLLAMA_HOST`` is set to something unusable.
    """
    if base_url:
        return base_url.rstrip("/")
    env = os.environ if environ is None else environ
    host = env.get(HOST_ENV, "")
    if host.strip():
        try:
            return base_url_from_host(host)
        except ValueError as exc:
            raise ValueError(f"${HOST_ENV}={_shown(host)!r} is not a usable address: {exc}") from None
    return DEFAULT_BASE_URL

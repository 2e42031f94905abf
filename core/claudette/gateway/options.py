"""The ``[server]`` table: how ``claudette serve`` listens and whom it lets in.

    [server]
    host = "127.0.0.1"
    port = 8080
    workers = 1
    api_keys = ["${CLAUDETTE_GATEWAY_KEY}"]
    max_body_bytes = 4194304
    grace_period = 30
    http_client = "aiohttp"

Only attrs is imported here, so the config loader reads this table without the server's
dependencies.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from claudette._redact import register_secret
from claudette._validators import one_of
from claudette.types import HTTP_CLIENTS, HttpClient

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerOptions", "is_loopback"]

#: The largest request body the gateway reads, in bytes, unless configured otherwise.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


def _positive_int(_inst: object, attr: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attr.name} must be a whole number >= 1, got {value!r}")


def _port(_inst: object, attr: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"{attr.name} must be a port number from 0 to 65535, got {value!r}")


def _keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError("api_keys must be a list of strings")
    return tuple(value)


def _check_keys(_inst: object, attr: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for i, key in enumerate(value):
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"{attr.name}[{i}] must be a non-empty string")
        register_secret(key)


def _show_keys(value: tuple[str, ...]) -> str:
    return f"({len(value)} keys)"


@attrs.frozen
class ServerOptions:
    """How the gateway listens (the ``[server]`` table; ``claudette serve`` flags override it).

    :param host: the address to listen on; a non-loopback one needs ``api_keys`` (or
        ``--insecure``).
    :param port: the TCP port (0: a free one).
    :param workers: worker processes; with ``[state] url`` they share the router's state.
    :param api_keys: the keys a client may send as ``Authorization: Bearer KEY``; empty
        means no authentication. Never shown in reprs, logs or errors.
    :param max_body_bytes: the largest request body accepted (larger: HTTP 413).
    :param grace_period: seconds a stop waits for requests in flight before cancelling them.
    :param http_client: what carries the HTTP of every backend that does not set its own
        ``http_client``: ``aiohttp`` (the default: httpx's API over aiohttp's connection
        pool, which spends a fraction of httpx's own CPU per request at the concurrency a
        gateway sees) or ``httpx``.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8080, validator=_port)
    workers: int = attrs.field(default=1, validator=_positive_int)
    api_keys: tuple[str, ...] = attrs.field(
        default=(), converter=_keys, validator=_check_keys, repr=_show_keys
    )
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY_BYTES, validator=_positive_int)
    grace_period: int = attrs.field(default=30, validator=_positive_int)
    http_client: HttpClient = attrs.field(default="aiohttp", validator=one_of(*HTTP_CLIENTS))


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

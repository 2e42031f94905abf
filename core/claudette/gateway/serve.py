"""Running the gateway: uvicorn serves :class:`~claudette.gateway.app.GatewayApp`.

uvicorn (with uvloop and httptools) was picked by measurement on the gateway's own work:
against granian it added less latency and spent less CPU per request with one request in
flight, held less memory, and served as many requests under load (docs/gateway.md). It
runs the workers, and on SIGTERM/SIGINT stops accepting, lets the requests in flight
finish, and cancels those still running after the grace period.

Each worker builds its own router from the same config: the parent names the file in
:data:`CONFIG_ENV` (empty: auto-detection), and :func:`app_from_environment` is the factory
uvicorn calls in every worker. With several workers the parent has also named a private
``PROMETHEUS_MULTIPROC_DIR`` (:mod:`claudette.gateway.metrics`), so that ``/metrics``
counts what every worker served.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from claudette.gateway.app import GatewayApp
from claudette.gateway.metrics import prometheus_exposition, worker_exit
from claudette.gateway.options import ServerOptions, is_loopback

if TYPE_CHECKING:
    from claudette.router import BackendRouter

__all__ = ["CONFIG_ENV", "KEEP_ALIVE_SECONDS", "ServeRefused", "app_from_environment", "check_listen", "serve"]

#: The variable that hands the config file's path to the workers ("" for auto-detection).
CONFIG_ENV = "CLAUDETTE_GATEWAY_CONFIG"
_TARGET = "claudette.gateway.serve:app_from_environment"
#: Seconds an idle client connection is kept open. Longer than the idle expiry of the
#: clients' pools (httpx, and the OpenAI SDKs on it, drop theirs after 5 s) and of common
#: load balancers: a server that closes first can close a connection just as the client
#: reuses it, and that request fails with a read error.
KEEP_ALIVE_SECONDS = 75


class ServeRefused(Exception):
    """The gateway will not start as asked (the message says why and what to do)."""


def check_listen(options: ServerOptions, *, insecure: bool) -> None:
    """Refuse a non-loopback address without API keys, unless ``insecure``.

    :raises ServeRefused: saying how to configure keys.
    """
    if options.api_keys or insecure or is_loopback(options.host):
        return
    raise ServeRefused(
        f"refusing to listen on {options.host} without API keys: anyone who reaches it could "
        "spend your providers' credit. Set [server] api_keys = [\"${CLAUDETTE_GATEWAY_KEY}\"], "
        "or pass --insecure to serve without authentication anyway."
    )


def app_from_environment() -> GatewayApp:
    """The application of one worker, from the config named in :data:`CONFIG_ENV`."""
    path = os.environ.get(CONFIG_ENV) or None
    options = ServerOptions()
    if path is not None:
        from claudette.config import load_config

        options = load_config(path).server

    async def make_router() -> BackendRouter:
        from claudette._cli_load import load_router

        return (await load_router(path, None, http_client=options.http_client)).router

    return GatewayApp(make_router, options, metrics=prometheus_exposition(), on_shutdown=worker_exit)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host.strip("[]"), 0))
        return int(s.getsockname()[1])


@contextmanager
def _quiet_stop_signals() -> Iterator[None]:
    """Let SIGTERM and SIGINT end :func:`serve` with exit 0.

    After its graceful stop, uvicorn raises the signal that stopped it again, for the
    handler that was in place before it started; that handler is this no-op, so the stop
    ends in ``serve`` returning instead of in the default action (killed by SIGTERM, or
    KeyboardInterrupt).
    """
    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda signum, frame: None) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(options: ServerOptions, config_path: str | None) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code (0 after a clean stop).

    :param options: where to listen, how many workers, the grace period.
    :param config_path: the config file every worker loads (None: auto-detection).
    :raises ImportError: when the ``server`` extra is not installed.
    """
    if options.http_client == "aiohttp":
        import aiohttp  # noqa: F401 - fail here, with the install hint, not in a worker
    import uvicorn

    port = options.port or _free_port(options.host)
    os.environ[CONFIG_ENV] = os.path.abspath(config_path) if config_path else ""
    host = f"[{options.host}]" if ":" in options.host else options.host
    workers = f"{options.workers} worker{'s' if options.workers != 1 else ''}"
    print(f"claudette: serving on http://{host}:{port} ({workers})", flush=True)
    with _quiet_stop_signals():
        uvicorn.run(
            _TARGET,
            factory=True,
            host=options.host,
            port=port,
            workers=options.workers,
            loop="auto",  # uvloop, which the extra installs where it builds
            http="auto",  # httptools, likewise
            ws="none",
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # the gateway reads no forwarded client address
            server_header=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=options.grace_period,
        )
    return 0

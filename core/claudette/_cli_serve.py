"""claudette serve: the OpenAI-compatible gateway (see docs/gateway.md)."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

import attrs

from claudette._cli_exit import EXIT_BACKEND, EXIT_OK, EXIT_USAGE, run_async
from claudette._cli_output import err

__all__ = ["cmd_serve"]


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve OpenAI's Chat Completions API through the router until SIGTERM or SIGINT.

    The config is read and every backend built once here, so that a bad config, a missing
    plugin or an empty router fails before any worker starts. Several workers get a shared
    metrics directory first (:func:`~claudette.gateway.metrics.multiprocess_directory`),
    before loading the plugins imports prometheus-client, and it is removed on exit.
    """
    with ExitStack() as stack:
        return _serve(args, stack)


def _serve(args: argparse.Namespace, stack: ExitStack) -> int:
    from claudette.gateway.metrics import multiprocess_directory
    from claudette.gateway.options import ServerOptions
    from claudette.gateway.serve import ServeRefused, check_listen

    found: list[tuple[ServerOptions, str | None]] = []

    async def prepare() -> int:
        from claudette._cli_load import load_router, no_backend_message
        from claudette.config import find_config, load_config
        from claudette.errors import ConfigError

        path = find_config(args.config)
        server = load_config(path).server if path is not None else ServerOptions()
        changes = {k: getattr(args, k) for k in ("host", "port", "workers") if getattr(args, k) is not None}
        try:
            server = attrs.evolve(server, **changes)
        except ValueError as exc:
            raise ConfigError([str(exc)], "the command line") from None
        stack.enter_context(multiprocess_directory(server.workers))
        loaded = await load_router(str(path) if path is not None else None, None)
        try:
            if not loaded.router.backends:
                no_backend_message(loaded)
                return EXIT_BACKEND
            err(f"claudette: backends from {loaded.source}: {', '.join(loaded.router.backends)}")
        finally:
            await loaded.router.aclose()
        found.append((server, str(path) if path is not None else None))
        return EXIT_OK

    code = run_async(prepare)
    if code != EXIT_OK:
        return code
    options, path = found[0]
    try:
        check_listen(options, insecure=args.insecure)
    except ServeRefused as exc:
        err(f"claudette: {exc}")
        return EXIT_USAGE
    try:
        from claudette.gateway.serve import serve

        return serve(options, path)
    except ImportError as exc:
        err(f"claudette: serving needs `pip install 'claudette-core[server]'` ({exc})")
        return EXIT_USAGE

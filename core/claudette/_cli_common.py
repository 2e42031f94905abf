"""What the ``claudette`` commands share: finding the backends, and turning errors into exit codes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import attrs

from claudette._cli_output import err
from claudette.cli import EXIT_BACKEND, EXIT_CONFIG, EXIT_PLUGIN, EXIT_USAGE
from claudette.errors import (
    BackendError,
    ConfigError,
    NoBackendAvailableError,
    PluginError,
    RequestValidationError,
)

if TYPE_CHECKING:
    from claudette.plugins import ClaudettePlugins
    from claudette.router import BackendRouter
    from claudette.types import RouterOptions

__all__ = ["Loaded", "load_router", "print_config_error", "run_async"]


@attrs.define
class Loaded:
    """A router built for a command, and where its backends came from.

    :param router: the router, with every backend registered (close it when done).
    :param source: ``config PATH`` or ``auto-detection``.
    :param plugin_of: each backend's plugin name.
    :param notes: what auto-detection looked for and did not use.
    """

    router: BackendRouter
    source: str
    plugin_of: dict[str, str]
    notes: list[str]


def print_config_error(exc: ConfigError, *, to_stdout: bool = False) -> None:
    """Print every problem of ``exc`` as ``FILE: KEY.PATH: what was expected``."""
    from claudette._cli_output import out

    show = out if to_stdout else err
    source = exc.source or "configuration"
    for problem in exc.problems:
        show(f"{source}: {problem.path}: {problem.message}" if problem.path else f"{source}: {problem.message}")
    count = len(exc.problems)
    err(f"claudette: {count} configuration problem{'s' if count != 1 else ''} in {source}")


def _with_preset(options: RouterOptions, preset: str | None) -> RouterOptions:
    if preset is None:
        return options
    from claudette.types import WEIGHT_PRESETS

    cost, latency, availability = WEIGHT_PRESETS[preset]
    return attrs.evolve(
        options, cost_weight=cost, latency_weight=latency, availability_weight=availability
    )


def plugin_failure_for(exc: ConfigError, plugins: ClaudettePlugins) -> str | None:
    """When a config problem comes from a plugin that failed to load, that plugin's error."""
    failed = {f.plugin: str(f) for f in plugins.failures}
    for problem in exc.problems:
        for name, message in failed.items():
            if problem.path.endswith(".plugin") and f"registered {name!r}" in problem.message:
                return message
    return None


async def load_router(config_path: str | None, preset: str | None) -> Loaded:
    """The router for a command: from the config file if one is found, else auto-detected.

    :raises ConfigError: when a named config is missing, or the config is invalid.
    :raises PluginError: when a configured backend's plugin failed to load.
    """
    from claudette.config import find_config, load_config
    from claudette.factory import router_from_config
    from claudette.plugins import get_plugin_manager
    from claudette.types import RouterOptions

    plugins = get_plugin_manager()
    path = find_config(config_path)
    if path is not None:
        config = load_config(path)
        config = attrs.evolve(config, router=_with_preset(config.router, preset))
        try:
            router = router_from_config(config, plugins=plugins)
        except ConfigError as exc:
            failure = plugin_failure_for(exc, plugins)
            if failure is not None:
                raise PluginError(failure, "config") from exc
            raise
        plugin_of = {b.name: b.plugin for b in config.backends}
        return Loaded(router, f"config {path}", plugin_of, [])

    from claudette.autodetect import detect_backends, router_from_detection

    detection = await detect_backends(plugins.registry)
    options = RouterOptions.preset(preset or "balanced")
    router, skipped = router_from_detection(detection, plugins, options)
    plugin_of = {b.name: b.plugin for b in detection.backends}
    return Loaded(router, "auto-detection", plugin_of, [*skipped, *detection.notes])


def explain_source(loaded: Loaded) -> None:
    """Say on stderr where the backends came from (for ``-v`` and empty results)."""
    err(f"claudette: backends from {loaded.source}: {', '.join(loaded.router.backends) or 'none'}")
    for note in loaded.notes:
        err(f"claudette:   {note}")


def no_backend_message(loaded: Loaded) -> None:
    """Explain on stderr that nothing is configured, and how to configure something."""
    err("claudette: no backend is configured or detected.")
    for note in loaded.notes:
        err(f"claudette:   {note}")
    err(
        "claudette: write a claudette.toml (see `claudette config check --help` and docs/cli.md), "
        "or set OPENAI_API_KEY / ANTHROPIC_API_KEY / DASHSCOPE_API_KEY, or start Ollama."
    )


def run_async(command: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run an async command and turn claudette's errors into exit codes and messages."""
    try:
        return asyncio.run(command())
    except ConfigError as exc:
        print_config_error(exc)
        return EXIT_CONFIG
    except PluginError as exc:
        err(f"claudette: {exc}")
        err("claudette: see `claudette plugins` for every plugin and its error")
        return EXIT_PLUGIN
    except RequestValidationError as exc:
        err(f"claudette: invalid request: {exc}")
        return EXIT_USAGE
    except NoBackendAvailableError as exc:
        err(f"claudette: no backend could answer: {exc.message}")
        for name, why in sorted(exc.reasons.items()):
            err(f"claudette:   {name}: {why}")
        return EXIT_BACKEND
    except BackendError as exc:
        err(f"claudette: the backend failed: {exc}")
        return EXIT_BACKEND

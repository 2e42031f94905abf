"""Where a ``claudette`` command's backends come from: the config file, else auto-detection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

import attrs

from claudette._cli_output import err
from claudette.errors import ConfigError, PluginError

if TYPE_CHECKING:
    from claudette.autodetect import DetectedBackend
    from claudette.config import BackendConfig
    from claudette.plugins import ClaudettePlugins
    from claudette.router import BackendRouter
    from claudette.types import HttpClient

__all__ = ["Loaded", "explain_source", "load_router", "no_backend_message", "plugin_failure_for"]


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


def plugin_failure_for(exc: ConfigError, plugins: ClaudettePlugins) -> str | None:
    """When a config problem comes from a plugin that failed to load, that plugin's error."""
    failed = {f.plugin: str(f) for f in plugins.failures}
    for problem in exc.problems:
        for name, message in failed.items():
            if problem.path.endswith(".plugin") and f"registered {name!r}" in problem.message:
                return message
    return None


async def load_router(
    config_path: str | None, preset: str | None, *, http_client: HttpClient | None = None
) -> Loaded:
    """The router for a command: from the config file if one is found, else auto-detected.

    :param preset: a weight preset that replaces the configured weights (``--preset``).
    :param http_client: what carries the HTTP of every backend that does not set its own
        ``http_client`` (None: each backend's own setting, else httpx).
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
        try:
            config = load_config(path, registry=plugins.registry)
            if http_client is not None:
                config = attrs.evolve(config, backends=_filled(config.backends, http_client))
            if preset is not None:
                config = attrs.evolve(config, router=config.router.with_preset(preset))
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
    if http_client is not None:
        detection = attrs.evolve(detection, backends=_filled(detection.backends, http_client))
    options = RouterOptions() if preset is None else RouterOptions.preset(preset)
    router, skipped = router_from_detection(detection, plugins, options)
    plugin_of = {b.name: b.plugin for b in detection.backends}
    return Loaded(router, "auto-detection", plugin_of, [*skipped, *detection.notes])


_Configured = TypeVar("_Configured", "BackendConfig", "DetectedBackend")


def _filled(backends: Iterable[_Configured], http_client: HttpClient) -> tuple[_Configured, ...]:
    """``backends``, each without an ``http_client`` of its own given ``http_client``."""
    return tuple(
        b
        if b.settings.http_client is not None
        else attrs.evolve(b, settings=attrs.evolve(b.settings, http_client=http_client))
        for b in backends
    )


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

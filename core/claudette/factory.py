"""Build a ready :class:`~claudette.router.BackendRouter` from a :class:`ClaudetteConfig`,
or (:func:`open_router`) from whatever the ``claudette`` command would use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from claudette._redact import describe
from claudette.errors import ConfigError, ConfigProblem, PluginError
from claudette.router import BackendRouter

if TYPE_CHECKING:
    from claudette.config import ClaudetteConfig
    from claudette.ledger import CostLedger
    from claudette.plugins import ClaudettePlugins
    from claudette.state import StateStore

__all__ = ["ledger_from_config", "open_router", "router_from_config", "store_from_config"]


def store_from_config(config: ClaudetteConfig) -> StateStore | None:
    """The state store the ``[state]`` table asks for; None means the in-memory default.

    ``[state] url = "redis://host:port/db"`` selects the shared Redis store (needs the
    ``claudette-core[redis]`` extra).
    """
    url = config.state.get("url")
    if not url:
        return None
    if isinstance(url, str) and url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from claudette.redis_store import RedisStateStore
        except ImportError as exc:
            raise ConfigError(
                [ConfigProblem("state.url", f"a Redis store needs `pip install 'claudette-core[redis]'` ({exc})")],
                config.source,
            ) from None
        return RedisStateStore.from_config(dict(config.state), window=config.router.latency_window)
    raise ConfigError(
        [ConfigProblem("state.url", f"expected a redis:// URL, got {describe(url)}")], config.source
    )


def ledger_from_config(config: ClaudetteConfig) -> CostLedger | None:
    """The cost ledger the ``[ledger]`` table asks for; None without one (or disabled).

    :raises ConfigError: when the file cannot be created or opened as a ledger.
    """
    options = config.ledger
    if options is None or not options.enabled:
        return None
    import sqlite3

    from claudette.ledger import CostLedger, default_ledger_path

    path = options.path or default_ledger_path()
    try:
        return CostLedger(path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            [ConfigProblem("ledger.path", f"cannot open a cost ledger at {path}: {exc}")],
            config.source,
        ) from None


def router_from_config(
    config: ClaudetteConfig,
    *,
    plugins: ClaudettePlugins | None = None,
    store: StateStore | None = None,
) -> BackendRouter:
    """Create every configured backend through its plugin and register it with a router.

    :raises ConfigError: listing every backend whose plugin is missing or whose settings
        are invalid (all of them at once).
    """
    if plugins is None:
        from claudette.plugins import get_plugin_manager

        plugins = get_plugin_manager()
    router = BackendRouter(
        config.router,
        plugins=plugins,
        store=store if store is not None else store_from_config(config),
        ledger=ledger_from_config(config),
    )
    problems: list[ConfigProblem] = []
    for entry in config.backends:
        try:
            backend = plugins.registry.create(entry.plugin, entry.settings, instance_name=entry.name)
            router.register_backend(backend)
        except PluginError as exc:
            problems.append(ConfigProblem(f"backends.{entry.name}.plugin", str(exc)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems, config.source)
    return router


async def open_router(
    config_path: str | None = None,
    *,
    preset: str | None = None,
    plugins: ClaudettePlugins | None = None,
) -> BackendRouter:
    """A router as the ``claudette`` command builds one: from ``claudette.toml`` when one is
    found (``config_path``, else ``$CLAUDETTE_CONFIG``, else the usual places), else from
    the backends auto-detection finds in the environment.

    :param preset: a weight preset that replaces the configured weights.
    :raises ConfigError: when a named config is missing or the config is invalid.
    """
    from claudette.config import find_config, load_config

    if plugins is None:
        from claudette.plugins import get_plugin_manager

        plugins = get_plugin_manager()
    path = find_config(config_path)
    if path is not None:
        config = load_config(path)
        if preset is not None:
            config = attrs.evolve(config, router=config.router.with_preset(preset))
        return router_from_config(config, plugins=plugins)
    from claudette.autodetect import detect_backends, router_from_detection
    from claudette.types import RouterOptions

    detection = await detect_backends(plugins.registry)
    options = RouterOptions() if preset is None else RouterOptions.preset(preset)
    router, _ = router_from_detection(detection, plugins, options)
    return router

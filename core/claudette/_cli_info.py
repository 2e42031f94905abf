"""``claudette plugins``, ``claudette backends`` and ``claudette config check``."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from claudette._cli_exit import (
    EXIT_BACKEND,
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_PLUGIN,
    print_config_error,
    run_async,
)
from claudette._cli_load import explain_source, load_router, no_backend_message, plugin_failure_for
from claudette._cli_output import err, fmt_ms, out, out_json, table
from claudette.pricing import PRICES_EXTRA_HINT, price_table_available

if TYPE_CHECKING:
    from claudette.backend import BaseBackend

__all__ = ["cmd_backends", "cmd_config_check", "cmd_plugins"]

#: The hooks where only the first non-None answer counts, so their order matters.
FIRSTRESULT_HOOKS = ("claudette_score_backend", "claudette_breaker_policy")
_INTERNAL_DIST = "claudette-core"


# -- claudette plugins --------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    """List plugins, the backends they register, the firstresult hook order, and failures."""
    from claudette.plugins import get_plugin_manager

    pm = get_plugin_manager()
    infos = pm.plugin_infos()
    loaded = [i for i in infos if i.error is None]
    failed = [i for i in infos if i.error is not None]
    external = [i for i in loaded if i.distribution != _INTERNAL_DIST]
    registrations = pm.registry.list()
    order = {hook: pm.hook_order(hook) for hook in FIRSTRESULT_HOOKS}

    if args.json:
        out_json(
            {
                "plugins": [
                    {
                        "name": i.name,
                        "distribution": i.distribution,
                        "version": i.version,
                        "hooks": list(i.hooks),
                        "builtin": i.distribution == _INTERNAL_DIST,
                    }
                    for i in loaded
                ],
                "backends": [
                    {
                        "name": r.name,
                        "plugin": r.plugin,
                        "class": f"{r.cls.__module__}.{r.cls.__qualname__}",
                        "model": r.defaults.model,
                        "base_url": r.defaults.base_url,
                    }
                    for r in registrations
                ],
                "hook_order": order,
                "failed": [
                    {"name": i.name, "distribution": i.distribution, "error": i.error} for i in failed
                ],
            }
        )
        return EXIT_PLUGIN if failed else EXIT_OK

    if external:
        out("Installed plugins:")
        rows = [[i.name, i.distribution or "?", i.version or "?", ", ".join(i.hooks)] for i in external]
        for line in table(["PLUGIN", "DISTRIBUTION", "VERSION", "HOOKS"], rows):
            out(f"  {line}")
    else:
        out("No backend plugin is installed.")
        out("  Install one, e.g.: pip install claudette-backend-ollama")
        out("  (openai, claude, qwen and ollama plugins exist; see docs/cli.md)")
    if registrations:
        out("")
        out("Backend types they register (use as plugin = \"NAME\" in claudette.toml):")
        rows = [
            [r.name, r.plugin or "?", r.defaults.model or "-", r.defaults.base_url or "-"]
            for r in registrations
        ]
        for line in table(["NAME", "PLUGIN", "DEFAULT MODEL", "DEFAULT URL"], rows):
            out(f"  {line}")
    out("")
    out("Hook order (firstresult hooks: the first non-None answer wins):")
    for hook, names in order.items():
        out(f"  {hook}: {' -> '.join(names) or '(none)'}")
    builtin = [i.name for i in loaded if i.distribution == _INTERNAL_DIST]
    if builtin:
        out(f"  (built-in defaults: {', '.join(builtin)})")
    if failed:
        out("")
        out("Plugins that failed to load:")
        for i in failed:
            origin = f" ({i.distribution})" if i.distribution else ""
            out(f"  {i.name}{origin}: {i.error}")
        err(f"claudette: {len(failed)} plugin{'s' if len(failed) != 1 else ''} failed to load")
        return EXIT_PLUGIN
    return EXIT_OK


# -- claudette backends -------------------------------------------------------------------


def _price_cell(row: Mapping[str, Any]) -> str:
    """``IN / OUT`` EUR per million tokens, ``unknown`` where a price is unknown."""
    cells = [
        "unknown" if row[key] is None else f"{row[key]:.4g}"
        for key in ("eur_per_1m_input", "eur_per_1m_output")
    ]
    return " / ".join(cells)


async def _timed_health(backend: BaseBackend, timeout: float) -> tuple[bool, float, str | None]:
    started = time.perf_counter()
    try:
        ok = await asyncio.wait_for(backend.refresh_health(), timeout)
        why = None if ok else "health check failed"
    except asyncio.TimeoutError:
        ok, why = False, f"no answer within {timeout:g}s"
    return ok, (time.perf_counter() - started) * 1000.0, why


def cmd_backends(args: argparse.Namespace) -> int:
    """Run each backend's health check and show health, breaker, latency, price, type, model."""

    async def run() -> int:
        loaded = await load_router(args.config, None)
        router = loaded.router
        try:
            if not router.backends:
                no_backend_message(loaded)
                if args.json:
                    out_json({"source": loaded.source, "backends": [], "notes": loaded.notes})
                return EXIT_BACKEND
            if args.verbose:
                explain_source(loaded)
            backends = [router.get_backend(info.name) for info in router.backend_infos()]
            checks = await asyncio.gather(*(_timed_health(b, args.timeout) for b in backends))
            status = router.breaker_status()
            rows: list[dict[str, Any]] = []
            infos = {info.name: info for info in router.backend_infos()}
            for backend, (ok, check_ms, why) in zip(backends, checks, strict=True):
                s = backend.settings
                misconfigured = infos[backend.name].misconfigured
                if misconfigured is not None:
                    ok, why = False, f"misconfigured: {misconfigured}"
                prices = backend.prices.to_dict()
                rows.append(
                    {
                        "name": backend.name,
                        "plugin": loaded.plugin_of.get(backend.name),
                        "type": s.backend_type or "cloud",
                        "model": s.model,
                        "healthy": ok,
                        "health_detail": why,
                        "misconfigured": misconfigured,
                        "health_check_ms": round(check_ms, 1),
                        "breaker": status.get(backend.name),
                        "avg_latency_ms": backend.stats.avg_latency_ms or None,
                        **prices,
                        "base_url": s.base_url,
                        "enabled": s.enabled,
                    }
                )
            healthy = sum(1 for r in rows if r["healthy"])
            pricing = {
                "usd_to_eur": router.options.usd_to_eur,
                "unknown_price_policy": router.options.unknown_price_policy,
                "price_table": price_table_available(),
            }
            unknown = [r["name"] for r in rows if r["price_source"] == "unknown"]
            if args.json:
                out_json(
                    {
                        "source": loaded.source,
                        "backends": rows,
                        "pricing": pricing,
                        "notes": loaded.notes,
                    }
                )
            else:
                cells = [
                    [
                        r["name"],
                        r["type"],
                        r["model"] or "-",
                        ("ok" if r["healthy"] else "MISCONFIGURED" if r["misconfigured"] else "FAILED")
                        + f" ({r['health_check_ms']:.0f} ms)",
                        r["breaker"] or "-",
                        fmt_ms(r["avg_latency_ms"]),
                        _price_cell(r),
                        r["price_source"],
                    ]
                    for r in rows
                ]
                headers = [
                    "BACKEND", "TYPE", "MODEL", "HEALTH", "BREAKER", "AVG LATENCY",
                    "EUR/1M TOKENS IN / OUT", "PRICE FROM",
                ]
                for line in table(headers, cells):
                    out(line)
                out(f"{healthy} of {len(rows)} healthy (backends from {loaded.source})")
                out(
                    f"prices: USD converted at {pricing['usd_to_eur']:g} EUR per USD "
                    f"([router] usd_to_eur); unknown prices: {pricing['unknown_price_policy']} "
                    "([router] unknown_price_policy)"
                )
                if unknown and not pricing["price_table"]:
                    err(f"claudette: price unknown for {', '.join(unknown)}: {PRICES_EXTRA_HINT}")
                elif unknown:
                    err(f"claudette: price unknown for {', '.join(unknown)}: set cost_per_token")
                for r in rows:
                    if not r["healthy"] and r["health_detail"]:
                        err(f"claudette: {r['name']}: {r['health_detail']}")
            return EXIT_OK if healthy else EXIT_BACKEND
        finally:
            await router.aclose()

    return run_async(run)


# -- claudette config check ------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate a config file: syntax, keys, plugins, each backend's settings; print every problem."""
    from claudette.config import config_search_path, find_config, load_config
    from claudette.errors import ConfigError
    from claudette.factory import router_from_config
    from claudette.plugins import get_plugin_manager

    try:
        path = find_config(args.path)
    except ConfigError as exc:
        print_config_error(exc, to_stdout=True)
        return EXIT_CONFIG
    if path is None:
        looked = ", ".join(str(p) for p in config_search_path(None))
        err(f"claudette: no config file found (looked in: {looked})")
        return EXIT_CONFIG
    plugins = get_plugin_manager()
    try:
        config = load_config(path, registry=plugins.registry)
    except ConfigError as exc:
        print_config_error(exc, to_stdout=True)
        failure = plugin_failure_for(exc, plugins)
        if failure is not None:
            err(f"claudette: {failure}")
            return EXIT_PLUGIN
        return EXIT_CONFIG
    try:
        router = router_from_config(config, plugins=plugins)
    except ConfigError as exc:
        print_config_error(exc, to_stdout=True)
        failure = plugin_failure_for(exc, plugins)
        if failure is not None:
            err(f"claudette: {failure}")
            return EXIT_PLUGIN
        return EXIT_CONFIG
    asyncio.run(router.aclose())
    names = ", ".join(f"{b.name} ({b.plugin})" for b in config.backends)
    options = config.router
    out(f"{path}: valid")
    out(f"  backends: {names or 'none'}")
    out(
        f"  weights: cost {options.cost_weight:g}, latency {options.latency_weight:g}, "
        f"availability {options.availability_weight:g}; fallback "
        f"{'on' if options.fallback_enabled else 'off'}, max attempts {options.max_attempts}"
    )
    if not config.backends:
        err(f"claudette: {path} configures no backend; `claudette ask` will have nothing to route to")
    return EXIT_OK

"""``claudette costs``: what the cost ledger says was spent, by backend, model or day."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from claudette._cli_exit import EXIT_CONFIG, EXIT_OK, EXIT_USAGE, print_config_error
from claudette._cli_output import err, fmt_eur, out, out_json, table

__all__ = ["cmd_costs", "parse_since"]

_UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: a span back from now (``30m``, ``24h``, ``7d``, ``2w``) or a UTC date
    (``2026-12-01``, ``2026-12-01T08:00``); the Unix time it means.

    :raises argparse.ArgumentTypeError: for anything else.
    """
    match = _SPAN.match(text)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a span such as 7d, 24h, 30m or 2w, or a date such as 2026-12-01; got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _ledger_paths(args: argparse.Namespace) -> list[Path] | int:
    """The ledger files to read: ``--ledger`` ones, else the config's, else the default."""
    if args.ledger:
        return [Path(p).expanduser() for p in args.ledger]
    from claudette.config import find_config, load_config
    from claudette.errors import ConfigError
    from claudette.ledger import default_ledger_path

    try:
        path = find_config(args.config)
        config = load_config(path) if path is not None else None
    except ConfigError as exc:
        print_config_error(exc)
        return EXIT_CONFIG
    if config is not None and config.ledger is not None and config.ledger.path:
        return [Path(config.ledger.path).expanduser()]
    return [default_ledger_path()]


def _plot(groups: Sequence[dict[str, Any]], by: str, path: str) -> str | None:
    """Draw the groups' EUR as bars into ``path``; an error message, or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "--plot needs matplotlib: pip install matplotlib"
    keys = [str(g[by]) for g in groups]
    values = [g["cost_eur"] for g in groups]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(keys) + 2), 3.6), layout="constrained")
    bars = ax.bar(keys, values, color="#4c72b0")
    ax.bar_label(bars, labels=[fmt_eur(v) for v in values], fontsize=8)
    ax.set_ylabel("EUR")
    ax.set_title(f"claudette costs by {by}")
    if by == "day" or len(keys) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def cmd_costs(args: argparse.Namespace) -> int:
    """Summarise one or more ledger files by backend, model or day; optionally plot them."""
    import sqlite3

    from claudette.ledger import read_rows, summarise

    paths = _ledger_paths(args)
    if isinstance(paths, int):
        return paths
    try:
        rows = read_rows(paths, args.since)
    except FileNotFoundError as exc:
        err(f"claudette: {exc} (turn the ledger on with a [ledger] table in claudette.toml)")
        return EXIT_CONFIG
    except sqlite3.Error as exc:
        err(f"claudette: cannot read the cost ledger ({', '.join(map(str, paths))}): {exc}")
        return EXIT_CONFIG
    groups = summarise(rows, args.by)
    total = sum(g["cost_eur"] for g in groups)
    unknown = sum(g["unknown_price"] for g in groups)
    since = (
        datetime.fromtimestamp(args.since, timezone.utc).isoformat(timespec="seconds")
        if args.since is not None
        else None
    )
    if args.plot:
        problem = _plot(groups, args.by, args.plot)
        if problem is not None:
            err(f"claudette: {problem}")
            return EXIT_USAGE
    if args.json:
        out_json(
            {
                "ledgers": [str(p) for p in paths],
                "since": since,
                "by": args.by,
                "groups": groups,
                "answers": len(rows),
                "total_eur": total,
                "unknown_price_answers": unknown,
            }
        )
        return EXIT_OK
    cells = [
        [
            str(g[args.by]),
            str(g["answers"]),
            str(g["cache_hits"]),
            str(g["tokens_input"]),
            str(g["tokens_output"]),
            fmt_eur(g["cost_eur"]),
            str(g["unknown_price"]) if g["unknown_price"] else "-",
        ]
        for g in groups
    ]
    headers = [args.by.upper(), "ANSWERS", "CACHE HITS", "TOKENS IN", "TOKENS OUT", "EUR", "PRICE UNKNOWN"]
    for line in table(headers, cells):
        out(line)
    scope = f" since {since}" if since else ""
    out(f"total {fmt_eur(total)} for {len(rows)} answers{scope} ({', '.join(map(str, paths))})")
    if unknown:
        err(
            f"claudette: {unknown} answers had no known price and count as €0 "
            "(set cost_per_token, or install claudette-core[prices])"
        )
    if args.plot:
        err(f"claudette: plot written to {args.plot}")
    return EXIT_OK

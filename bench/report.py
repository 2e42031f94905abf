"""The report: the targets with PASS/FAIL, the tables, the plot, filled into ``template.md``."""

# ruff: noqa: RUF001, RUF002, RUF003  (the report writes −, –, × and ÷ on purpose)
from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).parent / "template.md"
#: claudette − raw httpx at one in flight, at most (µs); LiteLLM's added time ÷ claudette's, at least.
MAX_ADDED_US = 150.0
MIN_LITELLM_RATIO = 30.0
MODES = {"send": "non-streamed", "stream": "to first chunk"}
NAMES = {"raw": "raw httpx", "claudette": "claudette", "litellm": "LiteLLM"}


def _n(x: float | None, digits: int = 0) -> str:
    if x is None or math.isnan(x):
        return "–"
    return "∞" if math.isinf(x) else f"{x:,.{digits}f}"


def _spread(s: dict[str, float] | None, digits: int = 0, unit: str = "") -> str:
    """``median (min–max)``, or the median alone for one run."""
    if not s:
        return "–"
    text = _n(s["median"], digits)
    if s["min"] != s["max"]:
        text += f" ({_n(s['min'], digits)}–{_n(s['max'], digits)})"
    return text + unit


def targets(results: dict[str, Any]) -> list[tuple[str, str]]:
    """Each target's verdict (PASS, FAIL or SKIP when not measured) and its line."""
    out: list[tuple[str, str]] = []
    one = results.get("one_in_flight", {})
    for mode, label in MODES.items():
        added = one.get(mode, {}).get("claudette_added_us")
        if added is None:
            out.append(("SKIP", f"claudette − raw httpx, 1 in flight, {label}: not measured"))
            continue
        ok = added["median"] <= MAX_ADDED_US
        line = f"claudette − raw httpx, 1 in flight, {label}: {_n(added['median'])} µs"
        out.append(("PASS" if ok else "FAIL", f"{line} (target ≤ {MAX_ADDED_US:.0f} µs)"))
    for mode, label in MODES.items():
        cl = one.get(mode, {}).get("claudette_added_us")
        ll = one.get(mode, {}).get("litellm_added_us")
        if cl is None or ll is None:
            why = results.get("skipped", {}).get("litellm", "not measured")
            out.append(("SKIP", f"LiteLLM's added time ÷ claudette's, 1 in flight, {label}: {why}"))
            continue
        ratio = ll["median"] / cl["median"] if cl["median"] > 0 else math.inf
        line = (
            f"LiteLLM's added time ÷ claudette's, 1 in flight, {label}: {_n(ratio)}× "
            f"({_n(ll['median'])} µs vs {_n(cl['median'])} µs; target ≥ {MIN_LITELLM_RATIO:.0f}×)"
        )
        out.append(("PASS" if ratio >= MIN_LITELLM_RATIO else "FAIL", line))
    return out


def _table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    return "\n".join("| " + " | ".join(r) + " |" for r in [header, align, *rows])


def _one_in_flight(one: dict[str, Any]) -> str:
    rows = []
    for mode, label in MODES.items():
        m = one.get(mode, {})
        rows.append(
            [
                f"{label} (p50)",
                _spread(m.get("raw_ms"), 3, " ms"),
                _spread(m.get("claudette_ms"), 3, " ms"),
                _spread(m.get("claudette_added_us"), 0, " µs"),
                _spread(m.get("litellm_ms"), 3, " ms"),
                _spread(m.get("litellm_added_us"), 0, " µs"),
            ]
        )
    return _table(
        ["", "raw httpx", "claudette", "claudette − raw", "LiteLLM", "LiteLLM − raw"], rows
    )


def _load(load: dict[str, Any]) -> str:
    rows = [
        [
            NAMES[name],
            mode,
            _spread(f["rps"]),
            _spread(f["cpu_us"]),
            _spread(f["p50_ms"], 1),
            _spread(f["p99_ms"], 1),
        ]
        for name, modes in load.items()
        for mode, f in modes.items()
    ]
    return _table(["client", "mode", "requests/s", "CPU µs per request", "p50 ms", "p99 ms"], rows)


def _patterns(patterns: dict[str, Any]) -> str:
    rows = [[name, _n(r["cpu_us"], 1), f"{r['added_us']:+.1f}"] for name, r in patterns.items()]
    return _table(["configuration", "CPU µs per request", "added µs"], rows)


def _select(select: dict[str, float]) -> str:
    counts = sorted(select, key=int)
    text = _table(["backends", *counts], [["µs per decision", *(_n(select[n], 1) for n in counts)]])
    if len(counts) > 1:
        a, b = counts[-2], counts[-1]
        each = (select[b] - select[a]) / (int(b) - int(a))
        text += f"\n\nEach backend beyond {a} adds {_n(each, 2)} µs per decision."
    return text


def _imports(imports: dict[str, float | None]) -> str:
    rows = [
        [f"`{stmt}`", "not installed" if ms is None else _n(ms)] for stmt, ms in imports.items()
    ]
    table = _table(["import", "ms"], rows)
    return f"Start-up, each import in a fresh interpreter (median ms):\n\n{table}"


def _memory(mem: dict[str, Any]) -> str:
    return (
        f"Memory (tracemalloc): a router with one `openai` backend and its HTTP client takes "
        f"{_n(mem['router_kib'], 1)} KiB; each request in flight (64 at once) holds "
        f"{_n(mem['in_flight_kib'], 2)} KiB. The peak RSS grows by {_n(mem['rss_growth_kib'])} KiB "
        f"from 1,000 to {mem['requests']:,} routed requests."
    )


def plot(samples: dict[str, dict[str, list[float]]], path: Path) -> bool:
    """Latency distributions at one in flight, per mode and client; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter, ScalarFormatter
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(MODES), figsize=(11, 4))
    colors = {"raw": "#444444", "claudette": "#1f77b4", "litellm": "#d62728"}
    for ax, (mode, label) in zip(axes, MODES.items(), strict=True):
        for name, values in samples.get(mode, {}).items():
            xs = sorted(values)
            ax.step(
                xs,
                [(i + 1) / len(xs) for i in range(len(xs))],
                label=NAMES[name],
                color=colors[name],
                where="post",
            )
        ax.set(xscale="log", xlabel="ms", ylabel="share of requests", title=f"1 in flight, {label}")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def render(results: dict[str, Any], plot_path: str | None = None) -> str:
    """The whole report: ``template.md`` filled with ``results``."""
    meta, prof = results["meta"], results["profile_settings"]
    run = (
        f"`{meta['command']}` ({results['profile']} profile, {_n(meta['elapsed_s'])} s) "
        f"on {meta['date']}, commit `{meta['commit']}`; {meta['machine']}; "
        f"upstream: {meta['upstream']}; {meta['versions']}."
    )
    plotted = f"![latency at one request in flight]({plot_path})" if plot_path else ""
    fields = {
        "run": run,
        "targets": "\n".join(f"- **{verdict}** {line}" for verdict, line in targets(results)),
        "repeats": str(prof["repeats"]),
        "one_in_flight": _one_in_flight(results["one_in_flight"]),
        "plot": plotted or "(no plot: matplotlib is not installed)",
        "load_requests": f"{prof['load_requests']:,}",
        "load_litellm": f"{prof['load_litellm']:,}",
        "concurrency": str(prof["concurrency"]),
        "load": _load(results["load"]),
        "redis": results["redis"],
        "patterns": _patterns(results["patterns"]),
        "select": _select(results["select"]),
        "imports": _imports(results["imports"]) if "imports" in results else "",
        "memory": _memory(results["memory"]),
    }
    return string.Template(TEMPLATE.read_text()).substitute(fields)

"""Turn the results into JSON, a Markdown report with the targets, and a latency plot."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

__all__ = ["evaluate_targets", "markdown", "plot", "write_all"]

CONCURRENCY = (1, 16, 64)
MODES = ("send", "stream")
COLORS = {"raw": "#444444", "claudette": "#1f77b4", "litellm": "#d62728"}
DOC_START = "<!-- bench:start -->"
DOC_END = "<!-- bench:end -->"


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:,.{digits}f}"


def _s(sp: dict[str, Any] | None, digits: int = 2) -> str:
    """``median (min–max)``."""
    if not sp or not sp.get("n"):
        return "–"
    if sp["n"] == 1:
        return _f(sp["median"], digits)
    return f"{_f(sp['median'], digits)} ({_f(sp['min'], digits)}–{_f(sp['max'], digits)})"


#: The yardsticks paired runs measure beside raw and claudette (``bench/contenders.py``):
#: result key and label.
YARDSTICKS = (
    ("floor", "contract floor"),
    ("plugin", "plugin alone"),
    ("transport", "httpx transport alone"),
)


def yardsticks_text(group: dict[str, Any], suffix: str) -> str:
    """``; contract floor N µs, plugin alone M µs, ...``: the yardsticks the run measured
    (``group[f"{key}_{suffix}"]``; a run from before a yardstick existed has none)."""
    parts = [
        f"{label} {_f(sp['median'], 0)} µs"
        for key, label in YARDSTICKS
        if (sp := group.get(f"{key}_{suffix}")) and sp.get("n")
    ]
    return "; " + ", ".join(parts) if parts else ""


def _yardstick_columns(groups: list[dict[str, Any]], suffix: str) -> list[tuple[str, str]]:
    """The yardsticks (key, label) that any of ``groups`` measured, in order."""
    return [(k, label) for k, label in YARDSTICKS if any(g.get(f"{k}_{suffix}") for g in groups)]


def _paired_added(paired_mode: dict[str, Any], concurrency: int) -> dict[str, Any] | None:
    """claudette's paired added time at ``concurrency`` in flight, if the run measured it."""
    if concurrency == 1:
        return paired_mode.get("added_p50_us")
    return paired_mode.get(f"c{concurrency}", {}).get("added_p50_us")


def _paired_added_cpu(paired_mode: dict[str, Any], concurrency: int) -> dict[str, Any] | None:
    """claudette's paired added CPU per request (measured at 64 in flight only)."""
    return paired_mode.get("c64_cpu", {}).get("added_cpu_us") if concurrency == 64 else None


def _target(name: str, measured: str, target: str, ok: bool | None, note: str = "") -> dict[str, Any]:
    return {"target": name, "measured": measured, "goal": target, "met": ok, "note": note}


def evaluate_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 6 with the measurement that decides it."""
    out: list[dict[str, Any]] = []
    d = r.get("derived", {})
    paired = r.get("paired", {})
    for mode, label, key in (("send", "non-streaming", "added_p50_us"), ("stream", "to first chunk", "added_ttfc_p50_us")):
        p = paired.get(mode, {}).get("added_p50_us")
        s = d.get(f"claudette/{mode}/c1", {}).get(key)
        if p or s:
            primary = p or s
            med = primary["median"]
            out.append(
                _target(
                    f"added time, 1 in flight, {label}",
                    f"{_f(med, 0)} µs paired (separate processes: {_s(s, 0)} µs)"
                    + yardsticks_text(paired.get(mode, {}), "added_p50_us"),
                    "≤ 50 µs",
                    med <= 50,
                    "paired = raw, claudette and the yardsticks in turn in one process; the other figure compares separate processes",
                )
            )
    for mode in MODES:
        cpu = d.get(f"claudette/{mode}/c64", {}).get("added_cpu_us_per_req")
        pcpu = paired.get(mode, {}).get("c64_cpu", {}).get("added_cpu_us")
        primary = pcpu or cpu
        if primary:
            measured = (
                f"{_f(pcpu['median'], 0)} µs paired (separate processes: {_s(cpu, 0)} µs)"
                + yardsticks_text(paired[mode]["c64_cpu"], "added_cpu_us")
                if pcpu
                else f"{_s(cpu, 0)} µs"
            )
            out.append(
                _target(
                    f"added CPU per request at 64 in flight ({mode})",
                    measured,
                    "≤ 60 µs",
                    primary["median"] <= 60,
                    "paired = bursts of 64 in flight, raw, claudette and the yardsticks in turn in one process, "
                    "against an in-memory transport; the other figure: separate processes against nginx"
                    if pcpu
                    else "",
                )
            )
    worst: float | None = None
    cells = []
    paired_used = False
    for mode in MODES:
        key = "added_ttfc_p50_us" if mode == "stream" else "added_p50_us"  # as in the table
        for c in CONCURRENCY:
            ll = d.get(f"litellm/{mode}/c{c}", {}).get(key)
            cl = _paired_added(paired.get(mode, {}), c)
            if cl:
                paired_used = True
            else:
                cl = d.get(f"claudette/{mode}/c{c}", {}).get(key)
            if not cl or not ll:
                continue
            ratio = ll["median"] / cl["median"] if cl["median"] > 0 else math.inf
            cells.append(f"{mode} c{c}: {_f(ratio, 0)}×")
            worst = ratio if worst is None else min(worst, ratio)
    cpu_cells = []
    for mode in MODES:
        for c in CONCURRENCY:
            cl = _paired_added_cpu(paired.get(mode, {}), c) or d.get(f"claudette/{mode}/c{c}", {}).get(
                "added_cpu_us_per_req"
            )
            ll = d.get(f"litellm/{mode}/c{c}", {}).get("added_cpu_us_per_req")
            if cl and ll:
                ratio = ll["median"] / cl["median"] if cl["median"] > 0 else math.inf
                cpu_cells.append(f"{mode} c{c}: {_f(ratio, 0)}×")
    # Stricter: LiteLLM's added time against claudette's whole own cost, measured above the
    # leanest httpx call (the transport alone) rather than above raw's AsyncClient.
    own_cells = []
    for mode in MODES:
        key = "added_ttfc_p50_us" if mode == "stream" else "added_p50_us"
        own = paired.get(mode, {}).get("own_p50_us")
        ll = d.get(f"litellm/{mode}/c1", {}).get(key)
        if own and ll and own["median"] > 0:
            own_cells.append(f"{mode} {_f(ll['median'] / own['median'], 0)}×")
    if worst is not None:
        out.append(
            _target(
                "claudette's added time ≥ 50× smaller than LiteLLM's (p50; streams: first chunk)",
                "; ".join(cells)
                + (f" — in added CPU per request: {'; '.join(cpu_cells)}" if cpu_cells else "")
                + (
                    " — LiteLLM's added time ÷ claudette's cost above the httpx transport alone, "
                    f"1 in flight: {'; '.join(own_cells)}"
                    if own_cells
                    else ""
                ),
                "≥ 50× everywhere",
                worst >= 50,
                (
                    "claudette's added time from the paired runs (raw and claudette in turn in one "
                    "process, at each concurrency), LiteLLM's from its own processes; "
                    if paired_used
                    else ""
                )
                + "∞ = claudette took no longer than raw httpx (added time ≤ 0)",
            )
        )
    ov = r.get("overhead")
    if ov:
        a = ov["cpu_us_added"]
        out.append(
            _target(
                "CPU the router adds per request, no HTTP (supporting figure)",
                f"{_s(a, 1)} µs",
                "≤ 60 µs",
                a["median"] <= 60,
                "in-process fake backend; immune to the upstream and to scheduling",
            )
        )
    sel = r.get("select")
    if sel:
        cpu = sel.get("cpu") or {}
        src = cpu if "10" in cpu and "100" in cpu else sel
        ten = src["10"]["median"]
        growth = src["100"]["median"] / ten if ten else None
        kind = "CPU time" if src is cpu else "wall time"
        out.append(
            _target(
                "select_backend with 10 backends",
                f"{_f(ten, 1)} µs/decision ({kind}; wall {_f(sel['10']['median'], 1)} µs)",
                "≤ 25 µs",
                ten <= 25,
            )
        )
        out.append(
            _target(
                "select_backend grows linearly",
                f"100 vs 10 backends: {_f(growth, 1)}× the {kind}",
                "≈ 10× (≤ 12×)",
                growth is not None and growth <= 12,
            )
        )
    imp = r.get("imports", {})
    cl, deps = imp.get("import claudette", {}), imp.get("deps: httpx+attrs+cattrs+pluggy", {})
    if "median_ms" in cl and "median_ms" in deps:
        ratio = cl["median_ms"] / deps["median_ms"]
        out.append(
            _target(
                "import claudette vs its dependencies (httpx+attrs+cattrs+pluggy)",
                f"{_f(cl['median_ms'], 1)} ms vs {_f(deps['median_ms'], 1)} ms = {_f(ratio, 2)}×",
                "≤ 1.2×",
                ratio <= 1.2,
            )
        )
    plug = r.get("plugins_on_import")
    if plug and "plugins_loaded_by_import" in plug:
        loaded = plug["plugins_loaded_by_import"]
        out.append(
            _target(
                "no plugin imported by import claudette",
                ", ".join(loaded) or "none",
                "none",
                not loaded,
                f"third-party modules it loads: {', '.join(plug.get('third_party_loaded', [])) or 'none'}",
            )
        )
    mem = r.get("memory")
    if mem:
        g = mem["rss_growth_mb"]
        out.append(
            _target(
                f"RSS growth 1,000 → {mem['requests']:,} requests",
                f"{_s(g, 2)} MB",
                "≤ 5 MB",
                g["median"] <= 5,
                "" if mem["requests"] >= 100000 else "quick run: fewer requests than the 100,000 of the target",
            )
        )
    return out


def _http_table(r: dict[str, Any]) -> list[str]:
    summ = r["http"]["summary"]
    lines = [
        "| contender | mode | in flight | p50 ms | p95 ms | p99 ms | first chunk p50 ms | req/s | CPU µs/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        for c in CONCURRENCY:
            for contender in r["contenders"]:
                s = summ.get(f"{contender}/{mode}/c{c}")
                if not s:
                    continue
                lines.append(
                    f"| {contender} | {mode} | {c} | {_s(s['p50_ms'])} | {_s(s['p95_ms'])} | {_s(s['p99_ms'])} | "
                    f"{_s(s.get('ttfc_p50_ms')) if mode == 'stream' else '–'} | {_s(s['rps'], 0)} | {_s(s['cpu_us_per_req'], 0)} |"
                )
    return lines


def _added_table(r: dict[str, Any]) -> list[str]:
    d = r["derived"]
    has_ll = "litellm" in r["contenders"]
    head = "| mode | in flight | claudette added p50 µs | claudette added CPU µs/req | claudette/raw p50 |"
    sep = "|---|---:|---:|---:|---:|"
    if has_ll:
        head += " LiteLLM added p50 µs | LiteLLM added CPU µs/req | LiteLLM/raw p50 | LiteLLM added ÷ claudette added |"
        sep += "---:|---:|---:|---:|"
    lines = [head, sep]
    for mode in MODES:
        for c in CONCURRENCY:
            cl = d.get(f"claudette/{mode}/c{c}")
            if not cl:
                continue
            key = "added_ttfc_p50_us" if mode == "stream" else "added_p50_us"
            row = f"| {mode}{' (first chunk)' if mode == 'stream' else ''} | {c} | {_s(cl[key], 0)} | {_s(cl['added_cpu_us_per_req'], 0)} | {_s(cl['ratio_p50'])} |"
            if has_ll:
                ll = d.get(f"litellm/{mode}/c{c}")
                if ll:
                    ratio = ll[key]["median"] / cl[key]["median"] if cl[key]["median"] > 0 else math.inf
                    row += f" {_s(ll[key], 0)} | {_s(ll['added_cpu_us_per_req'], 0)} | {_s(ll['ratio_p50'])} | {_f(ratio, 0)}× |"
            lines.append(row)
    return lines


def markdown(r: dict[str, Any], plot_name: str | None) -> str:
    """The report: machine, targets, tables, and how to reproduce."""
    m = r["machine"]
    lines = [
        f"Measured with `{r['command']}` ({r['profile']} profile, {r['elapsed_s']:.0f} s).",
        "",
        f"- Machine: {m['cores']} cores ({m.get('cpu') or 'unknown CPU'}), {m['implementation']} {m['python']}, {m['platform']}.",
        f"- Load average at start / end: {_load(m.get('loadavg_start'))} / {_load(m.get('loadavg_end'))} "
        "(a shared machine: other work running at the same time widens every spread)"
        + (f"; the bench ran at niceness {r['niceness']}." if r.get("niceness") else "."),
        f"- Machine speed (5M-step Python loop, best of 3, wall / CPU s): start {_cal(m.get('calibration_start'))}, "
        f"end {_cal(m.get('calibration_end'))}.",
        f"- Versions: claudette-core {m.get('claudette-core_version')}, httpx {m.get('httpx_version')}, litellm {m.get('litellm_version')}.",
        f"- claudette's OpenAI backend: {m.get('openai_plugin')}.",
    ]
    if "upstream" in r:
        lines.append(f"- Upstream: {r['upstream']['label']}.")
    for name, why in r.get("skipped", {}).items():
        lines.append(f"- {name}: {why}.")
    lines += [
        "- Every figure is the median of repeated runs with (min–max) across them; each contender runs in "
        "its own processes, interleaved raw, claudette, LiteLLM, raw ...",
        "",
    ]
    targets = evaluate_targets(r)
    if targets:
        lines += ["### Targets", "", "| target | measured | goal | met |", "|---|---|---|---|"]
        for t in targets:
            met = "yes" if t["met"] else ("no" if t["met"] is not None else "–")
            note = f" ({t['note']})" if t["note"] else ""
            lines.append(f"| {t['target']} | {t['measured']}{note} | {t['goal']} | {met} |")
        lines.append("")
    if "http" in r:
        lines += ["### Latency, throughput and CPU per request", ""] + _http_table(r) + [""]
        lines += ["### Added over raw httpx (same upstream, 100 connections each)", ""] + _added_table(r) + [""]
    if "paired" in r:
        lines += [
            "### Added time, paired (raw, claudette and the yardsticks in turn in one process, 1 in flight)",
            "",
            "Three yardsticks run in the same rotation (`bench/contenders.py`):",
            "",
            "- the **contract floor** (`ContractFloor`): raw's call wrapped in claudette's "
            "public types and nothing else (a `ClaudetteRequest` in, a `ClaudetteResponse` out, "
            "a `StreamChunk` per text piece through one async generator). What it adds is what "
            "the types alone cost;",
            "- the **plugin alone** (`PluginAlone`): the `openai` plugin's backend called "
            "directly, with no router: the provider protocol (the body built from the request, "
            "every reply event decoded and checked, the answer priced) over the backend's own "
            "HTTP client. What claudette adds above it is the router's (selection, breaker, "
            "deadline, fallback, accounting);",
            "- the **httpx transport alone** (`TransportAlone`): raw's exact request and reading, "
            "handed straight to httpx's transport, without `httpx.AsyncClient` (its cookie jar, "
            "auth and redirect loops, event hooks). It is below raw: the leanest call httpx "
            "allows. claudette's backends skip that machinery too (`claudette.client.DirectClient`), "
            "so **claudette above the transport alone** is claudette's own cost, all layers "
            "together.",
            "",
        ]
        rows = list(r["paired"].items())
        cols = _yardstick_columns([p for _, p in rows], "added_p50_us")
        lines += [
            "| mode | raw p50 ms | claudette p50 ms | added µs | "
            + "".join(f"{label} µs | " for _, label in cols)
            + "claudette above the transport alone µs |",
            "|---|---:|---:|---:|" + "---:|" * len(cols) + "---:|",
        ]
        for mode, p in rows:
            lines.append(
                f"| {mode} ({p['what']}) | {_s(p['raw_p50_ms'], 3)} | {_s(p['claudette_p50_ms'], 3)} "
                f"| {_s(p['added_p50_us'], 0)} | "
                + "".join(f"{_s(p.get(f'{k}_added_p50_us'), 0)} | " for k, _ in cols)
                + f"{_s(p.get('own_p50_us'), 0)} |"
            )
        lines.append("")
        cpu_rows = [(mode, p["c64_cpu"]) for mode, p in r["paired"].items() if "c64_cpu" in p]
        if cpu_rows:
            cols = _yardstick_columns([c for _, c in cpu_rows], "added_cpu_us")
            lines += [
                "CPU per request at 64 in flight, paired the same way (bursts of requests, one per "
                "client in turn in one process) against an in-memory httpx transport that "
                "answers the same recorded bodies (no upstream process, no sockets, no pool: the "
                "CPU is the clients' own):",
                "",
                "| mode | raw CPU µs/req | claudette CPU µs/req | added µs | "
                + "".join(f"{label} µs | " for _, label in cols)
                + "claudette above the transport alone µs |",
                "|---|---:|---:|---:|" + "---:|" * len(cols) + "---:|",
            ]
            for mode, c in cpu_rows:
                lines.append(
                    f"| {mode} | {_s(c['raw_cpu_us'], 0)} | {_s(c['claudette_cpu_us'], 0)} "
                    f"| {_s(c['added_cpu_us'], 0)} | "
                    + "".join(f"{_s(c.get(f'{k}_added_cpu_us'), 0)} | " for k, _ in cols)
                    + f"{_s(c.get('own_cpu_us'), 0)} |"
                )
            lines.append("")
        conc_rows = [
            (mode, c, p[f"c{c}"]) for mode, p in r["paired"].items() for c in CONCURRENCY if f"c{c}" in p
        ]
        if conc_rows:
            lines += [
                "Added time at 16 and 64 in flight, paired: short bursts (4 requests per worker) "
                "against the same upstream, raw and claudette in turn in one process, the order "
                "alternating; each round's p50 difference, then their median and quartiles over "
                "the rounds. At that concurrency a request mostly waits behind the others, so what "
                "a client adds per request shows multiplied by about the concurrency; the "
                "separate-process figures above drown it in their spread.",
                "",
                "| mode | in flight | rounds | raw p50 ms | claudette p50 ms | added µs (quartiles) |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for mode, c, x in conc_rows:
                what = " (first chunk)" if mode == "stream" else ""
                q = x.get("added_p50_us_quartiles")
                quartiles = f" ({_f(q[0], 0)}–{_f(q[1], 0)})" if q else ""
                lines.append(
                    f"| {mode}{what} | {c} | {x.get('rounds', '–')} | {_f(x['raw_p50_ms']['median'], 2)} "
                    f"| {_f(x['claudette_p50_ms']['median'], 2)} | {_f(x['added_p50_us']['median'], 0)}{quartiles} |"
                )
            lines.append("")
    if "formats" in r:
        lines += ["### Other wire formats (the project's Python emulators, 1 in flight, paired)", ""]
        lines += ["| format | mode | raw p50 ms | claudette p50 ms | added µs |", "|---|---|---:|---:|---:|"]
        for fmt, res in r["formats"].items():
            if "skipped" in res:
                lines.append(f"| {fmt} | skipped: {res['skipped']} | – | – | – |")
                continue
            for mode in MODES:
                x = res.get(mode, {})
                if "error" in x:
                    lines.append(f"| {fmt} | {mode}: error `{x['error'].splitlines()[-1][:120]}` | – | – | – |")
                elif x:
                    what = "first chunk" if mode == "stream" else "whole answer"
                    lines.append(f"| {fmt} | {mode} ({what}) | {_s(x['raw_p50_ms'], 3)} | {_s(x['claudette_p50_ms'], 3)} | {_s(x['added_p50_us'], 0)} |")
        lines.append("")
    if "overhead" in r:
        o = r["overhead"]
        lines += [
            "### The router alone (in-process fake backend, no HTTP, CPU time)",
            "",
            f"- Calling the backend directly: {_s(o['cpu_us_direct'], 1)} µs; through `route_request`: "
            f"{_s(o['cpu_us_routed'], 1)} µs; added by routing: **{_s(o['cpu_us_added'], 1)} µs** per request "
            "(selection, breaker, timeout, statistics, counters).",
            "",
        ]
    if "select" in r:
        s = r["select"]
        lines += ["### select_backend", "", "| backends | µs per decision (wall) | µs per decision (CPU) |", "|---:|---:|---:|"]
        for n in ("2", "10", "100"):
            if n in s:
                lines.append(f"| {n} | {_s(s[n], 1)} | {_s(s.get('cpu', {}).get(n), 1)} |")
        per = ", ".join(f"{k}: {_f(v, 2)} µs" for k, v in s.get("us_per_backend", {}).items())
        lines += ["", f"Cost per extra backend: {per}.", ""]
    if "memory" in r:
        mem = r["memory"]
        lines += [
            "### Memory (in-process fake backend, no HTTP)",
            "",
            f"- RSS growth from 1,000 to {mem['requests']:,} routed requests: {_s(mem['rss_growth_mb'], 2)} MB "
            f"(RSS at marks, last run: {', '.join(f'{int(k):,}: {v / 1e6:.1f} MB' for k, v in (mem.get('rss_marks_last_run') or {}).items())}).",
            f"- Held per in-flight request at 64 in flight: {_s(mem['kib_per_in_flight_tracemalloc'], 1)} KiB (tracemalloc), "
            f"{_s(mem['kib_per_in_flight_rss'], 1)} KiB (RSS rise ÷ 64).",
            "",
        ]
    if "imports" in r:
        lines += ["### Start-up (fresh interpreter each, median of several)", "", "| what | ms |", "|---|---:|"]
        for k, v in r["imports"].items():
            lines.append(f"| `{k}` | {_s({'n': 2, **{x: v[x + '_ms'] for x in ('median', 'min', 'max')}}, 1) if 'median_ms' in v else v.get('error')} |")
        for k, v in r.get("cli", {}).items():
            val = _s({"n": 2, **{x: v[x + "_ms"] for x in ("median", "min", "max")}}, 1) if "median_ms" in v else v.get("error")
            lines.append(f"| `{k}` (whole process) | {val} |")
        lines.append("")
    if plot_name:
        lines += [f"![latency distributions]({plot_name})", ""]
    lines += [
        "Reproduce: `nox -s bench` (full, about 15–20 minutes on 2 cores) or `nox -s bench -- --quick` "
        "(about two minutes; the LiteLLM import alone takes 6 s a time); raw results land in `bench-results/results.json`.",
    ]
    return "\n".join(lines) + "\n"


def _cal(v: Any) -> str:
    return f"{v['loop_wall_s']:.2f} / {v['loop_cpu_s']:.2f}" if v else "–"


def _load(v: Any) -> str:
    return ", ".join(f"{x:.2f}" for x in v) if v else "–"


def plot(r: dict[str, Any], path: Path) -> bool:
    """ECDFs of per-request latency (time to first chunk for streams), log x; False if no data."""
    samples = r.get("_samples")
    if not samples:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharey=True)
    for i, mode in enumerate(MODES):
        for j, c in enumerate(CONCURRENCY):
            ax = axes[i][j]
            for contender in r["contenders"]:
                vals = sorted(samples.get(f"{contender}/{mode}/c{c}", []))
                if not vals:
                    continue
                n = len(vals)
                ax.step(vals, [(k + 1) / n for k in range(n)], where="post", label=contender, color=COLORS.get(contender))
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.grid(True, which="both", alpha=0.3)
            what = "time to first chunk" if mode == "stream" else "request time"
            ax.set_title(f"{mode}, {c} in flight")
            ax.set_xlabel(f"{what} (ms, log)")
            if j == 0:
                ax.set_ylabel("fraction of requests")
            ax.legend(loc="lower right")
    m = r["machine"]
    fig.suptitle(
        f"claudette vs raw httpx vs LiteLLM — upstream {r.get('upstream', {}).get('kind', '?')}, "
        f"{m['cores']} cores, Python {m['python']} ({r['profile']} run)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_all(r: dict[str, Any], out: Path, *, publish: bool, root: Path) -> None:
    """results.json, results.md and bench-latency.png in ``out``; docs too with ``publish``."""
    out.mkdir(parents=True, exist_ok=True)
    r["targets"] = evaluate_targets(r)
    png = out / "bench-latency.png"
    has_plot = plot(r, png)
    earlier = Path(r["_plot"]) if r.get("_plot") else None
    if not has_plot and earlier is not None and earlier.exists():
        if earlier.resolve() != png.resolve():
            shutil.copyfile(earlier, png)
        has_plot = True
    public = {k: v for k, v in r.items() if not k.startswith("_")}
    (out / "results.json").write_text(json.dumps(public, indent=1, default=str))
    if r.get("_samples"):  # a re-render without them keeps the samples already there
        (out / "samples.json").write_text(json.dumps(r["_samples"]))
    md = markdown(r, png.name if has_plot else None)
    (out / "results.md").write_text(md)
    print(md)
    if publish:
        img = root / "docs" / "img"
        img.mkdir(parents=True, exist_ok=True)
        if has_plot:
            shutil.copyfile(png, img / "bench-latency.png")
        doc = root / "docs" / "performance.md"
        body = markdown(r, "img/bench-latency.png" if has_plot else None)
        block = f"{DOC_START}\n{body}{DOC_END}"
        text = doc.read_text() if doc.exists() else ""
        if DOC_START in text and DOC_END in text:
            before, rest = text.split(DOC_START, 1)
            after = rest.split(DOC_END, 1)[1]
            text = before + block + after
        else:
            text = (text.rstrip() + "\n\n" if text else "# Performance\n\n") + "## Latest results\n\n" + block + "\n"
        doc.write_text(text)

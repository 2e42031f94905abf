"""claudette's benchmark suite: claudette vs the physical limit (raw httpx) vs LiteLLM.

    python bench/run.py --quick        # small counts, about two minutes
    python bench/run.py                # the full run (about 15-20 minutes on 2 cores)
    nox -s bench -- --quick            # the same, in the bench virtualenv

Writes ``bench-results/results.json``, ``results.md`` and ``bench-latency.png``; with
``--publish`` also copies the table and plot into ``docs/performance.md`` and ``docs/img/``.
Every contender runs in its own processes, interleaved (raw, claudette, litellm, raw ...),
so that one's garbage collector or warm caches never slow another.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import formats  # noqa: E402
import imports  # noqa: E402
import report  # noqa: E402
from stats import spread, summarize_latencies  # noqa: E402
from upstream import start_upstream  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CONCURRENCY = (1, 16, 64)
MODES = ("send", "stream")
CONTENDERS = ("raw", "claudette", "litellm")

#: per profile: repeats, requests per concurrency (raw/claudette), LiteLLM's share of them ...
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "repeats": 3,
        "requests": {1: 60, 16: 96, 64: 192},
        "litellm_share": 0.3,
        "paired": 100,
        "paired_cpu": {"repeats": 2, "rounds": 4, "per_round": 256},
        "paired_concurrent": {"rounds": 4, "per_round": {16: 32, 64: 128}},
        "select_decisions": {2: 5000, 10: 2000, 100: 300},
        "overhead_requests": 5000,
        "memory_requests": 20000,
        "import_repeats": 3,
    },
    "full": {
        "repeats": 5,
        "requests": {1: 500, 16: 1000, 64: 2000},
        "litellm_share": 0.15,
        "paired": 1000,
        "paired_cpu": {"repeats": 3, "rounds": 10, "per_round": 640},
        # Short bursts (4 requests per worker), many rounds: the two clients see nearly
        # the same machine, and the median of 40 differences settles where 5 long runs
        # in separate processes did not.
        "paired_concurrent": {"rounds": 40, "per_round": {16: 64, 64: 256}},
        "select_decisions": {2: 50000, 10: 20000, 100: 2000},
        "overhead_requests": 30000,
        "memory_requests": 100000,
        "import_repeats": 7,
    },
}


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine_info() -> dict[str, Any]:
    """The machine the figures were taken on."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "cpu": platform.processor() or "",
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    for dist in ("claudette-core", "litellm", "httpx"):
        try:
            from importlib import metadata

            info[f"{dist}_version"] = metadata.version(dist)
        except Exception:
            info[f"{dist}_version"] = None
    cal = _python("micro.py", "calibrate")
    if cal.returncode == 0:
        info["calibration_start"] = json.loads(cal.stdout)
    from contenders import openai_plugin_module

    info["openai_plugin"] = openai_plugin_module()[1]
    return info


def _python(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=HERE)


def run_worker(contender: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One worker process for ``contender``; returns its scenario results."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps({**spec, "contender": contender}))
        p = _python("worker.py", str(spec_path), str(out_path))
        if p.returncode != 0:
            raise RuntimeError(f"{contender} worker failed:\n{p.stderr[-3000:]}")
        return json.loads(out_path.read_text())


def run_http(upstream: Any, prof: dict[str, Any], contenders: tuple[str, ...]) -> dict[str, Any]:
    """Latency, throughput and CPU per request: every contender, interleaved, ``repeats`` times."""
    runs: dict[str, list[list[dict[str, Any]]]] = {c: [] for c in contenders}
    for rep in range(prof["repeats"]):
        for contender in contenders:
            share = prof["litellm_share"] if contender == "litellm" else 1.0
            scenarios = [
                {
                    "mode": mode,
                    "concurrency": c,
                    "requests": max(c * 2, int(prof["requests"][c] * share)),
                    "warmup": max(c, 10),
                }
                for mode in MODES
                for c in CONCURRENCY
            ]
            spec = {"json_base": upstream.json_base, "sse_base": upstream.sse_base, "scenarios": scenarios}
            t = time.perf_counter()
            runs[contender].append(run_worker(contender, spec)["scenarios"])
            log(f"http repeat {rep + 1}/{prof['repeats']} {contender}: {time.perf_counter() - t:.1f}s")
    return summarize_http(runs)


def summarize_http(runs: dict[str, list[list[dict[str, Any]]]]) -> dict[str, Any]:
    """Per contender, mode and concurrency: each figure as median, min, max over repeats."""
    out: dict[str, Any] = {"per_run": {}, "summary": {}, "samples": {}}
    for contender, reps in runs.items():
        for rep in reps:
            for sc in rep:
                key = f"{contender}/{sc['mode']}/c{sc['concurrency']}"
                lat = summarize_latencies(sc["latency_ms"])
                fig = {
                    "p50_ms": lat["p50"],
                    "p95_ms": lat["p95"],
                    "p99_ms": lat["p99"],
                    "rps": sc["requests"] / sc["wall_s"],
                    "cpu_us_per_req": sc["cpu_s"] / sc["requests"] * 1e6,
                    "requests": sc["requests"],
                }
                if "ttfc_ms" in sc:
                    t = summarize_latencies(sc["ttfc_ms"])
                    fig.update(ttfc_p50_ms=t["p50"], ttfc_p95_ms=t["p95"], ttfc_p99_ms=t["p99"])
                out["per_run"].setdefault(key, []).append(fig)
                # keep the samples for the plot (time to first chunk for streams)
                out["samples"].setdefault(key, []).extend(sc.get("ttfc_ms", sc["latency_ms"]))
    for key, figs in out["per_run"].items():
        out["summary"][key] = {name: spread([f[name] for f in figs]) for name in figs[0]}
    return out


def derive(http: dict[str, Any], contenders: tuple[str, ...]) -> dict[str, Any]:
    """Added time and CPU over raw, per repeat (runs are paired by their index), then spread."""
    per_run = http["per_run"]
    out: dict[str, Any] = {}
    for mode in MODES:
        for c in CONCURRENCY:
            raw = per_run.get(f"raw/{mode}/c{c}")
            if not raw:
                continue
            for contender in contenders:
                if contender == "raw":
                    continue
                other = per_run.get(f"{contender}/{mode}/c{c}")
                if not other:
                    continue
                n = min(len(raw), len(other))
                d: dict[str, Any] = {}
                metrics = ["p50_ms", "p95_ms", "p99_ms", "cpu_us_per_req"]
                if mode == "stream":
                    metrics.append("ttfc_p50_ms")
                for m in metrics:
                    scale = 1.0 if m.startswith("cpu") else 1000.0  # ms -> µs
                    d[f"added_{m.replace('_ms', '_us')}"] = spread(
                        [(other[i][m] - raw[i][m]) * scale for i in range(n)]
                    )
                d["ratio_p50"] = spread([other[i]["p50_ms"] / raw[i]["p50_ms"] for i in range(n)])
                d["throughput_ratio"] = spread([other[i]["rps"] / raw[i]["rps"] for i in range(n)])
                out[f"{contender}/{mode}/c{c}"] = d
    return out


def _median_difference(a: list[float], b: list[float]) -> float:
    """The median of ``a[i] - b[i]``: two clients measured in the same rounds."""
    return statistics.median(x - y for x, y in zip(a, b, strict=True))


def run_paired(upstream: Any, prof: dict[str, Any]) -> dict[str, Any]:
    """Raw, claudette and the yardsticks (the contract floor, the plugin alone, the httpx
    transport alone) in turn in one process (1 in flight): the added time, paired; then the CPU per request at 64
    in flight, paired the same way; then raw and claudette's added time at 16 and 64 in
    flight, in paired bursts against the upstream."""
    out: dict[str, Any] = {}
    for mode in MODES:
        base = upstream.sse_base if mode == "stream" else upstream.json_base
        diffs, raws, cls = [], [], []
        yard: dict[str, list[float]] = {}
        for _ in range(prof["repeats"]):
            p = _python("micro.py", "paired", base, str(prof["paired"]), mode)
            if p.returncode != 0:
                raise RuntimeError(f"paired run failed:\n{p.stderr[-3000:]}")
            lat = json.loads(p.stdout)["latency_ms"]
            r50 = summarize_latencies(lat["raw"])["p50"]
            c50 = summarize_latencies(lat["claudette"])["p50"]
            raws.append(r50)
            cls.append(c50)
            diffs.append((c50 - r50) * 1000.0)
            for key, _ in report.YARDSTICKS:
                if key in lat:
                    yard.setdefault(key, []).append((summarize_latencies(lat[key])["p50"] - r50) * 1000.0)
        out[mode] = {
            "what": "p50 of time to first chunk" if mode == "stream" else "p50 of wall time",
            "raw_p50_ms": spread(raws),
            "claudette_p50_ms": spread(cls),
            "added_p50_us": spread(diffs),
            **{f"{key}_added_p50_us": spread(values) for key, values in yard.items()},
        }
        if "transport" in yard:  # claudette's own cost: above the leanest httpx call
            out[mode]["own_p50_us"] = spread([c - t for c, t in zip(diffs, yard["transport"], strict=True)])
        log(f"paired {mode}: added {out[mode]['added_p50_us']['median']:.0f} µs" + report.yardsticks_text(out[mode], "added_p50_us"))
        # CPU per request at 64 in flight, paired the same way (bursts in turn in one
        # process) against an in-memory transport: the precise form of the separate-process
        # CPU figure, without an upstream process competing for the two cores.
        pc = prof["paired_cpu"]
        raw_cpu, cl_cpu, added_cpu = [], [], []
        yard_cpu: dict[str, list[float]] = {}
        own_cpu: list[float] = []
        for _ in range(pc["repeats"]):
            p = _python("micro.py", "pairedcpu", str(pc["rounds"]), str(pc["per_round"]), mode)
            if p.returncode != 0:
                raise RuntimeError(f"paired CPU run failed:\n{p.stderr[-3000:]}")
            cpu = json.loads(p.stdout)["cpu_us"]
            raw_cpu.append(statistics.median(cpu["raw"]))
            cl_cpu.append(statistics.median(cpu["claudette"]))
            added_cpu.append(_median_difference(cpu["claudette"], cpu["raw"]))
            for key, _ in report.YARDSTICKS:
                if key in cpu:
                    yard_cpu.setdefault(key, []).append(_median_difference(cpu[key], cpu["raw"]))
            if "transport" in cpu:
                own_cpu.append(_median_difference(cpu["claudette"], cpu["transport"]))
        out[mode]["c64_cpu"] = {
            "raw_cpu_us": spread(raw_cpu),
            "claudette_cpu_us": spread(cl_cpu),
            "added_cpu_us": spread(added_cpu),
            **{f"{key}_added_cpu_us": spread(values) for key, values in yard_cpu.items()},
        }
        if own_cpu:
            out[mode]["c64_cpu"]["own_cpu_us"] = spread(own_cpu)
        log(
            f"paired {mode} CPU at 64 in flight: added {out[mode]['c64_cpu']['added_cpu_us']['median']:.0f} µs"
            + report.yardsticks_text(out[mode]["c64_cpu"], "added_cpu_us")
        )
        # Added time at 16 and 64 in flight, paired: bursts of raw and claudette in turn in
        # one process, against the same upstream (run_http's separate processes drown this
        # difference in their spread).
        pcc = prof["paired_concurrent"]
        for c, per_round in pcc["per_round"].items():
            p = _python("micro.py", "pairedc", base, str(pcc["rounds"]), str(per_round), mode, str(c))
            if p.returncode != 0:
                raise RuntimeError(f"paired run at {c} in flight failed:\n{p.stderr[-3000:]}")
            p50 = json.loads(p.stdout)["p50_ms"]
            added = [(cl - r) * 1000.0 for r, cl in zip(p50["raw"], p50["claudette"], strict=True)]
            q1, _, q3 = statistics.quantiles(added, n=4) if len(added) > 1 else (added[0],) * 3
            out[mode][f"c{c}"] = {
                "raw_p50_ms": spread(p50["raw"]),
                "claudette_p50_ms": spread(p50["claudette"]),
                "added_p50_us": spread(added),
                "added_p50_us_quartiles": [q1, q3],
                "rounds": len(added),
            }
            log(f"paired {mode} at {c} in flight: added {out[mode][f'c{c}']['added_p50_us']['median']:.0f} µs")
    return out


def run_select(prof: dict[str, Any]) -> dict[str, Any]:
    """µs per select_backend decision with 2, 10 and 100 backends, fresh process each."""
    import statistics

    per_n: dict[int, list[float]] = {n: [] for n in prof["select_decisions"]}
    cpu_n: dict[int, list[float]] = {}
    for _ in range(prof["repeats"]):
        for n, decisions in prof["select_decisions"].items():
            p = _python("micro.py", "select", str(n), str(decisions))
            if p.returncode != 0:
                raise RuntimeError(f"select bench failed:\n{p.stderr[-3000:]}")
            res = json.loads(p.stdout)
            per_n[n].append(statistics.median(res["us_per_decision"]))
            cpu_n.setdefault(n, []).append(statistics.median(res["cpu_us_per_decision"]))
    out: dict[str, Any] = {str(n): spread(v) for n, v in per_n.items()}
    ns = sorted(per_n)
    med = {n: out[str(n)]["median"] for n in ns}
    out["us_per_backend"] = {f"{a}->{b}": (med[b] - med[a]) / (b - a) for a, b in zip(ns, ns[1:])}
    out["growth_100_over_10"] = med[100] / med[10] if 10 in med and 100 in med else None
    out["cpu"] = {str(n): spread(v) for n, v in cpu_n.items()}
    log(f"select: {', '.join(f'{n}: {med[n]:.1f} µs' for n in ns)}")
    return out


def run_memory(prof: dict[str, Any]) -> dict[str, Any]:
    """RSS growth from 1,000 to N routed requests and bytes per in-flight request at 64."""
    growth, inflight, rise, last = [], [], [], {}
    for _ in range(prof["repeats"]):
        p = _python("micro.py", "memory", str(prof["memory_requests"]))
        if p.returncode != 0:
            raise RuntimeError(f"memory bench failed:\n{p.stderr[-3000:]}")
        last = json.loads(p.stdout)
        growth.append(last["growth_bytes"] / 1e6)
        q = _python("micro.py", "inflight", "64")
        if q.returncode != 0:
            raise RuntimeError(f"in-flight bench failed:\n{q.stderr[-3000:]}")
        fl = json.loads(q.stdout)
        inflight.append(fl["bytes_per_in_flight"] / 1024)
        rise.append(fl["rss_rise_bytes"] / 64 / 1024)
    out = {
        "requests": prof["memory_requests"],
        "rss_growth_mb": spread(growth),
        "rss_marks_last_run": last.get("rss_bytes"),
        "kib_per_in_flight_tracemalloc": spread(inflight),
        "kib_per_in_flight_rss": spread(rise),
    }
    log(f"memory: growth {out['rss_growth_mb']['median']:.2f} MB, {out['kib_per_in_flight_tracemalloc']['median']:.1f} KiB per in-flight")
    return out


def run_overhead(prof: dict[str, Any]) -> dict[str, Any]:
    """CPU µs the router adds per request with no HTTP at all (fresh process per repeat)."""
    added, direct, routed = [], [], []
    for _ in range(prof["repeats"]):
        p = _python("micro.py", "overhead", str(prof["overhead_requests"]))
        if p.returncode != 0:
            raise RuntimeError(f"overhead bench failed:\n{p.stderr[-3000:]}")
        res = json.loads(p.stdout)
        added.append(res["cpu_us_added"])
        direct.append(res["cpu_us_direct"])
        routed.append(res["cpu_us_routed"])
    out = {"cpu_us_added": spread(added), "cpu_us_direct": spread(direct), "cpu_us_routed": spread(routed)}
    log(f"router overhead alone: {out['cpu_us_added']['median']:.1f} µs CPU per request")
    return out


def run_plugin_check() -> dict[str, Any]:
    """Modules that ``import claudette`` loads (no plugin may be among them)."""
    p = _python("micro.py", "plugins")
    if p.returncode != 0:
        return {"error": p.stderr[-2000:]}
    return dict(json.loads(p.stdout))


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write the results."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts (about two minutes)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results", help="output folder")
    ap.add_argument("--emulator", action="store_true", help="use the Python emulator even if nginx exists")
    ap.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    ap.add_argument("--publish", action="store_true", help="also write docs/performance.md and docs/img/")
    ap.add_argument(
        "--only",
        default="http,paired,formats,overhead,select,memory,imports",
        help="comma-separated sections to run",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="change this run's niceness first (e.g. -10 as root on a shared machine; children inherit it)",
    )
    ap.add_argument("--render", type=Path, help="only re-render the report from this results.json")
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text())
        samples = args.render.with_name("samples.json")
        if samples.exists():
            saved["_samples"] = json.loads(samples.read_text())
        png = args.render.with_name("bench-latency.png")
        if not saved.get("_samples") and png.exists():
            saved["_plot"] = str(png)  # no samples to redraw from: that run's own plot
        report.write_all(saved, args.out, publish=args.publish, root=ROOT)
        return 0
    if args.nice:
        os.nice(args.nice)
    profile = "quick" if args.quick else "full"
    prof = PROFILES[profile]
    sections = set(args.only.split(","))
    contenders: tuple[str, ...] = CONTENDERS
    skipped: dict[str, str] = {}
    if args.no_litellm:
        contenders = ("raw", "claudette")
        skipped["litellm"] = "left out (--no-litellm)"
    else:
        try:
            import litellm  # noqa: F401
        except ImportError:
            contenders = ("raw", "claudette")
            skipped["litellm"] = "not installed (pip install litellm)"
    started = time.perf_counter()
    results: dict[str, Any] = {
        "profile": profile,
        "command": "nox -s bench" + (" -- " if args.quick or args.nice else "") + " ".join(
            ([f"--nice={args.nice}"] if args.nice else []) + (["--quick"] if args.quick else [])
        ),
        "niceness": os.nice(0),
        "machine": machine_info(),
        "contenders": list(contenders),
        "skipped": skipped,
    }
    log(f"profile {profile}; machine {results['machine']['cores']} cores, Python {results['machine']['python']}")
    if sections & {"http", "paired", "formats"}:
        with start_upstream(force_emulator=args.emulator) as upstream:
            results["upstream"] = {"kind": upstream.kind, "label": upstream.label}
            log(f"upstream: {upstream.label} at {upstream.root}")
            if "http" in sections:
                http = run_http(upstream, prof, contenders)
                results["http"] = {"summary": http["summary"], "per_run": http["per_run"]}
                results["derived"] = derive(http, contenders)
                results["_samples"] = http["samples"]
            if "paired" in sections:
                results["paired"] = run_paired(upstream, prof)
    if "formats" in sections:
        results["formats"] = formats.run_formats(prof)
    if "overhead" in sections:
        results["overhead"] = run_overhead(prof)
    if "select" in sections:
        results["select"] = run_select(prof)
    if "memory" in sections:
        results["memory"] = run_memory(prof)
    if "imports" in sections:
        results["imports"] = imports.measure_imports(prof["import_repeats"])
        results["cli"] = imports.measure_cli(prof["import_repeats"])
        results["plugins_on_import"] = run_plugin_check()
        log("imports: " + ", ".join(
            f"{k}: {v.get('median_ms', float('nan')):.0f} ms" for k, v in results["imports"].items()
        ))
    try:
        results["machine"]["loadavg_end"] = os.getloadavg()
    except OSError:
        pass
    cal = _python("micro.py", "calibrate")
    if cal.returncode == 0:
        results["machine"]["calibration_end"] = json.loads(cal.stdout)
    results["elapsed_s"] = time.perf_counter() - started
    report.write_all(results, args.out, publish=args.publish, root=ROOT)
    log(f"done in {results['elapsed_s']:.0f}s; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

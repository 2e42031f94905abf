"""claudette's benchmark: its cost above raw httpx, against LiteLLM, and what users ask about.

    nox -s bench                 # the full run
    nox -s bench -- --quick      # smaller counts, a few minutes
    python bench/run.py --help   # the same, in an environment with claudette installed

Writes every figure to ``bench-results/results.json`` and regenerates ``docs/performance.md``
(from ``bench/template.md``) and ``docs/img/bench-latency.png``; prints the targets' PASS
or FAIL lines. Each measurement runs in a fresh interpreter (``bench/measure.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
from machine import cpu_name  # noqa: E402
from patterns import redis_server  # noqa: E402
from upstream import Upstream, start_upstream  # noqa: E402

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM never reaches the network

#: Requests per measurement. "paired": raw and claudette in turn at one in flight (LiteLLM:
#: "paired_litellm"); "load_*": per mode at "concurrency" in flight; "select": decisions per
#: number of backends; "memory": routed requests; "imports", "pattern_repeats": repeats.
# fmt: off
PROFILES: dict[str, dict[str, Any]] = {
    "full": dict(repeats=5, paired=1000, paired_litellm=150, concurrency=64, load_requests=2048,
                 load_litellm=512, select={1: 20000, 10: 10000, 100: 1000}, memory=100_000,
                 imports=7, patterns=5000, pattern_repeats=5),
    "quick": dict(repeats=2, paired=200, paired_litellm=40, concurrency=64, load_requests=256,
                  load_litellm=128, select={1: 2000, 10: 1000, 100: 200}, memory=5000,
                  imports=3, patterns=1000, pattern_repeats=2),
    # The bench's own test: a handful of requests, to check the machinery end to end.
    "smoke": dict(repeats=1, paired=5, paired_litellm=3, concurrency=4, load_requests=16,
                  load_litellm=8, select={1: 10, 10: 10}, memory=1100, imports=0,
                  patterns=10, pattern_repeats=1),
}
# fmt: on

Spawn = Callable[..., dict[str, Any]]


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spawn(kind: str, **args: Any) -> dict[str, Any]:
    """Run measurement ``kind`` of ``measure.py`` in a fresh interpreter; its JSON result."""
    cmd = [sys.executable, str(HERE / "measure.py"), kind, json.dumps(args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"measure.py {kind} failed:\n{p.stderr[-3000:]}")
    return dict(json.loads(p.stdout))


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max of a figure over repeated runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def one_in_flight(
    prof: dict[str, Any], up: Upstream, litellm: bool, run: Spawn
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per mode, raw vs claudette and raw vs LiteLLM in paired runs; and the last run's samples."""
    out: dict[str, Any] = {}
    samples: dict[str, Any] = {mode: {} for mode in report.MODES}
    pairs = [("claudette", prof["paired"])]
    if litellm:
        pairs.append(("litellm", prof["paired_litellm"]))
    for mode in report.MODES:
        stream, base = mode == "stream", up.sse_base if mode == "stream" else up.json_base
        figures: dict[str, list[float]] = defaultdict(list)
        for _ in range(prof["repeats"]):
            for other, requests in pairs:
                args = {
                    "base": base,
                    "names": ["raw", other],
                    "requests": requests,
                    "stream": stream,
                }
                lat = run("paired", **args)["latency_ms"]
                raw, theirs = statistics.median(lat["raw"]), statistics.median(lat[other])
                if other == "claudette":  # the raw figure beside claudette's, in the table
                    figures["raw_ms"].append(raw)
                    samples[mode]["raw"] = lat["raw"]
                figures[f"{other}_ms"].append(theirs)
                figures[f"{other}_added_us"].append((theirs - raw) * 1000.0)
                samples[mode][other] = lat[other]
        out[mode] = {key: spread(values) for key, values in figures.items()}
        added = out[mode]["claudette_added_us"]["median"]
        log(f"1 in flight, {mode}: claudette - raw httpx {added:.0f} µs")
    return out, samples


def under_load(
    prof: dict[str, Any], up: Upstream, contenders: list[str], run: Spawn
) -> dict[str, Any]:
    """Each client in its own process at ``concurrency`` in flight, interleaved, ``repeats`` times."""
    figures: dict[str, dict[str, dict[str, list[float]]]] = {}
    args = {"json_base": up.json_base, "sse_base": up.sse_base, "concurrency": prof["concurrency"]}
    for _ in range(prof["repeats"]):
        for name in contenders:
            requests = prof["load_litellm" if name == "litellm" else "load_requests"]
            for mode, r in run("load", name=name, requests=requests, **args).items():
                f = figures.setdefault(name, {}).setdefault(mode, defaultdict(list))
                f["rps"].append(r["requests"] / r["wall_s"])
                f["cpu_us"].append(r["cpu_s"] / r["requests"] * 1e6)
                f["p50_ms"].append(_percentile(r["latency_ms"], 50))
                f["p99_ms"].append(_percentile(r["latency_ms"], 99))
        rates = (
            f"{name} {statistics.median(figures[name]['send']['rps']):.0f}" for name in contenders
        )
        log(f"load, requests/s: {', '.join(rates)}")
    return {
        name: {mode: {k: spread(v) for k, v in f.items()} for mode, f in modes.items()}
        for name, modes in figures.items()
    }


def collect(
    prof: dict[str, Any], up: Upstream, litellm: bool, run: Spawn = spawn
) -> dict[str, Any]:
    """Every measurement of profile ``prof`` against ``up``, with ``run`` running each one."""
    results: dict[str, Any] = {"profile_settings": prof}
    results["one_in_flight"], results["samples"] = one_in_flight(prof, up, litellm, run)
    contenders = ["raw", "claudette"] + (["litellm"] if litellm else [])
    results["load"] = under_load(prof, up, contenders, run)
    with redis_server() as (url, how):
        results["redis"] = how
        results["patterns"] = run(
            "patterns", requests=prof["patterns"], repeats=prof["pattern_repeats"], redis_url=url
        )
    log("patterns: done")
    results["select"] = {
        str(n): statistics.median(
            run("select", backends=n, decisions=d)["us_per_decision"]
            for _ in range(prof["repeats"])
        )
        for n, d in prof["select"].items()
    }
    results["memory"] = run("memory", requests=prof["memory"])
    if prof["imports"]:
        import measure

        results["imports"] = measure.imports(prof["imports"])
    log("select, memory, imports: done")
    return results


def _git(*args: str) -> str:
    p = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
    return p.stdout.strip() if p.returncode == 0 else ""


def meta(command: str, upstream: str) -> dict[str, Any]:
    """The commit, date, machine and versions a run was taken on."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--", ".", ":!docs/performance.md", ":!docs/img"):
        commit += " with uncommitted changes"
    cpu = cpu_name()
    versions = []
    for dist in ("claudette-core", "httpx", "litellm"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    machine = f"{os.cpu_count()} cores ({cpu}), {python}, {platform.system()}"
    machine += f", load average {load:.2f} at start"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "command": command,
        "commit": commit,
        "date": date,
        "machine": machine,
        "upstream": upstream,
        "versions": ", ".join(versions),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench, write the results and the report, print the targets."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smaller counts (a few minutes)")
    ap.add_argument(
        "--python-upstream",
        action="store_true",
        help="the Python loopback server even when nginx is installed",
    )
    ap.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench-results", help="where results.json goes"
    )
    ap.add_argument(
        "--doc",
        type=Path,
        default=ROOT / "docs" / "performance.md",
        help="the report to regenerate",
    )
    args = ap.parse_args(argv)
    profile = "quick" if args.quick else "full"
    skipped: dict[str, str] = {}
    if importlib.util.find_spec("litellm") is None:
        skipped["litellm"] = "LiteLLM not installed (pip install litellm)"
    if args.no_litellm:
        skipped["litellm"] = "LiteLLM left out (--no-litellm)"
    started = time.perf_counter()
    with start_upstream(python_only=args.python_upstream) as up:
        log(f"{profile} profile; upstream {up.label} at {up.root}")
        about = meta("nox -s bench" + (" -- --quick" if args.quick else ""), up.label)
        results = collect(PROFILES[profile], up, "litellm" not in skipped)
    results.update(profile=profile, skipped=skipped, meta=about)
    results["meta"]["elapsed_s"] = time.perf_counter() - started
    samples = results.pop("samples")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    image = args.doc.parent / "img" / "bench-latency.png"
    plotted = report.plot(samples, image)
    args.doc.write_text(
        report.render(results, str(image.relative_to(args.doc.parent)) if plotted else None)
    )
    for verdict, line in report.targets(results):
        print(f"{verdict} {line}")
    log(f"done in {results['meta']['elapsed_s']:.0f} s: {args.doc}, {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

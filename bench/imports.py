"""Start-up costs, each measured in a fresh interpreter: imports and ``claudette --help``."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["IMPORT_CASES", "measure_cli", "measure_imports"]

#: label -> the statement timed in a fresh interpreter.
IMPORT_CASES: dict[str, str] = {
    "import claudette": "import claudette",
    "import claudette.cli": "import claudette.cli",
    "deps: httpx+attrs+cattrs+pluggy": "import httpx, attrs, cattrs, pluggy",
    "deps of import claudette: attrs+pluggy": "import attrs, pluggy",
    "from litellm import Router": "from litellm import Router",
}

_PROBE = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "{stmt}\n"
    "sys.stdout.write(repr(time.perf_counter() - t))\n"
)


def _one(stmt: str) -> float | None:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run(
        [sys.executable, "-c", _PROBE.format(stmt=stmt)], capture_output=True, text=True, env=env
    )
    if p.returncode != 0:
        return None
    return float(p.stdout.strip().splitlines()[-1]) * 1000.0


def measure_imports(repeats: int) -> dict[str, Any]:
    """Median and spread (ms) of each import, in interleaved fresh interpreters."""
    samples: dict[str, list[float]] = {k: [] for k in IMPORT_CASES}
    failed: set[str] = set()
    for label, stmt in IMPORT_CASES.items():  # warm the OS file cache once
        if _one(stmt) is None:
            failed.add(label)
    for _ in range(repeats):
        for label, stmt in IMPORT_CASES.items():
            if label in failed:
                continue
            ms = _one(stmt)
            if ms is not None:
                samples[label].append(ms)
    out: dict[str, Any] = {}
    for label, values in samples.items():
        if label in failed or not values:
            out[label] = {"error": "not importable"}
        else:
            out[label] = {"median_ms": statistics.median(values), "min_ms": min(values), "max_ms": max(values), "samples": values}
    return out


def measure_cli(repeats: int) -> dict[str, Any]:
    """Wall time of ``claudette --help`` (whole process), median of ``repeats``, and bare ``python -c pass``."""
    exe = shutil.which("claudette", path=os.path.dirname(sys.executable)) or shutil.which("claudette")
    cases = {"python -c pass": [sys.executable, "-c", "pass"]}
    if exe:
        cases["claudette --help"] = [exe, "--help"]
    out: dict[str, Any] = {}
    for label, cmd in cases.items():
        values: list[float] = []
        ok = True
        for _ in range(repeats + 1):
            t = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True)
            values.append((time.perf_counter() - t) * 1000.0)
            ok = ok and p.returncode == 0
        values = values[1:]
        out[label] = {"median_ms": statistics.median(values), "min_ms": min(values), "max_ms": max(values), "exit_ok": ok}
    if not exe:
        out["claudette --help"] = {"error": "no claudette console script installed"}
    return out

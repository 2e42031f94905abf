"""The demo through ``claudette serve``: the same scenario, every request an OpenAI API call.

The demo writes a claudette config for its two local backends (same plugin, prices and
breaker policy as the in-process router), starts ``claudette serve`` on a free loopback
port, and sends each request with the official ``openai`` SDK (``model="auto"``). A row
shows the backend from the ``x-claudette-backend`` header and the cost from
``x-claudette-cost-eur``.

Breaker moves, fallbacks and attempts are read from the gateway's ``GET /metrics`` (the
``claudette-prometheus`` plugin) after every request, so a move shows after the request
that caused it. Without the plugin, ``/metrics`` answers 404 and the demo says that it can
only infer what happened from which backend answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
from claudette import BackendSettings, BreakerPolicy, RouterOptions
from llama_servers import LoopbackProcess, ServerPool, free_port
from scenario import (
    ECONOMY,
    Answer,
    RequestFailed,
    Server,
    Transitions,
    breaker_moves,
    demo_breaker_policy,
    drive,
    local_settings,
    say,
)

__all__ = ["GatewayProcess", "GatewayRoute", "MetricsView", "gateway_config", "run_through_gateway", "serves_metrics"]

#: Seconds ``claudette serve`` has to exit after SIGTERM.
STOP_TIMEOUT = 30.0
#: The metric names the demo reads (claudette-prometheus, namespace ``claudette``).
BREAKER_STATE = "claudette_breaker_state"
TRANSITIONS = "claudette_breaker_transitions_total"
FALLBACKS = "claudette_fallbacks_total"
ATTEMPTS = "claudette_attempts_total"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a TOML number: {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _table(name: str, values: Mapping[str, Any]) -> list[str]:
    """``[name]`` and its keys; mappings among the values become sub-tables after it."""
    lines = [f"[{name}]"]
    subtables: list[str] = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            subtables += ["", *_table(f"{name}.{key}", value)]
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return lines + subtables


def _changed_settings(settings: BackendSettings) -> dict[str, Any]:
    """The settings that differ from :class:`BackendSettings`' defaults, as config keys."""
    defaults = BackendSettings()
    return {
        field.name: value
        for field in attrs.fields(BackendSettings)
        if (value := getattr(settings, field.name)) != getattr(defaults, field.name)
    }


def gateway_config(
    path: Path,
    backends: Mapping[str, tuple[str, BackendSettings]],
    options: RouterOptions,
) -> Path:
    """Write a claudette config of ``backends`` (name -> (plugin, settings)) and ``options``.

    Only what a config file can say is written: the router's numbers that differ from the
    defaults, the breaker policy's numbers (its failure predicate is code) and each
    backend's settings that differ from the defaults.
    """
    router_defaults = RouterOptions()
    router = {
        field.name: value
        for field in attrs.fields(RouterOptions)
        if field.name != "breaker"
        and (value := getattr(options, field.name)) != getattr(router_defaults, field.name)
    }
    breaker = {
        field.name: getattr(options.breaker, field.name)
        for field in attrs.fields(BreakerPolicy)
        if field.name != "counts_as_failure"
    }
    lines = _table("router", {**router, "breaker": breaker})
    for name, (plugin, settings) in backends.items():
        lines += ["", *_table(f"backends.{name}", {"plugin": plugin, **_changed_settings(settings)})]
    path.write_text("\n".join(lines) + "\n")
    return path


class GatewayProcess(LoopbackProcess):
    """``claudette serve --config CONFIG --port PORT`` on loopback, its output in a log file."""

    def __init__(self, config: Path, port: int, log_dir: Path) -> None:
        super().__init__("claudette serve", log_dir)
        self.config = config
        self.port = port
        #: The exit code of the last stop (None: not stopped yet).
        self.exit_code: int | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """``claudette serve`` with the demo's config on the port."""
        return [
            sys.executable, "-m", "claudette", "serve",
            "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip

    def ready_url(self) -> str:
        """``GET /health``."""
        return f"{self.url}/health"

    def environment(self) -> dict[str, str]:
        """The demo's environment without proxies: the gateway talks to loopback servers only."""
        return {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}

    def stop(self) -> int | None:
        """SIGTERM the gateway and wait for its exit code; SIGKILL it if it lingers."""
        process = self.process
        if process is None:
            return self.exit_code
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.exit_code = process.returncode
        return self.exit_code


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_exposition(text: str) -> Samples:
    """Prometheus text exposition -> ``{(sample name, sorted labels): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class MetricsView:
    """What one scrape of ``/metrics`` says about breakers, fallbacks and attempts."""

    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    def _by(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        found: dict[tuple[str, ...], float] = {}
        for (sample, pairs), value in self.samples.items():
            if sample == name:
                given = dict(pairs)
                found[tuple(given.get(label, "") for label in labels)] = value
        return found

    def breaker_states(self) -> dict[str, str]:
        """Backend -> the state its breaker is in."""
        return {
            backend: state
            for (backend, state), value in self._by(BREAKER_STATE, "backend", BREAKER_STATE).items()
            if value == 1.0
        }

    def transitions(self) -> dict[tuple[str, ...], int]:
        """(backend, state entered) -> how many times."""
        return {key: int(value) for key, value in self._by(TRANSITIONS, "backend", "state").items()}

    def fallbacks(self) -> float:
        """Fallbacks away from any backend."""
        return sum(self._by(FALLBACKS, "backend").values())

    def attempts(self) -> dict[tuple[str, ...], int]:
        """(backend, outcome) -> calls."""
        return {key: int(value) for key, value in self._by(ATTEMPTS, "backend", "outcome").items()}


class GatewayRoute:
    """Requests through ``claudette serve`` with the official ``openai`` SDK."""

    why_heading = "SEEN IN /metrics (moves show after the request)"

    def __init__(self, base_url: str, metrics: bool, gateway: GatewayProcess | None = None) -> None:
        from openai import AsyncOpenAI

        self.url = base_url
        self.gateway = gateway
        self.closed = False
        # Loopback without keys: the gateway asks for none; the SDK wants a string.
        self.client = AsyncOpenAI(base_url=f"{base_url}/v1", api_key="no-key-on-loopback", max_retries=0)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10.0, trust_env=False)
        self.transitions: Transitions | None = Transitions() if metrics else None
        if not metrics:
            self.why_heading = "WHY (inferred: /metrics is not served)"
        self.last = MetricsView({})

    async def scrape(self) -> MetricsView:
        """Read ``/metrics`` now."""
        response = await self.http.get("/metrics")
        response.raise_for_status()
        return MetricsView(parse_exposition(response.text))

    def breaker_state(self, backend: str) -> str | None:
        """The breaker's state at the last scrape; None without metrics."""
        if self.transitions is None:
            return None
        return self.last.breaker_states().get(backend, "closed")

    async def send(self, prompt: str, max_tokens: int) -> Answer:
        """One chat completion with ``model="auto"``; the row is read from headers and metrics."""
        import openai

        before = self.last
        started = time.perf_counter()
        try:
            raw = await self.client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens
            )
        except openai.APIStatusError as exc:
            raise RequestFailed(f"HTTP {exc.status_code} from the gateway: {exc.message}") from exc
        except openai.APIError as exc:
            raise RequestFailed(f"{type(exc).__name__}: {exc}") from exc
        elapsed = (time.perf_counter() - started) * 1000.0
        completion = raw.parse()
        backend = raw.headers.get("x-claudette-backend", "?")
        cost = float(raw.headers.get("x-claudette-cost-eur", "0"))
        usage = completion.usage
        answer = Answer(
            backend=backend,
            latency_ms=elapsed,
            tokens_input=usage.prompt_tokens if usage else 0,
            tokens_output=usage.completion_tokens if usage else 0,
            cost_eur=cost,
            fallback=None,
            why="",
        )
        if self.transitions is None:
            answer.why = "router's choice" if backend == ECONOMY else f"{ECONOMY} did not answer (fallback or open breaker)"
            return answer
        self.last = await self.scrape()
        answer.fallback, answer.why = self._explain(before, self.last, backend)
        return answer

    def _explain(self, before: MetricsView, after: MetricsView, backend: str) -> tuple[bool, str]:
        """Print the breaker moves between two scrapes; (fallback?, the row's explanation)."""
        assert self.transitions is not None
        old_states, moved = before.breaker_states(), after.transitions()
        earlier = before.transitions()
        probed = False
        for name in sorted({key[0] for key in moved}):
            entered = {state: count - earlier.get((name, state), 0) for (b, state), count in moved.items() if b == name}
            for old, new in breaker_moves(old_states.get(name, "closed"), entered):
                self.transitions.record(name, old, new, " (seen in /metrics)")
                probed |= name == backend and (old, new) == ("half_open", "closed")
        earlier_attempts = before.attempts()
        failed = [
            f"{name} failed: {outcome}"
            for (name, outcome), count in after.attempts().items()
            if outcome != "success" and count > earlier_attempts.get((name, outcome), 0)
        ]
        if after.fallbacks() > before.fallbacks():
            return True, "FALLBACK: " + ("; ".join(failed) or "another backend failed")
        if probed:
            return False, "half-open probe succeeded"
        skipped = [name for name, state in after.breaker_states().items() if state == "open" and name != backend]
        if skipped:
            return False, "; ".join(f"{name}: breaker open" for name in skipped)
        return False, "router's choice (model auto)"

    def attempts(self) -> int | None:
        """Backend calls, from the last scrape; None without metrics."""
        return sum(self.last.attempts().values()) if self.transitions is not None else None

    async def close(self) -> list[str]:
        """Close the clients, then stop the gateway with SIGTERM and check that it exits 0."""
        if self.closed:
            return []
        self.closed = True
        await self.client.close()
        await self.http.aclose()
        if self.gateway is None:
            return []
        code = await asyncio.to_thread(self.gateway.stop)
        if code == 0:
            return ["gateway         stopped by SIGTERM, exit 0"]
        return [f"FAILED: claudette serve exited with {code} on SIGTERM; see {self.gateway.log_path}"]


async def serves_metrics(url: str) -> bool:
    """Whether the gateway at ``url`` serves ``/metrics`` (404 without claudette-prometheus)."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        return (await http.get("/metrics")).status_code == 200


async def run_through_gateway(
    args: argparse.Namespace, pool: ServerPool, economy: Server, premium: Server, log_dir: Path
) -> int:
    """Write the config, start ``claudette serve``, drive the scenario through it, stop it."""
    options = RouterOptions.preset(
        args.preset,
        health_checks=False,
        max_attempts=3,
        breaker=demo_breaker_policy(args.threshold, args.reset_timeout),
    )
    backends = {server.name: (args.plugin, local_settings(server, server.name, args.plugin)) for server in (economy, premium)}
    config = gateway_config(log_dir / "claudette.toml", backends, options)
    gateway = pool.add(GatewayProcess(config, free_port(), log_dir))
    gateway.start()
    took = await asyncio.to_thread(gateway.wait_ready, 60.0)
    say(f"  gateway: claudette serve --config {config} on {gateway.url}, ready in {took:.1f}s")
    metrics = await serves_metrics(gateway.url)
    if metrics:
        say("  breaker moves, fallbacks and attempts: read from GET /metrics after each request")
    else:
        say("  /metrics is not served (pip install -e plugins/claudette-prometheus): breaker moves and")
        say("  fallbacks cannot be seen from outside; they are inferred from which backend answered")
    say(
        f"  router (in the gateway): preset {args.preset}; breaker opens after {args.threshold} failures, "
        f"probes after {args.reset_timeout:g}s"
    )
    say("")
    route = GatewayRoute(gateway.url, metrics, gateway)
    try:
        return await drive(args, route, economy)
    finally:
        await route.close()

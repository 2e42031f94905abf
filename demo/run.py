"""The live fail-over demo: two real llama.cpp servers, one router, one crash.

    python demo/run.py --model gemma3-270m-q4_k_m.gguf [--requests 36]   (or: nox -s demo)

1. Starts two llama.cpp OpenAI-compatible servers on loopback serving the same model, and
   registers them through the ``qwen`` plugin as two self-hosted backends with different
   prices: ``local-economy`` (cheap) and ``local-premium`` (dear). Cloud and Ollama backends
   found in the environment (API keys, a running Ollama) join them unless ``--no-detect``.
2. Sends a stream of real requests through the router, printing one row per request: the
   backend chosen, why (score parts from ``router.explain``), latency, tokens, cost and
   fallback information.
3. A third of the way in it SIGKILLs the economy server: requests fail over to the premium
   one, and after two failures the economy breaker opens (a short demo policy: threshold 2,
   reset timeout 5 s). It then restarts the server; once the reset timeout has passed, a
   half-open probe reaches it and the breaker closes again. Breaker transitions are printed
   as they happen (``claudette_breaker_transition`` hook).
4. Ends with a summary (requests, successes, fallbacks, cost, p50/p95 latency) and stops
   every process it started, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from claudette import (
    BackendSettings,
    BreakerPolicy,
    ClaudettePlugins,
    ClaudetteRequest,
    ClaudetteResponse,
    GenerationOptions,
    NoBackendAvailableError,
    RouterOptions,
    hookimpl,
)
from claudette._redact import redact
from claudette.errors import BackendError
from claudette.router import BackendRouter
from llama_servers import MODEL_ALIAS, LlamaServer, ServerPool, free_port

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.router import Candidate

ECONOMY = "local-economy"
PREMIUM = "local-premium"
#: EUR per 1M tokens (input, output) of the two local backends.
#: The premium price is high enough that its cost score always outweighs the economy
#: server's worst latency and availability scores: economy wins whenever it is usable.
PRICES = {ECONOMY: (0.2, 0.6), PREMIUM: (100.0, 300.0)}

PROMPTS = [
    "Name a colour.",
    "Say hello in French.",
    "What is 2 + 2?",
    "Name a fruit.",
    "Give me a word that rhymes with cat.",
    "What is the capital of Italy?",
    "Name an animal that can fly.",
    "Say something kind.",
]


def say(text: str = "") -> None:
    """Print one line at once (the demo is live), secrets redacted."""
    print(redact(text), flush=True)


class DemoHooks:
    """The demo's own plugin: a short breaker policy, and observers that record what happens."""

    def __init__(self, threshold: int, reset_timeout: float) -> None:
        # A fixed open period (no growth on repeated trips), so that the demo's timeline
        # reads the same on every run.
        self.policy = BreakerPolicy(
            failure_threshold=threshold, reset_timeout=reset_timeout, reset_timeout_growth=1.0
        )
        self.transitions: list[tuple[float, str, str, str]] = []
        self.attempt_errors: list[tuple[str, str]] = []
        self.started = time.monotonic()

    @hookimpl
    def claudette_breaker_policy(self, backend: BaseBackend) -> BreakerPolicy:
        """Open after ``threshold`` failures, probe after ``reset_timeout`` seconds."""
        return self.policy

    @hookimpl
    def claudette_breaker_transition(self, backend_name: str, old_state: str, new_state: str) -> None:
        """Print the transition as it happens."""
        at = time.monotonic() - self.started
        self.transitions.append((at, backend_name, old_state, new_state))
        say(f"   >> {at:6.1f}s  circuit breaker of {backend_name}: {old_state} -> {new_state}")

    @hookimpl
    def claudette_after_attempt(
        self,
        backend: BaseBackend,
        request: ClaudetteRequest,
        response: ClaudetteResponse | None,
        error: BackendError | None,
        latency_ms: float,
    ) -> None:
        """Remember failed attempts, to explain fallbacks."""
        if error is not None:
            message = error.message if len(error.message) <= 48 else error.message[:45] + "..."
            self.attempt_errors.append((backend.name, message))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The demo's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("CLAUDETTE_TEST_GGUF"), help="the GGUF model file")
    parser.add_argument("--requests", type=int, default=36, help="requests to send (at least; default 36)")
    parser.add_argument("--max-tokens", type=int, default=16, help="tokens per answer (default 16)")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between requests (default 0.3)")
    parser.add_argument("--threshold", type=int, default=2, help="failures that open a breaker (default 2)")
    parser.add_argument("--reset-timeout", type=float, default=5.0, help="seconds a breaker stays open (default 5)")
    parser.add_argument(
        "--preset",
        default="cost-optimized",
        choices=["balanced", "cost-optimized", "performance"],
        help="scoring weights (default cost-optimized)",
    )
    parser.add_argument("--no-detect", action="store_true", help="use only the two local servers")
    parser.add_argument(
        "--plugin",
        default="qwen",
        choices=["qwen", "openai"],
        help="the plugin that talks to the llama.cpp servers (default qwen; both speak OpenAI-compatible)",
    )
    parser.add_argument(
        "--max-extra-seconds",
        type=float,
        default=120.0,
        help="after --requests, keep going at most this long until the breaker has closed again",
    )
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("--model is required (or set CLAUDETTE_TEST_GGUF)")
    if args.requests < 6:
        parser.error("--requests must be at least 6 (warm-up, crash, recovery)")
    return args


def local_settings(server: LlamaServer, name: str, plugin: str) -> BackendSettings:
    """The settings of one local llama.cpp backend."""
    price_in, price_out = PRICES[name]
    return BackendSettings(
        # llama.cpp started without --api_key accepts any key; the openai plugin wants one.
        api_key="sk-local-llama-no-key" if plugin == "openai" else None,
        # llama.cpp reads max_tokens (the openai plugin sends max_completion_tokens by default).
        extra={"max_tokens_field": "max_tokens"} if plugin == "openai" else None,
        base_url=server.base_url,
        model=MODEL_ALIAS,
        input_cost_per_token=price_in / 1e6,
        output_cost_per_token=price_out / 1e6,
        backend_type="self_hosted",
        timeout=20.0,
        connect_timeout=2.0,
    )


async def add_detected(router: BackendRouter, plugins: ClaudettePlugins) -> list[str]:
    """Register the cloud and Ollama backends found in the environment; their names."""
    from claudette.autodetect import detect_backends, router_from_detection

    detection = await detect_backends(plugins.registry)
    extra, skipped = router_from_detection(detection, plugins, router.options)
    names = []
    for name, backend in extra.backends.items():
        if name in router.backends:
            continue
        extra.unregister_backend(name)
        router.register_backend(backend)
        names.append(name)
    for note in skipped:
        say(f"   (not used: {note})")
    return names


def why_text(candidates: list[Candidate]) -> str:
    """Why the chosen backend won: its score parts, and the runner-up or skip reasons."""
    chosen = next((c for c in candidates if c.chosen), None)
    if chosen is None:
        return "no usable backend"
    text = f"{chosen.score:.4f}" if chosen.score is not None else "forced"
    if chosen.parts is not None:
        p = chosen.parts
        text += f" (cost {p.cost:.4f} lat {p.latency:.3f} avail {p.availability:.2f})"
    others = [c for c in candidates if not c.chosen]
    scored = sorted((c for c in others if c.score is not None), key=lambda c: c.score or 0.0)
    if scored:
        text += f" < {scored[0].name} {scored[0].score:.4f}"
    for c in others:
        if c.skipped is not None:
            reason = "breaker open" if "open" in c.skipped else c.skipped
            text += f"; {c.name}: {reason}"
    return text


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


ROW = "{:>3}  {:<14}  {:>8}  {:>6}  {:>12}  {}"


async def run_demo(args: argparse.Namespace, pool: ServerPool) -> int:
    """Start the servers, route the requests, crash and revive one server, summarise."""
    model = Path(args.model)
    log_dir = Path(tempfile.mkdtemp(prefix="claudette-demo-"))
    economy = pool.add(LlamaServer(ECONOMY, model, free_port(), log_dir))
    premium = pool.add(LlamaServer(PREMIUM, model, free_port(), log_dir))

    say("claudette live fail-over demo")
    say(f"  model {model.name}; server logs in {log_dir}")
    for server in (economy, premium):
        server.start()
    for server in (economy, premium):
        took = await asyncio.to_thread(server.wait_ready)
        await asyncio.to_thread(server.warm_up)  # the first answer loads weights: keep it out of the stats
        price_in, price_out = PRICES[server.name]
        say(
            f"  {server.name}: llama.cpp on {server.base_url} (pid {server.pid}), ready in {took:.1f}s, "
            f"EUR {price_in:g} / {price_out:g} per 1M tokens in / out"
        )

    hooks = DemoHooks(args.threshold, args.reset_timeout)
    plugins = ClaudettePlugins(plugins=[hooks])
    if args.plugin not in plugins.registry:
        say(f"the {args.plugin} plugin is not installed: pip install -e plugins/claudette-backend-{args.plugin}")
        return 5
    options = RouterOptions.preset(args.preset, health_checks=False, max_attempts=3)
    router = BackendRouter(options, plugins=plugins)
    try:
        for server in (economy, premium):
            settings = local_settings(server, server.name, args.plugin)
            backend = plugins.registry.create(args.plugin, settings, instance_name=server.name)
            router.register_backend(backend)
        detected = [] if args.no_detect else await add_detected(router, plugins)
        if detected:
            say(f"  also routing to: {', '.join(detected)} (found in the environment)")
        say(
            f"  router: preset {args.preset}; breaker opens after {args.threshold} failures, "
            f"probes after {args.reset_timeout:g}s"
        )
        say("")
        return await drive(args, router, hooks, economy)
    finally:
        await router.aclose()


async def drive(args: argparse.Namespace, router: BackendRouter, hooks: DemoHooks, economy: LlamaServer) -> int:
    """Send the requests, crash and restart the economy server, print rows and the summary."""
    kill_after = max(2, args.requests // 3)
    latencies: list[float] = []
    used: dict[str, int] = {}
    successes = failures = fallback_requests = 0
    killed_at: int | None = None
    restart_task: asyncio.Task[float] | None = None
    recovered = False
    crash_started: float | None = None
    extra_deadline: float | None = None

    say(ROW.format("#", "BACKEND", "LATENCY", "TOKENS", "COST EUR", "WHY (score: lowest wins) / FALLBACK"))
    i = 0
    while True:
        i += 1
        if i > args.requests:
            cycle_done = recovered and any(t[3] == "closed" for t in hooks.transitions if t[1] == ECONOMY)
            if cycle_done or killed_at is None:
                break
            if extra_deadline is None:
                extra_deadline = time.monotonic() + args.max_extra_seconds
                say("   .. continuing until the economy breaker has closed again")
            elif time.monotonic() > extra_deadline:
                say("   .. gave up waiting for the breaker to close")
                break
        if i == kill_after + 1 and killed_at is None:
            say(f"   !! SIGKILL {ECONOMY} (pid {economy.pid}): the cheap server crashes")
            economy.kill()
            killed_at = i
            crash_started = time.monotonic()
        if (
            killed_at is not None
            and restart_task is None
            and router.breaker(ECONOMY).state.value != "closed"
            and i >= killed_at + args.threshold + 2
        ):
            say(f"   !! restarting {ECONOMY} on the same port")
            economy.start()
            restart_task = asyncio.create_task(asyncio.to_thread(economy.wait_ready))
        if restart_task is not None and restart_task.done() and not recovered:
            recovered = True
            took = restart_task.result()
            say(f"   !! {ECONOMY} is serving again (pid {economy.pid}, ready in {took:.1f}s)")

        prompt = PROMPTS[(i - 1) % len(PROMPTS)]
        request = ClaudetteRequest(prompt=prompt, options=GenerationOptions(max_tokens=args.max_tokens))
        candidates = router.explain(request)
        probing = {c.name for c in candidates if router.breaker(c.name).state.value == "half_open"}
        hooks.attempt_errors.clear()
        started = time.perf_counter()
        try:
            response = await router.route_request(request)
        except (NoBackendAvailableError, BackendError) as exc:
            failures += 1
            say(ROW.format(i, "-", "-", "-", "-", f"FAILED: {exc}"))
            await asyncio.sleep(args.interval)
            continue
        elapsed = (time.perf_counter() - started) * 1000.0
        latencies.append(elapsed)
        successes += 1
        used[response.backend_used] = used.get(response.backend_used, 0) + 1
        why = why_text(candidates)
        failed = response.metadata.get("failed_backends")
        if failed:
            fallback_requests += 1
            errors = "; ".join(f"{name} failed: {message}" for name, message in hooks.attempt_errors)
            why = f"FALLBACK: {errors or ', '.join(failed) + ' failed'}"
        elif response.backend_used in probing:
            why = f"half-open probe succeeded; {why}"
        say(
            ROW.format(
                i,
                response.backend_used,
                f"{elapsed:.0f} ms",
                f"{response.tokens_input}+{response.tokens_output}",
                f"{response.cost_eur:.8f}",
                why,
            )
        )
        await asyncio.sleep(args.interval)

    if restart_task is not None and not restart_task.done():
        await restart_task
    counters = router.counters
    say("")
    say("Summary")
    say(f"  requests        {successes + failures}")
    say(f"  successes       {successes}")
    say(f"  failures        {failures}")
    say(f"  fallbacks       {fallback_requests} requests answered after another backend failed")
    say(f"  attempts        {counters.attempts} backend calls in all")
    say(f"  cost            EUR {counters.cost_eur:.8f}")
    if latencies:
        say(
            f"  latency         p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
            f"mean {statistics.fmean(latencies):.0f} ms"
        )
    say("  answered by     " + ", ".join(f"{name} {count}" for name, count in sorted(used.items())))
    for name in sorted({t[1] for t in hooks.transitions}):
        path = [t[2] for t in hooks.transitions if t[1] == name][:1] + [t[3] for t in hooks.transitions if t[1] == name]
        say(f"  breaker {name}: {' -> '.join(path)}")
    if crash_started is not None:
        closed = [t[0] for t in hooks.transitions if t[1] == ECONOMY and t[3] == "closed"]
        if closed:
            say(f"  recovery        the economy breaker closed {closed[-1] - (crash_started - hooks.started):.1f}s after the crash")
    opened = any(t[1] == ECONOMY and t[3] == "open" for t in hooks.transitions)
    closed_again = any(t[1] == ECONOMY and t[3] == "closed" for t in hooks.transitions)
    ok = failures == 0 and fallback_requests > 0 and opened and closed_again
    say("  result          " + ("fail-over and recovery shown" if ok else "INCOMPLETE: see above"))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Run the demo; every server it started is stopped on the way out."""
    args = parse_args(argv)

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    with ServerPool() as pool:
        try:
            return asyncio.run(run_demo(args, pool))
        except KeyboardInterrupt:
            say("\ninterrupted: stopping the servers")
            return 130
        except RuntimeError as exc:
            say(f"demo failed: {exc}")
            return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The live fail-over demo: two real llama.cpp servers, one router, one crash.

    python demo/run.py --model gemma3-270m-q4_k_m.gguf [--requests 36] [--gateway]   (or: nox -s demo)

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

With ``--gateway`` the same scenario runs through ``claudette serve``: the demo writes a
config for the two local backends, starts the gateway on a free loopback port and sends
every request with the official ``openai`` SDK (``model="auto"``); see ``through_gateway``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from claudette import (
    BreakerPolicy,
    ClaudettePlugins,
    ClaudetteRequest,
    ClaudetteResponse,
    GenerationOptions,
    NoBackendAvailableError,
    RouterOptions,
    hookimpl,
)
from claudette.errors import BackendError
from claudette.router import BackendRouter
from llama_servers import LlamaServer, ServerPool, free_port
from scenario import (
    ECONOMY,
    PREMIUM,
    PRICES,
    Answer,
    RequestFailed,
    Transitions,
    demo_breaker_policy,
    drive,
    local_settings,
    say,
)

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.router import Candidate


class DemoHooks:
    """The demo's own plugin: a short breaker policy, and observers that record what happens."""

    def __init__(self, threshold: int, reset_timeout: float) -> None:
        self.policy = demo_breaker_policy(threshold, reset_timeout)
        self.transitions = Transitions()
        self.attempt_errors: list[tuple[str, str]] = []

    @hookimpl
    def claudette_breaker_policy(self, backend: BaseBackend) -> BreakerPolicy:
        """Open after ``threshold`` failures, probe after ``reset_timeout`` seconds."""
        return self.policy

    @hookimpl
    def claudette_breaker_transition(self, backend_name: str, old_state: str, new_state: str) -> None:
        """Print the transition as it happens."""
        self.transitions.record(backend_name, old_state, new_state)

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
        "--gateway",
        action="store_true",
        help="route through `claudette serve` with the openai SDK instead of an in-process router",
    )
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


class RouterRoute:
    """Requests straight into an in-process :class:`BackendRouter`; the hooks see every move."""

    why_heading = "WHY (score: lowest wins) / FALLBACK"

    def __init__(self, router: BackendRouter, hooks: DemoHooks) -> None:
        self.router = router
        self.hooks = hooks
        self.transitions: Transitions | None = hooks.transitions

    def breaker_state(self, backend: str) -> str | None:
        """The breaker's state, read from the router."""
        return self.router.breaker(backend).state.value

    async def send(self, prompt: str, max_tokens: int) -> Answer:
        """Route one request; the row explains the choice with ``router.explain``."""
        request = ClaudetteRequest(prompt=prompt, options=GenerationOptions(max_tokens=max_tokens))
        candidates = self.router.explain(request)
        probing = {c.name for c in candidates if self.router.breaker(c.name).state.value == "half_open"}
        self.hooks.attempt_errors.clear()
        started = time.perf_counter()
        try:
            response = await self.router.route_request(request)
        except (NoBackendAvailableError, BackendError) as exc:
            raise RequestFailed(str(exc)) from exc
        elapsed = (time.perf_counter() - started) * 1000.0
        why = why_text(candidates)
        failed = response.metadata.get("failed_backends")
        if failed:
            errors = "; ".join(f"{name} failed: {message}" for name, message in self.hooks.attempt_errors)
            why = f"FALLBACK: {errors or ', '.join(failed) + ' failed'}"
        elif response.backend_used in probing:
            why = f"half-open probe succeeded; {why}"
        return Answer(
            backend=response.backend_used,
            latency_ms=elapsed,
            tokens_input=response.tokens_input,
            tokens_output=response.tokens_output,
            cost_eur=response.cost_eur,
            fallback=bool(failed),
            why=why,
        )

    def attempts(self) -> int | None:
        """Backend calls so far, from the router's counters."""
        return self.router.counters.attempts

    async def close(self) -> list[str]:
        """Close the router's connections."""
        await self.router.aclose()
        return []


async def run_demo(args: argparse.Namespace, pool: ServerPool) -> int:
    """Start the servers, route the requests, crash and revive one server, summarise."""
    model = Path(args.model)
    log_dir = Path(tempfile.mkdtemp(prefix="claudette-demo-"))
    economy = pool.add(LlamaServer(ECONOMY, model, free_port(), log_dir))
    premium = pool.add(LlamaServer(PREMIUM, model, free_port(), log_dir))

    say("claudette live fail-over demo" + (" through claudette serve" if args.gateway else ""))
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
    if args.gateway:
        from through_gateway import run_through_gateway

        return await run_through_gateway(args, pool, economy, premium, log_dir)
    return await run_in_process(args, economy, premium)


async def run_in_process(args: argparse.Namespace, economy: LlamaServer, premium: LlamaServer) -> int:
    """Route through a :class:`BackendRouter` in this process."""
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
        return await drive(args, RouterRoute(router, hooks), economy)
    finally:
        await router.aclose()


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

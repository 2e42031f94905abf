"""The demo's scenario, shared by both ways of routing: in-process and through the gateway.

:func:`drive` sends the requests, SIGKILLs the economy server a third of the way in,
restarts it once its breaker has left ``closed``, prints one row per request and the
summary. How a request reaches a backend, and how breaker moves are seen, is a
:class:`Route`'s business.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from claudette import BackendSettings, BreakerPolicy
from claudette._redact import redact
from llama_servers import MODEL_ALIAS

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

ROW = "{:>3}  {:<14}  {:>8}  {:>6}  {:>12}  {}"


def say(text: str = "") -> None:
    """Print one line at once (the demo is live), secrets redacted."""
    print(redact(text), flush=True)


def demo_breaker_policy(threshold: int, reset_timeout: float) -> BreakerPolicy:
    """Open after ``threshold`` failures, probe after ``reset_timeout`` seconds.

    A fixed open period (no growth on repeated trips), so that the demo's timeline reads
    the same on every run.
    """
    return BreakerPolicy(failure_threshold=threshold, reset_timeout=reset_timeout, reset_timeout_growth=1.0)


class Server(Protocol):
    """A local model server the demo starts, crashes and restarts."""

    name: str

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL."""

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""

    def start(self) -> None:
        """Launch it (returns at once)."""

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Wait until it answers; the seconds it took."""

    def kill(self) -> None:
        """SIGKILL it."""


def local_settings(server: Server, name: str, plugin: str) -> BackendSettings:
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


class RequestFailed(Exception):
    """No backend answered a request; the message says why."""


@dataclass
class Answer:
    """One answered request, as a row shows it.

    :param fallback: True when another backend failed first; None when that cannot be seen.
    :param why: why this backend answered (score parts, fallback, probe), for the row.
    """

    backend: str
    latency_ms: float
    tokens_input: int
    tokens_output: int
    cost_eur: float
    fallback: bool | None
    why: str


@dataclass
class Transitions:
    """The breaker moves seen so far: ``(seconds since start, backend, old, new)``."""

    started: float = field(default_factory=time.monotonic)
    seen: list[tuple[float, str, str, str]] = field(default_factory=list)

    def record(self, backend: str, old_state: str, new_state: str, verb: str = "") -> None:
        """Remember one move and print it."""
        at = time.monotonic() - self.started
        self.seen.append((at, backend, old_state, new_state))
        say(f"   >> {at:6.1f}s  circuit breaker of {backend}: {old_state} -> {new_state}{verb}")

    def path(self, backend: str) -> list[str]:
        """The states ``backend``'s breaker went through, the first one included."""
        moves = [t for t in self.seen if t[1] == backend]
        return [moves[0][2], *(t[3] for t in moves)] if moves else []

    def entered(self, backend: str, state: str) -> list[float]:
        """When ``backend``'s breaker entered ``state``."""
        return [t[0] for t in self.seen if t[1] == backend and t[3] == state]


class Route(Protocol):
    """How the demo's requests reach the backends."""

    #: None when breaker moves cannot be seen (then they are inferred from who answered).
    transitions: Transitions | None
    #: The heading of the rows' last column.
    why_heading: str

    def breaker_state(self, backend: str) -> str | None:
        """The breaker's state as last seen; None when it cannot be seen."""

    async def send(self, prompt: str, max_tokens: int) -> Answer:
        """Route one request. :raises RequestFailed: when no backend answered."""

    def attempts(self) -> int | None:
        """Backend calls so far (None: not known)."""

    async def close(self) -> list[str]:
        """Stop routing; summary lines about the shutdown (problems start with ``FAILED``)."""


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Tally:
    """What happened to the requests."""

    latencies: list[float] = field(default_factory=list)
    used: dict[str, int] = field(default_factory=dict)
    successes: int = 0
    failures: int = 0
    fallbacks: int = 0
    cost_eur: float = 0.0
    #: Answers by the economy backend after its restart (recovery seen from outside).
    economy_after_restart: int = 0
    #: Answers by another backend while the economy server was down.
    others_while_down: int = 0


async def drive(args: argparse.Namespace, route: Route, economy: Server) -> int:
    """Send the requests, crash and restart the economy server, print rows and the summary.

    ``args`` are the demo's options (``requests``, ``max_tokens``, ``interval``,
    ``threshold``, ``max_extra_seconds``).
    """
    requests: int = args.requests
    threshold: int = args.threshold
    interval: float = args.interval
    kill_after = max(2, requests // 3)
    tally = Tally()
    killed_at: int | None = None
    restart_task: asyncio.Task[float] | None = None
    recovered = False
    crash_started: float | None = None
    extra_deadline: float | None = None

    def cycle_done() -> bool:
        if route.transitions is not None:
            return bool(route.transitions.entered(ECONOMY, "closed"))
        return tally.economy_after_restart > 0

    say(ROW.format("#", "BACKEND", "LATENCY", "TOKENS", "COST EUR", route.why_heading))
    i = 0
    while True:
        i += 1
        if i > requests:
            if (recovered and cycle_done()) or killed_at is None:
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
            and route.breaker_state(ECONOMY) in (None, "open", "half_open")
            and i >= killed_at + threshold + 2
        ):
            say(f"   !! restarting {ECONOMY} on the same port")
            economy.start()
            restart_task = asyncio.create_task(asyncio.to_thread(economy.wait_ready))
        if restart_task is not None and restart_task.done() and not recovered:
            recovered = True
            say(f"   !! {ECONOMY} is serving again (pid {economy.pid}, ready in {restart_task.result():.1f}s)")

        try:
            answer = await route.send(PROMPTS[(i - 1) % len(PROMPTS)], args.max_tokens)
        except RequestFailed as exc:
            tally.failures += 1
            say(ROW.format(i, "-", "-", "-", "-", f"FAILED: {exc}"))
            await asyncio.sleep(interval)
            continue
        tally.latencies.append(answer.latency_ms)
        tally.successes += 1
        tally.cost_eur += answer.cost_eur
        tally.used[answer.backend] = tally.used.get(answer.backend, 0) + 1
        tally.fallbacks += bool(answer.fallback)
        if killed_at is not None and answer.backend != ECONOMY and not recovered:
            tally.others_while_down += 1
        if recovered and answer.backend == ECONOMY:
            tally.economy_after_restart += 1
        say(
            ROW.format(
                i,
                answer.backend,
                f"{answer.latency_ms:.0f} ms",
                f"{answer.tokens_input}+{answer.tokens_output}",
                f"{answer.cost_eur:.8f}",
                answer.why,
            )
        )
        await asyncio.sleep(interval)

    if restart_task is not None and not restart_task.done():
        await restart_task
    shutdown = await route.close()
    return summarise(tally, route, crash_started, shutdown)


def summarise(tally: Tally, route: Route, crash_started: float | None, shutdown: list[str]) -> int:
    """Print the summary; 0 when the fail-over and the recovery were both shown."""
    say("")
    say("Summary")
    say(f"  requests        {tally.successes + tally.failures}")
    say(f"  successes       {tally.successes}")
    say(f"  failures        {tally.failures}")
    transitions = route.transitions
    if transitions is not None:
        say(f"  fallbacks       {tally.fallbacks} requests answered after another backend failed")
    else:
        say(
            f"  fallbacks       not visible ({tally.others_while_down} requests answered by another backend "
            f"while {ECONOMY} was down: fallbacks or breaker skips)"
        )
    attempts = route.attempts()
    say(f"  attempts        {attempts if attempts is not None else 'not visible'} backend calls in all")
    say(f"  cost            EUR {tally.cost_eur:.8f}")
    if tally.latencies:
        say(
            f"  latency         p50 {percentile(tally.latencies, 0.5):.0f} ms, "
            f"p95 {percentile(tally.latencies, 0.95):.0f} ms, mean {statistics.fmean(tally.latencies):.0f} ms"
        )
    say("  answered by     " + ", ".join(f"{name} {count}" for name, count in sorted(tally.used.items())))
    for line in shutdown:
        say(f"  {line}")
    if transitions is not None:
        for name in sorted({t[1] for t in transitions.seen}):
            say(f"  breaker {name}: {' -> '.join(transitions.path(name))}")
        closed = transitions.entered(ECONOMY, "closed")
        if crash_started is not None and closed:
            say(f"  recovery        the economy breaker closed {closed[-1] - (crash_started - transitions.started):.1f}s after the crash")
        shown = tally.fallbacks > 0 and bool(transitions.entered(ECONOMY, "open")) and bool(closed)
    else:
        say(f"  breaker {ECONOMY}: moves not visible; inferred from who answered")
        shown = tally.others_while_down > 0 and tally.economy_after_restart > 0
    ok = tally.failures == 0 and shown and not any(line.startswith("FAILED") for line in shutdown)
    say("  result          " + ("fail-over and recovery shown" if ok else "INCOMPLETE: see above"))
    return 0 if ok else 1


def breaker_moves(old_state: str, entered: Mapping[str, int]) -> list[tuple[str, str]]:
    """The breaker moves that explain ``entered`` (state -> times entered) from ``old_state``.

    A breaker goes closed -> open -> half_open -> closed, or half_open -> open again when a
    probe fails; a further half_open to come means the probe failed.
    """
    left = {state: count for state, count in entered.items() if count > 0}
    moves: list[tuple[str, str]] = []
    state = old_state
    while left:
        if state == "closed":
            following = "open"
        elif state == "open":
            following = "half_open"
        elif "closed" in left and (left.get("half_open", 0) == 0 or "open" not in left):
            following = "closed"
        else:
            following = "open"
        if following not in left:  # not a path a breaker takes: show the rest as seen
            following = next(iter(left))
        moves.append((state, following))
        left[following] -= 1
        if not left[following]:
            del left[following]
        state = following
    return moves

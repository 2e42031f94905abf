"""Small helpers shared by the chaos tests: breaker-policy plugins, fault plans, fd counts."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from claudette.hookspecs import hookimpl
from claudette.types import BreakerPolicy

__all__ = [
    "PolicyPlugin",
    "TransitionLog",
    "client_sockets",
    "fault_plan",
    "lost_everywhere",
    "open_fds",
    "unit_random",
    "write_report",
]


class PolicyPlugin:
    """A ``claudette_breaker_policy`` plugin object giving every backend one policy."""

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy

    @hookimpl
    def claudette_breaker_policy(self, backend: Any) -> BreakerPolicy:
        """The policy of every backend."""
        return self.policy


class TransitionLog:
    """A ``claudette_breaker_transition`` observer that keeps every transition in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    @hookimpl
    def claudette_breaker_transition(self, backend_name: str, old_state: str, new_state: str) -> None:
        """Remember one transition."""
        self.events.append((backend_name, old_state, new_state))

    def of(self, name: str) -> list[tuple[str, str]]:
        """The transitions of one backend, as (old, new) pairs."""
        return [(old, new) for b, old, new in self.events if b == name]


def unit_random(*key: object) -> float:
    """A number in [0, 1) determined by ``key`` alone (seeded, order independent)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def fault_plan(seed: int, backend: str, rates: Mapping[str, float]) -> Callable[[int | None], str | None]:
    """``decide(tag)``: the fault kind (or None) backend ``backend`` gives request ``tag``."""
    table = list(rates.items())

    def decide(tag: int | None) -> str | None:
        u = unit_random(seed, backend, tag)
        for kind, rate in table:
            if u < rate:
                return kind
            u -= rate
        return None

    return decide


def lost_everywhere(seed: int, backends: Iterable[str], rates: Mapping[str, float], requests: int) -> int:
    """How many of the first ``requests`` requests every backend's plan fails: no router
    can answer them, since a request meets the same fault on every call to a backend."""
    plans = [fault_plan(seed, backend, rates) for backend in backends]
    return sum(all(plan(tag) is not None for plan in plans) for tag in range(requests))


def open_fds() -> int:
    """File descriptors open in this process now."""
    return len(os.listdir("/proc/self/fd"))


def client_sockets(ports: set[int]) -> list[str]:
    """This process's TCP sockets whose peer listens on one of ``ports``, as ``"port state"``.

    The emulators run in this process too, so a plain descriptor count also sees the server
    ends of connections, which an emulator closes on its own schedule; a socket whose *remote*
    port is an emulator's is a connection the client side still holds.
    """
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listing and reading
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    held = []
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[9] in inodes and remote_port in ports:
                held.append(f"{remote_port} {fields[3]}")
    return held


def write_report(section: str, data: Any) -> None:
    """Merge ``data`` under ``section`` into the JSON file named by $CLAUDETTE_CHAOS_REPORT."""
    path = os.environ.get("CLAUDETTE_CHAOS_REPORT")
    if not path:
        return
    target = Path(path)
    report: dict[str, Any] = {}
    if target.exists():
        try:
            report = json.loads(target.read_text())
        except ValueError:
            report = {}
    report[section] = data
    target.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")

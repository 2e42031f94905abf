"""Several real router processes on one Redis: one view of every backend.

Each worker is a separate Python process (``_worker.py``) with its own BackendRouter and
RedisStateStore; the providers are loopback HTTP servers in this test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _redis_server import RedisServer
from claudette.testing import LoopbackServer, RecordedRequest, Reply

WORKER = Path(__file__).parent / "_worker.py"


class Provider:
    """A loopback provider whose behaviour the test switches: ok, fail, or slow."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.mode = "ok"
        self.delay = 0.0
        #: ``time.monotonic()`` of each request's arrival.
        self.arrivals: list[float] = []
        self.server = LoopbackServer(self._answer).start()

    def _answer(self, request: RecordedRequest) -> Reply:
        self.arrivals.append(time.monotonic())
        if self.mode == "fail":
            return Reply(503, {"content-type": "text/plain"}, b"overloaded")
        return Reply(200, {"content-type": "text/plain"}, self.name.encode(), delay=self.delay)

    @property
    def calls(self) -> int:
        """Requests received so far."""
        return len(self.server.requests)


class Worker:
    """A router process driven through stdin/stdout JSON lines."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def wait_ready(self) -> Worker:
        """Block until the worker has built its router and loaded the shared view."""
        assert self._read() == {"ready": True}, self.stderr
        return self

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("worker died:\n" + "".join(self.stderr))
        return json.loads(line)

    def post(self, **cmd: Any) -> None:
        """Send a command without waiting for its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def result(self) -> Any:
        """The answer to the oldest command posted."""
        return self._read()

    def ask(self, **cmd: Any) -> Any:
        """Send a command and wait for its answer."""
        self.post(**cmd)
        return self.result()

    def stop(self) -> None:
        """Ask it to quit; kill it if it does not."""
        if self.proc.poll() is None:
            try:
                self.post(cmd="quit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        self._drain.join(5)

    def warnings(self, text: str) -> int:
        """How many stderr lines contain ``text``."""
        return sum(text in line for line in self.stderr)


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    """A cheap provider that the tests break, and a dearer steady one."""
    made = {name: Provider(name) for name in ("flaky", "steady")}
    yield made
    for p in made.values():
        p.server.stop()


@pytest.fixture
def spawn(
    redis_url: str, namespace: str, providers: dict[str, Provider]
) -> Iterator[Callable[..., list[Worker]]]:
    """Start router processes sharing the test's Redis namespace."""
    workers: list[Worker] = []

    def start(
        count: int, *, url: str | None = None, rpm: int | None = None, **options: Any
    ) -> list[Worker]:
        config = {
            "redis_url": url or redis_url,
            "namespace": namespace,
            "threshold": 3,
            "reset_timeout": 60.0,
            "refresh_interval": 0.1,
            "timeout": 2.0,  # a loaded CI box must not look like a Redis outage here
            "backends": [
                {"name": "flaky", "url": providers["flaky"].server.url, "cost": 0.0, "rpm": rpm},
                {"name": "steady", "url": providers["steady"].server.url, "cost": 0.01},
            ],
            **options,
        }
        new = [w.wait_ready() for w in [Worker(config) for _ in range(count)]]
        workers.extend(new)
        return new

    yield start
    for w in workers:
        w.stop()


def test_a_failure_seen_by_one_process_stops_the_others_sending(
    spawn: Callable[..., list[Worker]], providers: dict[str, Provider]
) -> None:
    first, *others = spawn(3, threshold=3)
    providers["flaky"].mode = "fail"
    assert first.ask(cmd="send", n=3)["answers"] == ["steady"] * 3  # each fell back
    assert providers["flaky"].calls == 3
    time.sleep(0.5)  # a few refresh rounds
    for w in others:
        assert w.ask(cmd="send", n=10)["answers"] == ["steady"] * 10
        assert w.ask(cmd="status")["breakers"]["flaky"] == "open"
    assert providers["flaky"].calls == 3  # nobody else tried it


def test_exactly_one_half_open_probe_across_all_processes(
    spawn: Callable[..., list[Worker]], providers: dict[str, Provider]
) -> None:
    workers = spawn(4, threshold=1, reset_timeout=1.0)
    flaky = providers["flaky"]
    flaky.mode = "fail"
    assert workers[0].ask(cmd="send", n=1)["answers"] == ["steady"]
    opened = time.monotonic()
    assert flaky.calls == 1
    flaky.mode, flaky.delay = "ok", 2.0  # recovered, and the probe takes a while
    time.sleep(max(0.0, opened + 1.3 - time.monotonic()))
    for w in workers:
        w.post(cmd="send", n=5, concurrency=5)
    answers = [a for w in workers for a in w.result()["answers"]]
    assert not any(w.warnings("unreachable") for w in workers), [w.stderr for w in workers]
    probe_started = flaky.arrivals[1]
    during_probe = [t for t in flaky.arrivals[1:] if t < probe_started + flaky.delay]
    assert len(during_probe) == 1  # one probe among 20 concurrent requests in 4 processes
    assert answers.count("flaky") >= 1
    assert answers.count("steady") + answers.count("flaky") == 20
    time.sleep(0.5)
    for w in workers:
        assert w.ask(cmd="status")["breakers"]["flaky"] == "closed"
    flaky.delay = 0.0
    assert workers[1].ask(cmd="send", n=1)["answers"] == ["flaky"]


def _within_one_clock_minute(seconds: float) -> None:
    """Wait, if need be, until the clock minute has ``seconds`` left: the processes share
    their rpm counts per clock minute, so a run that crosses into the next one sees the
    other processes' calls of the previous minute drop out of the shared count."""
    left = 60.0 - time.time() % 60.0
    if left < seconds:
        time.sleep(left + 0.1)


def test_a_backends_rpm_limit_counts_the_calls_of_every_process(
    spawn: Callable[..., list[Worker]], providers: dict[str, Provider]
) -> None:
    workers = spawn(3, rpm=7)
    _within_one_clock_minute(20.0)
    answers = []
    for _ in range(4):
        for w in workers:
            answers += w.ask(cmd="send", n=1)["answers"]
            time.sleep(0.3)  # a few refresh rounds between turns
    assert providers["flaky"].calls == 7
    assert answers == ["flaky"] * 7 + ["steady"] * 5


def test_reserve_is_a_strict_budget_across_processes(spawn: Callable[..., list[Worker]]) -> None:
    workers = spawn(4)
    for w in workers:
        w.post(cmd="reserve", name="rpm:flaky", n=30, limit=50, window=3600.0)
    granted = [w.result()["granted"] for w in workers]
    assert sum(granted) == 50
    assert all(0 <= g <= 30 for g in granted)


def test_killing_redis_mid_run_loses_no_request(
    spawn: Callable[..., list[Worker]], private_redis: RedisServer
) -> None:
    server = private_redis
    workers = spawn(3, url=server.url)
    for w in workers:
        w.post(cmd="send_for", seconds=2.0, concurrency=4)
    time.sleep(0.6)
    server.stop()
    time.sleep(0.7)
    server.start()  # and it comes back while requests still flow
    results = [w.result() for w in workers]
    time.sleep(0.5)
    for w, result in zip(workers, results, strict=True):
        assert len(result["answers"]) == result["sent"] > 20
        assert set(result["answers"]) <= {"flaky", "steady"}, result["answers"][:5]
        assert w.warnings("is unreachable") == 1, w.stderr
        assert w.ask(cmd="status")["connected"] is True
        assert w.warnings("reachable again") == 1, w.stderr

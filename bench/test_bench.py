"""Tests of the benchmark harness itself (no timing assertions): ``python -m pytest bench``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import report
from stats import percentile, spread, summarize_latencies
from upstream import chat_body, find_nginx, nginx_config, sse_body, start_upstream


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_percentile_of_extremes_are_min_and_max() -> None:
    values = [5.0, 1.0, 9.0]
    assert (percentile(values, 0), percentile(values, 100)) == (1.0, 9.0)


def test_summarize_latencies_reports_p99_of_the_tail() -> None:
    values = [1.0] * 99 + [100.0]
    assert summarize_latencies(values)["p99"] == pytest.approx(1.99)


def test_spread_ignores_nan_runs() -> None:
    assert spread([3.0, float("nan"), 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}


def test_nginx_config_escapes_quotes_and_dollars_of_the_bodies(tmp_path: Path) -> None:
    conf = nginx_config(tmp_path, 8080)
    assert "listen 127.0.0.1:8080" in conf
    assert "data: [DONE]" in conf
    assert "'$" not in conf  # every literal $ goes through the ${dollar} variable


@pytest.mark.parametrize("force_emulator", [False, True], ids=["nginx", "emulator"])
def test_upstream_serves_the_fixtures(force_emulator: bool) -> None:
    if not force_emulator and find_nginx() is None:
        pytest.skip("nginx is not installed")
    with start_upstream(force_emulator=force_emulator) as up:
        assert up.kind == ("emulator" if force_emulator else "nginx")
        completion = httpx.post(f"{up.json_base}/chat/completions", json={"model": "m"})
        stream = httpx.post(f"{up.sse_base}/chat/completions", json={"stream": True})
        models = httpx.get(f"{up.json_base}/models")
    assert completion.status_code == 200
    assert completion.json() == json.loads(chat_body())
    assert stream.text == sse_body()
    assert models.json()["data"][0]["id"] == "gpt-4o-mini"


def _sp(x: float) -> dict[str, float]:
    return {"median": x, "min": x, "max": x, "n": 1}


def test_targets_judge_the_paired_added_time_first() -> None:
    results = {
        "derived": {"claudette/send/c1": {"added_p50_us": _sp(500.0)}},
        "paired": {"send": {"added_p50_us": _sp(30.0)}},
    }
    (target,) = report.evaluate_targets(results)
    assert target["met"] is True
    assert target["measured"].startswith("30 µs paired")


def test_targets_judge_cpu_at_64_by_the_paired_figure_and_show_the_other() -> None:
    results = {
        "derived": {"claudette/stream/c64": {"added_cpu_us_per_req": _sp(180.0)}},
        "paired": {"stream": {"c64_cpu": {"added_cpu_us": _sp(75.0)}}},
    }
    (target,) = report.evaluate_targets(results)
    assert target["met"] is False
    assert target["measured"].startswith("75 µs paired (separate processes: 180 µs)")


def test_paired_cpu_gets_whole_answers_for_both_contenders_from_the_memory_transport() -> None:
    """A bad body would raise in either client (each parses the whole answer), so a result
    with one timed burst each means both read complete answers."""
    import micro

    result = micro.bench_paired_cpu(rounds=1, per_round=8, stream=True, concurrency=4)
    assert len(result["cpu_us"]["raw"]) == len(result["cpu_us"]["claudette"]) == 1
    assert all(x > 0 for x in result["cpu_us"]["raw"] + result["cpu_us"]["claudette"])


def test_targets_report_an_infinite_ratio_when_claudette_adds_nothing() -> None:
    results = {
        "derived": {
            "claudette/send/c16": {"added_p50_us": _sp(-5.0)},
            "litellm/send/c16": {"added_p50_us": _sp(4000.0)},
        }
    }
    (target,) = report.evaluate_targets(results)
    assert target["met"] is True
    assert "send c16: ∞×" in target["measured"]
    assert "transport alone" not in target["measured"]  # not measured in this run


def test_the_litellm_target_also_divides_by_claudettes_cost_above_the_transport_alone() -> None:
    results = {
        "derived": {
            "claudette/send/c1": {"added_p50_us": _sp(-80.0)},
            "litellm/send/c1": {"added_p50_us": _sp(6600.0)},
        },
        "paired": {"send": {"added_p50_us": _sp(-80.0), "own_p50_us": _sp(110.0)}},
    }
    (target,) = [t for t in report.evaluate_targets(results) if "LiteLLM" in t["target"]]
    assert target["measured"] == (
        "send c1: ∞× — LiteLLM's added time ÷ claudette's cost above the httpx transport alone, "
        "1 in flight: send 60×"
    )


def test_targets_flag_rss_growth_above_five_megabytes() -> None:
    results = {"memory": {"requests": 100000, "rss_growth_mb": _sp(7.5)}}
    (target,) = report.evaluate_targets(results)
    assert target["met"] is False


@pytest.mark.parametrize("failures", [0, 3, 40])
@pytest.mark.parametrize("latency_ms", [0.0, 250.0, 20_000.0])
def test_the_default_scorer_equals_the_seed_formula(failures: int, latency_ms: float) -> None:
    """The hot-path scorer (no tuple, no availability call without failures) is the seed sum."""
    import micro
    from claudette import BackendSettings, ClaudetteRequest, RouterOptions
    from claudette.scoring import DefaultScoring, score_parts

    router = micro._router(1)
    backend = router.get_backend("b000")
    backend.settings = BackendSettings(model="m", input_cost_per_token=2e-6, output_cost_per_token=8e-6)
    stats = backend.stats
    stats.record_success(latency_ms)
    for _ in range(failures):
        stats.record_failure()
    request = ClaudetteRequest(prompt="x" * 4000, options={"max_tokens": 900})
    options = RouterOptions.preset("balanced")
    fast = DefaultScoring().claudette_score_backend(backend, request, stats, options)
    assert fast == score_parts(backend, request, stats, options).total


def test_the_yardsticks_join_the_paired_cpu_measurement_and_are_reported() -> None:
    import micro

    result = micro.bench_paired_cpu(rounds=2, per_round=8, stream=False, concurrency=4)
    assert set(result["cpu_us"]) == {"raw", "claudette", "floor", "plugin", "transport"}
    assert all(len(v) == 2 and min(v) > 0 for v in result["cpu_us"].values())
    results = {
        "paired": {
            "stream": {
                "c64_cpu": {
                    "added_cpu_us": _sp(75.0),
                    "floor_added_cpu_us": _sp(30.0),
                    "plugin_added_cpu_us": _sp(52.0),
                    "transport_added_cpu_us": _sp(-90.0),
                },
            }
        }
    }
    (target,) = report.evaluate_targets(results)
    assert target["measured"].endswith("; contract floor 30 µs, plugin alone 52 µs, httpx transport alone -90 µs")
    results["paired"]["stream"]["c64_cpu"].pop("transport_added_cpu_us")  # runs from before them
    results["paired"]["stream"]["c64_cpu"].pop("plugin_added_cpu_us")
    (target,) = report.evaluate_targets(results)
    assert target["measured"].endswith("; contract floor 30 µs")


def test_the_yardsticks_join_the_paired_latency_measurement_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client gets the same number of requests, one at a time, in a rotating order."""
    import contenders
    import micro

    calls: list[str] = []
    for cls in (
        contenders.RawHttpx,
        contenders.Claudette,
        contenders.ContractFloor,
        contenders.PluginAlone,
        contenders.TransportAlone,
    ):

        async def send(self: object, _name: str = cls.name) -> str:
            calls.append(_name)
            return "ok"

        async def aclose(self: object) -> None:
            return None

        monkeypatch.setattr(cls, "__init__", lambda self, *a, **k: None)
        monkeypatch.setattr(cls, "send", send)
        monkeypatch.setattr(cls, "aclose", aclose)
    result = micro.bench_paired("http://upstream.invalid/v1", 4, stream=False)
    assert {k: len(v) for k, v in result["latency_ms"].items()} == {
        "raw": 4, "claudette": 4, "floor": 4, "plugin": 4, "transport": 4
    }
    timed = calls[-20:]  # after the warm-up
    assert [timed[i * 5] for i in range(4)] == ["raw", "claudette", "floor", "plugin"]


def test_the_report_splits_the_added_cost_into_its_layers() -> None:
    paired = {
        "added_p50_us": _sp(60.0),
        "floor_added_p50_us": _sp(20.0),
        "plugin_added_p50_us": _sp(40.0),
        "transport_added_p50_us": _sp(-100.0),
        "own_p50_us": _sp(160.0),
        "raw_p50_ms": _sp(1.0),
        "claudette_p50_ms": _sp(1.06),
        "what": "p50 of wall time",
        "c64_cpu": {
            "raw_cpu_us": _sp(300.0),
            "claudette_cpu_us": _sp(350.0),
            "added_cpu_us": _sp(50.0),
            "floor_added_cpu_us": _sp(17.0),
            "plugin_added_cpu_us": _sp(29.0),
            "transport_added_cpu_us": _sp(-40.0),
            "own_cpu_us": _sp(90.0),
        },
    }
    machine = {"cores": 2, "implementation": "CPython", "python": "3.11", "platform": "Linux"}
    run = {"command": "bench/run.py", "profile": "full", "elapsed_s": 1.0, "machine": machine}
    text = report.markdown({**run, "paired": {"send": paired}}, None)
    assert "| send (p50 of wall time) | 1.000 | 1.060 | 60 | 20 | 40 | -100 | 160 |" in text
    assert "| send | 300 | 350 | 50 | 17 | 29 | -40 | 90 |" in text
    # a run from before the transport yardstick: its column is left out, not left empty
    for group in (paired, paired["c64_cpu"]):
        for key in ("transport_added_p50_us", "own_p50_us", "transport_added_cpu_us", "own_cpu_us"):
            group.pop(key, None)
    text = report.markdown({**run, "paired": {"send": paired}}, None)
    assert "| send (p50 of wall time) | 1.000 | 1.060 | 60 | 20 | 40 | – |" in text
    assert "httpx transport alone µs" not in text


async def test_the_transport_alone_sends_what_raw_sends_without_the_client() -> None:
    import contenders
    import httpx
    from claudette.testing import LoopbackServer, Reply

    from upstream import chat_body

    with LoopbackServer(lambda _r: Reply(body=chat_body().encode(), headers={"content-type": "application/json"})) as server:
        raw = contenders.RawHttpx(server.url + "/v1")
        alone = contenders.TransportAlone(server.url + "/v1")
        try:
            assert await raw.send() == await alone.send() == "Hello there"
        finally:
            await raw.aclose()
            await alone.aclose()
        sent_raw, sent_alone = server.requests
        assert sent_alone.path == sent_raw.path == "/v1/chat/completions"
        assert sent_alone.body == sent_raw.body
        assert sent_alone.headers == sent_raw.headers  # the client's default headers included
    # and it does not go through the client: a client event hook never sees its requests
    seen: list[httpx.Request] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request)

    import micro

    alone = contenders.TransportAlone("http://upstream.invalid/v1", micro._memory_transport(True))
    alone._owner.event_hooks = {"request": [hook], "response": []}
    first, last = await alone.stream()
    assert 0 < first <= last and seen == []
    await alone.aclose()


async def test_claudette_measured_in_memory_uses_the_client_its_backends_build() -> None:
    import contenders
    import micro
    from claudette.client import DirectClient

    for cls in (contenders.Claudette, contenders.PluginAlone):
        c = cls("http://upstream.invalid/v1", micro._memory_transport(False))
        assert isinstance(c.router.get_backend("openai").client, DirectClient)
        assert await c.send() == "Hello there"
        await c.aclose()


async def test_the_plugin_alone_reads_whole_answers_without_the_router() -> None:
    import contenders
    import micro

    for stream in (False, True):
        plugin = contenders.PluginAlone("http://upstream.invalid/v1", micro._memory_transport(stream))
        try:
            if stream:
                first, last = await plugin.stream()
                assert 0 < first <= last
            else:
                assert await plugin.send() == "Hello there"
            assert plugin.router.counters.requests == 0  # the backend answered, not the router
        finally:
            await plugin.aclose()


async def test_the_contract_floor_reads_whole_answers_in_its_types() -> None:
    import contenders
    import micro
    from claudette import StreamChunk

    for stream in (False, True):
        floor = contenders.ContractFloor("http://upstream.invalid/v1", micro._memory_transport(stream))
        try:
            if stream:
                chunks = [c async for c in floor._chunks()]
                assert [c.text for c in chunks] == ["Hello", " there", ""]
                assert all(isinstance(c, StreamChunk) for c in chunks)
                assert chunks[-1].response is not None
                assert chunks[-1].response.content == "Hello there"
            else:
                assert await floor.send() == "Hello there"
        finally:
            await floor.aclose()


def test_paired_bursts_at_concurrency_alternate_and_time_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    import contenders
    import micro

    calls: list[str] = []
    for cls in (contenders.RawHttpx, contenders.Claudette):

        async def stream(self: object, _name: str = cls.name) -> tuple[float, float]:
            calls.append(_name)
            return 1.0, 2.0

        async def aclose(self: object) -> None:
            return None

        monkeypatch.setattr(cls, "__init__", lambda self, *a, **k: None)
        monkeypatch.setattr(cls, "stream", stream)
        monkeypatch.setattr(cls, "aclose", aclose)
    result = micro.bench_paired_concurrent("http://upstream.invalid/v1", 3, 8, True, 4)
    assert {k: len(v) for k, v in result["p50_ms"].items()} == {"raw": 3, "claudette": 3}
    assert len(calls) == 8 * 2 * 4  # a warm-up burst each, then three rounds each
    bursts = [calls[i : i + 8] for i in range(16, len(calls), 8)]
    assert [b[0] for b in bursts] == ["raw", "claudette", "claudette", "raw", "raw", "claudette"]
    assert all(len(set(b)) == 1 for b in bursts)  # one client per burst


def test_the_litellm_ratio_takes_claudettes_paired_added_time_where_measured() -> None:
    results = {
        "derived": {
            "claudette/send/c64": {"added_p50_us": _sp(13000.0)},  # separate processes: noise
            "litellm/send/c64": {"added_p50_us": _sp(500000.0)},
            "claudette/send/c16": {"added_p50_us": _sp(2000.0)},
            "litellm/send/c16": {"added_p50_us": _sp(150000.0)},
        },
        "paired": {"send": {"c64": {"added_p50_us": _sp(4000.0)}}},
    }
    results["derived"]["claudette/send/c64"]["added_cpu_us_per_req"] = _sp(200.0)
    results["derived"]["litellm/send/c64"]["added_cpu_us_per_req"] = _sp(9000.0)
    results["paired"]["send"]["c64_cpu"] = {"added_cpu_us": _sp(60.0)}
    (_cpu, target) = report.evaluate_targets(results)
    assert "send c64: 125×" in target["measured"]  # 500,000 / 4,000, not / 13,000
    assert "in added CPU per request: send c64: 150×" in target["measured"]  # 9,000 / 60, not / 200
    assert "send c16: 75×" in target["measured"]  # no paired figure: the separate one
    assert target["met"] is True
    assert "paired runs" in target["note"]


def test_the_report_shows_the_paired_added_time_at_concurrency_with_quartiles() -> None:
    machine = {"cores": 2, "implementation": "CPython", "python": "3.11", "platform": "Linux"}
    run = {"command": "bench/run.py", "profile": "full", "elapsed_s": 1.0, "machine": machine}
    c64 = {
        "raw_p50_ms": _sp(129.0),
        "claudette_p50_ms": _sp(133.4),
        "added_p50_us": _sp(4438.0),
        "added_p50_us_quartiles": [2619.0, 7231.0],
        "rounds": 40,
    }
    one = {"what": "p50 of time to first chunk", "raw_p50_ms": _sp(1.5), "claudette_p50_ms": _sp(1.57)}
    text = report.markdown({**run, "paired": {"stream": {**one, "added_p50_us": _sp(70.0), "c64": c64}}}, None)
    assert "| stream (first chunk) | 64 | 40 | 129.00 | 133.40 | 4,438 (2,619–7,231) |" in text


def test_a_re_render_keeps_the_runs_samples_and_its_plot(tmp_path: Path) -> None:
    """``run.py --render`` from a results.json whose samples are gone keeps what is there:
    the samples file is not overwritten with nothing, and the run's own plot stays linked."""
    import run

    machine = {"cores": 2, "implementation": "CPython", "python": "3.11", "platform": "Linux"}
    results = {"command": "bench/run.py", "profile": "full", "elapsed_s": 1.0, "machine": machine}
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(results))
    (out / "samples.json").write_text("{}")
    (out / "bench-latency.png").write_bytes(b"\x89PNG the run's plot")
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    (elsewhere / "results.json").write_text(json.dumps(results))
    (out / "samples.json").write_text('{"raw/send/c1": [1.0]}')

    assert run.main(["--render", str(elsewhere / "results.json"), "--out", str(out)]) == 0
    assert json.loads((out / "samples.json").read_text()) == {"raw/send/c1": [1.0]}

    (out / "samples.json").write_text("{}")
    assert run.main(["--render", str(out / "results.json"), "--out", str(out)]) == 0
    assert "![latency distributions](bench-latency.png)" in (out / "results.md").read_text()
    assert (out / "bench-latency.png").read_bytes() == b"\x89PNG the run's plot"


def test_run_paired_derives_each_yardstick_and_claudettes_cost_above_the_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From canned micro.py outputs: every figure is a difference taken within one run."""
    import types

    import run

    latency = {"raw": [1.0] * 5, "claudette": [0.95] * 5, "floor": [1.02] * 5, "plugin": [0.9] * 5, "transport": [0.8] * 5}
    cpu = {"raw": [300.0, 310.0], "claudette": [250.0, 262.0], "floor": [320.0, 330.0], "plugin": [230.0, 240.0], "transport": [180.0, 186.0]}

    def fake_python(*args: str, timeout: float = 900) -> object:
        what = args[1]
        if what == "paired":
            out: dict[str, object] = {"latency_ms": latency}
        elif what == "pairedcpu":
            out = {"cpu_us": cpu}
        else:  # pairedc
            out = {"p50_ms": {"raw": [20.0, 22.0], "claudette": [19.0, 20.0]}}
        return types.SimpleNamespace(returncode=0, stdout=json.dumps(out), stderr="")

    monkeypatch.setattr(run, "_python", fake_python)
    upstream = types.SimpleNamespace(json_base="http://j", sse_base="http://s")
    prof = {"repeats": 2, "paired": 5, "paired_cpu": {"repeats": 1, "rounds": 2, "per_round": 8},
            "paired_concurrent": {"rounds": 2, "per_round": {16: 32}}}
    send = run.run_paired(upstream, prof)["send"]
    assert send["added_p50_us"]["median"] == pytest.approx(-50.0)
    assert send["floor_added_p50_us"]["median"] == pytest.approx(20.0)
    assert send["plugin_added_p50_us"]["median"] == pytest.approx(-100.0)
    assert send["transport_added_p50_us"]["median"] == pytest.approx(-200.0)
    assert send["own_p50_us"]["median"] == pytest.approx(150.0)  # claudette − transport
    c64 = send["c64_cpu"]
    assert c64["added_cpu_us"]["median"] == pytest.approx(-49.0)  # median of -50 and -48
    assert c64["transport_added_cpu_us"]["median"] == pytest.approx(-122.0)  # -120, -124
    assert c64["own_cpu_us"]["median"] == pytest.approx(73.0)  # 70 and 76
    assert send["c16"]["added_p50_us"]["median"] == pytest.approx(-1500.0)  # -1000, -2000

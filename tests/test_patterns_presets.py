"""Weight presets: RouterOptions.preset(), [router] preset, and their effect on selection."""

from __future__ import annotations

import pytest
from claudette import BackendSettings, ConfigError, RouterOptions
from claudette.config import parse_config
from claudette.types import WEIGHT_PRESETS
from test_patterns_support import FakeBackend, make_router, req


@pytest.mark.parametrize(
    ("name", "weights"),
    [
        ("cost-optimized", (0.7, 0.2, 0.1)),
        ("performance", (0.1, 0.7, 0.2)),
        ("balanced", (0.4, 0.4, 0.2)),
    ],
)
def test_preset_sets_its_weights(name: str, weights: tuple[float, float, float]) -> None:
    o = RouterOptions.preset(name)
    assert (o.cost_weight, o.latency_weight, o.availability_weight) == weights


def test_preset_names_for_a_cli_choice_list() -> None:
    assert sorted(WEIGHT_PRESETS) == ["balanced", "cost-optimized", "performance"]


@pytest.mark.parametrize("name", sorted(WEIGHT_PRESETS))
def test_the_cli_offers_every_preset_with_its_weights(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from claudette.cli import build_parser, main

    assert build_parser().parse_args(["ask", "hi", "--preset", name]).preset == name
    assert main(["ask", "--help"]) == 0
    weights = "/".join(f"{w:g}" for w in WEIGHT_PRESETS[name])
    assert f"{name} ({weights}" in " ".join(capsys.readouterr().out.split())


def test_preset_keeps_other_overrides() -> None:
    o = RouterOptions.preset("performance", max_attempts=5, strategy="least_requests")
    assert (o.latency_weight, o.max_attempts, o.strategy) == (0.7, 5, "least_requests")


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="balanced"):
        RouterOptions.preset("fastest")


def test_balanced_is_the_default() -> None:
    o, d = RouterOptions.preset("balanced"), RouterOptions()
    assert (o.cost_weight, o.latency_weight, o.availability_weight) == (
        d.cost_weight,
        d.latency_weight,
        d.availability_weight,
    )


def test_config_preset() -> None:
    router = parse_config({"router": {"preset": "cost-optimized"}}).router
    assert (router.cost_weight, router.latency_weight, router.availability_weight) == (0.7, 0.2, 0.1)


def test_config_weight_beats_the_preset() -> None:
    router = parse_config({"router": {"preset": "cost-optimized", "latency_weight": 0.5}}).router
    assert (router.cost_weight, router.latency_weight) == (0.7, 0.5)


def test_config_unknown_preset_is_a_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"router": {"preset": "turbo"}})
    assert info.value.problems[0].path == "router.preset"


def cheap_slow_and_dear_fast(options: RouterOptions) -> object:
    cheap = FakeBackend("cheap", BackendSettings(model="m", cost_per_token=1e-6))
    dear = FakeBackend("dear", BackendSettings(model="m", cost_per_token=2e-5))
    router = make_router(cheap, dear, options=options)
    for _ in range(10):
        cheap.stats.record_success(6000.0)  # 6 s
        dear.stats.record_success(500.0)  # 0.5 s
    return router


@pytest.mark.parametrize(
    ("preset", "winner"), [("cost-optimized", "cheap"), ("performance", "dear"), ("balanced", "dear")]
)
async def test_preset_changes_which_backend_wins(preset: str, winner: str) -> None:
    # request: 2 prompt tokens + 256 output tokens; cheap ~0.26 cents, dear ~0.52 cents.
    router = cheap_slow_and_dear_fast(RouterOptions.preset(preset, health_checks=False))
    assert (await router.select_backend(req("hi"))).name == winner


def test_with_preset_changes_only_the_weights() -> None:
    base = parse_config({"router": {"max_attempts": 4, "strategy": "least_requests"}}).router
    o = base.with_preset("cost-optimized")
    assert (o.cost_weight, o.latency_weight, o.availability_weight) == (0.7, 0.2, 0.1)
    assert (o.max_attempts, o.strategy) == (4, "least_requests")


def test_with_preset_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="performance"):
        RouterOptions().with_preset("cheap")

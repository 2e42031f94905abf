"""Installed plugins meet the plugin manager through entry points, in a defined order.

Fast versions (no pip): each "installed" package here is a ``.dist-info`` directory with an
``entry_points.txt`` on a temporary ``sys.path`` entry, which is all ``importlib.metadata``
looks at. The real ``pip install`` of the two examples is in tests/template/test_examples.py.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from claudette import (
    BackendRouter,
    BackendSettings,
    BaseBackend,
    ClaudettePlugins,
    ClaudetteRequest,
    RouterOptions,
    hookimpl,
)

ROOT = Path(__file__).resolve().parents[1]
INTERNAL_SCORING = "claudette-internal-scoring"


class Silent(BaseBackend):
    """A backend that is never called: selection needs only prices and stats."""

    async def send(self, request):  # type: ignore[no-untyped-def]
        raise AssertionError("never sent")


def install_fake(site: Path, distribution: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write modules and a dist-info declaring ``entry_points`` in the claudette.backends group."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{distribution.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[claudette.backends]\n{lines}")


def scorer(score: float, marker: str = "@hookimpl") -> str:
    return f"""
        from claudette import hookimpl

        {marker}
        def claudette_score_backend(backend):
            return {score}
        """


@pytest.fixture(autouse=True)
def plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No plugin switches from the outer environment."""
    monkeypatch.delenv("CLAUDETTE_BLOCK_PLUGINS", raising=False)
    monkeypatch.delenv("CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD", raising=False)


def ours(order: list[str]) -> list[str]:
    return [name for name in order if name.startswith(("alpha", "zulu")) or name == INTERNAL_SCORING]


def test_installed_plugins_are_called_in_entry_point_name_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # alpha is found first on sys.path: without a defined order it would be called last.
    install_fake(tmp_path / "a", "alpha-dist", {"alpha-score": "alpha_first"}, {"alpha_first": scorer(1.0)})
    install_fake(tmp_path / "z", "zulu-dist", {"zulu-score": "zulu_second"}, {"zulu_second": scorer(2.0)})
    monkeypatch.syspath_prepend(str(tmp_path / "z"))
    monkeypatch.syspath_prepend(str(tmp_path / "a"))

    manager = ClaudettePlugins()

    assert ours(manager.hook_order("claudette_score_backend")) == ["alpha-score", "zulu-score", INTERNAL_SCORING]
    backend = Silent("b", BackendSettings(model="m"))
    assert manager.score_backend(backend, ClaudetteRequest(prompt="hi"), backend.stats, RouterOptions()) == 1.0


def test_tryfirst_wins_over_name_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(
        tmp_path / "s",
        "both-dist",
        {"alpha-score": "alpha_plain", "zulu-score": "zulu_tryfirst"},
        {"alpha_plain": scorer(1.0), "zulu_tryfirst": scorer(2.0, "@hookimpl(tryfirst=True)")},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "s"))

    manager = ClaudettePlugins()

    assert ours(manager.hook_order("claudette_score_backend")) == ["zulu-score", "alpha-score", INTERNAL_SCORING]


def test_application_plugins_are_called_before_installed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake(tmp_path / "s", "alpha-dist", {"alpha-score": "alpha_installed"}, {"alpha_installed": scorer(1.0)})
    monkeypatch.syspath_prepend(str(tmp_path / "s"))

    class ZuluApp:
        @hookimpl
        def claudette_score_backend(self) -> float:
            return 3.0

    manager = ClaudettePlugins()
    manager.register(ZuluApp(), name="zulu-app")

    assert ours(manager.hook_order("claudette_score_backend")) == ["zulu-app", "alpha-score", INTERNAL_SCORING]


def test_installed_example_plugins_change_choice_and_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    examples = ROOT / "examples"
    for src in ("claudette-score-latency-bound", "claudette-breaker-strict"):
        monkeypatch.syspath_prepend(str(examples / src / "src"))
    install_fake(tmp_path, "claudette-score-latency-bound", {"latency-bound": "claudette_score_latency_bound:plugin"}, {})
    install_fake(tmp_path, "claudette-breaker-strict", {"breaker-strict": "claudette_breaker_strict"}, {})
    monkeypatch.syspath_prepend(str(tmp_path))

    async def main() -> tuple[str, int]:
        router = BackendRouter(RouterOptions(health_checks=False), plugins=ClaudettePlugins())
        router.register_backend(Silent("free-slow", BackendSettings(model="m", cost_per_token=0.0)))
        router.register_backend(Silent("dear-fast", BackendSettings(model="m", cost_per_token=0.001)))
        router.get_backend("free-slow").stats.record_latency(4000)
        router.get_backend("dear-fast").stats.record_latency(100)
        chosen = await router.select_backend(ClaudetteRequest(prompt="x" * 400, options={"max_tokens": 100}))
        return chosen.name, router.breaker("dear-fast").policy.failure_threshold

    assert asyncio.run(main()) == ("dear-fast", 2)

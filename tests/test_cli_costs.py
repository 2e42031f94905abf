"""``claudette costs``, and the prices ``claudette backends`` and ``ask --explain`` show."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from claudette import ClaudetteResponse
from claudette.ledger import CostLedger, LedgerRow
from test_cli_helpers import cli_env, closed_port, run_cli, write_config

DAY = 86_400.0


def _fill(path: Path, rows: list[tuple[str, str, float, str, float]]) -> None:
    """Write rows of (backend, model, cost, price source, seconds ago)."""
    ledger = CostLedger(path)
    now = time.time()
    for backend, model, cost, source, ago in rows:
        response = ClaudetteResponse("x", backend, model, 100, 20, cost, price_source=source)
        ledger.write(LedgerRow.of(response, at=now - ago))
    assert ledger.flush(30)
    ledger.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, XDG_DATA_HOME=str(tmp_path / "data"))


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    _fill(
        path,
        [
            ("openai", "gpt-4o-mini", 0.00015000000000000001, "price table", 60),
            ("openai", "gpt-4o", 0.0025, "price table", 2 * DAY),
            ("claude", "claude-haiku-4-5", 0.001, "config", 10 * DAY),
            ("dashscope", "qwen-plus", 0.0, "unknown", 30),
        ],
    )
    return path


def test_costs_sums_the_ledger_by_backend(tmp_path: Path, env: dict[str, str], ledger: Path) -> None:
    result = run_cli("costs", "--ledger", str(ledger), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["BACKEND", "ANSWERS"]
    openai = next(line for line in lines if line.startswith("openai "))
    assert openai.split()[1] == "2" and "€0.00265" in openai
    assert "total €0.00365 for 4 answers" in result.stdout
    assert "1 answers had no known price" in result.stderr


def test_costs_json_has_no_float_noise(tmp_path: Path, env: dict[str, str], ledger: Path) -> None:
    result = run_cli("costs", "--ledger", str(ledger), "--by", "model", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "00000000001" not in result.stdout
    data = json.loads(result.stdout)
    groups = {g["model"]: g for g in data["groups"]}
    assert groups["gpt-4o-mini"]["cost_eur"] == 0.00015
    assert data["total_eur"] == 0.00365
    assert data["unknown_price_answers"] == 1


def test_since_keeps_only_recent_answers(tmp_path: Path, env: dict[str, str], ledger: Path) -> None:
    result = run_cli("costs", "--ledger", str(ledger), "--since", "7d", "--json", env=env, cwd=tmp_path)
    data = json.loads(result.stdout)
    assert data["answers"] == 3 and data["total_eur"] == 0.00265
    bad = run_cli("costs", "--ledger", str(ledger), "--since", "last week", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "7d" in bad.stderr


def test_by_day_and_several_ledger_files(tmp_path: Path, env: dict[str, str], ledger: Path) -> None:
    other = tmp_path / "other.sqlite"
    _fill(other, [("openai", "gpt-4o", 1.0, "price table", 5)])
    result = run_cli(
        "costs", "--ledger", str(ledger), "--ledger", str(other), "--by", "day", "--json",
        env=env, cwd=tmp_path,
    )
    data = json.loads(result.stdout)
    assert data["answers"] == 5
    assert len(data["groups"]) == 3  # today, two days ago, ten days ago
    assert data["total_eur"] == 1.00365


def test_the_configs_ledger_is_read_by_default(tmp_path: Path, env: dict[str, str], ledger: Path) -> None:
    write_config(tmp_path / "claudette.toml", f'[ledger]\npath = "{ledger}"\n')
    result = run_cli("costs", "--json", env=env, cwd=tmp_path)
    assert json.loads(result.stdout)["ledgers"] == [str(ledger)]


def test_no_ledger_is_a_clear_message(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("costs", env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "no cost ledger at" in result.stderr and "[ledger]" in result.stderr


def test_plot_draws_a_png_or_says_what_it_needs(tmp_path: Path, env: dict[str, str], ledger: Path) -> None:
    png = tmp_path / "costs.png"
    result = run_cli("costs", "--ledger", str(ledger), "--plot", str(png), env=env, cwd=tmp_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert result.returncode == 2
        assert "--plot needs matplotlib" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_so(tmp_path: Path, env: dict[str, str], ledger: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**env, "PYTHONPATH": str(blocker)}
    result = run_cli("costs", "--ledger", str(ledger), "--plot", str(tmp_path / "x.png"), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "--plot needs matplotlib: pip install matplotlib" in result.stderr


# -- prices in claudette backends ------------------------------------------------------------


def _three_backends(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    write_config(
        tmp_path / "claudette.toml",
        "[router]\nusd_to_eur = 0.9\n"
        f'[backends.mini]\nplugin = "openai"\nbase_url = "{down}/v1"\nmodel = "gpt-4o-mini"\napi_key = "sk-x-123456789"\n'
        f'[backends.own]\nplugin = "openai"\nbase_url = "{down}/v1"\nmodel = "gpt-4o"\ncost_per_token = 1e-5\napi_key = "sk-x-123456789"\n'
        f'[backends.local]\nplugin = "ollama"\nbase_url = "{down}"\n',
    )


def test_backends_shows_each_price_and_where_it_comes_from(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("genai_prices")
    _three_backends(tmp_path)
    result = run_cli("backends", "--json", env=env, cwd=tmp_path)
    data = json.loads(result.stdout)
    rows = {r["name"]: r for r in data["backends"]}
    assert rows["mini"]["price_source"] == "price table"
    assert rows["mini"]["eur_per_1m_input"] == pytest.approx(0.15 * 0.9)
    assert (rows["own"]["price_source"], rows["own"]["eur_per_1m_input"]) == ("config", 10.0)
    assert (rows["local"]["price_source"], rows["local"]["eur_per_1m_output"]) == ("plugin default", 0.0)
    assert data["pricing"]["usd_to_eur"] == 0.9
    text = run_cli("backends", env=env, cwd=tmp_path)
    assert "PRICE FROM" in text.stdout and "price table" in text.stdout
    assert "0.9 EUR per USD" in text.stdout


def test_without_the_table_backends_shows_unknown_with_a_hint(tmp_path: Path, env: dict[str, str]) -> None:
    _three_backends(tmp_path)
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "genai_prices.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**env, "PYTHONPATH": str(blocker)}
    result = run_cli("backends", env=env, cwd=tmp_path)
    mini = next(line for line in result.stdout.splitlines() if line.startswith("mini "))
    assert "unknown / unknown" in mini
    assert "price unknown for mini" in result.stderr
    assert "claudette-core[prices]" in result.stderr


def test_explain_shows_each_candidates_price_and_its_source() -> None:
    from claudette import TokenPrices
    from claudette._cli_ask import explain_to_dict, format_explain
    from claudette.router import Candidate
    from claudette.types import RouterOptions

    candidates = [Candidate("mini", 0.1, None, None, chosen=True), Candidate("dash", None, None, "x")]
    prices = {"mini": TokenPrices(1.38e-7, 5.52e-7, source="price table"), "dash": TokenPrices()}
    lines = format_explain(candidates, RouterOptions(), prices)
    assert "EUR/1M 0.138 in / 0.552 out (price table)" in lines[1]
    assert "price unknown" in lines[2]
    data = explain_to_dict(candidates, RouterOptions(), prices)
    assert data["candidates"][0]["prices"]["price_source"] == "price table"
    assert data["candidates"][1]["prices"]["eur_per_1m_input"] is None
    assert data["unknown_price_policy"] == "most_expensive"

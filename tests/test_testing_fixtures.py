"""claudette's pytest fixtures reach only the test suites that opt in to them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

USES_THE_FIXTURE = """
def test_server(claudette_loopback_server):
    assert claudette_loopback_server.url.startswith("http://127.0.0.1:")
"""


def test_claudette_core_registers_no_pytest_plugin() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    assert "pytest11" not in meta["project"].get("entry-points", {})


def test_a_suite_that_does_not_opt_in_sees_no_claudette_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it=USES_THE_FIXTURE)

    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'claudette_loopback_server' not found*"])


def test_a_suite_that_opts_in_gets_the_prefixed_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["claudette.testing.pytest_plugin"]')
    pytester.makepyfile(
        test_it=USES_THE_FIXTURE
        + """
def test_router(claudette_make_router):
    from claudette.testing.pytest_plugin import build_router

    assert claudette_make_router is build_router
"""
    )

    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")

    result.assert_outcomes(passed=2)

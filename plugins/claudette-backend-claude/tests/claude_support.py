"""Constants and helpers shared by the Claude backend's tests (a uniquely named module)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
#: The key every test backend uses; it must never show in an error.
API_KEY = "sk-ant-test-SECRET-9d1f3b5a7c"


def fixture_bytes(name: str) -> bytes:
    """The bytes of a recorded transcript in ``tests/fixtures``."""
    return (FIXTURES / name).read_bytes()


def assert_no_key(error: BaseException) -> None:
    """Fail when the API key shows in the error's text, repr or args."""
    for shown in (str(error), repr(error), *map(str, error.args)):
        assert API_KEY not in shown

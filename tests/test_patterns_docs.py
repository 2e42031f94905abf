"""Every TOML example in docs/patterns.md is a valid claudette.toml fragment."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from claudette.config import parse_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[1] / "docs" / "patterns.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[b.splitlines()[0] for b in BLOCKS])
def test_toml_example_is_valid_config(block: str) -> None:
    data = tomllib.loads(block)
    for table in data.get("backends", {}).values():
        table.setdefault("plugin", "any")
    parse_config(data)  # raises ConfigError listing every problem

"""Field validators shared by claudette's attrs value classes."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["non_negative", "positive"]


def non_negative(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    """Refuse a value that is not a number >= 0 (None passes: unset)."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0
    ):
        raise ValueError(f"{attr.name} must be a number >= 0, got {value!r}")


def positive(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    """Refuse a value that is not a number > 0 (None passes: unset)."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
    ):
        raise ValueError(f"{attr.name} must be a number > 0, got {value!r}")

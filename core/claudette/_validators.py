"""Field validators shared by claudette's attrs value classes."""

from __future__ import annotations

from typing import Any

import attrs

from claudette._redact import describe

__all__ = ["non_negative", "one_of", "positive"]


def non_negative(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    """Refuse a value that is not a number >= 0 (None passes: unset)."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0
    ):
        raise ValueError(f"{attr.name} must be a number >= 0, got {describe(value)}")


def positive(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    """Refuse a value that is not a number > 0 (None passes: unset)."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
    ):
        raise ValueError(f"{attr.name} must be a number > 0, got {describe(value)}")


def one_of(*choices: str) -> Any:
    """A validator refusing anything but one of ``choices``; its error names the choices
    and describes (never shows) the value given."""

    def check(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices)
            raise ValueError(f"{attr.name} must be one of {listed}, got {describe(value)}")

    return check

"""Money for people to read: EUR amounts without float noise.

Costs are sums of products of tiny per-token prices, so a float such as
``0.00015000000000000001`` carries noise in its last digits. Amounts are kept as floats
in the API (``cost_eur``) and rounded to :data:`SIGNIFICANT_DIGITS` significant digits
wherever they are shown or serialised, which is far below a billionth of a cent for any
real bill and well above the noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SIGNIFICANT_DIGITS", "fmt_eur", "round_eur", "round_money_fields"]

#: Significant digits an amount keeps when shown.
SIGNIFICANT_DIGITS = 10


def round_eur(value: float) -> float:
    """``value`` rounded to :data:`SIGNIFICANT_DIGITS` significant digits (noise removed)."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def fmt_eur(value: float) -> str:
    """An EUR amount for a table: cents for a cent or more, every significant digit below."""
    if value == 0:
        return "€0"
    if abs(value) >= 0.01:
        return f"€{value:.4f}"
    return f"€{round_eur(value):.12f}".rstrip("0")


def round_money_fields(data: Any) -> Any:
    """``data`` with every float under a key that names EUR (``*eur*``) rounded, recursively."""
    if isinstance(data, Mapping):
        return {
            key: (
                round_eur(value)
                if isinstance(value, float) and "eur" in str(key).lower()
                else round_money_fields(value)
            )
            for key, value in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [round_money_fields(item) for item in data]
    return data

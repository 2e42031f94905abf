"""Token counts and timings a provider reports, checked before claudette computes with them.

A provider's usage is data from the network: a count of ``10**400`` (valid JSON), a
negative one, a float or a string must not turn a good answer into an ``OverflowError``
or a nonsense bill. :func:`checked_usage` keeps the counts that are plausible and names
the ones that are not, so that the caller estimates those instead and says so in the
response's metadata (``usage_estimated`` and ``usage_implausible``); the answer is kept.
:func:`plausible_duration_ns` does the same for a duration in nanoseconds (Ollama's
timings).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

__all__ = [
    "MAX_DURATION_NS",
    "MAX_PLAUSIBLE_TOKENS",
    "CheckedUsage",
    "checked_usage",
    "plausible_count",
    "plausible_duration_ns",
]

#: The most tokens one call can plausibly use on either side: far above any model's
#: context window, far below what overflows a float.
MAX_PLAUSIBLE_TOKENS = 10**9
#: The longest duration, in nanoseconds, a provider may plausibly report for one call
#: (thirty days).
MAX_DURATION_NS = 30 * 24 * 3600 * 10**9


def plausible_count(value: Any) -> bool:
    """Whether ``value`` is a token count claudette can use: an int (not a bool) from 0
    to :data:`MAX_PLAUSIBLE_TOKENS`."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= MAX_PLAUSIBLE_TOKENS
    )


def plausible_duration_ns(value: Any) -> float | None:
    """``value`` as nanoseconds when it is a finite number from 0 to
    :data:`MAX_DURATION_NS`, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not 0 <= value <= MAX_DURATION_NS:
        return None
    return float(value)


class CheckedUsage(NamedTuple):
    """Token counts after the check: a count is None where it was absent or implausible.

    :param tokens_input: the prompt tokens, or None to estimate.
    :param tokens_output: the generated tokens, or None to estimate.
    :param implausible: the names of the counts that were reported but unusable.
    """

    tokens_input: int | None
    tokens_output: int | None
    implausible: tuple[str, ...]


def checked_usage(tokens_input: Any, tokens_output: Any) -> CheckedUsage:
    """Keep each reported count that is plausible; name the reported ones that are not.

    None (not reported) stays None and is not named: estimating it is normal.
    """
    if (
        tokens_input.__class__ is int
        and tokens_output.__class__ is int
        and 0 <= tokens_input <= MAX_PLAUSIBLE_TOKENS
        and 0 <= tokens_output <= MAX_PLAUSIBLE_TOKENS
    ):
        return CheckedUsage(tokens_input, tokens_output, ())  # the usual case
    implausible: list[str] = []
    if tokens_input is not None and not plausible_count(tokens_input):
        implausible.append("tokens_input")
        tokens_input = None
    if tokens_output is not None and not plausible_count(tokens_output):
        implausible.append("tokens_output")
        tokens_output = None
    return CheckedUsage(tokens_input, tokens_output, tuple(implausible))

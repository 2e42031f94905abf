"""The router's options: scoring weights and presets, the optional patterns, the breaker policy.

Frozen attrs classes, validated at construction like the rest of :mod:`claudette.types`,
which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal

import attrs

from claudette._redact import describe
from claudette._validators import non_negative as _non_negative
from claudette._validators import one_of as _one_of
from claudette._validators import positive as _positive
from claudette.errors import BackendError  # resolved at run time: cattrs reads the hints
from claudette.pricing import DEFAULT_USD_TO_EUR, UNKNOWN_PRICE_POLICIES, UnknownPricePolicy

__all__ = [
    "WEIGHT_PRESETS",
    "AdaptiveOptions",
    "BatchOptions",
    "BreakerPolicy",
    "BudgetOptions",
    "CacheOptions",
    "LedgerOptions",
    "RouterOptions",
    "Strategy",
    "preset_weights",
]


def _weight(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} must be a number between 0 and 1, got {describe(value)}")


#: The named sets of scoring weights, as (cost, latency, availability): ``[router] preset``,
#: :meth:`RouterOptions.preset`, ``--preset``. ``balanced`` is also the default weighting.
#: This is the one table of them; everything else derives from it.
WEIGHT_PRESETS: Mapping[str, tuple[float, float, float]] = MappingProxyType(
    {
        "balanced": (0.4, 0.4, 0.2),
        "cost-optimized": (0.7, 0.2, 0.1),
        "performance": (0.1, 0.7, 0.2),
    }
)
_DEFAULT_COST, _DEFAULT_LATENCY, _DEFAULT_AVAILABILITY = WEIGHT_PRESETS["balanced"]


def preset_weights(name: str) -> dict[str, Any]:
    """The weights of preset ``name`` as :class:`RouterOptions` fields.

    :raises ValueError: for an unknown name (the message lists the known ones).
    """
    try:
        cost, latency, availability = WEIGHT_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(WEIGHT_PRESETS)}") from None
    return {"cost_weight": cost, "latency_weight": latency, "availability_weight": availability}


#: How the router picks among usable backends: the weighted ``score`` (the
#: ``claudette_score_backend`` hook), the fewest requests, or weighted random.
Strategy = Literal["score", "least_requests", "weighted_random"]


@attrs.frozen(slots=True)
class CacheOptions:
    """The response cache (``[router.cache]``); see ``docs/patterns.md``.

    :param enabled: False turns the cache off without deleting the table.
    :param max_entries: the most answers kept; the least recently used goes first.
    :param ttl: seconds an answer is kept (before the adaptive adjustments).
    :param max_ttl: the longest any entry is kept, adjustments included.
    :param time_sensitive_ttl: the longest an answer to a time-sensitive prompt
        ("today", "now", "latest" ...) is kept.
    :param adaptive_ttl: lengthen the TTL for expensive and frequently read answers and
        shorten it for time-sensitive prompts; False: every entry lives ``ttl``.
    """

    enabled: bool = True
    max_entries: int = attrs.field(default=1024, validator=_positive)
    ttl: float = attrs.field(default=300.0, validator=_positive)
    max_ttl: float = attrs.field(default=3600.0, validator=_positive)
    time_sensitive_ttl: float = attrs.field(default=30.0, validator=_non_negative)
    adaptive_ttl: bool = True


@attrs.frozen(slots=True)
class BudgetOptions:
    """A spending cap (``[router.budget]``); see ``docs/patterns.md``.

    :param limit_eur: the most EUR to spend per period.
    :param period: ``hour``, ``day``, ``week`` (from Monday) or ``month``, in UTC.
    :param on_exhausted: ``free_only``: past the cap only free backends (cost 0) are
        used; ``error``: every request fails with ``BudgetExceededError`` until the
        next period.
    :param enabled: False turns the cap off without deleting the table.
    """

    limit_eur: float = attrs.field(validator=_non_negative)
    period: Literal["hour", "day", "week", "month"] = attrs.field(
        default="day", validator=_one_of("hour", "day", "week", "month")
    )
    on_exhausted: Literal["free_only", "error"] = attrs.field(
        default="free_only", validator=_one_of("free_only", "error")
    )
    enabled: bool = True


@attrs.frozen(slots=True)
class AdaptiveOptions:
    """Adaptive scoring weights (``[router.adaptive]``); see ``docs/patterns.md``.

    Every ``interval`` seconds the router compares what it observed since the last
    adaptation with the thresholds and moves the weights by ``step``, within bounds.

    :param enabled: False turns adaptation off without deleting the table.
    :param interval: seconds between adaptations (a background task).
    :param step: how far one adaptation moves a weight.
    :param min_weight: no weight falls below this.
    :param max_weight: no weight rises above this.
    :param latency_threshold_ms: mean latency above this raises the latency weight.
    :param cost_threshold_eur: mean cost per answer above this raises the cost weight.
    :param failure_rate_threshold: failure rate above this raises the availability weight.
    """

    enabled: bool = True
    interval: float = attrs.field(default=300.0, validator=_positive)
    step: float = attrs.field(default=0.1, validator=_weight)
    min_weight: float = attrs.field(default=0.05, validator=_weight)
    max_weight: float = attrs.field(default=0.7, validator=_weight)
    latency_threshold_ms: float = attrs.field(default=5000.0, validator=_positive)
    cost_threshold_eur: float = attrs.field(default=0.01, validator=_positive)
    failure_rate_threshold: float = attrs.field(default=0.1, validator=_weight)

    def __attrs_post_init__(self) -> None:
        if self.min_weight > self.max_weight:
            raise ValueError("min_weight must not exceed max_weight")


@attrs.frozen(slots=True)
class BatchOptions:
    """Request batching (``[router.batching]``), used by ``claudette.batching.RequestBatcher``.

    :param window: seconds to collect requests before they are sent together.
    :param max_batch: the most requests in one batch (a full batch is sent at once).
    :param max_concurrency: the most requests of batches in flight at once (one pool).
    """

    window: float = attrs.field(default=0.1, validator=_non_negative)
    max_batch: int = attrs.field(default=32, validator=_positive)
    max_concurrency: int = attrs.field(default=8, validator=_positive)


@attrs.frozen(slots=True)
class LedgerOptions:
    """The cost ledger (``[ledger]``): one row per answered request; see ``docs/costs.md``.

    :param path: the SQLite file (``~`` expanded); None: ``$XDG_DATA_HOME/claudette/
        ledger.sqlite`` (``~/.local/share/claudette/ledger.sqlite``).
    :param enabled: set false to keep the table but write nothing.
    """

    path: str | None = None
    enabled: bool = True


@attrs.frozen(slots=True)
class RouterOptions:
    """How the router weighs backends and how hard it tries.

    :param cost_weight: weight of the cost score (0 to 1).
    :param latency_weight: weight of the latency score (0 to 1).
    :param availability_weight: weight of the availability score (0 to 1).
    :param fallback_enabled: on a retryable failure, try the next backend.
    :param max_attempts: the most backends one request may try (each at most once); None:
        every usable backend once.
    :param max_cooldown_wait: when every backend is only briefly out (rate limited), wait up
        to this many seconds for the first to come back instead of failing at once.
    :param health_checks: refresh each backend's health check in the background when its
        cached result is older than the backend's ``health_check_ttl``; selection skips a
        backend whose last check failed. Off: every backend is trusted until it fails.
    :param latency_window: how many recent latencies each backend keeps.
    :param strategy: ``score`` (the weighted formula, through the scoring hook),
        ``least_requests`` (fewest in flight, then fewest in total) or
        ``weighted_random`` (by each backend's ``weight``).
    :param region: the preferred region of requests that name none.
    :param max_retry_wait: the most seconds one request may sleep in retry backoff in all.
    :param cache: the response cache; None: off.
    :param budget: the spending cap; None: none.
    :param adaptive: adaptive weights; None: the weights stay as configured.
    :param batching: request batching defaults; None: ``BatchOptions()``.
    :param stream_continuation: when a stream fails after text reached the caller, let
        another backend continue the answer from that text (an assistant prefix) instead of
        raising ``StreamInterruptedError``; off by default, as a provider that does not
        continue a prefix repeats the text (see ``docs/reliability.md``).
    :param breaker: the circuit-breaker policy of every backend (a
        ``claudette_breaker_policy`` plugin may choose another per backend).
    :param usd_to_eur: EUR per USD, for the price table's list prices (which are in USD).
    :param unknown_price_policy: how selection treats a backend whose price is unknown:
        ``most_expensive`` (its cost scores as high as a cost can), ``free`` (as if it cost
        nothing) or ``refuse`` (never selected unless forced). See ``docs/costs.md``.
    """

    cost_weight: float = attrs.field(default=_DEFAULT_COST, validator=_weight)
    latency_weight: float = attrs.field(default=_DEFAULT_LATENCY, validator=_weight)
    availability_weight: float = attrs.field(default=_DEFAULT_AVAILABILITY, validator=_weight)
    fallback_enabled: bool = True
    max_attempts: int | None = attrs.field(default=None, validator=_positive)
    max_cooldown_wait: float = attrs.field(default=2.0, validator=_non_negative)
    health_checks: bool = True
    latency_window: int = attrs.field(default=100, validator=_positive)
    strategy: Strategy = attrs.field(
        default="score",
        validator=_one_of("score", "least_requests", "weighted_random"),
    )
    region: str | None = None
    max_retry_wait: float = attrs.field(default=10.0, validator=_non_negative)
    cache: CacheOptions | None = None
    budget: BudgetOptions | None = None
    adaptive: AdaptiveOptions | None = None
    batching: BatchOptions | None = None
    stream_continuation: bool = False
    breaker: BreakerPolicy = attrs.field(factory=lambda: BreakerPolicy())
    usd_to_eur: float = attrs.field(default=DEFAULT_USD_TO_EUR, validator=_positive)
    unknown_price_policy: UnknownPricePolicy = attrs.field(
        default="most_expensive", validator=attrs.validators.in_(UNKNOWN_PRICE_POLICIES)
    )

    def __attrs_post_init__(self) -> None:
        if self.cost_weight + self.latency_weight + self.availability_weight <= 0:
            raise ValueError("at least one of the scoring weights must be above 0")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RouterOptions:
        """Options from a named weight preset (a key of :data:`WEIGHT_PRESETS`).

        :raises ValueError: for an unknown preset name (the message lists the known ones).
        """
        return cls(**preset_weights(name), **overrides)

    def with_preset(self, name: str) -> RouterOptions:
        """These options with the weights of preset ``name`` (e.g. for a ``--preset`` flag).

        :raises ValueError: for an unknown preset name (the message lists the known ones).
        """
        return attrs.evolve(self, **preset_weights(name))


def _default_failure_predicate(error: BackendError) -> bool:
    return error.counts_as_failure


def _fraction(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ValueError(f"{attr.name} must be a number above 0 and at most 1, got {value!r}")


def _at_least_one(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1.0:
        raise ValueError(f"{attr.name} must be a number >= 1, got {value!r}")


@attrs.frozen(slots=True)
class BreakerPolicy:
    """How a backend's circuit breaker behaves (``[router.breaker]``).

    The breaker opens on whichever comes first: ``failure_threshold`` failures in a row,
    or a failure rate of at least ``failure_rate_threshold`` over the last
    ``window_size`` calls once ``minimum_calls`` of them are known. It stays open
    ``reset_timeout`` seconds on its first trip; each trip that follows within
    ``max_reset_timeout`` seconds of the breaker closing multiplies the open period by
    ``reset_timeout_growth``, up to ``max_reset_timeout``. ``docs/reliability.md`` says
    how the defaults were chosen; ``failure_threshold=5, reset_timeout=300,
    reset_timeout_growth=1`` gives a fixed five-minute breaker.

    :param failure_threshold: consecutive failures that open the breaker.
    :param reset_timeout: seconds the breaker stays OPEN on its first trip before one
        probe is allowed.
    :param half_open_max_calls: probes allowed at once in HALF_OPEN; the default is one,
        so a backend that may still be down meets one request, not every waiting caller.
    :param failure_rate_threshold: the failure rate (0 to 1) over the window that opens
        the breaker; 1 opens it only when every call in the window failed.
    :param window_size: how many recent calls the failure rate is measured over.
    :param minimum_calls: calls the window must hold before its rate can open the breaker.
    :param reset_timeout_growth: factor applied to the open period on each repeated trip
        (1: every open period is ``reset_timeout``).
    :param max_reset_timeout: the longest open period growth reaches (a ``reset_timeout``
        above it is used as it is).
    :param counts_as_failure: which errors count; by default those that are the provider's
        fault (retryable ones), never the caller's (400) nor a misconfigured backend's
        (401/403/404 model not found).
    """

    failure_threshold: int = attrs.field(default=10, validator=_positive)
    reset_timeout: float = attrs.field(default=5.0, validator=_non_negative)
    half_open_max_calls: int = attrs.field(default=1, validator=_positive)
    failure_rate_threshold: float = attrs.field(default=0.6, validator=_fraction)
    window_size: int = attrs.field(default=50, validator=_positive)
    minimum_calls: int = attrs.field(default=20, validator=_positive)
    reset_timeout_growth: float = attrs.field(default=2.0, validator=_at_least_one)
    max_reset_timeout: float = attrs.field(default=300.0, validator=_non_negative)
    counts_as_failure: Callable[[BackendError], bool] = attrs.field(
        default=_default_failure_predicate, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if self.minimum_calls > self.window_size:
            raise ValueError(
                f"minimum_calls must not exceed window_size ({self.minimum_calls} > {self.window_size})"
            )

    def open_period(self, trips: int) -> float:
        """Seconds the breaker stays OPEN on its ``trips``-th trip in a row (1 for the first)."""
        period = self.reset_timeout
        cap = max(self.max_reset_timeout, period)
        for _ in range(1, trips):
            period *= self.reset_timeout_growth
            if period >= cap:
                return cap
        return period

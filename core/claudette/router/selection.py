"""Selection: which backend should take a request now, and why each other one may not.

Pure functions of the registered backends (in tie-break order: priority, then name),
their statistics and breakers, the request, the gates and the time; nothing here sends,
sleeps or records an outcome.

- :func:`assess` looks at each backend once: skipped with a reason (disabled,
  misconfigured, failed its health check, cooling down after a rate limit, breaker open
  or its probe taken, rate limit or budget), or usable and scored through the scoring
  hook (or the strategy);
- :func:`choose` takes the lowest score, preferring the request's region; ties go to the
  earlier backend in tie-break order;
- :func:`select` is the two together, raising ``NoBackendAvailableError`` with every
  backend's reason when nothing is usable; it scores only when there is a choice to
  make (a lone usable backend wins whatever its score); :func:`explain` shows the
  assessment, every usable backend scored, and :func:`with_outcome` marks on it what
  happened to one request (which backends failed, which answered);
  :func:`cooldown_wait` says when a backend that is only cooling down is back;
- slow start: a backend that has not answered yet, or whose last call failed, takes at
  most :data:`SLOW_START_IN_FLIGHT` requests at once while another backend is free to
  take the request; once it answers it takes its full share;
- :func:`panic_candidates`: when nothing is usable only because breakers are open, the
  backends whose open period ends soonest, for one probe (the router never refuses a
  request while a backend might answer it).

A forced request (``request.backend``) is not scored: the named backend is used if it is
usable, and fails at once with its reason if not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import attrs

from claudette.breaker import CircuitBreakerState
from claudette.errors import NoBackendAvailableError
from claudette.router.gates import OverBudget
from claudette.scoring import score_parts

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.breaker import CircuitBreaker
    from claudette.router.gates import RequestGates
    from claudette.scoring import ScoreParts
    from claudette.state import BackendStats
    from claudette.types import ClaudetteRequest, ClaudetteResponse, RouterOptions

__all__ = [
    "Assessment",
    "Candidate",
    "Entry",
    "Scorer",
    "assess",
    "choose",
    "cooldown_wait",
    "explain",
    "panic_candidates",
    "select",
    "unusable_reason",
    "with_outcome",
]

#: A scoring function, called with the keywords ``backend``, ``request``, ``stats`` and
#: ``options`` (the scoring hook's); lower is better, None counts as 0.
Scorer = Callable[..., "float | None"]

_FORCED_ELSEWHERE = "another backend is forced"

#: Requests a backend in slow start (not answered yet, or its last call failed) takes at
#: once while another backend can take the request: enough to learn whether it answers,
#: few enough that a backend that is down from the start fails a couple of requests, not
#: a whole burst of concurrent ones.
SLOW_START_IN_FLIGHT = 2


class Entry(NamedTuple):
    """A registered backend with the state the router keeps for it."""

    backend: BaseBackend
    stats: BackendStats
    breaker: CircuitBreaker


class Assessment(NamedTuple):
    """How selection sees one backend for one request.

    :param entry: the backend and its state.
    :param score: its score; None when skipped or not scored.
    :param skipped: why it may not take the request; None when it may.
    :param ready_in: seconds until it is usable again, when only a cool-down keeps it out.
    """

    entry: Entry
    score: float | None
    skipped: str | None
    ready_in: float | None


@attrs.frozen
class Candidate:
    """How selection saw one backend for one request (``BackendRouter.explain``).

    :param name: the backend.
    :param score: its score, None when it was skipped.
    :param parts: the default formula's components (cost, latency, availability), if computed.
    :param skipped: why it was not considered, None when it was.
    :param chosen: True for the backend selection picked (after :func:`with_outcome`:
        the one that answered).
    :param failed: how it failed when the request tried it, else None.
    """

    name: str
    score: float | None
    parts: ScoreParts | None
    skipped: str | None
    chosen: bool = False
    failed: str | None = None


def unusable_reason(
    entry: Entry, request: ClaudetteRequest, now: float, gates: RequestGates
) -> str | None:
    """Why ``entry``'s backend may not take ``request`` at ``now``, or None when it may."""
    backend, stats, breaker = entry
    if not backend.settings.enabled:
        return "disabled"
    if request.required_capabilities:
        why = _refusal(backend, request)
        if why is not None:
            return why
    held = stats.misconfigured_for(now)
    if held > 0:
        return f"misconfigured, retried in {held:.0f}s: {stats.misconfigured}"
    if stats.healthy is False:
        return "failed its last health check"
    if now < stats.cooldown_until:
        return f"rate limited for {stats.cooldown_until - now:.1f}s more"
    if not breaker.allows_request():
        if breaker.state is CircuitBreakerState.OPEN:
            return f"circuit breaker open ({breaker.seconds_until_probe:.0f}s until a probe)"
        return "circuit breaker half-open, probe already in flight"
    return gates.reason(backend, request, now)


def _refusal(backend: BaseBackend, request: ClaudetteRequest) -> str | None:
    """Why ``backend`` cannot take a request that needs capabilities (``BaseBackend.refusal``);
    a backend without that method has none."""
    refusal = getattr(backend, "refusal", None)
    if refusal is not None:
        why: str | None = refusal(request)
        return why
    return f"lacks {', '.join(sorted(request.required_capabilities))}, which the request needs"


def _cooling_down_only(entry: Entry, request: ClaudetteRequest, now: float) -> bool:
    """True when the backend would be usable but for a running cool-down."""
    backend, stats, breaker = entry
    return (
        backend.settings.enabled
        and (not request.required_capabilities or _refusal(backend, request) is None)
        and stats.misconfigured_for(now) <= 0
        and stats.healthy is not False
        and now < stats.cooldown_until
        and breaker.allows_request()
    )


def assess(
    entries: Sequence[Entry],
    request: ClaudetteRequest,
    now: float,
    *,
    exclude: Collection[str] = (),
    gates: RequestGates,
    score: Scorer | None,
    options: RouterOptions,
) -> list[Assessment]:
    """Every backend not in ``exclude``, skipped with its reason or usable with its score.

    :param score: the scoring function; None to leave the usable backends unscored.
    """
    forced = request.backend
    out: list[Assessment] = []
    for entry in entries:
        backend, stats, _ = entry
        if backend.name in exclude:
            continue
        if forced is not None and backend.name != forced:
            out.append(Assessment(entry, None, _FORCED_ELSEWHERE, None))
            continue
        why = unusable_reason(entry, request, now, gates)
        if why is not None:
            ready_in = stats.cooldown_until - now if _cooling_down_only(entry, request, now) else None
            out.append(Assessment(entry, None, why, ready_in))
            continue
        value = None
        if score is not None:
            value = score(backend=backend, request=request, stats=stats, options=options)
        out.append(Assessment(entry, value, None, None))
    return out


def _scored(
    assessment: Assessment, score: Scorer, request: ClaudetteRequest, options: RouterOptions
) -> Assessment:
    if assessment.skipped is not None:
        return assessment
    backend, stats, _ = assessment.entry
    value = score(backend=backend, request=request, stats=stats, options=options)
    return assessment._replace(score=value)


def choose(assessments: Sequence[Assessment], region: str | None) -> Entry | None:
    """The usable backend with the lowest score, from ``region`` when one there is usable."""
    best: Entry | None = None
    best_score = 0.0
    local: Entry | None = None
    local_score = 0.0
    for entry, value, skipped, _ in assessments:
        if skipped is not None:
            continue
        s = value if value is not None else 0.0
        if best is None or s < best_score:
            best, best_score = entry, s
        if region is not None and entry.backend.settings.region == region and (
            local is None or s < local_score
        ):
            local, local_score = entry, s
    return local if local is not None else best


def select(
    entries: Sequence[Entry],
    request: ClaudetteRequest,
    now: float,
    *,
    exclude: Collection[str] = (),
    failures: Mapping[str, str] | None = None,
    gates: RequestGates,
    score: Scorer,
    options: RouterOptions,
) -> Entry:
    """The backend that should take ``request`` now.

    :param exclude: backends not to consider (already tried for this request).
    :param failures: how each tried backend failed, for the error's reasons.
    :raises BudgetExceededError: when the budget leaves no backend, or (``on_exhausted =
        "error"``) no paid one.
    :raises NoBackendAvailableError: when nothing else is usable; ``reasons`` holds every
        backend's skip reason and ``failures``.
    """
    forced = request.backend
    assessments = assess(
        entries, request, now, exclude=exclude, gates=gates, score=None, options=options
    )
    if forced is None and gates.ledger is not None:
        refusal = gates.budget_refusal(
            ((a.entry.backend, a.skipped) for a in assessments), failures
        )
        if refusal is not None:
            raise refusal
    if forced is None and options.strategy == "score":
        assessments = _slow_start(assessments, request.region or options.region)
    if forced is None and sum(a.skipped is None for a in assessments) > 1:
        assessments = [_scored(a, score, request, options) for a in assessments]
    chosen = choose(assessments, request.region or options.region)
    if chosen is not None:
        return chosen
    reasons = dict(failures or {})
    skipped = {a.entry.backend.name: a.skipped for a in assessments if a.skipped is not None}
    if forced is not None:
        if all(e.backend.name != forced for e in entries):
            known = ", ".join(sorted(e.backend.name for e in entries)) or "none"
            raise NoBackendAvailableError(
                f"forced backend {forced!r} is not registered (registered: {known})"
            )
        if forced in exclude:
            tried = reasons.get(forced, "already tried for this request")
            raise NoBackendAvailableError(f"forced backend {forced!r} failed", {forced: tried})
        why = skipped[forced]
        if isinstance(why, OverBudget):
            raise gates.budget_error({forced: why})
        raise NoBackendAvailableError(f"forced backend {forced!r} is not usable", {forced: why})
    if not entries:
        raise NoBackendAvailableError("no backend is registered")
    reasons.update(skipped)
    if any(isinstance(why, OverBudget) for why in skipped.values()):
        raise gates.budget_error(reasons)
    raise NoBackendAvailableError("no usable backend left", reasons)


def explain(
    entries: Sequence[Entry],
    request: ClaudetteRequest,
    now: float,
    *,
    gates: RequestGates,
    score: Scorer,
    options: RouterOptions,
) -> list[Candidate]:
    """Every backend with its score and the default formula's components, or why it was skipped.

    The score comes from ``score``, exactly as selection computes it; the components
    are the default formula's, for display.
    """
    assessments = assess(entries, request, now, gates=gates, score=score, options=options)
    chosen = None
    if request.backend is not None or (
        gates.budget_refusal((a.entry.backend, a.skipped) for a in assessments) is None
    ):
        chosen = choose(assessments, request.region or options.region)
    out: list[Candidate] = []
    for entry, value, skipped, _ in assessments:
        name = entry.backend.name
        if skipped is not None:
            out.append(Candidate(name, None, None, skipped))
            continue
        parts = score_parts(entry.backend, request, entry.stats, options, now)
        out.append(Candidate(name, value, parts, None, chosen=entry is chosen))
    return out


def with_outcome(candidates: Sequence[Candidate], response: ClaudetteResponse) -> list[Candidate]:
    """``candidates`` as one request went: the backend that answered ``response`` chosen,
    each that failed before it (``metadata["backend_failures"]``) marked with its failure."""
    failures: Mapping[str, str] = response.metadata.get("backend_failures") or {}
    answered = response.backend_used
    out: list[Candidate] = []
    for c in candidates:
        out.append(attrs.evolve(c, chosen=c.name == answered, failed=failures.get(c.name)))
    return out


def in_slow_start(entry: Entry) -> bool:
    """True when ``entry``'s backend has not answered yet or its last call failed, and
    already holds :data:`SLOW_START_IN_FLIGHT` requests."""
    _, stats, breaker = entry
    return stats.in_flight >= SLOW_START_IN_FLIGHT and (
        stats.successes == 0 or breaker.consecutive_failures > 0
    )


def _slow_start(assessments: list[Assessment], region: str | None) -> list[Assessment]:
    """The usable backends in slow start set aside while another usable one is not.

    Only the backends :func:`choose` would pick from are compared (the region's, when one
    of them is usable). When every one of them is in slow start, the one with the fewest
    failures in a row, then the fewest requests in flight, keeps the request (a cold burst
    is spread over the backends rather than sent to one that may be down): slow start
    shapes where requests go, it never refuses one. The balancing strategies spread requests by themselves and skip this.
    """
    usable = [a for a in assessments if a.skipped is None]
    local = [a for a in usable if region is not None and a.entry.backend.settings.region == region]
    if local:
        usable = local
    if len(usable) < 2:
        return assessments
    slow = [a for a in usable if in_slow_start(a.entry)]
    if not slow:
        return assessments
    if len(slow) == len(usable):
        keep = min(slow, key=lambda a: (a.entry.breaker.consecutive_failures, a.entry.stats.in_flight)).entry
        slow = [a for a in slow if a.entry is not keep]
    held = {id(a.entry) for a in slow}
    return [
        a._replace(skipped="slow start: waits for its first answer") if id(a.entry) in held else a
        for a in assessments
    ]


def panic_candidates(
    entries: Sequence[Entry],
    request: ClaudetteRequest,
    now: float,
    *,
    exclude: Collection[str] = (),
    gates: RequestGates,
) -> list[Entry]:
    """The backends kept out by nothing but their open breaker, soonest probe first.

    Selection offers them when no backend is usable: the router sends the request to the
    first whose breaker grants an early probe (:meth:`CircuitBreaker.try_acquire_early`),
    so that breakers opened by a run of bad luck never refuse every request, while a
    backend that is really down receives only probes. A forced request has none.
    """
    if request.backend is not None:
        return []
    out: list[Entry] = []
    for entry in entries:
        backend, stats, breaker = entry
        if backend.name in exclude or breaker.state is CircuitBreakerState.CLOSED:
            continue
        if (
            not backend.settings.enabled
            or (request.required_capabilities and _refusal(backend, request) is not None)
            or stats.misconfigured_for(now) > 0
            or stats.healthy is False
            or now < stats.cooldown_until
            or gates.reason(backend, request, now) is not None
        ):
            continue
        out.append(entry)
    out.sort(key=lambda e: e.breaker.seconds_until_probe)
    return out


def cooldown_wait(assessments: Sequence[Assessment]) -> float | None:
    """Seconds until the first backend that is only cooling down is back, if any."""
    return min((a.ready_in for a in assessments if a.ready_in is not None), default=None)

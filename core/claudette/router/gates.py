"""Rate limits and the budget: what a request must pass before a backend may take it.

Both are off unless configured: a backend's ``rpm``/``tpm`` settings give it a
:class:`~claudette.ratelimit.RateLimiter`, ``RouterOptions.budget`` gives the router a
:class:`~claudette.budget.SpendLedger` (each from the state store, so a shared store can
share them). For one backend and one request, :class:`RequestGates` answers:

- :meth:`~RequestGates.reason`: why the call may not start now (selection skips the
  backend with that reason);
- :meth:`~RequestGates.acquire`: the call starts, so it counts against the rate limit
  with its estimated tokens and reserves its estimated cost in the budget;
- :meth:`~RequestGates.settle`: the call ended, so the estimates give way to the real
  token usage and cost.

The budget's skip reasons are :class:`OverBudget` values: selection that is left with no
backend because of one raises :class:`~claudette.errors.BudgetExceededError`, so that a
caller can tell a spent budget from an outage. With ``on_exhausted = "error"``,
:meth:`~RequestGates.budget_refusal` also refuses a request that only a free backend
could take because the budget leaves no paid one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from claudette.backend import DEFAULT_OUTPUT_TOKENS
from claudette.errors import BudgetExceededError
from claudette.types import CHARS_PER_TOKEN

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.budget import SpendLedger
    from claudette.ratelimit import RateLimiter
    from claudette.state import StateStore
    from claudette.types import BudgetOptions, ClaudetteRequest, ClaudetteResponse

__all__ = ["GateTicket", "OverBudget", "RequestGates"]


class OverBudget(str):
    """A skip reason given by the budget (a plain string to every reader but selection)."""

    __slots__ = ()


class GateTicket(NamedTuple):
    """What a started call holds until it settles: its rate-limit record and its reservation."""

    limiter: RateLimiter | None
    event: list[float] | None
    reserved_eur: float


def tokens_needed(backend: BaseBackend, request: ClaudetteRequest) -> int:
    """The tokens a call is expected to use: the prompt's estimate plus its output budget."""
    tokens_in = -(-request.text_length // CHARS_PER_TOKEN)
    tokens_out = request.options.max_tokens or backend.settings.max_tokens or DEFAULT_OUTPUT_TOKENS
    return tokens_in + tokens_out


class RequestGates:
    """The rate limits of the registered backends and the router's budget.

    :param store: where limiters and the ledger come from.
    :param budget: the spending cap; None (or disabled) for none.
    """

    def __init__(self, store: StateStore, budget: BudgetOptions | None) -> None:
        self._store = store
        #: The limiter of every backend with ``rpm`` or ``tpm``, by name.
        self.limiters: dict[str, RateLimiter] = {}
        #: The budget's ledger, None without a budget.
        self.ledger: SpendLedger | None = (
            store.spend_ledger(budget) if budget is not None and budget.enabled else None
        )

    @property
    def active(self) -> bool:
        """True when any backend has a rate limit or the router has a budget."""
        return bool(self.limiters) or self.ledger is not None

    def add_backend(self, backend: BaseBackend) -> None:
        """Give ``backend`` its limiter when its settings have ``rpm`` or ``tpm``.

        The limiter is also the backend's ``stats.rate_limits``, so that what the provider
        reports (``stats.update_rate_limits``) caps what the limiter allows.
        """
        s = backend.settings
        if s.rpm or s.tpm:
            limiter = self._store.rate_limiter(backend.name, s.rpm, s.tpm)
            self.limiters[backend.name] = limiter
            backend.stats.rate_limits = limiter

    def remove_backend(self, name: str) -> None:
        """Forget the limiter of an unregistered backend."""
        self.limiters.pop(name, None)

    def reason(self, backend: BaseBackend, request: ClaudetteRequest, now: float) -> str | None:
        """Why ``backend`` may not take ``request`` now (unknown price refused, rate limit,
        then budget), or None."""
        if backend.unknown_price_policy == "refuse" and not backend.prices.known:
            return 'price unknown (unknown_price_policy = "refuse")'
        limiter = self.limiters.get(backend.name)
        if limiter is not None:
            why = limiter.blocked(tokens_needed(backend, request), now)
            if why is not None:
                return why
        ledger = self.ledger
        if ledger is not None and not backend.prices.is_free:
            if not ledger.allows(backend.estimate_request_cost(request)):
                o = ledger.options
                return OverBudget(
                    f"over budget: EUR {ledger.committed:.4f} of {o.limit_eur:g} "
                    f"committed this {o.period}"
                )
        return None

    def budget_closed(self) -> bool:
        """True when the cap is reached and ``on_exhausted = "error"`` refuses every request."""
        ledger = self.ledger
        return ledger is not None and ledger.options.on_exhausted == "error" and ledger.exhausted()

    def budget_refusal(
        self,
        verdicts: Iterable[tuple[BaseBackend, str | None]],
        failures: Mapping[str, str] | None = None,
    ) -> BudgetExceededError | None:
        """The error of an unforced request that ``on_exhausted = "error"`` refuses, or None.

        Error mode refuses once the cap is reached, and also once the budget leaves no
        paid backend for the request (at least one is over budget, none is usable): the
        spent budget is reported rather than worked around by a quiet switch to a free
        backend, which is what ``free_only`` is for.

        :param verdicts: every backend selection assessed, with its skip reason (None: usable).
        :param failures: how the backends already tried for the request failed.
        """
        ledger = self.ledger
        if ledger is None or ledger.options.on_exhausted != "error":
            return None
        verdicts = list(verdicts)
        paid = [why for backend, why in verdicts if not backend.prices.is_free]
        over = any(isinstance(why, OverBudget) for why in paid)
        if not self.budget_closed() and not (over and all(why is not None for why in paid)):
            return None
        refused = 'refused: the budget is spent and on_exhausted is "error"'
        reasons = dict(failures or {})
        reasons.update((backend.name, why or refused) for backend, why in verdicts)
        return self.budget_error(reasons)

    def budget_error(self, reasons: dict[str, str] | None) -> BudgetExceededError:
        """The error for a request the budget leaves without a backend."""
        ledger = self.ledger
        assert ledger is not None, "only a router with a budget refuses for the budget"
        o = ledger.options
        return BudgetExceededError(
            f"the budget of EUR {o.limit_eur:g} per {o.period} is spent",
            reasons,
            spent_eur=ledger.committed,
            limit_eur=o.limit_eur,
        )

    def acquire(self, backend: BaseBackend, request: ClaudetteRequest) -> GateTicket:
        """A call of ``backend`` for ``request`` starts: count it and reserve its cost."""
        limiter = self.limiters.get(backend.name)
        event = limiter.acquire(tokens_needed(backend, request)) if limiter is not None else None
        ledger = self.ledger
        reserved = 0.0
        if ledger is not None and not backend.prices.is_free:
            reserved = ledger.reserve(backend.estimate_request_cost(request))
        return GateTicket(limiter, event, reserved)

    def settle(self, ticket: GateTicket, response: ClaudetteResponse | None) -> None:
        """A call ended (``response`` None: without an answer): record what it really used."""
        if ticket.limiter is not None and ticket.event is not None and response is not None:
            ticket.limiter.settle(ticket.event, response.tokens_input + response.tokens_output)
        if self.ledger is not None:
            self.ledger.settle(ticket.reserved_eur, response.cost_eur if response is not None else 0.0)

    def snapshot(self) -> dict[str, Any]:
        """What ``stats()["patterns"]`` shows of the rate limits and the budget."""
        out: dict[str, Any] = {}
        if self.limiters:
            out["rate_limits"] = {n: lim.snapshot() for n, lim in sorted(self.limiters.items())}
        if self.ledger is not None:
            out["budget"] = self.ledger.snapshot()
        return out

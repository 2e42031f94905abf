"""The spending cap: free-only past the cap, or a clear error; periods; concurrency."""

from __future__ import annotations

import calendar

import pytest
from claudette import (
    BackendRouter,
    BackendSettings,
    BudgetExceededError,
    NoBackendAvailableError,
)
from claudette.budget import SpendLedger, period_key
from claudette.config import parse_config
from claudette.testing.ordering import ByPriority
from claudette.types import BudgetOptions
from test_patterns_support import FakeBackend, gather, make_router, req

# A request "q.." with max_tokens=9 and usage 1 in + 9 out: estimate == cost == 10 tokens.
PRICE = 0.001  # EUR per token -> EUR 0.01 per request


def paid(name: str = "paid", priority: int = 1) -> FakeBackend:
    return FakeBackend(
        name, BackendSettings(model="m", cost_per_token=PRICE, priority=priority), delay=0.01, usage=(1, 9)
    )


def free(name: str = "free") -> FakeBackend:
    return FakeBackend(name, BackendSettings(model="m", priority=2), delay=0.01)


def capped(*backends: FakeBackend, **budget: object) -> BackendRouter:
    return make_router(*backends, plugins=[ByPriority()], budget=BudgetOptions(**budget))  # type: ignore[arg-type]


def q(i: int = 0) -> object:
    return req(f"q{i}", options={"max_tokens": 9})


class Wall:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_period_keys_change_at_utc_boundaries() -> None:
    monday = calendar.timegm((2026, 11, 23, 0, 0, 0))
    assert period_key("day", monday - 1) != period_key("day", monday)
    assert period_key("day", monday) == period_key("day", monday + 86399)
    assert period_key("week", monday - 1) != period_key("week", monday)
    assert period_key("week", monday) == period_key("week", monday + 6 * 86400)
    assert period_key("hour", monday + 3599) != period_key("hour", monday + 3600)
    dec1 = calendar.timegm((2026, 12, 1, 0, 0, 0))
    assert period_key("month", dec1 - 1) != period_key("month", dec1)
    assert period_key("month", dec1) == period_key("month", dec1 + 30 * 86400)


def test_a_new_period_starts_with_nothing_spent() -> None:
    wall = Wall(calendar.timegm((2026, 11, 25, 23, 0, 0)))
    ledger = SpendLedger(BudgetOptions(limit_eur=1.0), clock=wall)
    ledger.settle(ledger.reserve(0.9), 0.9)
    assert not ledger.allows(0.2)
    wall.t += 3600  # midnight UTC
    assert ledger.allows(0.2)
    assert ledger.spent == 0.0


def test_reservations_count_until_settled() -> None:
    ledger = SpendLedger(BudgetOptions(limit_eur=1.0))
    held = ledger.reserve(0.6)
    assert not ledger.allows(0.5)
    ledger.settle(held, 0.1)  # it cost less than estimated
    assert ledger.allows(0.5)
    assert (ledger.spent, ledger.reserved) == (pytest.approx(0.1), 0.0)


async def test_cap_holds_under_concurrency_and_free_backends_take_the_rest() -> None:
    p, f = paid(), free()
    router = capped(p, f, limit_eur=0.05)
    results = await gather(lambda i: router.route_request(q(i)), 20)
    assert p.calls == 5
    assert f.calls == 15
    assert router.counters.cost_eur == pytest.approx(0.05)
    assert all(not isinstance(r, Exception) for r in results)


async def test_paid_backend_is_skipped_with_a_budget_reason() -> None:
    p, f = paid(), free()
    router = capped(p, f, limit_eur=0.01)
    await router.route_request(q())
    skipped = {c.name: c.skipped for c in router.explain(q())}
    assert skipped["paid"] is not None and skipped["paid"].startswith("over budget")
    assert skipped["free"] is None


async def test_no_free_backend_left_raises_budget_exceeded() -> None:
    router = capped(paid(), limit_eur=0.01)
    await router.route_request(q())
    with pytest.raises(BudgetExceededError) as info:
        await router.route_request(q())
    assert isinstance(info.value, NoBackendAvailableError)
    assert info.value.limit_eur == 0.01
    assert info.value.spent_eur == pytest.approx(0.01)
    assert "over budget" in info.value.reasons["paid"]


async def test_error_mode_fails_every_request_once_the_cap_is_reached() -> None:
    p, f = paid(), free()
    router = capped(p, f, limit_eur=0.01, on_exhausted="error")
    await router.route_request(q())
    with pytest.raises(BudgetExceededError):
        await router.route_request(q())
    assert f.calls == 0


async def test_budget_exceeded_after_a_failure_is_raised_from_that_failure() -> None:
    from claudette import BackendUnavailableError

    cheap = FakeBackend(
        "cheap", BackendSettings(model="m", cost_per_token=PRICE / 10, priority=1), usage=(1, 9)
    )
    cheap.failures = [BackendUnavailableError("down", "cheap")]
    router = capped(cheap, paid(priority=2), limit_eur=0.005)
    with pytest.raises(BudgetExceededError) as info:
        await router.route_request(q())
    assert isinstance(info.value.__cause__, BackendUnavailableError)
    assert "down" in info.value.reasons["cheap"]
    assert info.value.reasons["paid"].startswith("over budget")


async def test_forced_paid_backend_over_budget_raises_budget_exceeded() -> None:
    p, f = paid(), free()
    router = capped(p, f, limit_eur=0.01)
    await router.route_request(q())
    with pytest.raises(BudgetExceededError):
        await router.route_request(req("x", backend="paid", options={"max_tokens": 9}))


async def test_failed_calls_release_their_reservation() -> None:
    from claudette import BackendUnavailableError

    p = paid()
    p.failures = [BackendUnavailableError("down", "paid")]
    f = free()
    router = capped(p, f, limit_eur=0.01)
    assert (await router.route_request(q())).backend_used == "free"
    assert (await router.route_request(q(1))).backend_used == "paid"


async def test_budget_in_stats() -> None:
    router = capped(paid(), free(), limit_eur=0.05, period="month")
    await router.route_request(q())
    budget = router.stats()["patterns"]["budget"]
    assert budget["spent_eur"] == pytest.approx(0.01)
    assert budget["left_eur"] == pytest.approx(0.04)
    assert (budget["period"], budget["limit_eur"]) == ("month", 0.05)


async def test_streams_are_held_to_the_budget() -> None:
    p, f = paid(), free()
    router = capped(p, f, limit_eur=0.01)
    used = []
    for i in range(2):
        async for chunk in router.stream(q(i)):
            if chunk.response is not None:
                used.append(chunk.response.backend_used)
    assert used == ["paid", "free"]


def test_budget_from_config() -> None:
    config = parse_config({"router": {"budget": {"limit_eur": 25, "period": "month", "on_exhausted": "error"}}})
    assert config.router.budget == BudgetOptions(limit_eur=25.0, period="month", on_exhausted="error")


def test_budget_config_rejects_an_unknown_period() -> None:
    from claudette import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"router": {"budget": {"limit_eur": 1, "period": "fortnight"}}})
    assert "router.budget.period" in str(info.value)


async def test_error_mode_error_carries_spent_limit_and_every_backends_reason() -> None:
    # The docs: BudgetExceededError has spent_eur, limit_eur and the per-backend reasons.
    p = FakeBackend(
        "paid", BackendSettings(model="m", cost_per_token=0.00004, priority=1), usage=(1, 9)
    )
    router = capped(p, free(), limit_eur=0.0004, on_exhausted="error")
    await router.route_request(q())  # costs exactly the cap
    with pytest.raises(BudgetExceededError) as info:
        await router.route_request(q(1))
    assert info.value.spent_eur == pytest.approx(0.0004)
    assert info.value.limit_eur == 0.0004
    assert info.value.reasons["paid"].startswith("over budget")
    assert "on_exhausted" in info.value.reasons["free"]


async def test_error_mode_raises_when_no_paid_call_fits_although_a_free_backend_is_usable() -> None:
    # Estimates (10 tokens) exceed the real cost (5 tokens): the cap is never reached
    # exactly, but the budget no longer pays for a paid call.
    p = FakeBackend(
        "paid", BackendSettings(model="m", cost_per_token=PRICE, priority=1), usage=(1, 4)
    )
    f = free()
    router = capped(p, f, limit_eur=0.01, on_exhausted="error")
    await router.route_request(q())
    assert router.stats()["patterns"]["budget"]["left_eur"] == pytest.approx(0.005)
    with pytest.raises(BudgetExceededError) as info:
        await router.route_request(q(1))
    assert f.calls == 0
    assert info.value.reasons["paid"].startswith("over budget")
    assert router.explain(q(2))[0].chosen is False


async def test_error_mode_leaves_a_free_backend_alone_while_a_paid_one_fits() -> None:
    p, f = paid(priority=2), free()
    f.settings = BackendSettings(model="m", priority=1)
    router = capped(p, f, limit_eur=0.05, on_exhausted="error")
    assert (await router.route_request(q())).backend_used == "free"
    forced = req("x", backend="paid", options={"max_tokens": 9})
    assert (await router.route_request(forced)).backend_used == "paid"

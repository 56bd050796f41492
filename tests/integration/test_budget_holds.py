"""Budget holds on SQLite and a real PostgreSQL: expiry, late settles, and
sweeps racing settles never free the same money twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from core.costs import PriceBook
from core.reliability.budgets import RESERVATION_TTL, BudgetManager
from core.reliability.models import Budget
from core.telemetry.models import utcnow


@pytest.fixture
def budgets(db):
    manager = BudgetManager(db, PriceBook())
    manager.save(Budget(name="daily", limit_usd=1.0))
    return manager


def _usage(budgets):
    [status] = budgets.status()
    return status.spent_usd, status.reserved_usd


def test_an_abandoned_hold_expires_and_a_late_settle_frees_nothing_twice(budgets):
    applicable = budgets.applicable(None, None)
    crashed, _ = budgets.reserve(applicable, 0.6)  # its process "dies": never settled
    assert crashed is not None
    assert budgets.reserve(applicable, 0.6)[0] is None  # no room while it is held
    assert budgets.release_expired(utcnow() + RESERVATION_TTL - timedelta(seconds=5)) == 0
    assert budgets.release_expired(utcnow() + RESERVATION_TTL + timedelta(seconds=1)) == 1
    assert _usage(budgets) == pytest.approx((0.0, 0.0), abs=1e-12)
    live, _ = budgets.reserve(applicable, 0.6)
    assert live is not None
    budgets.settle(crashed, 0.1)  # spend counts; the released hold is not freed again
    budgets.settle(live, 0.2)
    assert _usage(budgets) == pytest.approx((0.3, 0.0), abs=1e-12)


def test_a_hold_lasts_as_long_as_its_call_may(budgets):
    applicable = budgets.applicable(None, None)
    long_call, _ = budgets.reserve(applicable, 0.5, hold_for=timedelta(hours=1))
    assert budgets.release_expired(utcnow() + RESERVATION_TTL + timedelta(minutes=1)) == 0
    assert budgets.release_expired(utcnow() + timedelta(hours=1, minutes=1)) == 1
    budgets.settle(long_call, 0.5)
    assert _usage(budgets) == pytest.approx((0.5, 0.0), abs=1e-12)


def test_sweeps_racing_settles_never_release_a_hold_twice(budgets):
    """Every hold is already 'expired' for the sweeper, so sweeps and settles fight
    over the same rows; reserved must end at exactly zero, never below."""
    applicable = budgets.applicable(None, None)
    future = utcnow() + timedelta(days=1)
    stop = threading.Event()
    errors: list[BaseException] = []
    released = [0]

    def sweeper() -> None:
        while not stop.is_set():
            try:
                released[0] += budgets.release_expired(future)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    def caller() -> None:
        try:
            for _ in range(5):
                r, _ = budgets.reserve(applicable, 0.01)
                if r is not None:
                    budgets.settle(r, 0.001)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    sweepers = [threading.Thread(target=sweeper) for _ in range(2)]
    callers = [threading.Thread(target=caller) for _ in range(8)]
    for t in sweepers + callers:
        t.start()
    for t in callers:
        t.join()
    stop.set()
    for t in sweepers:
        t.join()
    assert errors == []
    spent, reserved = _usage(budgets)
    assert spent == pytest.approx(40 * 0.001)
    with budgets._db.connect() as conn:  # the raw figure: status() clamps at zero
        from sqlalchemy import text

        raw = conn.execute(text("SELECT reserved_usd FROM budget_usage")).scalar_one()
    assert raw == pytest.approx(0.0, abs=1e-9)

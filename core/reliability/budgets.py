"""Spend caps: daily and monthly, global, per user and per tag.

Before a call, its maximum cost (input estimate + max_tokens at the output
price) is reserved against every budget that applies, with one conditional
UPDATE per budget (`spent + reserved + cost <= limit`), all in one
transaction. A single UPDATE is atomic in SQLite and PostgreSQL, so
concurrent calls cannot all slip under the cap; spend can pass the limit
only by what a call's real cost exceeds its reserved maximum. After the
call the reservation is swapped for the real cost. Each reservation is also
a row with an expiry (the call's deadline plus `RESERVATION_TTL`): one whose
call never settles (its process died) is then released, so it cannot hold the
budget shut until the period ends.

A budget's policy is `block` (the call is refused) or `downgrade` (the call
is switched to a cheaper named model, if that one fits). Crossing the alert
threshold, or exhausting a budget, writes a `budget_alert` row once per
period, shown in the app.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.costs import PriceBook
from core.db import session_scope, write_transaction
from core.providers import errors as E
from core.providers.base import Message, Usage
from core.reliability.models import Budget, BudgetAlert, BudgetReservation, BudgetUsage
from core.telemetry.models import utcnow

log = logging.getLogger(__name__)

_USAGE = BudgetUsage.__table__
_HOLD = BudgetReservation.__table__
_TTL_S = 2.0
_ALERT = BudgetAlert.__table__
#: How long past its call's deadline a reservation is kept: one still not
#: settled then belongs to a call whose process died, and is released so the
#: budget does not stay blocked until the period ends.
RESERVATION_TTL = timedelta(minutes=15)
#: The largest limit a budget accepts (a typo guard, not a policy).
MAX_LIMIT_USD = 1e9
#: How often (at most) the call path looks for expired reservations.
_SWEEP_EVERY_S = 30.0


class _Refused(Exception):
    """A budget had no room: rolls the reservation transaction back."""


class BudgetExceeded(E.TrellisError):
    error_class = "budget"

    def __init__(self, detail: str, *, budget: str, period: str) -> None:
        super().__init__(detail)
        self.budget = budget
        self.period = period

    @property
    def user_message(self) -> str:
        when = "tomorrow (UTC)" if self.period == "daily" else "next month"
        return (
            f"The {self.period} budget '{self.budget}' is spent; calls resume {when}, "
            "or an admin can raise it on the Operations page."
        )


_AMOUNT = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d*)?|\.\d+")


def parse_usd(text: str | float | int) -> float:
    """A dollar amount a person typed ("25", "$1,000.50") as a float, or
    InvalidRequest with one sentence saying what is wrong. Only plain decimal
    numbers pass: no exponents ("1e3"), no trailing letters, no NaN or infinity,
    nothing negative or zero."""
    if isinstance(text, bool):
        raise E.InvalidRequest("Write the limit as an amount in dollars, such as 25 or 1,000.50.")
    if isinstance(text, int | float):
        value = float(text)
        shown = f"{text}"
    else:
        shown = text.strip()
        plain = shown.removeprefix("$").strip()
        if not plain:
            raise E.InvalidRequest("Enter a limit in dollars, such as 25.")
        if plain.startswith("-") and _AMOUNT.fullmatch(plain[1:].removeprefix("$").strip()):
            raise E.InvalidRequest(
                f"A limit cannot be negative ({shown}); enter an amount above $0."
            )
        if not _AMOUNT.fullmatch(plain):
            raise E.InvalidRequest(
                f"'{shown}' is not an amount in dollars; use digits with an optional decimal "
                "point, such as 25 or 1,000.50."
            )
        value = float(plain.replace(",", ""))
    if not math.isfinite(value):
        raise E.InvalidRequest("Enter a limit in dollars, such as 25; it must be a real number.")
    if value < 0:
        raise E.InvalidRequest(f"A limit cannot be negative ({shown}); enter an amount above $0.")
    if value == 0:
        raise E.InvalidRequest("A limit of $0 would block every call; enter an amount above $0.")
    if value > MAX_LIMIT_USD:
        raise E.InvalidRequest(f"Enter a limit of at most ${MAX_LIMIT_USD:,.0f}.")
    return value


def period_start(period: str, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    if period == "monthly":
        return datetime(now.year, now.month, 1)
    return datetime(now.year, now.month, now.day)


def estimate_input_tokens(messages: list[Message]) -> int:
    """A generous pre-call estimate: about 3 characters a token, plus framing."""
    return sum(math.ceil(len(m.content) / 3) + 4 for m in messages)


@dataclass
class Reservation:
    amount: float
    rows: list[int] = field(default_factory=list)  # budget_usage ids
    holds: list[int] = field(default_factory=list)  # budget_reservation ids, one per row
    downgraded_from: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    subject: str
    spent_usd: float
    reserved_usd: float

    @property
    def used_fraction(self) -> float:
        if not self.budget.limit_usd:
            return 1.0
        return (self.spent_usd + self.reserved_usd) / self.budget.limit_usd


class BudgetManager:
    def __init__(self, db: Engine, prices: PriceBook) -> None:
        self._db = db
        self._prices = prices
        # Budgets change rarely and are read on every call: keep them a moment.
        self._cached: tuple[float, list[Budget]] | None = None
        self._last_sweep = float("-inf")

    # -- configuration ----------------------------------------------------
    def list(self) -> list[Budget]:
        with session_scope(self._db) as s:
            return list(s.execute(select(Budget).order_by(Budget.id)).scalars())

    def _enabled(self) -> list[Budget]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > _TTL_S:
            self._cached = (now, [b for b in self.list() if b.enabled])
        return self._cached[1]

    def save(self, budget: Budget, *, known_models: Collection[str] | None = None) -> int:
        """Create or update a budget; return its id. Bad values raise InvalidRequest
        with a sentence a page shows as is. With `known_models` (the registry's
        models and the routes), a downgrade target must be one of them."""
        if not (budget.name or "").strip():
            raise E.InvalidRequest("Give the budget a name.")
        budget.limit_usd = parse_usd(budget.limit_usd)
        if budget.scope not in ("global", "user", "tag") or budget.period not in (
            "daily",
            "monthly",
        ):
            raise E.InvalidRequest("Scope must be global, user or tag; period daily or monthly.")
        if budget.policy not in ("block", "downgrade"):
            raise E.InvalidRequest("When a budget is spent it can block calls or downgrade them.")
        threshold = budget.alert_threshold
        if not (isinstance(threshold, int | float) and math.isfinite(threshold)
                and 0 < threshold <= 1):
            raise E.InvalidRequest("The alert threshold must be between 1% and 100% of the limit.")
        if budget.policy == "downgrade":
            target = (budget.downgrade_model or "").strip()
            if not target:
                raise E.InvalidRequest("A downgrade budget needs the model to downgrade to.")
            if known_models is not None and target not in known_models:
                raise E.InvalidRequest(
                    f"There is no model or route called '{target}'; pick one of the models "
                    "listed (a route appears once it is saved under Routes)."
                )
            budget.downgrade_model = target
        else:
            budget.downgrade_model = None
        with session_scope(self._db) as s:
            merged = s.merge(budget)
            merged.updated_at = utcnow()
            s.flush()
            budget_id = int(merged.id)
        self._cached = None
        return budget_id

    def delete(self, budget_id: int) -> None:
        with session_scope(self._db) as s:
            row = s.get(Budget, budget_id)
            if row is not None:
                s.delete(row)
        self._cached = None

    # -- the call path ----------------------------------------------------
    def applicable(self, user: str | None, tags: list[str] | None) -> list[tuple[Budget, str]]:
        """(budget, subject) pairs that govern a call by `user` with `tags`, by budget id."""
        out: list[tuple[Budget, str]] = []
        for b in self._enabled():
            if b.scope == "global":
                out.append((b, "*"))
            elif b.scope == "user" and user and b.subject in (None, user):
                out.append((b, user))
            elif b.scope == "tag":
                for tag in tags or []:
                    if b.subject in (None, tag):
                        out.append((b, tag))
        return out

    def max_cost(self, model_ids: list[str], messages: list[Message], max_tokens: int) -> float:
        """The most this call can cost on any deployment it may be served by."""
        usage = Usage(input_tokens=estimate_input_tokens(messages), output_tokens=max_tokens)
        worst = 0.0
        for model_id in model_ids:
            provider, _, model = model_id.partition("/")
            cost = self._prices.cost(provider, model, usage)
            # An unknown price cannot be budgeted; it is reserved as 0 and shows as unknown.
            worst = max(worst, cost or 0.0)
        return worst

    def reserve(
        self,
        budgets: list[tuple[Budget, str]],
        amount: float,
        hold_for: timedelta = RESERVATION_TTL,
    ) -> tuple[Reservation | None, Budget | None]:
        """Reserve `amount` on every budget, atomically; or name the budget that refused.

        The hold is released by `settle`, or by `release_expired` once `hold_for`
        has passed (give it the call's deadline plus a margin).
        """
        if not budgets:
            return Reservation(0.0), None
        if time.monotonic() - self._last_sweep > _SWEEP_EVERY_S:
            self._sweep()
        now = utcnow()
        try:
            with write_transaction(self._db) as conn:
                targets = [
                    (self._usage_row(conn, b.id, period_start(b.period, now), subject), b, subject)
                    for b, subject in budgets
                ]
                # Usage rows are locked in id order by reserve, settle and
                # release_expired alike, so PostgreSQL transactions cannot deadlock.
                targets.sort(key=lambda t: t[0])
                rows: list[int] = []
                holds: list[int] = []
                for usage_id, budget, subject in targets:
                    result = conn.execute(
                        update(_USAGE)
                        .where(
                            and_(
                                _USAGE.c.id == usage_id,
                                _USAGE.c.spent_usd + _USAGE.c.reserved_usd + amount
                                <= budget.limit_usd + 1e-12,
                            )
                        )
                        .values(reserved_usd=_USAGE.c.reserved_usd + amount)
                    )
                    if result.rowcount != 1:
                        raise _Refused(budget, period_start(budget.period, now), subject)
                    hold = conn.execute(
                        insert(_HOLD)
                        .values(usage_id=usage_id, amount_usd=amount, expires_at=now + hold_for)
                        .returning(_HOLD.c.id)
                    )
                    rows.append(usage_id)
                    holds.append(int(hold.scalar_one()))
        except _Refused as refused:
            b, start, subject = refused.args
            self._alert(b, start, subject, "exhausted", b.limit_usd)
            return None, b
        return Reservation(amount, rows, holds), None

    def settle(self, reservation: Reservation, actual: float | None) -> None:
        """Swap the reservation for the real cost (None = unknown price, counted as 0)."""
        if not reservation.rows:
            return
        cost = actual or 0.0
        with write_transaction(self._db) as conn:
            # Only holds this transaction deletes still count as reserved: one that
            # expired and was released already must not be subtracted twice.
            held = set(
                conn.execute(
                    delete(_HOLD).where(_HOLD.c.id.in_(reservation.holds)).returning(_HOLD.c.id)
                ).scalars()
            )
            for usage_id, hold_id in sorted(zip(reservation.rows, reservation.holds, strict=True)):
                conn.execute(
                    update(_USAGE)
                    .where(_USAGE.c.id == usage_id)
                    .values(
                        reserved_usd=_USAGE.c.reserved_usd
                        - (reservation.amount if hold_id in held else 0.0),
                        spent_usd=_USAGE.c.spent_usd + cost,
                    )
                )
        self._check_thresholds(reservation.rows)
        reservation.rows = []
        reservation.holds = []

    def release_expired(self, now: datetime | None = None) -> int:
        """Release holds past their expiry (calls whose process died before settling)."""
        self._last_sweep = time.monotonic()
        now = now or utcnow()
        expired = _HOLD.c.expires_at < now
        with self._db.connect() as conn:  # a read first: most sweeps find nothing
            if conn.execute(select(_HOLD.c.id).where(expired).limit(1)).first() is None:
                return 0
        with write_transaction(self._db) as conn:
            # DELETE ... RETURNING hands back only the rows this transaction removed,
            # so a concurrent settle or sweep of the same hold is never counted twice.
            gone = conn.execute(
                delete(_HOLD).where(expired).returning(_HOLD.c.usage_id, _HOLD.c.amount_usd)
            ).all()
            per_row: dict[int, float] = {}
            for usage_id, amount in gone:
                per_row[usage_id] = per_row.get(usage_id, 0.0) + amount
            for usage_id in sorted(per_row):
                conn.execute(
                    update(_USAGE)
                    .where(_USAGE.c.id == usage_id)
                    .values(reserved_usd=_USAGE.c.reserved_usd - per_row[usage_id])
                )
        if gone:
            log.warning("released %d budget reservation(s) that were never settled", len(gone))
        return len(gone)

    def _sweep(self, now: datetime | None = None) -> None:
        """`release_expired` as housekeeping: a failure is logged, never raised
        (neither a call nor the status figures depend on it)."""
        try:
            self.release_expired(now)
        except Exception:  # noqa: BLE001
            log.exception("could not release expired budget reservations")

    # -- reading ----------------------------------------------------------
    def status(self) -> list[BudgetStatus]:
        """Each budget's current-period usage (one line per subject seen)."""
        out: list[BudgetStatus] = []
        now = utcnow()
        self._sweep(now)
        with session_scope(self._db) as s:
            for b in s.execute(select(Budget).order_by(Budget.id)).scalars():
                usages = list(
                    s.execute(
                        select(BudgetUsage).where(
                            BudgetUsage.budget_id == b.id,
                            BudgetUsage.period_start == period_start(b.period, now),
                        )
                    ).scalars()
                )
                if not usages:
                    out.append(BudgetStatus(b, b.subject or "*", 0.0, 0.0))
                for u in usages:
                    out.append(BudgetStatus(b, u.subject, u.spent_usd, max(0.0, u.reserved_usd)))
        return out

    def alerts(self, limit: int = 50, include_acknowledged: bool = False) -> list[BudgetAlert]:
        with session_scope(self._db) as s:
            q = select(BudgetAlert).order_by(BudgetAlert.id.desc()).limit(limit)
            if not include_acknowledged:
                q = q.where(BudgetAlert.acknowledged.is_(False))
            return list(s.execute(q).scalars())

    def acknowledge(self, alert_id: int) -> None:
        with session_scope(self._db) as s:
            row = s.get(BudgetAlert, alert_id)
            if row is not None:
                row.acknowledged = True

    # -- internals --------------------------------------------------------
    def _usage_row(self, conn: Connection, budget_id: int, start: datetime, subject: str) -> int:
        def find() -> int | None:
            return conn.execute(
                select(_USAGE.c.id).where(
                    _USAGE.c.budget_id == budget_id,
                    _USAGE.c.period_start == start,
                    _USAGE.c.subject == subject,
                )
            ).scalar_one_or_none()

        found = find()
        if found is not None:
            return int(found)
        # Two calls may race to open a period's row: let the loser do nothing.
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        conn.execute(
            upsert(_USAGE)
            .values(
                budget_id=budget_id,
                period_start=start,
                subject=subject,
                spent_usd=0.0,
                reserved_usd=0.0,
            )
            .on_conflict_do_nothing()
        )
        return int(find())

    def _check_thresholds(self, usage_ids: list[int]) -> None:
        with session_scope(self._db) as s:
            for usage_id in usage_ids:
                u = s.get(BudgetUsage, usage_id)
                b = s.get(Budget, u.budget_id) if u else None
                if u is None or b is None:
                    continue
                if u.spent_usd >= b.limit_usd:
                    self._alert(b, u.period_start, u.subject, "exhausted", u.spent_usd)
                elif u.spent_usd >= b.alert_threshold * b.limit_usd:
                    self._alert(b, u.period_start, u.subject, "threshold", u.spent_usd)

    def _alert(self, b: Budget, start: datetime, subject: str, level: str, spent: float) -> None:
        try:
            with write_transaction(self._db) as conn:
                conn.execute(
                    insert(_ALERT).values(
                        budget_id=b.id,
                        period_start=start,
                        subject=subject,
                        level=level,
                        spent_usd=spent,
                        limit_usd=b.limit_usd,
                        created_at=utcnow(),
                        acknowledged=False,
                    )
                )
        except IntegrityError:
            pass  # already alerted this period

"""Circuit breakers, one per deployment (`provider/model`).

Closed: calls pass. After `breaker_failures` consecutive failed attempts, or
a failure rate over `breaker_failure_rate` among at least `breaker_min_calls`
attempts in `breaker_window_s`, it opens: calls skip the deployment at once,
paying no attempt. After `breaker_cooldown_s` it half-opens and lets exactly
one trial call through; success closes it, failure opens it again.

Every attempt counts, retries included: a route whose primary is down trips
its breaker within one or two requests instead of paying the full retry
budget on every request of the outage.

State is kept in memory for the hot path and persisted on every change, and
re-read from the database every few seconds, so a reset from the Operations
page (or another replica) takes effect everywhere.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from core.db import session_scope
from core.reliability.config import ReliabilityConfig
from core.reliability.models import BreakerState
from core.telemetry.models import utcnow

SYNC_EVERY_S = 2.0


@dataclass
class _Breaker:
    deployment: str
    state: str = "closed"
    failures: int = 0
    opened_count: int = 0
    opened_at: datetime | None = None
    reopens_at: datetime | None = None
    last_error: str | None = None
    trial_started: float | None = None
    events: deque = field(default_factory=deque)  # (monotonic time, ok)
    synced_at: float = 0.0


@dataclass(frozen=True)
class BreakerView:
    deployment: str
    state: str
    failures: int
    opened_count: int
    opened_at: datetime | None
    reopens_at: datetime | None
    last_error: str | None


class BreakerBoard:
    def __init__(self, db: Engine, config: Callable[[], ReliabilityConfig]) -> None:
        self._db = db
        self._config = config
        self._lock = threading.Lock()
        self._breakers: dict[str, _Breaker] = {}

    # -- hot path ---------------------------------------------------------
    def allow(self, deployment: str) -> bool:
        """Whether a call may try `deployment` now (claims the half-open trial)."""
        with self._lock:
            b = self._get(deployment)
            if b.state == "closed":
                return True
            now = utcnow()
            if b.state == "open":
                if b.reopens_at is not None and now >= b.reopens_at:
                    b.state = "half_open"
                    b.trial_started = time.monotonic()
                    self._persist(b)
                    return True
                return False
            # Half-open: one trial at a time; a trial that never reported is given up on.
            timeout = self._config().attempt_timeout_s
            if b.trial_started is None or time.monotonic() - b.trial_started > timeout:
                b.trial_started = time.monotonic()
                return True
            return False

    def record_success(self, deployment: str) -> None:
        with self._lock:
            b = self._get(deployment)
            self._event(b, True)
            if b.state != "closed" or b.failures:
                b.state, b.failures, b.trial_started = "closed", 0, None
                b.reopens_at = None
                self._persist(b)

    def record_failure(self, deployment: str, error_class: str) -> bool:
        """Count a failed attempt; True when this failure opened the breaker."""
        cfg = self._config()
        with self._lock:
            b = self._get(deployment)
            self._event(b, False)
            b.failures += 1
            b.last_error = error_class
            trip = b.state == "half_open" or b.failures >= cfg.breaker_failures
            if not trip and len(b.events) >= cfg.breaker_min_calls:
                failed = sum(1 for _, ok in b.events if not ok)
                trip = failed / len(b.events) >= cfg.breaker_failure_rate
            opened = False
            if trip and b.state != "open":
                now = utcnow()
                b.state, b.opened_at = "open", now
                b.reopens_at = now + timedelta(seconds=cfg.breaker_cooldown_s)
                b.opened_count += 1
                b.trial_started = None
                opened = True
            self._persist(b)
            return opened

    def retry_in(self, deployment: str) -> float:
        """Seconds until an open breaker lets a trial through (0 if not open)."""
        with self._lock:
            b = self._get(deployment)
            if b.state != "open" or b.reopens_at is None:
                return 0.0
            return max(0.0, (b.reopens_at - utcnow()).total_seconds())

    # -- operations -------------------------------------------------------
    def reset(self, deployment: str) -> None:
        with self._lock:
            b = self._get(deployment)
            b.state, b.failures, b.trial_started = "closed", 0, None
            b.reopens_at = None
            b.events.clear()
            self._persist(b)

    def view(self, deployment: str) -> BreakerView:
        with self._lock:
            return self._view(self._get(deployment, force_sync=True))

    def views(self) -> list[BreakerView]:
        with session_scope(self._db) as s:
            names = [r for r in s.execute(select(BreakerState.deployment)).scalars()]
        with self._lock:
            for name in names:
                self._get(name, force_sync=True)
            return [
                self._view(b) for b in sorted(self._breakers.values(), key=lambda b: b.deployment)
            ]

    # -- internals --------------------------------------------------------
    def _view(self, b: _Breaker) -> BreakerView:
        return BreakerView(
            b.deployment,
            b.state,
            b.failures,
            b.opened_count,
            b.opened_at,
            b.reopens_at,
            b.last_error,
        )

    def _event(self, b: _Breaker, ok: bool) -> None:
        now = time.monotonic()
        b.events.append((now, ok))
        horizon = now - self._config().breaker_window_s
        while b.events and b.events[0][0] < horizon:
            b.events.popleft()

    def _get(self, deployment: str, *, force_sync: bool = False) -> _Breaker:
        b = self._breakers.get(deployment)
        if b is None:
            b = self._breakers[deployment] = _Breaker(deployment)
            force_sync = True
        if force_sync or time.monotonic() - b.synced_at > SYNC_EVERY_S:
            self._sync(b)
        return b

    def _sync(self, b: _Breaker) -> None:
        with session_scope(self._db) as s:
            row = s.get(BreakerState, b.deployment)
            if row is not None:
                if row.state == "closed" and b.state != "closed":
                    # Reset elsewhere (the Operations page or another replica).
                    b.events.clear()
                    b.trial_started = None
                b.state, b.failures, b.opened_count = row.state, row.failures, row.opened_count
                b.opened_at, b.reopens_at, b.last_error = (
                    row.opened_at,
                    row.reopens_at,
                    row.last_error,
                )
        b.synced_at = time.monotonic()

    def _persist(self, b: _Breaker) -> None:
        with session_scope(self._db) as s:
            row = s.get(BreakerState, b.deployment)
            if row is None:
                row = BreakerState(deployment=b.deployment)
                s.add(row)
            row.state, row.failures, row.opened_count = b.state, b.failures, b.opened_count
            row.opened_at, row.reopens_at, row.last_error = b.opened_at, b.reopens_at, b.last_error
            row.updated_at = utcnow()
        b.synced_at = time.monotonic()

"""Per-minute request and token limits counted in the database, so they hold
across every process that shares it (gateway workers and replicas).

Each subject (an API key) has one row per clock minute, as LiteLLM's proxy
keys its per-minute counters by the minute. Admission is one conditional
UPDATE (`requests + 1 <= rpm AND tokens + n <= tpm`) in a write transaction:
atomic in SQLite and PostgreSQL, so concurrent calls from several processes
cannot all slip under a limit. Tokens are reserved up front (the input
estimate plus max_tokens) and corrected to the real count when the call
settles. Rows older than a few minutes are swept now and then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update

from core.db import write_transaction
from core.reliability.limits import RateLimitExceeded
from core.reliability.models import RateWindow

_W = RateWindow.__table__
_KEEP_MINUTES = 5
_SWEEP_EVERY_S = 60.0


@dataclass(slots=True)
class SharedAdmission:
    subject: str
    minute: int
    tokens: int


class SharedRateLimiter:
    def __init__(self, db: Engine) -> None:
        self._db = db
        self._next_sweep = 0.0

    def admit(self, subject: str, tokens: int, *, rpm: int | None, tpm: int | None,
              who: str) -> SharedAdmission:
        """Count one request of `tokens` for `subject`, or raise RateLimitExceeded."""
        now = time.time()
        minute = int(now // 60)
        wait = 60.0 - now % 60.0
        if self._next_sweep <= now:
            self._next_sweep = now + _SWEEP_EVERY_S
            self._sweep(minute)
        here = [_W.c.subject == subject, _W.c.minute == minute]
        room = []
        if rpm is not None:
            room.append(_W.c.requests + 1 <= rpm)
        if tpm is not None:
            room.append(_W.c.tokens + tokens <= tpm)
        with write_transaction(self._db) as conn:
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as upsert
            else:
                from sqlalchemy.dialects.sqlite import insert as upsert
            conn.execute(upsert(_W).values(subject=subject, minute=minute, requests=0, tokens=0)
                         .on_conflict_do_nothing())
            counted = conn.execute(
                update(_W).where(*here, *room)
                .values(requests=_W.c.requests + 1, tokens=_W.c.tokens + tokens)
            ).rowcount
            if not counted:
                used_requests, _ = conn.execute(
                    select(_W.c.requests, _W.c.tokens).where(*here)).one()
        if not counted:
            if rpm is not None and used_requests + 1 > rpm:
                raise RateLimitExceeded(
                    f"The limit of {rpm} requests per minute for {who} is reached.",
                    retry_after=wait)
            raise RateLimitExceeded(
                f"The limit of {tpm:,} tokens per minute for {who} is reached.",
                retry_after=wait)
        return SharedAdmission(subject, minute, tokens)

    def settle(self, admission: SharedAdmission, actual_tokens: int | None) -> None:
        """Replace the call's token estimate with its real count."""
        if actual_tokens is None or actual_tokens == admission.tokens:
            return
        delta = actual_tokens - admission.tokens
        admission.tokens = actual_tokens
        with write_transaction(self._db) as conn:
            conn.execute(update(_W).where(_W.c.subject == admission.subject,
                                          _W.c.minute == admission.minute)
                         .values(tokens=_W.c.tokens + delta))

    def usage(self, subject: str) -> dict[str, int]:
        """Requests and tokens `subject` used in the current minute."""
        minute = int(time.time() // 60)
        with self._db.connect() as conn:
            row = conn.execute(select(_W.c.requests, _W.c.tokens).where(
                _W.c.subject == subject, _W.c.minute == minute)).first()
        return {"requests": row[0] if row else 0, "tokens": row[1] if row else 0}

    def _sweep(self, minute: int) -> None:
        with write_transaction(self._db) as conn:
            conn.execute(delete(_W).where(_W.c.minute < minute - _KEEP_MINUTES))

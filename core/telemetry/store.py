"""Recording calls and reading them back. Pages never see SQL or sessions.

Recording uses SQLAlchemy Core inserts (one transaction: the call row and
its spans) because it sits on every call's path and the ORM's unit of work
costs more than the write itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, case, func, insert, select

from core.db import session_scope
from core.telemetry.demo import DEMO_SOURCE
from core.telemetry.models import REFUSED, CallLog, Feedback, Span, utcnow
from core.telemetry.writer import LogWriter

log = logging.getLogger(__name__)

_CALL = CallLog.__table__
_SPAN = Span.__table__
_INSERT_CALL = insert(_CALL)
_INSERT_SPAN = insert(_SPAN)
#: Many call rows at once, their ids back in the order given (SQLite >= 3.35, PostgreSQL).
_INSERT_CALLS_RETURNING = insert(_CALL).returning(_CALL.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True, slots=True)
class SpendSummary:
    """Spend over a period: real calls, and demo traffic counted apart."""

    spend_usd: float
    calls: int
    unknown_cost_calls: int
    demo_spend_usd: float
    demo_calls: int


@dataclass(slots=True)
class SpanRecord:
    name: str
    start_ms: float
    duration_ms: float
    status: str = "ok"
    detail: dict | None = None


@dataclass(slots=True)
class CallRecord:
    """Everything the log row of one call holds (see CallLog for meanings)."""

    trace_id: str
    created_at: datetime
    source: str = "playground"
    user_id: str | None = None
    session_id: str | None = None
    tags: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    experiment: str | None = None
    variant: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None
    cost_saved_usd: float | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    status: str = "ok"
    error_class: str | None = None
    error_message: str | None = None
    retries: int = 0
    route: str | None = None
    fallback_from: str | None = None
    downgraded_from: str | None = None
    cache_hit: str | None = None
    stream: bool = False
    guard_actions: dict | None = None
    degraded: list | None = None
    params: dict | None = None
    input_text: str | None = None
    output_text: str | None = None
    spans: list[SpanRecord] = field(default_factory=list)


_CALL_FIELDS = tuple(f.name for f in fields(CallRecord) if f.name != "spans")
_SPAN_FIELDS = tuple(f.name for f in fields(SpanRecord))


class TelemetryStore:
    #: Applied to free text users write (feedback comments) before it is stored;
    #: the guards install their PII redaction here.
    text_filter: Callable[[str], str | None] | None = None

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer: LogWriter | None = None
        self._writer_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self._engine

    def record(self, record: CallRecord) -> int:
        """Write the call row and its spans; return the row id."""
        # Shallow copies: dataclasses.asdict deep-copies and costs more than the write.
        values = {name: getattr(record, name) for name in _CALL_FIELDS}
        spans = [{name: getattr(sp, name) for name in _SPAN_FIELDS} for sp in record.spans]
        with self._engine.begin() as conn:
            # Prebuilt statements with bound parameters hit SQLAlchemy's compiled cache.
            call_id = conn.execute(_INSERT_CALL, values).inserted_primary_key[0]
            if spans:
                conn.execute(
                    _INSERT_SPAN,
                    [dict(s, call_id=call_id, seq=i) for i, s in enumerate(spans)],
                )
        return int(call_id)

    def record_later(self, record: CallRecord) -> None:
        """Queue the row for the background writer (batched; see core/telemetry/writer).

        For callers that do not need the row id before answering (the gateway)."""
        writer = self._writer
        if writer is None:
            with self._writer_lock:
                if self._writer is None:
                    self._writer = LogWriter(self._record_many, self.record)
                writer = self._writer
        writer.put(record)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row queued with `record_later` is written."""
        return self._writer.flush(timeout) if self._writer is not None else True

    def close_writer(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the background writer (a later
        `record_later` starts a new one)."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close(timeout)

    def _record_many(self, records: list[CallRecord]) -> None:
        """Many rows and their spans in one transaction: two multi-row INSERTs."""
        values = [{name: getattr(r, name) for name in _CALL_FIELDS} for r in records]
        with self._engine.begin() as conn:
            ids = conn.execute(_INSERT_CALLS_RETURNING, values).scalars().all()
            spans = [
                dict({name: getattr(sp, name) for name in _SPAN_FIELDS}, call_id=cid, seq=i)
                for cid, r in zip(ids, records, strict=True)
                for i, sp in enumerate(r.spans)
            ]
            if spans:
                conn.execute(_INSERT_SPAN, spans)

    def _checked_comment(self, score: int, comment: str | None) -> str | None:
        """Validate a rating; return its comment as it may be stored."""
        if score not in (1, -1):
            raise ValueError("score must be +1 (thumbs up) or -1 (thumbs down)")
        if comment and self.text_filter is not None:
            comment = self.text_filter(comment)
        return comment

    def add_feedback(
        self, call_id: int, score: int, comment: str | None = None, user_id: str | None = None
    ) -> int:
        comment = self._checked_comment(score, comment)
        with session_scope(self._engine) as s:
            fb = Feedback(call_id=call_id, score=score, comment=comment or None, user_id=user_id)
            s.add(fb)
            s.flush()
            return int(fb.id)

    def set_feedback(
        self, call_id: int, score: int, comment: str | None = None, user_id: str | None = None
    ) -> int:
        """One rating per person per call: change this person's earlier rating of the
        call if there is one (keeping its comment unless a new one is given), else add it."""
        comment = self._checked_comment(score, comment)
        with session_scope(self._engine) as s:
            fb = s.execute(
                select(Feedback).where(*_rated_by(call_id, user_id)).order_by(Feedback.id)
            ).scalars().first()
            if fb is None:
                fb = Feedback(call_id=call_id, score=score, comment=comment or None,
                              user_id=user_id)
                s.add(fb)
            else:
                fb.score = score
                fb.created_at = utcnow()
                if comment:
                    fb.comment = comment
            s.flush()
            return int(fb.id)

    def clear_feedback(self, call_id: int, user_id: str | None = None) -> int:
        """Withdraw this person's rating of the call (the thumb was un-clicked);
        returns how many ratings were removed."""
        with session_scope(self._engine) as s:
            rows = s.execute(select(Feedback).where(*_rated_by(call_id, user_id))).scalars().all()
            for fb in rows:
                s.delete(fb)
            return len(rows)

    def get_call(self, call_id: int) -> CallLog | None:
        with session_scope(self._engine) as s:
            return s.get(CallLog, call_id)

    def get_by_trace(self, trace_id: str) -> CallLog | None:
        with session_scope(self._engine) as s:
            return s.execute(
                select(CallLog).where(CallLog.trace_id == trace_id)
            ).scalar_one_or_none()

    def spans(self, call_id: int) -> list[Span]:
        with session_scope(self._engine) as s:
            return list(
                s.execute(select(Span).where(Span.call_id == call_id).order_by(Span.seq)).scalars()
            )

    def feedback_for(self, call_id: int) -> list[Feedback]:
        with session_scope(self._engine) as s:
            return list(
                s.execute(
                    select(Feedback).where(Feedback.call_id == call_id).order_by(Feedback.id)
                ).scalars()
            )

    def recent_calls(self, limit: int = 50) -> list[CallLog]:
        with session_scope(self._engine) as s:
            return list(
                s.execute(select(CallLog).order_by(CallLog.id.desc()).limit(limit)).scalars()
            )

    def count_calls(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_CALL)).scalar_one())

    def spend_since(self, since: datetime) -> float:
        """Known spend in USD since `since` (UTC); unknown-price calls are not counted."""
        with self._engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(_CALL.c.cost_usd), 0.0)).where(
                    _CALL.c.created_at >= since
                )
            ).scalar_one()
        return float(total)

    def spend_today(self) -> float:
        now = utcnow()
        return self.spend_since(datetime(now.year, now.month, now.day))

    def calls_since(self, since: datetime) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(_CALL).where(
                        _CALL.c.created_at >= since, _CALL.c.status != REFUSED)
                ).scalar_one()
            )

    def spend_summary(self, since: datetime) -> SpendSummary:
        """Spend and calls since `since` (UTC) in one scan: real calls, and the demo
        traffic apart. Budgets count real calls only, so every "today" figure that
        sits next to a budget uses `spend_usd` here, not the demo share."""
        c = _CALL.c
        demo = c.source == DEMO_SOURCE
        # Requests the gateway refused called no model: not calls here.
        real = and_(func.coalesce(c.source, "") != DEMO_SOURCE, c.status != REFUSED)
        with self._engine.connect() as conn:
            spend, calls, unknown, demo_spend, demo_calls = conn.execute(
                select(
                    func.coalesce(func.sum(case((real, c.cost_usd), else_=None)), 0.0),
                    func.coalesce(func.sum(case((real, 1), else_=0)), 0),
                    func.coalesce(
                        func.sum(case((and_(real, c.cost_usd.is_(None)), 1), else_=0)), 0
                    ),
                    func.coalesce(func.sum(case((demo, c.cost_usd), else_=None)), 0.0),
                    func.coalesce(func.sum(case((demo, 1), else_=0)), 0),
                ).where(c.created_at >= since)
            ).one()
        return SpendSummary(float(spend), int(calls), int(unknown), float(demo_spend),
                            int(demo_calls))

    def cache_summary(self, since: datetime, *, include_demo: bool = False) -> dict[str, float]:
        """Calls, cache hits, hit rate and money the caches saved since `since`;
        real calls only unless `include_demo` (demo rows carry made-up cache hits)."""
        c = _CALL.c
        terms = [c.created_at >= since]
        if not include_demo:
            terms.append(func.coalesce(c.source, "") != DEMO_SOURCE)
        with self._engine.connect() as conn:
            calls, hits, saved = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((c.cache_hit.is_not(None), 1), else_=0)), 0),
                    func.coalesce(func.sum(c.cost_saved_usd), 0.0),
                ).where(*terms)
            ).one()
        return {
            "calls": int(calls),
            "hits": int(hits),
            "hit_rate": (hits / calls) if calls else 0.0,
            "saved_usd": float(saved),
        }

    def unknown_cost_calls_since(self, since: datetime) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(_CALL)
                    .where(_CALL.c.created_at >= since, _CALL.c.cost_usd.is_(None))
                ).scalar_one()
            )


def day_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return datetime(now.year, now.month, now.day)


def since(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)


def _rated_by(call_id: int, user_id: str | None) -> tuple[ColumnElement[bool], ...]:
    """The WHERE terms for this person's ratings of a call (None: the anonymous user)."""
    who = Feedback.user_id.is_(None) if user_id is None else Feedback.user_id == user_id
    return (Feedback.call_id == call_id, who)

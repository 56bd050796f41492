"""Guard figures for the dashboards, read from call_log.guard_actions."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Engine, select

from core.telemetry.models import CallLog


def guard_stats(db: Engine, since: datetime) -> dict:
    """Blocked calls, injection flags and redactions by entity type since `since` (UTC):
    the user's input, retrieved document context and the answer.

    Aggregated in Python because JSON functions differ between SQLite and
    PostgreSQL; the query reads one small column of the indexed time range.
    """
    blocked = flagged = calls = 0
    redactions: Counter[str] = Counter()
    by_policy: Counter[str] = Counter()
    t = CallLog.__table__
    with db.connect() as conn:
        rows = conn.execute(
            select(t.c.status, t.c.guard_actions).where(t.c.created_at >= since)
        ).all()
    for status, actions in rows:
        calls += 1
        blocked += status == "blocked"
        if not actions:
            continue
        by_policy[actions.get("policy") or "?"] += 1
        if (actions.get("injection") or {}).get("decision") == "flag":
            flagged += 1
        pii = actions.get("pii") or {}
        if pii.get("action") == "redacted":
            redactions.update(pii.get("input") or {})
        if pii.get("context_action") == "redacted":
            redactions.update(pii.get("context") or {})
        if pii.get("output_action") == "redacted":
            redactions.update(pii.get("output") or {})
    return {
        "calls": calls,
        "blocked": blocked,
        "injection_flagged": flagged,
        "redactions": dict(redactions),
        "by_policy": dict(by_policy),
    }

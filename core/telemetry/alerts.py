"""Alert rules over the call log: store, evaluate, notify.

Rules live in the `alert_rule` table and are edited on the Monitoring pages.
`evaluate` checks every enabled rule against the log as of `now`; `notify`
records an `alert_event` for each firing (rule, subject) not already notified
within the rule's window (its cooldown, at least 5 minutes; 24 hours for the
daily budget; a failed post does not count) and posts those
to the webhook as one JSON document. Page loads and the `check-alerts`
command both run `check`, so cron and the browser share the cooldown.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import httpx
import pandas as pd
from sqlalchemy import Engine, func, or_, select

from core.db import session_scope
from core.telemetry import queries
from core.telemetry.alert_models import RULE_KINDS, AlertEvent, AlertRule
from core.telemetry.demo import DEMO_SOURCE
from core.telemetry.filters import Filters
from core.telemetry.models import CallLog, utcnow

log = logging.getLogger(__name__)

C = CallLog.__table__
MIN_COOLDOWN = timedelta(minutes=5)

#: The rule most teams start with (the seed's "error rate > 5% in 5 minutes").
SUGGESTED_RULE = {"name": "Error rate above 5% in 5 minutes", "kind": "error_rate",
                  "threshold": 5.0, "window_minutes": 5}

#: The rules an install starts with (added once; users edit, switch off or delete them).
DEFAULT_RULES = (
    SUGGESTED_RULE,
    {"name": "p95 latency above 10 s over 15 minutes", "kind": "p95_latency",
     "threshold": 10_000.0, "window_minutes": 15},
    {"name": "Today's spend above 80% of the daily budget", "kind": "daily_budget",
     "threshold": 80.0, "window_minutes": 1440},
)
#: The ops_setting row that records the defaults were added, so a rule a user
#: deleted does not come back.
_DEFAULTS_KEY = "alerts.defaults_added"


def ensure_default_rules(engine: Engine) -> int:
    """Add DEFAULT_RULES the first time this is called on a database; return how
    many were added (0 afterwards, even if the user deleted them since)."""
    from sqlalchemy.exc import IntegrityError

    from core.reliability.models import OpsSetting

    with session_scope(engine) as s:
        if s.get(OpsSetting, _DEFAULTS_KEY) is not None:
            return 0
    try:
        with session_scope(engine) as s:
            s.add(OpsSetting(key=_DEFAULTS_KEY, value={"rules": len(DEFAULT_RULES)}))
            s.flush()  # claims the key: a concurrent first call fails here
            have = set(s.execute(select(AlertRule.name)).scalars())
            added = 0
            for rule in DEFAULT_RULES:
                if rule["name"] not in have:
                    s.add(AlertRule(**rule))
                    added += 1
    except IntegrityError:
        return 0
    return added


@dataclass(frozen=True, slots=True)
class Firing:
    """One rule over its threshold (for one user or tag, for the spend rules)."""

    rule_id: int
    rule_name: str
    kind: str
    subject: str | None
    value: float
    threshold: float
    window_minutes: int
    message: str


def list_rules(engine: Engine) -> list[AlertRule]:
    with session_scope(engine) as s:
        return list(s.execute(select(AlertRule).order_by(AlertRule.id)).scalars())


def save_rule(
    engine: Engine,
    *,
    name: str,
    kind: str,
    threshold: float,
    window_minutes: int = 60,
    enabled: bool = True,
    rule_id: int | None = None,
) -> int:
    """Create a rule (or update `rule_id`); return its id. Bad values raise ValueError
    with a sentence a page can show as is."""
    name = (name or "").strip()
    if not name:
        raise ValueError("Give the rule a name.")
    if kind not in RULE_KINDS:
        raise ValueError(f"Unknown rule kind {kind!r}; choose one of {', '.join(RULE_KINDS)}.")
    if threshold is None or threshold < 0:
        raise ValueError("The threshold must be zero or more.")
    if kind != "daily_budget" and (window_minutes is None or window_minutes < 1):
        raise ValueError("The window must be at least one minute.")
    with session_scope(engine) as s:
        rule = s.get(AlertRule, rule_id) if rule_id else AlertRule(name=name, kind=kind,
                                                                   threshold=threshold)
        if rule is None:
            raise ValueError(f"There is no alert rule {rule_id}.")
        rule.name, rule.kind, rule.threshold = name[:200], kind, float(threshold)
        rule.window_minutes, rule.enabled, rule.updated_at = int(window_minutes), enabled, utcnow()
        s.add(rule)
        s.flush()
        return int(rule.id)


def delete_rule(engine: Engine, rule_id: int) -> None:
    with session_scope(engine) as s:
        rule = s.get(AlertRule, rule_id)
        if rule is not None:
            s.delete(rule)


def _window(now: datetime, minutes: int) -> Filters:
    return Filters(start=now - timedelta(minutes=minutes), end=now + timedelta(microseconds=1))


def _evaluate_rule(
    engine: Engine, rule: AlertRule, now: datetime, budget: float | None
) -> list[Firing]:
    def fire(value: float, message: str, subject: str | None = None) -> Firing:
        return Firing(int(rule.id), rule.name, rule.kind, subject, round(value, 6),
                      rule.threshold, rule.window_minutes, message)

    w = rule.window_minutes
    if rule.kind == "error_rate":
        f = _window(now, w)
        stmt = select(func.count(), func.count().filter(C.c.status == "error")).where(
            *queries.conditions(f))
        with engine.connect() as conn:
            calls, errors = conn.execute(stmt).one()
        rate = 100.0 * errors / calls if calls else 0.0
        if calls and rate > rule.threshold:
            return [fire(rate, f"Error rate {rate:.1f}% ({errors} of {calls} calls) over the "
                               f"last {w} min is above {rule.threshold:g}%.")]
    elif rule.kind == "p95_latency":
        p95 = queries.latency_summary(engine, _window(now, w))["p95_ms"].iloc[0]
        if pd.notna(p95) and p95 > rule.threshold:
            return [fire(float(p95), f"p95 latency {p95:,.0f} ms over the last {w} min is "
                                     f"above {rule.threshold:,.0f} ms.")]
    elif rule.kind in ("user_spend", "tag_spend"):
        f = _window(now, w)
        if rule.kind == "user_spend":
            df = queries.spend_by_user(engine, f).dropna(subset=["user_id"])
            key, label = "user_id", "User"
        else:
            df = queries.spend_by_tag(engine, f)
            key, label = "tag", "Tag"
        over = df[df["spend_usd"] > rule.threshold]
        return [
            fire(float(r.spend_usd), f"{label} {getattr(r, key)} spent ${r.spend_usd:,.4f} over "
                                     f"the last {w} min, above ${rule.threshold:,.2f}.",
                 subject=str(getattr(r, key)))
            for r in over.itertuples()
        ]
    elif rule.kind == "daily_budget" and budget:
        start = datetime(now.year, now.month, now.day)
        f = Filters(start=start, end=now + timedelta(microseconds=1))
        with engine.connect() as conn:
            # Counted as budgets count: real calls only (see budget.SPEND_BASIS).
            spend = conn.execute(select(func.coalesce(func.sum(C.c.cost_usd), 0.0)).where(
                *queries.conditions(f), func.coalesce(C.c.source, "") != DEMO_SOURCE)
            ).scalar_one()
        pct = 100.0 * float(spend) / budget
        if pct > rule.threshold:
            return [fire(pct, f"Today's spend ${spend:,.2f} is {pct:.0f}% of the "
                              f"${budget:,.2f} daily budget (alert above {rule.threshold:g}%).")]
    return []


def evaluate(engine: Engine, budget: float | None = None, now: datetime | None = None
             ) -> list[Firing]:
    """Every enabled rule's firings as of `now` (UTC). `budget` is the daily budget
    in USD; daily-budget rules stay quiet without one."""
    now = now or utcnow()
    out: list[Firing] = []
    for rule in list_rules(engine):
        if rule.enabled:
            out.extend(_evaluate_rule(engine, rule, now, budget))
    return out


def _recently_notified(engine: Engine, firing: Firing, now: datetime) -> bool:
    cooldown = max(timedelta(minutes=firing.window_minutes), MIN_COOLDOWN)
    if firing.kind == "daily_budget":
        cooldown = timedelta(hours=24)
    E = AlertEvent.__table__
    stmt = select(E.c.id).where(
        E.c.rule_id == firing.rule_id,
        E.c.fired_at > now - cooldown,
        E.c.subject.is_(None) if firing.subject is None else E.c.subject == firing.subject,
        # A failed post does not start the cooldown: the next check tries again.
        or_(E.c.delivery.is_(None), E.c.delivery.not_like("failed%")),
    ).limit(1)
    with engine.connect() as conn:
        return conn.execute(stmt).first() is not None


def post_webhook(url: str, firings: list[Firing], now: datetime, timeout: float = 5.0) -> str:
    """POST the firings as JSON; return a short delivery note that never holds the URL."""
    payload = {
        "source": "trellis",
        "fired_at": now.isoformat() + "Z",
        "alerts": [asdict(f) for f in firings],
    }
    try:
        resp = httpx.post(url, json=payload, timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # The exception text can carry the URL, which may embed a token.
        return f"failed: {type(exc).__name__}"
    return f"sent {resp.status_code}" if resp.is_success else f"failed: HTTP {resp.status_code}"


def notify(
    engine: Engine, firings: list[Firing], webhook_url: str | None, now: datetime | None = None
) -> list[Firing]:
    """Record and post the firings not already notified within their cooldown;
    return those (an empty list when every firing was already notified)."""
    now = now or utcnow()
    fresh = [f for f in firings if not _recently_notified(engine, f, now)]
    if not fresh:
        return []
    delivery = post_webhook(webhook_url, fresh, now) if webhook_url else None
    if delivery and not delivery.startswith("sent"):
        log.warning("alert webhook %s", delivery)
    with session_scope(engine) as s:
        for f in fresh:
            s.add(AlertEvent(rule_id=f.rule_id, fired_at=now, subject=f.subject, value=f.value,
                             threshold=f.threshold, message=f.message, delivery=delivery))
    return fresh


def check(engine: Engine, budget: float | None, webhook_url: str | None,
          now: datetime | None = None) -> tuple[list[Firing], list[Firing]]:
    """Evaluate and notify: (all firings, the ones newly notified)."""
    now = now or utcnow()
    firings = evaluate(engine, budget, now)
    return firings, notify(engine, firings, webhook_url, now)


def recent_events(engine: Engine, limit: int = 50) -> pd.DataFrame:
    """The latest alert notifications, newest first."""
    E, R = AlertEvent.__table__, AlertRule.__table__
    stmt = (
        select(E.c.fired_at, R.c.name, E.c.subject, E.c.value, E.c.threshold, E.c.message,
               E.c.delivery)
        .select_from(E.join(R, E.c.rule_id == R.c.id))
        .order_by(E.c.fired_at.desc(), E.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows],
                        columns=["fired_at", "rule", "subject", "value", "threshold", "message",
                                 "delivery"])

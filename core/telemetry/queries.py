"""Aggregate queries behind the Monitoring pages.

Every figure is computed by the database (SQLAlchemy Core, GROUP BY, the
percentile aggregates of `sqlfuncs`); Python only reshapes the small grouped
results into DataFrames. Each `*_view` function returns everything one page
shows, as named DataFrames, so the page can chart and export them alike and
the benchmark can time exactly what a page asks for.

Conventions:
- Times in and out are naive UTC; `filters.to_local` converts for display.
- Latency figures use successful calls (status ok or cached) unless the
  filter names statuses; traffic counts every call.
- Spend sums known costs only; calls with an unknown price are counted apart.
- A call with several tags counts fully towards each of them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, case, func, literal, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from core.telemetry import sqlfuncs
from core.telemetry.filters import BUCKET_STEP, Filters, choose_bucket
from core.telemetry.models import CallLog, Feedback, Span, utcnow

C = CallLog.__table__
FB = Feedback.__table__
SP = Span.__table__

#: Every query takes an engine or an open connection.
Bind = Engine | Connection

OK_STATUSES = ("ok", "cached")
FAILED_STATUSES = ("error", "blocked")
#: The error class the reliability layer records for a call refused by an open
#: circuit breaker; "breaker openings" counts these.
BREAKER_OPEN = "circuit_open"


# -- plumbing ---------------------------------------------------------------


def _rows(bind: Bind, stmt: Select) -> list[Any]:
    with _connect(bind) as conn:
        sqlfuncs.prepare(conn)
        return list(conn.execute(stmt))


def _connect(bind: Bind) -> AbstractContextManager[Connection]:
    """A connection: the one given, or a new one from the engine. A view runs all
    its queries on one connection."""
    return nullcontext(bind) if isinstance(bind, Connection) else bind.connect()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(f: Filters, table=C) -> list[ColumnElement]:
    """The WHERE terms for `f` on the call_log table."""
    c = table.c
    terms: list[ColumnElement] = [c.created_at >= f.start, c.created_at < f.end]
    for values, column in (
        (f.provider, c.provider),
        (f.model, c.model),
        (f.user, c.user_id),
        (f.prompt, c.prompt_name),
        (f.source, c.source),
        (f.status, c.status),
    ):
        if values:
            terms.append(column.in_(values))
    if f.tag:
        wrapped = literal(",").concat(c.tags).concat(",")
        terms.append(
            or_(*[wrapped.like(f"%,{_escape_like(t)},%", escape="\\") for t in f.tag])
        )
    return terms


def _ok(f: Filters) -> ColumnElement:
    """Rows that count for latency: the status filter when given, else successes."""
    return true() if f.status else C.c.status.in_(OK_STATUSES)


def _bucket_unit(f: Filters, unit: str | None) -> str:
    return unit or choose_bucket(f.start, f.end)


def _fill_buckets(df: pd.DataFrame, f: Filters, unit: str, zero: tuple[str, ...]) -> pd.DataFrame:
    """Every bucket of the range, so charts show quiet periods as quiet, not missing."""
    first = pd.Timestamp(f.start).floor({"minute": "min", "hour": "h", "day": "D"}[unit])
    index = pd.date_range(first, f.end - timedelta(microseconds=1), freq=BUCKET_STEP[unit])
    out = df.set_index("bucket").reindex(index)
    out.index.name = "bucket"
    for col in zero:
        out[col] = out[col].fillna(0).astype("int64" if col in _INT_COLS else "float64")
    return out.reset_index()


_INT_COLS = {"calls", "ok_calls", "errors", "blocked", "fallbacks", "breaker_openings",
             "retries", "ups", "downs", "cache_hits", "unknown_cost_calls"}


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)


def _ratio(num: pd.Series | float, den: pd.Series | float):
    if isinstance(den, pd.Series):
        return (num / den.where(den != 0)).astype("float64")
    return float(num) / den if den else None


# -- latency ----------------------------------------------------------------


def latency_summary(engine: Bind, f: Filters) -> pd.DataFrame:
    """One row: calls, p50/p95/p99 latency and TTFT, mean tokens/s."""
    d = engine.dialect.name
    ok = _ok(f)
    lat = case((ok, C.c.latency_ms))
    stmt = select(
        func.count(),
        func.count(lat),
        sqlfuncs.percentiles(d, lat),
        sqlfuncs.percentiles(d, case((ok, C.c.ttft_ms))),
        func.avg(case((ok, C.c.tokens_per_s))),
    ).where(*conditions(f))
    calls, ok_calls, lat_p, ttft_p, tps = _rows(engine, stmt)[0]
    return pd.DataFrame(
        [[calls, ok_calls, *sqlfuncs.unpack(lat_p), *sqlfuncs.unpack(ttft_p), tps]],
        columns=["calls", "ok_calls", "p50_ms", "p95_ms", "p99_ms",
                 "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tokens_per_s"],
    ).astype({"tokens_per_s": "float64"})


def latency_over_time(engine: Bind, f: Filters, unit: str | None = None) -> pd.DataFrame:
    """Per bucket: traffic, latency and TTFT percentiles, mean tokens/s."""
    d = engine.dialect.name
    unit = _bucket_unit(f, unit)
    ok = _ok(f)
    b = sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket")
    stmt = (
        select(
            b,
            func.count(),
            func.count(case((ok, C.c.latency_ms))),
            sqlfuncs.percentiles(d, case((ok, C.c.latency_ms))),
            sqlfuncs.percentiles(d, case((ok, C.c.ttft_ms))),
            func.avg(case((ok, C.c.tokens_per_s))),
        )
        .where(*conditions(f))
        .group_by(b)
        .order_by(b)
    )
    records = [
        (sqlfuncs.bucket_value(r[0], unit), r[1], r[2], *sqlfuncs.unpack(r[3]),
         *sqlfuncs.unpack(r[4]), r[5])
        for r in _rows(engine, stmt)
    ]
    df = pd.DataFrame(
        records,
        columns=["bucket", "calls", "ok_calls", "p50_ms", "p95_ms", "p99_ms",
                 "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tokens_per_s"],
    )
    return _fill_buckets(df, f, unit, zero=("calls", "ok_calls"))


def latency_by_model(engine: Bind, f: Filters) -> pd.DataFrame:
    """Per provider and model: calls, latency and TTFT percentiles, mean tokens/s."""
    d = engine.dialect.name
    ok = _ok(f)
    stmt = (
        select(
            C.c.provider,
            C.c.model,
            func.count(),
            sqlfuncs.percentiles(d, case((ok, C.c.latency_ms))),
            sqlfuncs.percentiles(d, case((ok, C.c.ttft_ms))),
            func.avg(case((ok, C.c.tokens_per_s))),
        )
        .where(*conditions(f))
        .group_by(C.c.provider, C.c.model)
    )
    records = [
        (r[0], r[1], r[2], *sqlfuncs.unpack(r[3]), *sqlfuncs.unpack(r[4]), r[5])
        for r in _rows(engine, stmt)
    ]
    df = pd.DataFrame(
        records,
        columns=["provider", "model", "calls", "p50_ms", "p95_ms", "p99_ms",
                 "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tokens_per_s"],
    )
    return df.sort_values("p95_ms", ascending=False, na_position="last").reset_index(drop=True)


def latency_histogram(engine: Bind, f: Filters) -> pd.DataFrame:
    """Latency distribution in logarithmic bins (ten per decade): lo_ms, hi_ms, calls."""
    b = sqlfuncs.log_bin(C.c.latency_ms).label("bin")
    stmt = select(b, func.count()).where(*conditions(f), _ok(f)).group_by(b).order_by(b)
    rows = _rows(engine, stmt)
    return pd.DataFrame(
        [(0.0 if k == 0 else 10 ** (k / 10), 10 ** ((k + 1) / 10), n) for k, n in rows],
        columns=["lo_ms", "hi_ms", "calls"],
    )


CALL_COLUMNS = ["id", "created_at", "source", "user_id", "provider", "model", "prompt_name",
                "prompt_version", "status", "error_class", "latency_ms", "ttft_ms",
                "input_tokens", "output_tokens", "cost_usd", "retries", "fallback_from"]


def slowest_calls(engine: Bind, f: Filters, limit: int = 20) -> pd.DataFrame:
    """The slowest calls in the filter, slowest first."""
    cols = [C.c[name] for name in CALL_COLUMNS]
    stmt = select(*cols).where(*conditions(f), _ok(f)).order_by(C.c.latency_ms.desc()).limit(limit)
    return _frame(_rows(engine, stmt), CALL_COLUMNS)


def latency_view(engine: Bind, f: Filters) -> dict[str, pd.DataFrame]:
    """Everything the Latency page shows."""
    with _connect(engine) as conn:
        return {
            "summary": latency_summary(conn, f),
            "over_time": latency_over_time(conn, f),
            "by_model": latency_by_model(conn, f),
            "distribution": latency_histogram(conn, f),
            "slowest": slowest_calls(conn, f),
        }


# -- cost -------------------------------------------------------------------

_PRICED = C.c.cost_usd.isnot(None)


def _spend_columns() -> list[ColumnElement]:
    tokens = C.c.input_tokens + C.c.output_tokens
    return [
        func.count(),
        func.count(C.c.cost_usd),
        func.coalesce(func.sum(C.c.cost_usd), 0.0),
        func.coalesce(func.sum(C.c.cost_saved_usd), 0.0),
        func.coalesce(func.sum(C.c.input_tokens), 0),
        func.coalesce(func.sum(C.c.output_tokens), 0),
        func.coalesce(func.sum(case((_PRICED, tokens))), 0),
        func.count(C.c.cache_hit),
    ]


_SPEND_NAMES = ["calls", "priced_calls", "spend_usd", "saved_usd", "input_tokens",
                "output_tokens", "priced_tokens", "cache_hits"]


def _with_unit_costs(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["unknown_cost_calls"] = df["calls"] - df["priced_calls"]
    df["cost_per_call_usd"] = _ratio(df["spend_usd"], df["priced_calls"])
    df["cost_per_1k_tokens_usd"] = _ratio(df["spend_usd"] * 1000.0, df["priced_tokens"])
    return df


def rollup(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Re-group a spend breakdown by fewer keys (sums are additive), biggest spend first."""
    if df.empty:
        return _with_unit_costs(pd.DataFrame(columns=[*keys, *_SPEND_NAMES]).astype(
            {n: "float64" for n in _SPEND_NAMES}))
    grouped = df.groupby(keys, dropna=False, as_index=False)[_SPEND_NAMES].sum()
    out = _with_unit_costs(grouped).sort_values("spend_usd", ascending=False)
    return out.reset_index(drop=True)


def cost_breakdown(engine: Bind, f: Filters) -> pd.DataFrame:
    """Spend per provider, model and prompt version (the finest grain the page rolls up)."""
    keys = [C.c.provider, C.c.model, C.c.prompt_name, C.c.prompt_version]
    stmt = select(*keys, *_spend_columns()).where(*conditions(f)).group_by(*keys)
    df = _frame(_rows(engine, stmt), ["provider", "model", "prompt_name", "prompt_version",
                                      *_SPEND_NAMES])
    return _with_unit_costs(df)


def spend_over_time(engine: Bind, f: Filters, unit: str | None = None) -> pd.DataFrame:
    """Per bucket: calls, known spend, cache savings."""
    d = engine.dialect.name
    unit = _bucket_unit(f, unit)
    b = sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket")
    stmt = (
        select(
            b,
            func.count(),
            func.coalesce(func.sum(C.c.cost_usd), 0.0),
            func.coalesce(func.sum(C.c.cost_saved_usd), 0.0),
            func.count(C.c.cache_hit),
        )
        .where(*conditions(f))
        .group_by(b)
        .order_by(b)
    )
    records = [(sqlfuncs.bucket_value(r[0], unit), *r[1:]) for r in _rows(engine, stmt)]
    df = pd.DataFrame(records, columns=["bucket", "calls", "spend_usd", "saved_usd", "cache_hits"])
    return _fill_buckets(df, f, unit, zero=("calls", "spend_usd", "saved_usd", "cache_hits"))


def spend_by_user(engine: Bind, f: Filters) -> pd.DataFrame:
    """Spend per user id (None = anonymous), biggest first."""
    stmt = select(C.c.user_id, *_spend_columns()).where(*conditions(f)).group_by(C.c.user_id)
    df = _frame(_rows(engine, stmt), ["user_id", *_SPEND_NAMES])
    return rollup(df, ["user_id"])


def spend_by_tag(engine: Bind, f: Filters) -> pd.DataFrame:
    """Spend per tag. SQL groups by the stored tag list (few distinct lists);
    the lists are then split, so a call with tags a,b counts towards a and b."""
    stmt = (
        select(C.c.tags, *_spend_columns())
        .where(*conditions(f), C.c.tags.isnot(None), C.c.tags != "")
        .group_by(C.c.tags)
    )
    df = _frame(_rows(engine, stmt), ["tags", *_SPEND_NAMES])
    df["tag"] = df["tags"].str.split(",")
    df = df.explode("tag")
    df["tag"] = df["tag"].str.strip()
    if f.tag:
        df = df[df["tag"].isin(f.tag)]
    return rollup(df[df["tag"] != ""].drop(columns="tags"), ["tag"])


def month_forecast(engine: Bind, f: Filters, now: datetime | None = None) -> pd.DataFrame:
    """Month-to-date spend (UTC month, same value filters, any time range) and a
    month-end forecast: month to date plus the last 7 days' daily rate for the
    days left."""
    now = now or utcnow()
    month_start = datetime(now.year, now.month, 1)
    next_month = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1)
    week_ago = now - timedelta(days=7)
    g = f.without_time(min(month_start, week_ago), now + timedelta(microseconds=1))
    stmt = select(
        func.coalesce(func.sum(case((C.c.created_at >= month_start, C.c.cost_usd))), 0.0),
        func.coalesce(func.sum(case((C.c.created_at >= week_ago, C.c.cost_usd))), 0.0),
    ).where(*conditions(g))
    mtd, week = _rows(engine, stmt)[0]
    daily = float(week) / 7.0
    days_left = (next_month - now).total_seconds() / 86400.0
    return pd.DataFrame(
        [[float(mtd), daily, days_left, float(mtd) + daily * days_left]],
        columns=["month_to_date_usd", "daily_rate_usd", "days_left", "forecast_usd"],
    )


def cost_view(engine: Bind, f: Filters, now: datetime | None = None) -> dict[str, pd.DataFrame]:
    """Everything the Cost page shows."""
    with _connect(engine) as conn:
        breakdown = cost_breakdown(conn, f)
        over_time = spend_over_time(conn, f)
        by_user = spend_by_user(conn, f)
        by_tag = spend_by_tag(conn, f)
        forecast = month_forecast(conn, f, now)
    total = rollup(breakdown.assign(all="all"), ["all"]).drop(columns="all")
    return {
        "summary": total,
        "over_time": over_time,
        "by_provider": rollup(breakdown, ["provider"]),
        "by_model": rollup(breakdown, ["provider", "model"]),
        "by_prompt": rollup(breakdown, ["prompt_name", "prompt_version"]),
        "by_user": by_user,
        "by_tag": by_tag,
        "forecast": forecast,
    }


# -- errors -----------------------------------------------------------------


def errors_over_time(engine: Bind, f: Filters, unit: str | None = None) -> pd.DataFrame:
    """Per bucket: calls, errors, guard blocks, their rates, retries, fallbacks
    and breaker openings (calls refused with error class `circuit_open`)."""
    d = engine.dialect.name
    unit = _bucket_unit(f, unit)
    b = sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket")
    one = literal(1)
    stmt = (
        select(
            b,
            func.count(),
            func.count(case((C.c.status == "error", one))),
            func.count(case((C.c.status == "blocked", one))),
            func.coalesce(func.sum(C.c.retries), 0),
            func.count(C.c.fallback_from),
            func.count(case((C.c.error_class == BREAKER_OPEN, one))),
        )
        .where(*conditions(f))
        .group_by(b)
        .order_by(b)
    )
    records = [(sqlfuncs.bucket_value(r[0], unit), *r[1:]) for r in _rows(engine, stmt)]
    cols = ["bucket", "calls", "errors", "blocked", "retries", "fallbacks", "breaker_openings"]
    df = _fill_buckets(pd.DataFrame(records, columns=cols), f, unit, zero=tuple(cols[1:]))
    df["error_rate"] = _ratio(df["errors"], df["calls"])
    df["blocked_rate"] = _ratio(df["blocked"], df["calls"])
    return df


def errors_by_class(engine: Bind, f: Filters) -> pd.DataFrame:
    """Failed and blocked calls per error class, most frequent first."""
    stmt = (
        select(C.c.error_class, C.c.status, func.count().label("n"))
        .where(*conditions(f), C.c.status.in_(FAILED_STATUSES))
        .group_by(C.c.error_class, C.c.status)
        .order_by(func.count().desc())
    )
    df = _frame(_rows(engine, stmt), ["error_class", "status", "calls"])
    df["error_class"] = df["error_class"].fillna("unknown")
    return df


def errors_by_model(engine: Bind, f: Filters) -> pd.DataFrame:
    """Per provider and model: calls, errors, blocks and error rate."""
    one = literal(1)
    stmt = (
        select(
            C.c.provider,
            C.c.model,
            func.count(),
            func.count(case((C.c.status == "error", one))),
            func.count(case((C.c.status == "blocked", one))),
        )
        .where(*conditions(f))
        .group_by(C.c.provider, C.c.model)
    )
    df = _frame(_rows(engine, stmt), ["provider", "model", "calls", "errors", "blocked"])
    df["error_rate"] = _ratio(df["errors"], df["calls"])
    return df.sort_values("errors", ascending=False).reset_index(drop=True)


ERROR_COLUMNS = ["id", "created_at", "provider", "model", "user_id", "status", "error_class",
                 "error_message", "retries", "fallback_from", "latency_ms"]


def recent_errors(engine: Bind, f: Filters, limit: int = 50) -> pd.DataFrame:
    """The latest failed or blocked calls, newest first, with their plain messages."""
    stmt = (
        select(*[C.c[n] for n in ERROR_COLUMNS])
        .where(*conditions(f), C.c.status.in_(FAILED_STATUSES))
        .order_by(C.c.created_at.desc())
        .limit(limit)
    )
    return _frame(_rows(engine, stmt), ERROR_COLUMNS)


def errors_view(engine: Bind, f: Filters) -> dict[str, pd.DataFrame]:
    """Everything the Errors page shows."""
    with _connect(engine) as conn:
        over_time = errors_over_time(conn, f)
        by_class = errors_by_class(conn, f)
        by_model = errors_by_model(conn, f)
        recent = recent_errors(conn, f)
    sums = over_time[["calls", "errors", "blocked", "retries", "fallbacks",
                      "breaker_openings"]].sum()
    summary = pd.DataFrame([sums.to_dict()])
    summary["error_rate"] = _ratio(summary["errors"], summary["calls"])
    summary["blocked_rate"] = _ratio(summary["blocked"], summary["calls"])
    return {
        "summary": summary,
        "over_time": over_time,
        "by_class": by_class,
        "by_model": by_model,
        "recent": recent,
    }


# -- quality (feedback) -----------------------------------------------------


def _feedback_counts() -> list[ColumnElement]:
    one = literal(1)
    return [func.count(case((FB.c.score > 0, one))), func.count(case((FB.c.score < 0, one)))]


def _with_up_rate(df: pd.DataFrame) -> pd.DataFrame:
    df["up_rate"] = _ratio(df["ups"], df["ups"] + df["downs"])
    return df


def feedback_over_time(engine: Bind, f: Filters, unit: str | None = None) -> pd.DataFrame:
    """Thumbs up and down per bucket of the rated call's time, and the up rate."""
    d = engine.dialect.name
    unit = _bucket_unit(f, unit)
    b = sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket")
    stmt = (
        select(b, *_feedback_counts())
        .select_from(FB.join(C, FB.c.call_id == C.c.id))
        .where(*conditions(f))
        .group_by(b)
        .order_by(b)
    )
    records = [(sqlfuncs.bucket_value(r[0], unit), r[1], r[2]) for r in _rows(engine, stmt)]
    df = pd.DataFrame(records, columns=["bucket", "ups", "downs"])
    return _with_up_rate(_fill_buckets(df, f, unit, zero=("ups", "downs")))


def feedback_by_version(engine: Bind, f: Filters) -> pd.DataFrame:
    """Thumbs up rate per provider, model and prompt version."""
    keys = [C.c.provider, C.c.model, C.c.prompt_name, C.c.prompt_version]
    stmt = (
        select(*keys, *_feedback_counts())
        .select_from(FB.join(C, FB.c.call_id == C.c.id))
        .where(*conditions(f))
        .group_by(*keys)
    )
    df = _frame(_rows(engine, stmt),
                ["provider", "model", "prompt_name", "prompt_version", "ups", "downs"])
    return _with_up_rate(df).sort_values(["ups", "downs"], ascending=False).reset_index(drop=True)


def quality_view(engine: Bind, f: Filters) -> dict[str, pd.DataFrame]:
    """The quality strip: thumbs-up rate over time and by model/prompt version."""
    with _connect(engine) as conn:
        return {
            "feedback_over_time": feedback_over_time(conn, f),
            "feedback_by_version": feedback_by_version(conn, f),
        }


# -- one call, and the filter choices ---------------------------------------


def call_detail(engine: Engine, call_id: int) -> dict[str, Any] | None:
    """One call's row, its spans and its feedback; None when there is no such call."""
    with engine.connect() as conn:
        row = conn.execute(select(C).where(C.c.id == call_id)).mappings().first()
        if row is None:
            return None
        spans = conn.execute(
            select(SP.c.seq, SP.c.name, SP.c.start_ms, SP.c.duration_ms, SP.c.status, SP.c.detail)
            .where(SP.c.call_id == call_id)
            .order_by(SP.c.seq)
        ).all()
        feedback = conn.execute(
            select(FB.c.created_at, FB.c.score, FB.c.comment, FB.c.user_id)
            .where(FB.c.call_id == call_id)
            .order_by(FB.c.id)
        ).all()
    return {
        "call": dict(row),
        "spans": _frame(spans, ["seq", "name", "start_ms", "duration_ms", "status", "detail"]),
        "feedback": _frame(feedback, ["created_at", "score", "comment", "user_id"]),
    }


def filter_options(engine: Engine, since: datetime | None = None) -> dict[str, list[str]]:
    """Distinct values each filter can take (over calls since `since`, default 90 days)."""
    since = since or utcnow() - timedelta(days=90)
    out: dict[str, list[str]] = {}
    columns = {"provider": C.c.provider, "model": C.c.model, "user": C.c.user_id,
               "prompt": C.c.prompt_name, "source": C.c.source, "status": C.c.status}
    with engine.connect() as conn:
        for name, col in columns.items():
            stmt = select(col).where(col.isnot(None), C.c.created_at >= since).distinct()
            out[name] = sorted(str(v) for (v,) in conn.execute(stmt))
        tag_lists = conn.execute(
            select(C.c.tags).where(C.c.tags.isnot(None), C.c.created_at >= since).distinct()
        )
        out["tag"] = sorted({t.strip() for (tags,) in tag_lists for t in tags.split(",")} - {""})
    return out


def has_traffic(engine: Engine) -> bool:
    """Whether the call log holds any row at all."""
    with engine.connect() as conn:
        return conn.execute(select(C.c.id).limit(1)).first() is not None

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

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, case, func, literal, or_, select, true
from sqlalchemy.sql import ColumnElement, Select, operators
from sqlalchemy.sql.expression import UnaryExpression

from core.telemetry import sqlfuncs
from core.telemetry.filters import BUCKET_STEP, Filters, choose_bucket
from core.telemetry.models import REFUSED, CallLog, Feedback, Span, utcnow

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


def conditions(f: Filters, table=C, *, time_index: bool = True) -> list[ColumnElement]:
    """The WHERE terms for `f` on the call_log table. With `time_index` False
    the time range is written so that no index can serve it (SQLite's unary
    +), which leaves the planner an index that reads rows in group order; see
    `_spend_by_user_tags`."""
    c = table.c
    at = c.created_at if time_index else UnaryExpression(
        c.created_at, operator=operators.custom_op("+"), type_=c.created_at.type)
    terms: list[ColumnElement] = [at >= f.start, at < f.end]
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
    if not f.status:
        # Requests the gateway refused before the engine called no model: they are not
        # calls (traffic, error rates, latency); the Errors page lists them apart.
        terms.append(c.status != REFUSED)
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


def _in_day_order(d: str, unit: str, f: Filters) -> list[ColumnElement]:
    """SQLite, day buckets: the time range again, on the day bucket expression.
    Redundant (a time in the range has its day in the range of days), but it
    lets SQLite read the day index of migration 0008, which yields rows in
    (day, provider, model, prompt version) order, and group them without
    sorting a month of rows."""
    if d != "sqlite" or unit != "day":
        return []
    day = sqlfuncs.bucket(d, C.c.created_at, unit)
    return [day >= f.start.strftime("%Y-%m-%d"), day <= f.end.strftime("%Y-%m-%d")]


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


class _LatencyGroups:
    """One scan's worth of latency data: per (bucket, provider, model) group,
    its call count, the successful calls' latency and TTFT values, and their
    tokens/s sum and count. Every latency figure is a union of groups: exact
    percentiles come from NumPy over the union's values."""

    def __init__(self) -> None:
        self.keys: list[tuple[datetime | None, str | None, str | None]] = []
        self.calls: list[int] = []
        self.tps_sum: list[float] = []
        self.tps_n: list[int] = []
        self.lat: list[np.ndarray] = []
        self.ttft: list[np.ndarray] = []

    def figures(self, rows: list[int]) -> list[Any]:
        """calls, ok_calls, p50/p95/p99 latency and TTFT, mean tokens/s of `rows`."""
        lat = _concat([self.lat[i] for i in rows])
        ttft = _concat([self.ttft[i] for i in rows])
        tps_n = sum(self.tps_n[i] for i in rows)
        tps = sum(self.tps_sum[i] for i in rows) / tps_n if tps_n else None
        return [sum(self.calls[i] for i in rows), len(lat), *sqlfuncs.exact_percentiles(lat),
                *sqlfuncs.exact_percentiles(ttft), tps]

    def everything(self) -> list[int]:
        return list(range(len(self.keys)))

    def by(self, positions: tuple[int, ...]) -> list[tuple[tuple, list[int]]]:
        """(key, group rows) per distinct value of the key parts at `positions`,
        in key order (NULL first)."""
        groups: dict[tuple, list[int]] = {}
        for i, key in enumerate(self.keys):
            groups.setdefault(tuple(key[p] for p in positions), []).append(i)
        return sorted(groups.items(), key=lambda kv: [(v is not None, v) for v in kv[0]])


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=np.float64)


def _latency_groups(bind: Bind, f: Filters, unit: str) -> _LatencyGroups:
    """The one scan behind every latency figure: grouped by `unit` bucket,
    provider and model."""
    d = bind.dialect.name
    ok = _ok(f)
    keys: list[ColumnElement] = [
        sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket"), C.c.provider, C.c.model]
    stmt = (
        select(
            *keys,
            func.count(),
            func.sum(C.c.tokens_per_s).filter(ok),
            func.count(C.c.tokens_per_s).filter(ok),
            *sqlfuncs.value_lists(d, C.c.latency_ms, C.c.ttft_ms, ok),
        )
        .where(*conditions(f), *_in_day_order(d, unit, f))
        .group_by(*keys)
    )
    with _connect(bind) as conn, sqlfuncs.roomy_work_mem(conn):
        rows = _rows(conn, stmt)
    g = _LatencyGroups()
    for bucket, provider, model, calls, tps_sum, tps_n, *lists in rows:
        lat, ttft = sqlfuncs.unpack_lists(d, *lists)
        g.keys.append((sqlfuncs.bucket_value(bucket, unit), provider, model))
        g.calls.append(int(calls))
        g.tps_sum.append(float(tps_sum or 0.0))
        g.tps_n.append(int(tps_n))
        g.lat.append(lat)
        g.ttft.append(ttft)
    return g


_LATENCY_FIGURES = ["calls", "ok_calls", "p50_ms", "p95_ms", "p99_ms",
                    "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tokens_per_s"]


def _summary(g: _LatencyGroups) -> pd.DataFrame:
    return pd.DataFrame([g.figures(g.everything())],
                        columns=_LATENCY_FIGURES).astype({"tokens_per_s": "float64"})


def _over_time(g: _LatencyGroups, f: Filters, unit: str) -> pd.DataFrame:
    records = [(key[0], *g.figures(rows)) for key, rows in g.by((0,))]
    df = pd.DataFrame(records, columns=["bucket", *_LATENCY_FIGURES])
    return _fill_buckets(df, f, unit, zero=("calls", "ok_calls"))


def _by_model(g: _LatencyGroups) -> pd.DataFrame:
    records = []
    for (provider, model), rows in g.by((1, 2)):
        calls, _ok_calls, *rest = g.figures(rows)
        records.append((provider, model, calls, *rest))
    df = pd.DataFrame(records, columns=["provider", "model", "calls", *_LATENCY_FIGURES[2:]])
    return df.sort_values("p95_ms", ascending=False, na_position="last").reset_index(drop=True)


def _histogram(g: _LatencyGroups) -> pd.DataFrame:
    values = _concat(g.lat)
    bins, counts = np.unique(sqlfuncs.log_bins(values), return_counts=True)
    return pd.DataFrame(
        [(0.0 if k == 0 else 10 ** (k / 10), 10 ** ((k + 1) / 10), int(n))
         for k, n in zip(bins.tolist(), counts.tolist(), strict=True)],
        columns=["lo_ms", "hi_ms", "calls"],
    )


# The single-figure functions run the view's scan (grouped by the range's
# own bucket, which SQLite reads in order for day buckets) and keep one part.


def latency_summary(engine: Bind, f: Filters) -> pd.DataFrame:
    """One row: calls, p50/p95/p99 latency and TTFT, mean tokens/s."""
    return _summary(_latency_groups(engine, f, _bucket_unit(f, None)))


def latency_over_time(engine: Bind, f: Filters, unit: str | None = None) -> pd.DataFrame:
    """Per bucket: traffic, latency and TTFT percentiles, mean tokens/s."""
    unit = _bucket_unit(f, unit)
    return _over_time(_latency_groups(engine, f, unit), f, unit)


def latency_by_model(engine: Bind, f: Filters) -> pd.DataFrame:
    """Per provider and model: calls, latency and TTFT percentiles, mean tokens/s."""
    return _by_model(_latency_groups(engine, f, _bucket_unit(f, None)))


def latency_histogram(engine: Bind, f: Filters) -> pd.DataFrame:
    """Latency distribution in logarithmic bins (ten per decade): lo_ms, hi_ms, calls."""
    return _histogram(_latency_groups(engine, f, _bucket_unit(f, None)))


CALL_COLUMNS = ["id", "created_at", "source", "user_id", "provider", "model", "prompt_name",
                "prompt_version", "status", "error_class", "latency_ms", "ttft_ms",
                "input_tokens", "output_tokens", "cost_usd", "retries", "fallback_from"]


def slowest_calls(engine: Bind, f: Filters, limit: int = 20,
                  at_least: float | None = None) -> pd.DataFrame:
    """The slowest calls in the filter, slowest first. `at_least`, when the
    caller knows the limit-th largest latency, lets the scan skip every faster
    row instead of ranking them all."""
    cols = [C.c[name] for name in CALL_COLUMNS]
    terms = [*conditions(f), _ok(f)]
    if at_least is not None:
        terms.append(C.c.latency_ms >= at_least)
    stmt = select(*cols).where(*terms).order_by(C.c.latency_ms.desc()).limit(limit)
    return _frame(_rows(engine, stmt), CALL_COLUMNS)


def _nth_largest(values: np.ndarray, n: int) -> float | None:
    if len(values) < n:
        return None
    return float(np.partition(values, len(values) - n)[len(values) - n])


def latency_view(engine: Bind, f: Filters) -> dict[str, pd.DataFrame]:
    """Everything the Latency page shows: one grouped scan for the figures,
    one indexed query for the slowest calls."""
    unit = _bucket_unit(f, None)
    with _connect(engine) as conn:
        groups = _latency_groups(conn, f, unit)
        slowest = slowest_calls(conn, f, at_least=_nth_largest(_concat(groups.lat), 20))
    return {
        "summary": _summary(groups),
        "over_time": _over_time(groups, f, unit),
        "by_model": _by_model(groups),
        "distribution": _histogram(groups),
        "slowest": slowest,
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
    return _split_tags(_frame(_rows(engine, stmt), ["tags", *_SPEND_NAMES]), f)


def _split_tags(df: pd.DataFrame, f: Filters) -> pd.DataFrame:
    """Spend per tag from spend per stored tag list (untagged rows dropped)."""
    df = df[df["tags"].notna() & (df["tags"] != "")].copy()
    df["tag"] = df["tags"].str.split(",")
    df = df.explode("tag")
    df["tag"] = df["tag"].str.strip()
    if f.tag:
        df = df[df["tag"].isin(f.tag)]
    return rollup(df[df["tag"] != ""].drop(columns="tags"), ["tag"])


def _forecast_window(now: datetime | None) -> tuple[datetime, datetime, datetime, datetime]:
    """now, month start, a week ago, and the end of what the forecast reads."""
    now = now or utcnow()
    month_start = datetime(now.year, now.month, 1)
    week_ago = now - timedelta(days=7)
    return now, month_start, week_ago, now + timedelta(microseconds=1)


def _forecast_frame(now: datetime, mtd: float, week: float) -> pd.DataFrame:
    next_month = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1)
    daily = float(week) / 7.0
    days_left = (next_month - now).total_seconds() / 86400.0
    return pd.DataFrame(
        [[float(mtd), daily, days_left, float(mtd) + daily * days_left]],
        columns=["month_to_date_usd", "daily_rate_usd", "days_left", "forecast_usd"],
    )


def _forecast_values(month_start: datetime, week_ago: datetime, end: datetime
                     ) -> list[ColumnElement]:
    """Per row: its known cost if it falls in the month to date, and if it
    falls in the last week (else 0); summed, the forecast's two inputs."""
    before_end = C.c.created_at < end
    cost = func.coalesce(C.c.cost_usd, 0.0)
    return [case(((C.c.created_at >= since) & before_end, cost), else_=0.0)
            for since in (month_start, week_ago)]


def _sums(values: list[ColumnElement]) -> list[ColumnElement]:
    return [func.coalesce(func.sum(v), 0.0) for v in values]


def month_forecast(engine: Bind, f: Filters, now: datetime | None = None) -> pd.DataFrame:
    """Month-to-date spend (UTC month, same value filters, any time range) and a
    month-end forecast: month to date plus the last 7 days' daily rate for the
    days left."""
    now, month_start, week_ago, end = _forecast_window(now)
    g = f.without_time(min(month_start, week_ago), end)
    stmt = select(*_sums(_forecast_values(month_start, week_ago, end))).where(*conditions(g))
    mtd, week = _rows(engine, stmt)[0]
    return _forecast_frame(now, mtd, week)


_SPEND_KEYS = ["bucket", "provider", "model", "prompt_name", "prompt_version"]


def _spend_by_user_tags(bind: Bind, f: Filters, unit: str) -> pd.DataFrame:
    """Spend per (user, stored tag list). On SQLite, for ranges long enough to
    have day buckets, the time range is kept off the indexes so the planner
    reads the (user, tags) index of migration 0008 in group order rather than
    sorting the range's rows; short ranges have few rows to sort."""
    keys = [C.c.user_id, C.c.tags]
    use_time_index = bind.dialect.name != "sqlite" or unit != "day"
    stmt = select(*keys, *_spend_columns()).where(
        *conditions(f, time_index=use_time_index)).group_by(*keys)
    return _frame(_rows(bind, stmt), ["user_id", "tags", *_SPEND_NAMES])


def cost_view(engine: Bind, f: Filters, now: datetime | None = None) -> dict[str, pd.DataFrame]:
    """Everything the Cost page shows, from two grouped scans: one by time
    bucket, model and prompt version, one by user and tag list; the page's
    breakdowns are additive roll-ups of those. The month forecast rides on the
    first scan when the range covers the month and the last week, and is its
    own query otherwise."""
    d = engine.dialect.name
    unit = _bucket_unit(f, None)
    now, month_start, week_ago, end = _forecast_window(now)
    covered = f.start <= min(month_start, week_ago) and f.end >= end
    extra = _forecast_values(month_start, week_ago, end) if covered else []
    b = sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket")
    keys = [b, C.c.provider, C.c.model, C.c.prompt_name, C.c.prompt_version]
    fine_cols = [*_SPEND_KEYS, *_SPEND_NAMES, *["mtd", "week"][: len(extra)]]
    by_version = select(*keys, *_spend_columns(), *_sums(extra)).where(
        *conditions(f), *_in_day_order(d, unit, f)).group_by(*keys)
    with _connect(engine) as conn:
        fine = _frame(_rows(conn, by_version), fine_cols)
        user_tags = _spend_by_user_tags(conn, f, unit)
        forecast = None if covered else month_forecast(conn, f, now)
    if covered:
        forecast = _forecast_frame(now, fine["mtd"].sum() if len(fine) else 0.0,
                                   fine["week"].sum() if len(fine) else 0.0)
    fine["bucket"] = [sqlfuncs.bucket_value(v, unit) for v in fine["bucket"]]
    over = fine.groupby("bucket", as_index=False)[
        ["calls", "spend_usd", "saved_usd", "cache_hits"]].sum()
    breakdown = fine.drop(columns="bucket")
    total = rollup(breakdown.assign(all="all"), ["all"]).drop(columns="all")
    return {
        "summary": total,
        "over_time": _fill_buckets(over, f, unit,
                                   zero=("calls", "spend_usd", "saved_usd", "cache_hits")),
        "by_provider": rollup(breakdown, ["provider"]),
        "by_model": rollup(breakdown, ["provider", "model"]),
        "by_prompt": rollup(breakdown, ["prompt_name", "prompt_version"]),
        "by_user": rollup(user_tags, ["user_id"]),
        "by_tag": _split_tags(user_tags, f),
        "forecast": forecast,
    }


# -- errors -----------------------------------------------------------------


_ERROR_COUNTS = ["calls", "errors", "blocked", "retries", "fallbacks", "breaker_openings"]


def _error_counts() -> list[ColumnElement]:
    one = literal(1)
    return [
        func.count(),
        func.count(case((C.c.status == "error", one))),
        func.count(case((C.c.status == "blocked", one))),
        func.coalesce(func.sum(C.c.retries), 0),
        func.count(C.c.fallback_from),
        func.count(case((C.c.error_class == BREAKER_OPEN, one))),
    ]


def _errors_timeline(df: pd.DataFrame, f: Filters, unit: str) -> pd.DataFrame:
    df = _fill_buckets(df, f, unit, zero=tuple(_ERROR_COUNTS))
    df["error_rate"] = _ratio(df["errors"], df["calls"])
    df["blocked_rate"] = _ratio(df["blocked"], df["calls"])
    return df


def _errors_per_model(df: pd.DataFrame) -> pd.DataFrame:
    df = df[["provider", "model", "calls", "errors", "blocked"]].copy()
    df["error_rate"] = _ratio(df["errors"], df["calls"])
    return df.sort_values("errors", ascending=False, kind="stable").reset_index(drop=True)


def errors_over_time(engine: Bind, f: Filters, unit: str | None = None) -> pd.DataFrame:
    """Per bucket: calls, errors, guard blocks, their rates, retries, fallbacks
    and breaker openings (calls refused with error class `circuit_open`)."""
    d = engine.dialect.name
    unit = _bucket_unit(f, unit)
    b = sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket")
    stmt = select(b, *_error_counts()).where(*conditions(f)).group_by(b).order_by(b)
    records = [(sqlfuncs.bucket_value(r[0], unit), *r[1:]) for r in _rows(engine, stmt)]
    return _errors_timeline(pd.DataFrame(records, columns=["bucket", *_ERROR_COUNTS]), f, unit)


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
    keys = [C.c.provider, C.c.model]
    stmt = select(*keys, *_error_counts()).where(*conditions(f)).group_by(*keys)
    return _errors_per_model(_frame(_rows(engine, stmt), ["provider", "model", *_ERROR_COUNTS]))


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


REFUSED_COLUMNS = ["id", "created_at", "error_class", "error_message", "http_status",
                   "api_key", "model", "tags"]


def refused_requests(engine: Bind, f: Filters, limit: int = 50
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Requests the gateway refused before the engine (bad or revoked key, scope, size,
    malformed body, a key's rate limit): counts per reason, and the latest ones."""
    rf = f.with_(status=(REFUSED,))
    by_reason = _frame(_rows(engine, (
        select(C.c.error_class, func.count().label("n"))
        .where(*conditions(rf)).group_by(C.c.error_class).order_by(func.count().desc())
    )), ["error_class", "requests"])
    rows = _rows(engine, (
        select(C.c.id, C.c.created_at, C.c.error_class, C.c.error_message, C.c.params,
               C.c.model, C.c.tags)
        .where(*conditions(rf)).order_by(C.c.created_at.desc(), C.c.id.desc()).limit(limit)
    ))
    recent = pd.DataFrame(
        [(r[0], r[1], r[2], r[3], (r[4] or {}).get("http_status"), (r[4] or {}).get("api_key"),
          r[5], r[6]) for r in rows],
        columns=REFUSED_COLUMNS,
    )
    return by_reason, recent


def errors_view(engine: Bind, f: Filters) -> dict[str, pd.DataFrame]:
    """Everything the Errors page shows. The timeline and the per-model table
    come from one scan grouped by bucket and model, rolled up here."""
    d = engine.dialect.name
    unit = _bucket_unit(f, None)
    b = sqlfuncs.bucket(d, C.c.created_at, unit).label("bucket")
    keys = [b, C.c.provider, C.c.model]
    stmt = select(*keys, *_error_counts()).where(
        *conditions(f), *_in_day_order(d, unit, f)).group_by(*keys)
    with _connect(engine) as conn:
        fine = _frame(_rows(conn, stmt), ["bucket", "provider", "model", *_ERROR_COUNTS])
        by_class = errors_by_class(conn, f)
        recent = recent_errors(conn, f)
        refused_by_reason, refused = refused_requests(conn, f)
    fine["bucket"] = [sqlfuncs.bucket_value(v, unit) for v in fine["bucket"]]
    over_time = _errors_timeline(
        fine.groupby("bucket", as_index=False)[_ERROR_COUNTS].sum(), f, unit)
    per_model = fine.groupby(["provider", "model"], dropna=False, as_index=False)[
        _ERROR_COUNTS].sum()
    by_model = _errors_per_model(per_model)
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
        "refused_by_reason": refused_by_reason,
        "refused": refused,
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

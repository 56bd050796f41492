"""Monitoring queries on known data, on SQLite and on a real PostgreSQL server:
counts, sums, percentiles against NumPy, bucketing, filters, time zones."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect

from core.db import current_revision, downgrade, head_revisions, migrate
from core.telemetry import queries as q
from core.telemetry.demo import DEMO_SOURCE, demo_count, generate_demo, remove_demo
from core.telemetry.filters import Filters, choose_bucket, to_local
from core.telemetry.store import CallRecord, SpanRecord, TelemetryStore

NOW = datetime(2025, 3, 10, 12, 0, 0)
MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku"), ("local", "gemma")]
TAGS = ["checkout,mobile", "support", None, "check_out%"]


def _rows() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(300):
        provider, model = MODELS[i % 3]
        status, error_class = "ok", None
        if i % 10 == 0:
            status, error_class = "error", ("circuit_open" if i % 30 == 0 else "rate_limit")
        elif i % 25 == 0:
            status, error_class = "blocked", "guard_block"
        elif i % 7 == 0:
            status = "cached"
        elif i % 13 == 0:
            status, error_class = "cancelled", "cancelled"  # the reader walked away
        rows.append(dict(
            trace_id=f"t{i:04d}",
            created_at=NOW - timedelta(minutes=9 * i, seconds=7),
            source="eval" if i % 5 == 0 else "playground",
            user_id=f"u{i % 4}" if i % 4 else None,
            tags=TAGS[i % 4],
            provider=provider,
            model=model,
            prompt_name="support" if i % 2 else None,
            prompt_version=(i % 3) + 1 if i % 2 else None,
            input_tokens=100 + i,
            output_tokens=50 + (i % 17),
            cost_usd=None if provider == "local" else round(0.001 * (i % 13 + 1), 6),
            cost_saved_usd=0.002 if status == "cached" else None,
            cache_hit="exact" if status == "cached" else None,
            latency_ms=float(rng.lognormal(6.5, 0.7)),
            ttft_ms=float(rng.uniform(50, 400)) if i % 2 else None,
            tokens_per_s=float(rng.uniform(20, 80)) if status == "ok" else None,
            status=status,
            error_class=error_class,
            error_message="Rate limited." if error_class == "rate_limit" else None,
            retries=2 if status == "error" else 0,
            fallback_from="openai/gpt-4o" if i % 11 == 0 and status == "ok" else None,
        ))
    return rows


@pytest.fixture
def known(db):
    rows = _rows()
    store = TelemetryStore(db)
    ids = [store.record(CallRecord(**r)) for r in rows]
    for k, call_id in enumerate(ids[:40]):
        if rows[k]["status"] in ("ok", "cached"):
            store.add_feedback(call_id, 1 if k % 3 else -1)
    df = pd.DataFrame(rows)
    df["id"] = ids
    return db, df


def _all(**kw) -> Filters:
    return Filters(start=NOW - timedelta(days=3), end=NOW + timedelta(minutes=1), **kw)


def _np_pct(values) -> list[float]:
    return np.percentile(np.asarray(values, dtype=float), [50, 95, 99]).tolist()


#: SQLAlchemy cannot reflect SQLite's expression index (migration 0008) and says so.
EXPRESSION_INDEX_WARNING = (
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning")


@pytest.mark.filterwarnings(EXPRESSION_INDEX_WARNING)
def test_migrations_create_the_alert_tables_and_indexes(db):
    assert current_revision(db) == head_revisions()  # migrated to the newest revision
    insp = inspect(db)
    assert {"alert_rule", "alert_event"} <= set(insp.get_table_names())
    names = {ix["name"] for ix in insp.get_indexes("call_log")}
    assert {"ix_call_log_dashboard", "ix_call_log_provider_created",
            "ix_call_log_source_created"} <= names
    with db.connect() as conn:
        if db.dialect.name == "sqlite":
            # 0008: the indexes SQLite groups the dashboards through without sorting.
            assert "ix_call_log_user_tags" in names
            day = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_call_log_day_groups'").scalar()
            assert "substr(created_at, 1, 10)" in day
        else:
            # 0007: the planner statistics for the day-bucketed GROUP BYs.
            stats = {n for (n,) in conn.exec_driver_sql("SELECT stxname FROM pg_statistic_ext")}
            assert {"st_call_log_day_model", "st_call_log_day_version"} <= stats
            assert "ix_call_log_user_tags" not in names


def test_the_dashboard_migrations_downgrade_cleanly(db):
    downgrade(db, "0006_budget_reservations")
    with db.connect() as conn:
        if db.dialect.name == "sqlite":
            assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name IN "
                                        "('ix_call_log_day_groups', 'ix_call_log_user_tags')"
                                        ).scalar() == 0
        else:
            assert conn.exec_driver_sql(
                "SELECT count(*) FROM pg_statistic_ext WHERE stxname IN "
                "('st_call_log_day_model', 'st_call_log_day_version')").scalar() == 0
    migrate(db)
    assert current_revision(db) == head_revisions()


def test_latency_percentiles_match_numpy(known):
    db, df = known
    ok = df[df.status.isin(["ok", "cached"])]
    s = q.latency_summary(db, _all()).iloc[0]
    assert s["calls"] == len(df)
    assert s["ok_calls"] == len(ok)
    assert [s["p50_ms"], s["p95_ms"], s["p99_ms"]] == pytest.approx(_np_pct(ok.latency_ms))
    ttft = ok.ttft_ms.dropna()
    assert [s["ttft_p50_ms"], s["ttft_p95_ms"], s["ttft_p99_ms"]] == pytest.approx(_np_pct(ttft))
    assert s["tokens_per_s"] == pytest.approx(ok.tokens_per_s.mean())

    by = q.latency_by_model(db, _all()).set_index("model")
    for model, group in ok.groupby("model"):
        assert by.loc[model, "calls"] == (df.model == model).sum()
        assert [by.loc[model, c] for c in ("p50_ms", "p95_ms", "p99_ms")] == pytest.approx(
            _np_pct(group.latency_ms))


def _np_bins(values) -> dict[int, int]:
    v = np.asarray(values, dtype=float)
    bins = np.where(v >= 1, np.floor(np.log10(np.maximum(v, 1)) * 10), 0).astype(int)
    return {int(k): int(n) for k, n in zip(*np.unique(bins, return_counts=True), strict=True)}


@pytest.mark.parametrize(("span", "unit"), [(timedelta(hours=24), "h"),
                                           (timedelta(days=6, hours=5), "D")])
def test_latency_view_percentiles_per_bucket_model_and_histogram_match_numpy(known, span, unit):
    """The view computes every percentile from one grouped scan's value lists:
    each must equal NumPy over the same rows, on SQLite and PostgreSQL, with
    hour buckets and with day buckets (which SQLite reads through its day index)."""
    db, df = known
    f = Filters(start=NOW - span, end=NOW + timedelta(minutes=1))
    inside = df[(df.created_at >= f.start) & (df.created_at < f.end)]
    ok = inside[inside.status.isin(["ok", "cached"])]
    v = q.latency_view(db, f)

    s = v["summary"].iloc[0]
    assert (s["calls"], s["ok_calls"]) == (len(inside), len(ok))
    assert [s["p50_ms"], s["p95_ms"], s["p99_ms"]] == pytest.approx(_np_pct(ok.latency_ms))
    assert [s["ttft_p50_ms"], s["ttft_p95_ms"], s["ttft_p99_ms"]] == pytest.approx(
        _np_pct(ok.ttft_ms.dropna()))
    assert s["tokens_per_s"] == pytest.approx(ok.tokens_per_s.mean())

    over = v["over_time"].set_index("bucket")
    buckets = inside.assign(bucket=inside.created_at.dt.floor(unit))
    for bucket, group in buckets.groupby("bucket"):
        row = over.loc[bucket]
        good = group[group.status.isin(["ok", "cached"])]
        assert (row["calls"], row["ok_calls"]) == (len(group), len(good))
        if len(good):
            assert [row["p50_ms"], row["p95_ms"], row["p99_ms"]] == pytest.approx(
                _np_pct(good.latency_ms))
        ttft = good.ttft_ms.dropna()
        if len(ttft):
            assert [row["ttft_p50_ms"], row["ttft_p95_ms"], row["ttft_p99_ms"]] == (
                pytest.approx(_np_pct(ttft)))
        else:
            assert pd.isna(row["ttft_p50_ms"])

    by = v["by_model"].set_index("model")
    assert list(v["by_model"].p95_ms) == sorted(v["by_model"].p95_ms, reverse=True)
    for model, group in ok.groupby("model"):
        row = by.loc[model]
        assert row["calls"] == (inside.model == model).sum()
        assert [row["p50_ms"], row["p95_ms"], row["p99_ms"]] == pytest.approx(
            _np_pct(group.latency_ms))
        assert [row["ttft_p50_ms"], row["ttft_p95_ms"], row["ttft_p99_ms"]] == pytest.approx(
            _np_pct(group.ttft_ms.dropna()))
        assert row["tokens_per_s"] == pytest.approx(group.tokens_per_s.mean())

    dist = v["distribution"]
    got = {int(round(np.log10(lo) * 10)) if lo else 0: n for lo, n in zip(dist.lo_ms, dist.calls,
                                                                            strict=True)}
    assert got == _np_bins(ok.latency_ms)
    assert dist.calls.sum() == len(ok)

    # The slowest calls: the view's shortcut (skip rows below the 20th-largest
    # latency) gives the same rows as ranking them all.
    assert list(v["slowest"].id) == list(q.slowest_calls(db, f).id)
    assert list(v["slowest"].latency_ms) == sorted(ok.latency_ms, reverse=True)[:20]

    # The single-figure functions agree with the view.
    pd.testing.assert_frame_equal(q.latency_summary(db, f), v["summary"])
    pd.testing.assert_frame_equal(q.latency_over_time(db, f), v["over_time"])
    pd.testing.assert_frame_equal(q.latency_by_model(db, f), v["by_model"])
    pd.testing.assert_frame_equal(q.latency_histogram(db, f), v["distribution"])


def test_percentiles_are_exact_for_values_that_text_would_round(db):
    """Values travel as float64 bytes, not text: percentiles of values that
    differ only in the last bits come back bit for bit."""
    store = TelemetryStore(db)
    values = [1000.0 + k * 2.0**-40 for k in range(5)] + [1.0 / 3.0, 123456.789012345678]
    for i, value in enumerate(values):
        store.record(CallRecord(trace_id=f"x{i}", created_at=NOW - timedelta(minutes=i),
                                latency_ms=value, ttft_ms=value / 7.0))
    s = q.latency_summary(db, _all()).iloc[0]
    expected = np.percentile(values, [50, 95, 99])
    assert [s["p50_ms"], s["p95_ms"], s["p99_ms"]] == expected.tolist()
    assert [s["ttft_p50_ms"], s["ttft_p95_ms"], s["ttft_p99_ms"]] == np.percentile(
        [v / 7.0 for v in values], [50, 95, 99]).tolist()


def test_views_of_an_empty_range_are_empty_not_errors(known):
    db, _ = known
    f = _all(provider="nobody")
    lat = q.latency_view(db, f)
    s = lat["summary"].iloc[0]
    assert (s["calls"], s["ok_calls"]) == (0, 0)
    assert s["p95_ms"] is None and pd.isna(s["tokens_per_s"])
    assert lat["distribution"].empty and lat["by_model"].empty and lat["slowest"].empty
    assert (lat["over_time"].calls == 0).all()
    cost = q.cost_view(db, f, now=NOW)
    assert cost["summary"].empty or cost["summary"].iloc[0]["calls"] == 0
    assert cost["by_user"].empty and cost["by_tag"].empty
    assert cost["forecast"].iloc[0]["month_to_date_usd"] == 0
    errors = q.errors_view(db, f)
    assert errors["summary"].iloc[0]["calls"] == 0 and errors["by_model"].empty


def test_cancelled_calls_are_traffic_not_errors_nor_latency(known):
    db, df = known
    cancelled = df[df.status == "cancelled"]
    assert len(cancelled) > 5
    f = _all()
    lat, err = q.latency_view(db, f), q.errors_view(db, f)
    s = lat["summary"].iloc[0]
    assert s["calls"] == len(df)
    assert s["ok_calls"] == df.status.isin(["ok", "cached"]).sum()
    assert not set(lat["slowest"].status) & {"cancelled"}
    e = err["summary"].iloc[0]
    assert (e["calls"], e["errors"], e["blocked"]) == (
        len(df), (df.status == "error").sum(), (df.status == "blocked").sum())
    assert "cancelled" not in set(err["by_class"].error_class)
    assert "cancelled" not in set(err["recent"].status)
    # Asked for by name, they are what the views show.
    only = _all(status="cancelled")
    assert q.errors_view(db, only)["summary"].iloc[0]["calls"] == len(cancelled)
    s = q.latency_view(db, only)["summary"].iloc[0]
    assert (s["calls"], s["ok_calls"]) == (len(cancelled), len(cancelled))
    assert s["p50_ms"] == pytest.approx(np.median(cancelled.latency_ms))


def test_a_status_filter_replaces_the_success_only_default(known):
    db, df = known
    s = q.latency_summary(db, _all(status="error")).iloc[0]
    errors = df[df.status == "error"]
    assert s["calls"] == len(errors)
    assert s["p95_ms"] == pytest.approx(_np_pct(errors.latency_ms)[1])


def test_buckets_are_chosen_from_the_range_and_hold_the_right_rows(known):
    db, df = known
    assert choose_bucket(NOW - timedelta(hours=1), NOW) == "minute"
    assert choose_bucket(NOW - timedelta(hours=24), NOW) == "hour"
    assert choose_bucket(NOW - timedelta(days=30), NOW) == "day"

    f = Filters(start=NOW - timedelta(hours=24), end=NOW + timedelta(minutes=1))
    over = q.latency_over_time(db, f)
    # Every hour of the range is present, quiet ones with zero calls.
    assert len(over) == 25
    assert (over.bucket.diff().dropna() == pd.Timedelta(hours=1)).all()
    inside = df[(df.created_at >= f.start) & (df.created_at < f.end)]
    assert over.calls.sum() == len(inside)
    hours = inside.assign(bucket=inside.created_at.dt.floor("h"))
    for bucket, group in hours.groupby("bucket"):
        row = over[over.bucket == bucket].iloc[0]
        assert row["calls"] == len(group)
        ok = group[group.status.isin(["ok", "cached"])]
        if len(ok):
            assert row["p50_ms"] == pytest.approx(np.percentile(ok.latency_ms, 50))
            assert row["p99_ms"] == pytest.approx(np.percentile(ok.latency_ms, 99))

    hour = Filters(start=NOW - timedelta(hours=1), end=NOW)
    minutes = q.errors_over_time(db, hour)
    assert len(minutes) == 60
    assert minutes.calls.sum() == ((df.created_at >= hour.start) & (df.created_at < hour.end)).sum()

    days = q.spend_over_time(db, Filters(start=NOW - timedelta(days=10), end=NOW))
    assert len(days) == 11  # 28 Feb .. 10 Mar
    assert days.bucket.iloc[-1] == datetime(2025, 3, 10)
    assert days.spend_usd.sum() == pytest.approx(df.cost_usd.sum())


def test_spend_sums_unit_costs_and_unknown_prices(known):
    db, df = known
    v = q.cost_view(db, _all(), now=NOW)
    total = v["summary"].iloc[0]
    priced = df[df.cost_usd.notna()]
    assert total["calls"] == len(df)
    assert total["spend_usd"] == pytest.approx(priced.cost_usd.sum())
    assert total["unknown_cost_calls"] == df.cost_usd.isna().sum()
    assert total["saved_usd"] == pytest.approx(df.cost_saved_usd.sum())
    assert total["cost_per_call_usd"] == pytest.approx(priced.cost_usd.mean())
    tokens = (priced.input_tokens + priced.output_tokens).sum()
    assert total["cost_per_1k_tokens_usd"] == pytest.approx(priced.cost_usd.sum() * 1000 / tokens)

    by_provider = v["by_provider"].set_index("provider")
    assert by_provider.loc["local", "spend_usd"] == 0
    assert by_provider.loc["local", "unknown_cost_calls"] == 100
    assert by_provider.loc["openai", "spend_usd"] == pytest.approx(
        df[df.provider == "openai"].cost_usd.sum())

    by_user = v["by_user"]
    expected = df.groupby("user_id", dropna=False).cost_usd.sum()
    for row in by_user.itertuples():
        key = row.user_id if isinstance(row.user_id, str) else np.nan
        assert row.spend_usd == pytest.approx(expected[key] if isinstance(key, str)
                                              else df[df.user_id.isna()].cost_usd.sum())

    by_tag = v["by_tag"].set_index("tag")
    # A call tagged "checkout,mobile" counts fully towards both tags.
    both = df[df.tags == "checkout,mobile"].cost_usd.sum()
    assert by_tag.loc["checkout", "spend_usd"] == pytest.approx(both)
    assert by_tag.loc["mobile", "spend_usd"] == pytest.approx(both)
    assert by_tag.loc["check_out%", "calls"] == (df.tags == "check_out%").sum()

    fc = v["forecast"].iloc[0]
    month = df[df.created_at >= datetime(2025, 3, 1)].cost_usd.sum()
    week = df[df.created_at >= NOW - timedelta(days=7)].cost_usd.sum()
    assert fc["month_to_date_usd"] == pytest.approx(month)
    assert fc["forecast_usd"] == pytest.approx(month + week / 7 * fc["days_left"])
    assert fc["days_left"] == pytest.approx(21.5)


def test_cost_view_rollups_and_the_forecast_from_the_grouped_scan(known):
    """With a range covering the month and the last week the forecast comes
    from the view's grouped scan; it must equal the standalone query, and
    every roll-up must equal pandas over the rows."""
    db, df = known
    f = Filters(start=datetime(2025, 2, 1), end=NOW + timedelta(minutes=1))
    v = q.cost_view(db, f, now=NOW)
    pd.testing.assert_frame_equal(v["forecast"], q.month_forecast(db, f, now=NOW))
    fc = v["forecast"].iloc[0]
    assert fc["month_to_date_usd"] == pytest.approx(
        df[df.created_at >= datetime(2025, 3, 1)].cost_usd.sum())
    assert fc["daily_rate_usd"] == pytest.approx(
        df[df.created_at >= NOW - timedelta(days=7)].cost_usd.sum() / 7)

    over = v["over_time"].set_index("bucket")
    days = df.assign(bucket=df.created_at.dt.floor("D"))
    for bucket, group in days.groupby("bucket"):
        assert over.loc[bucket, "calls"] == len(group)
        assert over.loc[bucket, "spend_usd"] == pytest.approx(group.cost_usd.sum())
        assert over.loc[bucket, "cache_hits"] == group.cache_hit.notna().sum()

    by_model = v["by_model"].set_index("model")
    for model, group in df.groupby("model"):
        assert by_model.loc[model, "calls"] == len(group)
        assert by_model.loc[model, "input_tokens"] == group.input_tokens.sum()
        assert by_model.loc[model, "unknown_cost_calls"] == group.cost_usd.isna().sum()
    by_prompt = v["by_prompt"]
    assert by_prompt.calls.sum() == len(df)
    support = by_prompt[by_prompt.prompt_name == "support"].set_index("prompt_version")
    for version, group in df[df.prompt_name == "support"].groupby("prompt_version"):
        assert support.loc[version, "spend_usd"] == pytest.approx(group.cost_usd.sum())

    by_user = v["by_user"]
    assert by_user.calls.sum() == len(df)
    assert by_user[by_user.user_id == "u1"].iloc[0]["spend_usd"] == pytest.approx(
        df[df.user_id == "u1"].cost_usd.sum())
    pd.testing.assert_frame_equal(by_user, q.spend_by_user(db, f))
    pd.testing.assert_frame_equal(v["by_tag"], q.spend_by_tag(db, f))


def test_errors_view_tables_equal_the_single_queries(known):
    db, df = known
    f = _all()
    v = q.errors_view(db, f)
    pd.testing.assert_frame_equal(v["over_time"], q.errors_over_time(db, f))
    pd.testing.assert_frame_equal(
        v["by_model"].sort_values("model").reset_index(drop=True),
        q.errors_by_model(db, f).sort_values("model").reset_index(drop=True))
    by = v["by_model"].set_index("model")
    for model, group in df.groupby("model"):
        assert by.loc[model, "errors"] == (group.status == "error").sum()


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({"provider": "openai"}, lambda d: d.provider == "openai"),
        ({"model": ("gemma", "claude-haiku")}, lambda d: d.model.isin(["gemma", "claude-haiku"])),
        ({"user": "u1"}, lambda d: d.user_id == "u1"),
        ({"tag": "mobile"}, lambda d: d.tags == "checkout,mobile"),
        # "check_out%" must match literally: _ and % are not wildcards here.
        ({"tag": "check_out%"}, lambda d: d.tags == "check_out%"),
        ({"tag": "check"}, lambda d: d.tags == "never"),
        ({"prompt": "support"}, lambda d: d.prompt_name == "support"),
        ({"source": "eval"}, lambda d: d.source == "eval"),
        ({"status": ("error", "blocked")}, lambda d: d.status.isin(["error", "blocked"])),
        ({"provider": "openai", "user": "u2"}, lambda d: (d.provider == "openai")
         & (d.user_id == "u2")),
    ],
)
def test_filters_narrow_every_view(known, filters, predicate):
    db, df = known
    expected = df[predicate(df)]
    f = _all(**filters)
    assert q.errors_view(db, f)["summary"].iloc[0]["calls"] == len(expected)
    assert q.latency_summary(db, f).iloc[0]["calls"] == len(expected)
    spend = q.cost_view(db, f, now=NOW)["summary"]
    assert (spend.iloc[0]["spend_usd"] if len(spend) else 0.0) == pytest.approx(
        expected.cost_usd.sum())


def test_errors_by_class_breaker_openings_and_fallbacks(known):
    db, df = known
    v = q.errors_view(db, _all())
    s = v["summary"].iloc[0]
    assert s["errors"] == (df.status == "error").sum()
    assert s["blocked"] == (df.status == "blocked").sum()
    assert s["breaker_openings"] == (df.error_class == "circuit_open").sum()
    assert s["fallbacks"] == df.fallback_from.notna().sum()
    assert s["retries"] == df.retries.sum()
    assert s["error_rate"] == pytest.approx((df.status == "error").mean())
    by_class = v["by_class"].set_index("error_class")["calls"].to_dict()
    assert by_class == df[df.status.isin(["error", "blocked"])].error_class.value_counts().to_dict()
    recent = v["recent"]
    assert list(recent.created_at) == sorted(recent.created_at, reverse=True)
    assert set(recent.status) <= {"error", "blocked"}


def test_feedback_up_rate_by_version(known):
    db, df = known
    v = q.quality_view(db, _all())
    by = v["feedback_by_version"]
    assert by.ups.sum() + by.downs.sum() == v["feedback_over_time"][["ups", "downs"]].sum().sum()
    total_up = by.ups.sum() / (by.ups.sum() + by.downs.sum())
    assert 0 < total_up < 1
    assert ((by.up_rate - by.ups / (by.ups + by.downs)).abs() < 1e-12).all()


def test_time_zones_store_utc_and_display_local(known):
    db, df = known
    ny = ZoneInfo("America/New_York")
    # 9 March 2025 in New York (EST until 07:00 UTC on 9 March, then EDT).
    f = Filters(start=datetime(2025, 3, 9, tzinfo=ny), end=datetime(2025, 3, 10, tzinfo=ny))
    assert f.start == datetime(2025, 3, 9, 5, 0) and f.end == datetime(2025, 3, 10, 4, 0)
    inside = df[(df.created_at >= f.start) & (df.created_at < f.end)]
    assert q.errors_view(db, f)["summary"].iloc[0]["calls"] == len(inside)

    over = q.spend_over_time(db, _all())
    local = to_local(over, "Asia/Kolkata")
    assert (local.bucket - over.bucket == pd.Timedelta(hours=5, minutes=30)).all()
    assert Filters.last("1h", now=datetime(2025, 3, 10, 12, 0, 30)).end == datetime(2025, 3, 10,
                                                                                        12, 1)


def test_call_detail_has_spans_and_feedback(db):
    store = TelemetryStore(db)
    call_id = store.record(CallRecord(
        trace_id="x1", created_at=NOW, model="m", provider="p", latency_ms=12.0,
        guard_actions={"pii": {"action": "redact"}}, input_text='[{"role":"user","content":"hi"}]',
        spans=[SpanRecord("validate", 0.0, 1.0), SpanRecord("provider", 1.0, 10.0)]))
    store.add_feedback(call_id, -1, "wrong")
    d = q.call_detail(db, call_id)
    assert d["call"]["guard_actions"] == {"pii": {"action": "redact"}}
    assert list(d["spans"].name) == ["validate", "provider"]
    assert list(d["feedback"].comment) == ["wrong"]
    assert q.call_detail(db, call_id + 999) is None


def test_demo_traffic_loads_and_removes_exactly_its_rows(db):
    store = TelemetryStore(db)
    own = store.record(CallRecord(trace_id="mine", created_at=NOW, source="api", latency_ms=5))
    store.add_feedback(own, 1)
    result = generate_demo(db, 3000, seed=1, span_fraction=0.1, now=NOW)
    assert demo_count(db) == 3000 == result.calls
    assert result.feedback > 50 and result.spans > 0
    f = Filters.last("30d", now=NOW)
    opts = q.filter_options(db, since=NOW - timedelta(days=31))
    assert {"openai", "anthropic", "local"} <= set(opts["provider"])
    assert {"error", "ok", "cached", "blocked"} <= set(opts["status"])
    errors = q.errors_view(db, f.with_(source=DEMO_SOURCE))
    assert errors["summary"].iloc[0]["calls"] == 3000
    assert len(errors["by_class"]) >= 5
    assert remove_demo(db) == 3000
    assert demo_count(db) == 0
    assert q.call_detail(db, own) is not None
    assert len(q.call_detail(db, own)["feedback"]) == 1
    with db.connect() as conn:
        from sqlalchemy import text
        assert conn.execute(text("select count(*) from feedback")).scalar_one() == 1
        assert conn.execute(text("select count(*) from span")).scalar_one() == 0

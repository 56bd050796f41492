"""Dashboard benchmark: the Monitoring pages' data at scale, against bare SQL.

Generates N demo calls (default 50,000; the issue's figure is
`--calls 1000000`) with the same generator as the page and the CLI, then,
for the default 30-day view and a filtered view (provider openai, last 7
days), times each page's data function (core.telemetry.queries.*_view) and
the bare hand-written SQL for the same figures run through the raw DB-API
connection, interleaved, in the same run. Prints each median and the ratio.

Targets: ratio <= 1.5 and each view's data under 2 s.

    PYTHONPATH=. .venv/bin/python bench/dashboard.py [--calls 1000000] [--url URL]

The bare SQL is the straightforward statement per figure (one percentile
aggregate per grouping); Trellis answers the latency figures from one
grouped scan (see docs/monitoring.md). On SQLite, which has no percentile
function, the bare SQL uses Trellis's registered percentile aggregate
(core/telemetry/sqlfuncs.py); the pure-SQL window-function alternative is
timed once for reference. After generating on PostgreSQL the bench runs
ANALYZE, as autovacuum would.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.db import make_engine, migrate  # noqa: E402
from core.telemetry import queries, sqlfuncs  # noqa: E402
from core.telemetry.demo import generate_demo  # noqa: E402
from core.telemetry.filters import Filters, choose_bucket  # noqa: E402
from core.telemetry.models import utcnow  # noqa: E402

OK = "status IN ('ok', 'cached')"
FAILED = "status IN ('error', 'blocked')"
SPEND = ("count(*), count(cost_usd), coalesce(sum(cost_usd), 0), "
         "coalesce(sum(cost_saved_usd), 0), coalesce(sum(input_tokens), 0), "
         "coalesce(sum(output_tokens), 0), coalesce(sum(CASE WHEN cost_usd IS NOT NULL THEN "
         "input_tokens + output_tokens END), 0), count(cache_hit)")
CALL_COLS = ", ".join(queries.CALL_COLUMNS)
ERROR_COLS = ", ".join(queries.ERROR_COLUMNS)


def bare_sql(dialect: str, unit: str, where: str) -> dict[str, list[str]]:
    """Hand-written SQL for every figure each page shows. `where` filters call_log (alias c)."""
    if dialect == "postgresql":
        b = f"date_trunc('{unit}', c.created_at)"

        def pct(x: str) -> str:
            return f"percentile_cont(array[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY {x})"
    else:
        b = f"substr(c.created_at, 1, { {'minute': 16, 'hour': 13, 'day': 10}[unit]})"

        def pct(x: str) -> str:
            return f"trellis_percentiles({x})"

    lat, ttft = f"CASE WHEN {OK} THEN latency_ms END", f"CASE WHEN {OK} THEN ttft_ms END"
    tps = f"CASE WHEN {OK} THEN tokens_per_s END"
    lat_aggs = f"count(*), count({lat}), {pct(lat)}, {pct(ttft)}, avg({tps})"
    return {
        "latency": [
            f"SELECT {lat_aggs} FROM call_log c WHERE {where}",
            f"SELECT {b}, {lat_aggs} FROM call_log c WHERE {where} GROUP BY 1 ORDER BY 1",
            f"SELECT provider, model, count(*), {pct(lat)}, {pct(ttft)}, avg({tps}) "
            f"FROM call_log c WHERE {where} GROUP BY provider, model",
            "SELECT CASE WHEN latency_ms >= 1 THEN CAST(floor(log(latency_ms) * 10) AS INTEGER) "
            f"ELSE 0 END AS bin, count(*) FROM call_log c WHERE {where} AND {OK} "
            "GROUP BY bin ORDER BY bin",
            f"SELECT {CALL_COLS} FROM call_log c WHERE {where} AND {OK} "
            "ORDER BY latency_ms DESC LIMIT 20",
        ],
        "cost": [
            f"SELECT provider, model, prompt_name, prompt_version, {SPEND} FROM call_log c "
            f"WHERE {where} GROUP BY provider, model, prompt_name, prompt_version",
            f"SELECT {b}, count(*), coalesce(sum(cost_usd), 0), coalesce(sum(cost_saved_usd), 0),"
            f" count(cache_hit) FROM call_log c WHERE {where} GROUP BY 1 ORDER BY 1",
            f"SELECT user_id, {SPEND} FROM call_log c WHERE {where} GROUP BY user_id",
            f"SELECT tags, {SPEND} FROM call_log c WHERE {where} AND tags IS NOT NULL "
            "AND tags != '' GROUP BY tags",
            "SELECT coalesce(sum(CASE WHEN created_at >= :month THEN cost_usd END), 0), "
            "coalesce(sum(CASE WHEN created_at >= :week THEN cost_usd END), 0) "
            f"FROM call_log c WHERE {where.replace(':start', ':fstart')}",
        ],
        "errors": [
            f"SELECT {b}, count(*), count(CASE WHEN status = 'error' THEN 1 END), "
            "count(CASE WHEN status = 'blocked' THEN 1 END), coalesce(sum(retries), 0), "
            "count(fallback_from), count(CASE WHEN error_class = 'circuit_open' THEN 1 END) "
            f"FROM call_log c WHERE {where} GROUP BY 1 ORDER BY 1",
            f"SELECT error_class, status, count(*) FROM call_log c WHERE {where} AND {FAILED} "
            "GROUP BY error_class, status ORDER BY 3 DESC",
            "SELECT provider, model, count(*), count(CASE WHEN status = 'error' THEN 1 END), "
            "count(CASE WHEN status = 'blocked' THEN 1 END) "
            f"FROM call_log c WHERE {where} GROUP BY provider, model",
            f"SELECT {ERROR_COLS} FROM call_log c WHERE {where} AND {FAILED} "
            "ORDER BY created_at DESC LIMIT 50",
        ],
        "quality": [
            f"SELECT {b}, count(CASE WHEN f.score > 0 THEN 1 END), "
            "count(CASE WHEN f.score < 0 THEN 1 END) FROM feedback f JOIN call_log c "
            f"ON f.call_id = c.id WHERE {where} GROUP BY 1 ORDER BY 1",
            "SELECT c.provider, c.model, c.prompt_name, c.prompt_version, "
            "count(CASE WHEN f.score > 0 THEN 1 END), count(CASE WHEN f.score < 0 THEN 1 END) "
            f"FROM feedback f JOIN call_log c ON f.call_id = c.id WHERE {where} "
            "GROUP BY c.provider, c.model, c.prompt_name, c.prompt_version",
        ],
    }


def _where(f: Filters) -> str:
    where = "c.created_at >= :start AND c.created_at < :end"
    if f.provider:
        where += " AND c.provider = :provider"
    return where


def _params(dialect: str, f: Filters, now: datetime) -> dict:
    def t(x: datetime):
        return x if dialect == "postgresql" else x.strftime("%Y-%m-%d %H:%M:%S.%f")

    month = datetime(now.year, now.month, 1)
    week = now - timedelta(days=7)
    return {"start": t(f.start), "end": t(f.end), "provider": f.provider[0] if f.provider else None,
            "month": t(month), "week": t(week), "fstart": t(min(month, week))}


def _bare_runner(engine, sql: list[str], params: dict) -> Callable[[], None]:
    """Run the statements on one raw DB-API connection, fetching every row."""
    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    is_pg = engine.dialect.name == "postgresql"
    if not is_pg:
        dbapi.create_aggregate("trellis_percentiles", 1, sqlfuncs._Percentiles)
    def convert(s: str) -> str:
        return re.sub(r":(\w+)", r"%(\1)s", s) if is_pg else s

    stmts = [convert(s) for s in sql]
    used = [{k: v for k, v in params.items() if f":{k}" in s} for s in sql]

    def run() -> None:
        cur = dbapi.cursor()
        for s, p in zip(stmts, used, strict=True):
            cur.execute(s, p)
            cur.fetchall()
        cur.close()
        if is_pg:
            dbapi.rollback()

    run.close = raw.close  # type: ignore[attr-defined]
    return run


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=50_000)
    ap.add_argument("--url", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="skip generation (URL already filled)")
    args = ap.parse_args()

    tmp = None
    url = args.url
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="trellis-bench-")
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    engine = make_engine(url)
    migrate(engine)
    dialect = engine.dialect.name
    now = utcnow()
    if not args.reuse:
        t0 = time.perf_counter()
        r = generate_demo(engine, args.calls, span_fraction=0.01, now=now)
        dt = time.perf_counter() - t0
        print(f"generated {r.calls:,} calls ({r.feedback:,} feedback, {r.spans:,} spans) in "
              f"{dt:.1f} s = {r.calls / dt:,.0f} calls/s  [{dialect}]")
        if dialect == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")

    views = {"latency": queries.latency_view, "cost": queries.cost_view,
             "errors": queries.errors_view, "quality": queries.quality_view}
    cases = {
        "default 30d": Filters.last("30d"),
        "openai, 7d": Filters.last("7d", provider="openai"),
    }
    print(f"\n{'view':8} {'filter':12} {'trellis ms':>11} {'bare SQL ms':>12} {'ratio':>6}  "
          "target (<=1.5x, <2000 ms)")
    worst_ratio, worst_ms, ok = 0.0, 0.0, True
    for label, f in cases.items():
        unit = choose_bucket(f.start, f.end)
        sql = bare_sql(dialect, unit, _where(f))
        params = _params(dialect, f, utcnow())
        for name, fn in views.items():
            bare = _bare_runner(engine, sql[name], params)
            ours: list[float] = []
            theirs: list[float] = []
            fn(engine, f)  # warm both once: page cache, connection pool
            bare()
            for i in range(args.repeat):
                order = [("t", lambda fn=fn, f=f: fn(engine, f)), ("b", bare)]
                for tag, call in order if i % 2 == 0 else order[::-1]:
                    t0 = time.perf_counter()
                    call()
                    (ours if tag == "t" else theirs).append(time.perf_counter() - t0)
            bare.close()
            t_ms, b_ms = _median_ms(ours), _median_ms(theirs)
            ratio = t_ms / b_ms
            good = ratio <= 1.5 and t_ms < 2000
            ok &= good
            worst_ratio, worst_ms = max(worst_ratio, ratio), max(worst_ms, t_ms)
            print(f"{name:8} {label:12} {t_ms:11.1f} {b_ms:12.1f} {ratio:6.2f}  "
                  f"{'ok' if good else 'MISSED'}")
    if dialect == "sqlite":
        f = cases["default 30d"]
        window = (
            "WITH r AS (SELECT substr(created_at, 1, 10) AS b, latency_ms AS v, "
            "row_number() OVER (PARTITION BY substr(created_at, 1, 10) ORDER BY latency_ms) - 1 "
            "AS rn, count(*) OVER (PARTITION BY substr(created_at, 1, 10)) AS n FROM call_log "
            f"WHERE created_at >= ? AND created_at < ? AND {OK}) "
            "SELECT b, sum(CASE WHEN rn = CAST((n - 1) * 0.95 AS INTEGER) THEN v END) FROM r "
            "GROUP BY b"
        )
        p = _params(dialect, f, now)
        raw = engine.raw_connection()
        t0 = time.perf_counter()
        raw.driver_connection.execute(window, (p["start"], p["end"])).fetchall()
        w_ms = (time.perf_counter() - t0) * 1000
        raw.driver_connection.create_aggregate("trellis_percentiles", 1, sqlfuncs._Percentiles)
        t0 = time.perf_counter()
        raw.driver_connection.execute(
            f"SELECT substr(created_at, 1, 10), trellis_percentiles(CASE WHEN {OK} THEN "
            "latency_ms END) FROM call_log WHERE created_at >= ? AND created_at < ? GROUP BY 1",
            (p["start"], p["end"])).fetchall()
        a_ms = (time.perf_counter() - t0) * 1000
        raw.close()
        print(f"\nreference, daily p95 latency over 30 days: pure-SQL window functions "
              f"{w_ms:.0f} ms vs percentile aggregate {a_ms:.0f} ms ({w_ms / a_ms:.1f}x)")
    print(f"\nworst ratio {worst_ratio:.2f}x, slowest view {worst_ms:.0f} ms: "
          f"{'all targets met' if ok else 'some targets missed'}")
    engine.dispose()
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

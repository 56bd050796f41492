"""Synthetic, clearly labelled demo traffic (source = "demo") for the dashboards.

The calls spread over the past 30 days with a daily rhythm and slow growth,
across providers, models, users, tags and prompt versions; latency is
log-normal per model, a few percent of calls fail with realistic error
classes, one incident (rate limits, breaker openings, fallbacks) sits five
days back, some calls are cache hits, and a slice carries thumbs up/down.

Rows are generated in NumPy batches and written in one transaction: SQLite
through the driver's executemany, PostgreSQL through COPY. `remove_demo`
deletes exactly the rows with source = "demo" (and their spans and feedback).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Connection, Engine, delete, select

from core.telemetry.models import CallLog, Feedback, Span, utcnow

DEMO_SOURCE = "demo"

C = CallLog.__table__


@dataclass(frozen=True)
class _Model:
    provider: str
    name: str
    share: float
    median_ms: float
    in_per_mtok: float | None  # None: price unknown
    out_per_mtok: float | None
    thumbs_up: float


MODELS = (
    _Model("openai", "gpt-4o-mini", 0.32, 900, 0.15, 0.60, 0.74),
    _Model("openai", "gpt-4o", 0.14, 1800, 2.50, 10.0, 0.83),
    _Model("openai", "gpt-4.1-mini", 0.10, 1100, 0.40, 1.60, 0.78),
    _Model("anthropic", "claude-3-5-haiku-latest", 0.16, 1000, 0.80, 4.0, 0.77),
    _Model("anthropic", "claude-sonnet-4-0", 0.10, 2600, 3.0, 15.0, 0.86),
    _Model("local", "gemma-3-270m", 0.12, 450, 0.0, 0.0, 0.41),
    _Model("compat", "llama-3.1-8b-instruct", 0.06, 700, None, None, 0.62),
)

ERRORS = {  # class -> (share among errors, plain message)
    "rate_limit": (0.34, "The provider is rate limiting requests; try again in a moment."),
    "timeout": (0.18, "The model took too long to answer."),
    "server": (0.15, "The provider had a server error."),
    "connection": (0.08, "Could not reach the provider."),
    "bad_request": (0.07, "The provider rejected the request as invalid."),
    "context_length": (0.07, "The conversation is too long for this model."),
    "stream_cut": (0.05, "The answer stopped part-way because the connection dropped."),
    "auth": (0.03, "The provider rejected the API key."),
    "unavailable": (0.03, "This provider is not available right now."),
}
BREAKER_MESSAGE = "The provider is failing; calls to it are paused for a moment."
GUARD_MESSAGE = "The request was blocked by a guard policy."

TAGS = ("checkout", "support", "search", "summarize", "onboarding", "internal", "mobile")
PROMPTS = (  # (name, version, share)
    (None, None, 0.35),
    ("support-answer", 1, 0.08),
    ("support-answer", 2, 0.12),
    ("support-answer", 3, 0.15),
    ("summarize", 1, 0.10),
    ("summarize", 2, 0.12),
    ("classify-intent", 1, 0.08),
)
QUESTIONS = (
    "How do I reset my password?",
    "Summarize this ticket for the on-call engineer.",
    "Which plan includes SSO?",
    "Classify the intent of: 'my card was charged twice'",
    "Write a short apology for the delayed order.",
    "What is the refund policy for annual plans?",
    "Translate 'order shipped' into French.",
    "List three causes of a 502 error.",
)
STAGES = ("render", "validate", "input_guards", "cache", "retrieve", "route", "provider",
          "output_guards", "record")

_COLUMNS = ("trace_id", "created_at", "source", "user_id", "session_id", "tags", "provider",
            "model", "prompt_name", "prompt_version", "input_tokens", "output_tokens",
            "cached_tokens", "cost_usd", "cost_saved_usd", "latency_ms", "ttft_ms",
            "tokens_per_s", "status", "error_class", "error_message", "retries",
            "fallback_from", "cache_hit", "stream", "guard_actions", "input_text",
            "output_text")


@dataclass
class DemoResult:
    calls: int
    feedback: int
    spans: int


def _times(rng: np.random.Generator, n: int, now: datetime, days: int) -> np.ndarray:
    """Seconds before `now`: a daily rhythm (busy 08-20 UTC) and slow growth."""
    hour_weight = np.array([0.25, 0.2, 0.2, 0.2, 0.25, 0.35, 0.55, 0.8, 1.0, 1.15, 1.2, 1.2,
                            1.15, 1.2, 1.25, 1.2, 1.1, 1.0, 0.9, 0.75, 0.6, 0.5, 0.4, 0.3])
    day_weight = np.linspace(1.0, 0.6, days)  # day 0 = today: the busiest, traffic grows
    days_back = rng.choice(days, size=n, p=day_weight / day_weight.sum())
    hours = rng.choice(24, size=n, p=hour_weight / hour_weight.sum())
    today = datetime(now.year, now.month, now.day)
    # Seconds before `now` of (day, hour) slots; slots in the future fold back a day.
    slot_start = (now - today).total_seconds() - hours * 3600.0 + days_back * 86400.0
    secs = slot_start - rng.uniform(0, 3600, n)
    secs = np.where(secs < 0, secs + 86400.0, secs)
    return np.clip(secs, 0.0, days * 86400.0 - 1.0)


def _batch(rng: np.random.Generator, secs_back: np.ndarray, now: datetime) -> list[tuple]:
    n = len(secs_back)
    shares = np.array([m.share for m in MODELS])
    m_idx = rng.choice(len(MODELS), size=n, p=shares / shares.sum())
    created = np.datetime64(now, "us") - (secs_back * 1e6).astype("timedelta64[us]")
    created_s = np.char.replace(np.datetime_as_string(created, unit="us"), "T", " ")

    median = np.array([m.median_ms for m in MODELS])[m_idx]
    latency = rng.lognormal(np.log(median), 0.45)
    stream = rng.random(n) < 0.7
    ttft = np.where(stream, latency * rng.uniform(0.12, 0.35, n), np.nan)
    in_tok = np.maximum(5, rng.lognormal(np.log(420), 0.8, n)).astype(int)
    out_tok = np.maximum(1, rng.lognormal(np.log(170), 0.7, n)).astype(int)
    cached_tok = np.where(rng.random(n) < 0.15, (in_tok * 0.5).astype(int), 0)

    # Users: a long tail (a few heavy users), some anonymous.
    user_rank = np.minimum(rng.zipf(1.6, n), 150)
    anonymous = rng.random(n) < 0.08
    tag_pick = rng.integers(0, len(TAGS), size=(n, 2))
    tag_count = rng.choice(3, size=n, p=[0.25, 0.55, 0.20])
    p_shares = np.array([p[2] for p in PROMPTS])
    p_idx = rng.choice(len(PROMPTS), size=n, p=p_shares / p_shares.sum())

    # Outcomes. The incident: 3 hours, five days back, OpenAI rate limits.
    incident = (secs_back > 5 * 86400) & (secs_back < 5 * 86400 + 3 * 3600)
    is_openai = np.array([MODELS[i].provider == "openai" for i in range(len(MODELS))])[m_idx]
    u = rng.random(n)
    err_p = np.where(incident & is_openai, 0.35, 0.025)
    status = np.full(n, "ok", dtype=object)
    status[u < err_p] = "error"
    blocked = (u >= err_p) & (u < err_p + 0.01)
    status[blocked] = "blocked"
    cached = (status == "ok") & (rng.random(n) < 0.08)
    status[cached] = "cached"
    err_names = list(ERRORS)
    err_shares = np.array([ERRORS[k][0] for k in err_names])
    e_idx = rng.choice(len(err_names), size=n, p=err_shares / err_shares.sum())
    breaker = (status == "error") & incident & is_openai & (rng.random(n) < 0.3)
    fallback = (status == "ok") & (rng.random(n) < np.where(incident & is_openai, 0.3, 0.015))
    retries = np.where(status == "error", rng.integers(0, 4, n),
                       np.where(rng.random(n) < 0.04, 1, 0))

    rows = []
    qn = len(QUESTIONS)
    for i in range(n):
        m = MODELS[m_idx[i]]
        st = status[i]
        lat = float(latency[i])
        ttft_i = None if np.isnan(ttft[i]) else float(ttft[i])
        o_tok = int(out_tok[i])
        i_tok = int(in_tok[i])
        err_class = err_msg = None
        guard = None
        if st == "error":
            err_class = "circuit_open" if breaker[i] else err_names[e_idx[i]]
            err_msg = BREAKER_MESSAGE if breaker[i] else ERRORS[err_class][1]
            o_tok = 0
            ttft_i = None
            lat = 3.0 if breaker[i] else (lat * 3 if err_class == "timeout" else lat * 0.4)
        elif st == "blocked":
            err_class, err_msg = "guard_block", GUARD_MESSAGE
            guard = {"injection": {"action": "block", "score": 0.97}}
            o_tok, i_tok, ttft_i, lat = 0, 0, None, lat * 0.02 + 8
        elif user_rank[i] % 9 == 0:
            guard = {"pii": {"action": "redact", "entities": ["EMAIL_ADDRESS"]}}
        price = None
        if m.in_per_mtok is not None and m.out_per_mtok is not None:
            price = (i_tok * m.in_per_mtok + o_tok * m.out_per_mtok) / 1e6
        cost, saved, hit = price, None, None
        if st == "cached":
            cost, saved, hit = 0.0, price, "exact" if u[i] < 0.5 else "semantic"
            lat, ttft_i = 6.0 + lat * 0.01, None
        tps = None
        if st == "ok" and o_tok and lat > (ttft_i or 0):
            tps = o_tok / ((lat - (ttft_i or 0.0)) / 1000.0)
        tags = None
        if tag_count[i]:
            tags = ",".join(dict.fromkeys(TAGS[t] for t in tag_pick[i][: tag_count[i]]))
        pname, pver, _ = PROMPTS[p_idx[i]]
        question = QUESTIONS[(i + int(user_rank[i])) % qn]
        rows.append((
            uuid.uuid4().hex,
            created_s[i],
            DEMO_SOURCE,
            None if anonymous[i] else f"user-{int(user_rank[i]):03d}",
            f"s-{int(user_rank[i]):03d}-{int(secs_back[i] // 3600)}",
            tags,
            m.provider,
            m.name,
            pname,
            pver,
            i_tok,
            o_tok,
            int(cached_tok[i]) if st == "ok" else 0,
            cost,
            saved,
            lat,
            ttft_i,
            tps,
            st,
            err_class,
            err_msg,
            int(retries[i]),
            "openai/gpt-4o-mini" if fallback[i] and m.provider != "openai" else (
                "anthropic/claude-3-5-haiku-latest" if fallback[i] else None),
            hit,
            bool(stream[i]),
            json.dumps(guard) if guard else None,
            json.dumps([{"role": "user", "content": question}]),
            None if st in ("error", "blocked") else f"[demo answer from {m.name}]",
        ))
    return rows


def _insert_calls(conn: Connection, rows: list[tuple]) -> None:
    cols = ", ".join(_COLUMNS)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY call_log ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" if conn.dialect.paramstyle == "qmark" else "%s" for _ in _COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO call_log ({cols}) VALUES ({marks})", rows)


def _ids(conn: Connection, trace_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in range(0, len(trace_ids), 500):
        chunk = trace_ids[k : k + 500]
        out.update(conn.execute(select(C.c.trace_id, C.c.id).where(C.c.trace_id.in_(chunk))).all())
    return out


def _spans_for(lat: float, status: str, rng: np.random.Generator) -> list[tuple]:
    """Nine stage spans whose durations add up to the call's latency."""
    weights = np.array([0.002, 0.02, 0.004, 0.01, 0.05, 0.003, 0.88, 0.02, 0.011])
    weights = weights * rng.uniform(0.7, 1.3, len(weights))
    durations = lat * weights / weights.sum()
    start = 0.0
    out = []
    for seq, (name, dur) in enumerate(zip(STAGES, durations, strict=True)):
        failed_here = (status, name) in (("error", "provider"), ("blocked", "input_guards"))
        span_status = "error" if failed_here else "ok"
        out.append((seq, name, round(start, 3), round(float(dur), 3), span_status))
        start += float(dur)
    return out


def generate_demo(
    engine: Engine,
    calls: int = 20_000,
    *,
    days: int = 30,
    seed: int | None = 7,
    feedback_rate: float = 0.04,
    span_fraction: float = 1.0,
    batch_size: int = 50_000,
    now: datetime | None = None,
) -> DemoResult:
    """Write `calls` demo calls (plus feedback and, for `span_fraction` of them,
    stage spans) in one transaction. Returns how many rows of each were written."""
    if calls < 1:
        raise ValueError("The number of demo calls must be at least 1.")
    now = now or utcnow()
    rng = np.random.default_rng(seed)
    fb_rows: list[tuple[str, str, int]] = []
    span_calls: list[tuple[str, float, str]] = []
    thumbs = {m.name: m.thumbs_up for m in MODELS}
    with engine.begin() as conn:
        for rows in _batches(rng, calls, now, days, batch_size):
            _insert_calls(conn, rows)
            picks = rng.random(len(rows))
            for row, p in zip(rows, picks, strict=True):
                status = row[18]
                if status in ("ok", "cached") and p < feedback_rate:
                    version_bonus = 0.05 * ((row[9] or 1) - 1)
                    up = rng.random() < thumbs[row[7]] + version_bonus
                    fb_rows.append((row[0], row[1], 1 if up else -1))
                if p > 1.0 - span_fraction:
                    span_calls.append((row[0], row[15], status))
        ids = _ids(conn, [t for t, _, _ in fb_rows] + [t for t, _, _ in span_calls])
        if fb_rows:
            conn.execute(
                Feedback.__table__.insert(),
                [
                    {"call_id": ids[t], "created_at": _after(ts), "score": score,
                     "comment": None if score > 0 else "not helpful", "user_id": None}
                    for t, ts, score in fb_rows
                ],
            )
        n_spans = 0
        span_buffer: list[dict] = []
        for t, lat, status in span_calls:
            for seq, name, start, dur, sst in _spans_for(lat, status, rng):
                span_buffer.append({"call_id": ids[t], "seq": seq, "name": name,
                                    "start_ms": start, "duration_ms": dur, "status": sst,
                                    "detail": None})
            if len(span_buffer) >= 50_000:
                conn.execute(Span.__table__.insert(), span_buffer)
                n_spans += len(span_buffer)
                span_buffer = []
        if span_buffer:
            conn.execute(Span.__table__.insert(), span_buffer)
            n_spans += len(span_buffer)
    return DemoResult(calls=calls, feedback=len(fb_rows), spans=n_spans)


def _after(created: str) -> datetime:
    return datetime.strptime(created, "%Y-%m-%d %H:%M:%S.%f") + timedelta(minutes=2)


def _batches(
    rng: np.random.Generator, calls: int, now: datetime, days: int, size: int
) -> Iterator[list[tuple]]:
    # Oldest first, as a real log grows: row order then follows time order,
    # which is what the time-range scans of the dashboards rely on.
    secs_back = np.sort(_times(rng, calls, now, days))[::-1]
    for start in range(0, calls, size):
        yield _batch(rng, secs_back[start : start + size], now)


def remove_demo(engine: Engine) -> int:
    """Delete every demo call (source = "demo") with its spans and feedback;
    return how many calls were removed. Other rows are untouched."""
    demo_ids = select(C.c.id).where(C.c.source == DEMO_SOURCE).scalar_subquery()
    with engine.begin() as conn:
        conn.execute(delete(Feedback.__table__).where(Feedback.__table__.c.call_id.in_(demo_ids)))
        conn.execute(delete(Span.__table__).where(Span.__table__.c.call_id.in_(demo_ids)))
        return conn.execute(delete(C).where(C.c.source == DEMO_SOURCE)).rowcount


def demo_count(engine: Engine) -> int:
    """How many demo calls the log holds."""
    from sqlalchemy import func

    with engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(C).where(C.c.source == DEMO_SOURCE)
        ).scalar_one())

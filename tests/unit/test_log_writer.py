"""The background log writer: every queued row written exactly once, in batches, with
its spans; a bad row costs only itself; flush and close wait for the queue."""

from __future__ import annotations

import logging
import threading
import uuid

from sqlalchemy import create_engine, func, select

from core.db import migrate
from core.telemetry.models import CallLog, Span, utcnow
from core.telemetry.store import CallRecord, SpanRecord, TelemetryStore


def _store(tmp_path) -> TelemetryStore:
    db = create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(db)
    return TelemetryStore(db)


def _record(trace_id: str | None = None, spans: int = 2) -> CallRecord:
    return CallRecord(trace_id=trace_id or uuid.uuid4().hex, created_at=utcnow(), source="api",
                      spans=[SpanRecord(f"s{i}", float(i), 1.0) for i in range(spans)])


def _count(store: TelemetryStore, model) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_rows_from_many_threads_are_written_once_with_their_spans(tmp_path):
    store = _store(tmp_path)
    traces = [[uuid.uuid4().hex for _ in range(60)] for _ in range(8)]

    def put(ids):
        for t in ids:
            store.record_later(_record(t, spans=3))

    threads = [threading.Thread(target=put, args=(ids,)) for ids in traces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.flush(30)
    assert _count(store, CallLog) == 480 and _count(store, Span) == 480 * 3
    row = store.get_by_trace(traces[3][7])
    assert [s.name for s in store.spans(row.id)] == ["s0", "s1", "s2"]
    store.close_writer()


def test_a_bad_row_costs_only_itself(tmp_path, caplog):
    store = _store(tmp_path)
    taken = uuid.uuid4().hex
    store.record(_record(taken))
    writer_ids = [uuid.uuid4().hex for _ in range(5)]
    # Put within the writer's linger, so the bad row shares a batch with good ones.
    for i, t in enumerate(writer_ids):
        store.record_later(_record(t))
        if i == 2:
            store.record_later(_record(taken))  # the same trace id twice: refused by the DB
    with caplog.at_level(logging.ERROR):
        assert store.flush(30)
    assert _count(store, CallLog) == 1 + len(writer_ids)
    assert all(store.get_by_trace(t) is not None for t in writer_ids)
    assert f"could not write the log row for trace {taken}" in caplog.text
    store.close_writer()


def test_close_writes_what_is_queued_and_a_later_row_starts_a_new_writer(tmp_path):
    store = _store(tmp_path)
    for _ in range(25):
        store.record_later(_record())
    store.close_writer()
    assert _count(store, CallLog) == 25
    store.record_later(_record())
    assert store.flush(30) and _count(store, CallLog) == 26
    store.close_writer()

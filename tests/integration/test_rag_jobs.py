"""Ingestion as background jobs, crash recovery, and what never stays "ingesting".

Real parts throughout: the bundled MiniLM, embedded Chroma, SQLite (and
PostgreSQL for the file-name cases), a real subprocess killed mid-ingestion.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.rag.models import CANCELLED, FAILED, INGESTING, READY, SKIPPED
from core.rag.service import RagService

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"


def _text(n_paragraphs: int, seed: str = "") -> bytes:
    return "\n\n".join(
        f"Paragraph {i}{seed} says that expense claim {i} is paid within {i % 30} days "
        f"of approval by the finance team, unless the manager asks for more receipts."
        for i in range(n_paragraphs)
    ).encode()


def _chunks(rag: RagService, collection: str, doc_id: int) -> int:
    return len(rag.store.get(collection, where={"document_id": doc_id}))


def test_job_runs_in_the_worker_thread_and_reports_progress(services) -> None:
    rag, jobs = services.rag, services.jobs
    rag.create_collection("docs")
    handbook = (SAMPLES / "employee-handbook.md").read_bytes()
    submitted = jobs.submit("docs", [("employee-handbook.md", handbook), ("empty.txt", b"")],
                            user="ana", tags=["hr"])
    assert [j.status for j in submitted] == ["queued", "queued"]
    # A second tab submitting the same file while it is queued does not duplicate it.
    (again,) = jobs.submit("docs", [("copy.md", handbook)])
    assert again.status == SKIPPED and "already being indexed" in again.message
    done = jobs.wait([int(j.id) for j in submitted], timeout=300)
    assert [j.status for j in done] == [READY, FAILED]
    assert done[0].progress == 1.0 and done[0].message.startswith("Indexed employee-handbook.md")
    assert done[1].message == "empty.txt is empty (0 bytes)."
    doc = rag.registry.document(done[0].document_id)
    assert doc.status == READY and doc.created_by == "ana" and doc.tag_list == ["hr"]
    assert _chunks(rag, "docs", doc.id) == doc.chunk_count > 0
    assert not any((services.settings.data_dir / "uploads").glob("*.upload")) or \
        done[1].document_id is not None  # staged copies go once a job is done

    jobs.dismiss(int(done[1].id))
    assert [j.id for j in jobs.jobs("docs")] == [again.id, done[0].id]


def test_cancel_a_running_job_removes_its_chunks_and_row(services) -> None:
    rag, jobs = services.rag, services.jobs
    rag.batch_size = 16
    rag.create_collection("docs", chunk_tokens=32, chunk_overlap=0)
    jobs.progress_every = 0.0
    (job,) = jobs.submit("docs", [("big.txt", _text(600))])
    deadline = time.monotonic() + 120
    while jobs.job(int(job.id)).document_id is None and time.monotonic() < deadline:
        time.sleep(0.05)
    jobs.cancel(int(job.id))
    (final,) = jobs.wait([int(job.id)], timeout=300)
    assert final.status == CANCELLED, final.message
    assert rag.documents("docs") == []
    assert rag.store.count("docs") == 0


def test_retry_a_failed_document_from_its_kept_original(services) -> None:
    rag, jobs = services.rag, services.jobs
    rag.create_collection("docs")
    data = _text(5)

    def boom(i: int, frac: float, msg: str) -> None:
        if msg.endswith("embedded") or msg == "reading":
            raise RuntimeError("the page went away")

    with pytest.raises(RuntimeError):
        rag.ingest("docs", [("notes.txt", data)], progress=boom)
    (doc,) = rag.documents("docs")
    # An exception from the progress callback never leaves a document "ingesting".
    assert doc.status == FAILED and "interrupted" in doc.error
    assert _chunks(rag, "docs", doc.id) == 0
    job = jobs.retry_document(int(doc.id))
    (final,) = jobs.wait([int(job.id)], timeout=300)
    assert final.status == READY, final.message
    (doc2,) = rag.documents("docs")
    assert doc2.status == READY and doc2.file_name == "notes.txt"


def test_progress_callback_failing_after_the_last_write_still_finishes(services) -> None:
    rag = services.rag
    rag.create_collection("docs")

    def boom(i: int, frac: float, msg: str) -> None:
        if frac >= 1.0:
            raise RuntimeError("Streamlit stopped the script")

    with pytest.raises(RuntimeError):
        rag.ingest("docs", [("small.txt", _text(3))], progress=boom)
    (doc,) = rag.documents("docs")
    assert doc.status == READY  # fully written before the callback raised
    assert _chunks(rag, "docs", doc.id) == doc.chunk_count


def test_identical_twin_of_a_failed_file_is_still_indexed(services) -> None:
    rag = services.rag
    rag.create_collection("docs")
    data = _text(3)
    bad, good = rag.ingest("docs", [("notes.exe", data), ("notes.txt", data)])
    assert bad.status == FAILED and good.status == READY, good.message


_CRASH = """
import os, sys
from core.config import Settings
from core.services import Services
svc = Services.build(Settings())
svc.rag.batch_size = 8
svc.rag.create_collection("docs", chunk_tokens=32, chunk_overlap=0)
def progress(i, frac, msg):
    if msg.endswith("embedded"):
        print("WRITING", flush=True)
svc.rag.ingest("docs", [("large.txt", open(sys.argv[1], "rb").read())], progress=progress)
print("FINISHED", flush=True)
"""


def test_crash_mid_ingestion_is_recovered_at_start(settings, tmp_path) -> None:
    big = tmp_path / "large.txt"
    big.write_bytes(_text(3000))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _CRASH, str(big)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        seen = 0
        for line in proc.stdout:  # type: ignore[union-attr]
            seen += line.startswith("WRITING")
            if seen >= 3:
                break
        assert seen >= 3, "the child never got to writing chunks"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)

    from core.services import Services

    svc = Services.build(settings)  # recovery runs at start
    try:
        (doc,) = svc.rag.documents("docs")
        assert doc.status == FAILED and "stopped part-way" in doc.error
        assert doc.chunk_count == 0
        assert svc.rag.store.count("docs") == 0
        assert svc.rag.registry.stuck() == []
    finally:
        svc.close()


def test_a_live_owner_is_left_alone(services) -> None:
    rag = services.rag
    rag.create_collection("docs")
    from core.rag.models import RagDocument
    from core.rag.service import owner_id

    coll = rag.collection("docs")
    row = rag.registry.add_document(RagDocument(
        collection_id=coll.id, file_name="busy.txt", content_hash="x" * 64,
        status=INGESTING, owner=owner_id()))
    assert rag.recover() == 0
    assert rag.registry.document(row.id).status == INGESTING
    rag.registry.finish(row.id, FAILED, 0, "done")


def test_a_slow_batch_keeps_its_heartbeat_so_recovery_leaves_it_alone(services,
                                                                      monkeypatch) -> None:
    """One write batch can take minutes on a busy machine; recovery must not fail it."""
    import core.rag.service as service_mod

    rag = services.rag
    rag.batch_size = 128  # one batch of several embedding slices
    rag.create_collection("docs", chunk_tokens=32, chunk_overlap=0)
    monkeypatch.setattr(service_mod, "_BEAT_EVERY_S", 0.0)
    rag.settings.rag_stale_after_s = 1.0
    real = rag.embedder(rag.collection("docs"))
    seen: list[tuple[int, str]] = []

    class SlowEmbedder:  # the real model, slowed down as a loaded machine would be
        name = real.name

        def __getattr__(self, attr: str):
            return getattr(real, attr)

        def encode(self, texts: list[str]):
            stuck = rag.registry.stuck()
            if stuck:
                rag.recover()  # a sweep from another part of the app, mid-batch
                seen.append((len(texts), rag.registry.document(stuck[0].id).status))
            time.sleep(1.2)  # longer than the stale window
            return real.encode(texts)

    monkeypatch.setattr(rag, "embedder", lambda collection=None: SlowEmbedder())
    (res,) = rag.ingest("docs", [("slow.txt", _text(100))])
    assert res.status == READY, res.message
    assert len(seen) >= 3 and all(n <= 32 for n, _ in seen)  # embedded in slices
    assert {status for _, status in seen} == {INGESTING}  # never failed mid-way
    doc = rag.registry.document(res.document_id)
    assert _chunks(rag, "docs", doc.id) == doc.chunk_count
    hits = rag.search("docs", "expense claim 7 is paid within 7 days", mode="vector", top_k=1)
    assert "claim 7 " in hits[0].text  # the sliced vectors line up with their chunks


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_hostile_file_names_and_tags_on_each_database(dialect, request, settings,
                                                      monkeypatch) -> None:
    if dialect == "postgresql":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
    from core.config import Settings
    from core.services import Services

    svc = Services.build(Settings())
    try:
        rag = svc.rag
        rag.create_collection("docs")
        data = _text(2)
        files = [
            ("nul\x00name.txt", data + b" 1"),
            ("x" * 900 + ".txt", data + b" 2"),
            ("lone\udcff\ud800.txt", data + b" 3"),
            ("../../etc/passwd.txt", data + b" 4"),
            ("good.txt", data + b" 5"),
        ]
        results = rag.ingest("docs", files, tags=["a\x00b", "t" * 600], user="u\x00" * 300)
        assert [r.status for r in results] == [READY] * 5, [r.message for r in results]
        names = [r.file_name for r in results]
        assert names[0] == "nulname.txt"
        assert len(names[1]) <= 255 and names[1].endswith(".txt")
        assert "\ud800" not in names[2] and names[2].endswith(".txt")
        assert names[3] == "passwd.txt"
        for d in rag.documents("docs"):
            assert "\x00" not in (d.tags or "") + (d.created_by or "")
            assert d.status == READY and _chunks(rag, "docs", d.id) == d.chunk_count
    finally:
        svc.close()


def test_an_external_worker_process_runs_queued_jobs(monkeypatch, settings) -> None:
    monkeypatch.setenv("TRELLIS_RAG_INGEST_WORKER", "external")
    from core.config import Settings
    from core.services import Services

    svc = Services.build(Settings())
    try:
        svc.rag.create_collection("docs")
        (job,) = svc.jobs.submit("docs", [("notes.txt", _text(4))])
        assert svc.jobs._thread is None  # the app only queues
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-m", "core.cli", "ingest-worker", "--once"],
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "ran 1 ingestion job" in out.stdout
        final = svc.jobs.job(int(job.id))
        assert final.status == READY, final.message
        assert svc.rag.documents("docs")[0].status == READY
    finally:
        svc.close()

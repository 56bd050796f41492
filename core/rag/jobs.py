"""Ingestion as background jobs: submit files, watch progress in the database, cancel, retry.

The page (or the API, or the CLI) calls `IngestJobs.submit`, which stages the
uploaded bytes under ``data_dir/uploads`` and inserts one `rag_job` row per
file. A worker claims queued jobs and runs them through `RagService.ingest`,
writing progress to the job rows; nothing about a job lives in a browser
session, so a refresh, a second tab or a closed browser neither stops nor
duplicates it. By default the worker is a thread in the app process
(`start()`); `python -m core.cli ingest-worker` runs the same loop
(`run_forever`) in a process of its own.

Recovery: a running job whose worker process is gone (or silent for
`rag_stale_after_s`) is marked failed, and `RagService.recover` fails the
documents it left "ingesting" and removes their chunks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.rag.loaders import clean_file_name
from core.rag.models import (
    ACTIVE,
    CANCELLED,
    FAILED,
    QUEUED,
    READY,
    RUNNING,
    SKIPPED,
    RagJob,
)
from core.rag.service import RagError, RagService, _clean_meta, _clean_tags, owner_alive, owner_id
from core.telemetry.models import utcnow

__all__ = ["IngestJobs"]

log = logging.getLogger(__name__)

FINISHED = (READY, SKIPPED, FAILED, CANCELLED)


class IngestJobs:
    """Queue, run, watch, cancel and retry ingestion jobs (rows in `rag_job`)."""

    #: Seconds between progress writes for one job, and between cancel checks.
    progress_every = 0.5
    #: Seconds between recovery sweeps in a running worker.
    recover_every = 60.0

    def __init__(self, rag: RagService, *, max_files: int = 64) -> None:
        self.rag = rag
        self.registry = rag.registry
        self.settings = rag.settings
        self.uploads = self.settings.data_dir / "uploads"
        self.max_files = max_files
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- submitting ------------------------------------------------------
    def submit(self, collection: str, files: list[tuple[str, bytes]], *,
               user: str | None = None, tags: list[str] | None = None,
               replace: bool = False) -> list[RagJob]:
        """Stage the files and queue one job per file; returns the job rows.

        A file whose content is already queued or running in the collection is
        not queued twice (a double click, a second tab): its row comes back
        as a finished "skipped" job saying so.
        """
        coll = self.rag.collection(collection)
        assert coll.id is not None
        busy = self.registry.active_hashes(coll.id)
        clean_tags = ",".join(_clean_tags(tags)) or None
        user = _clean_meta(user, 200)
        rows: list[RagJob] = []
        self.uploads.mkdir(parents=True, exist_ok=True)
        for raw_name, data in files:
            name = clean_file_name(raw_name)
            digest = hashlib.sha256(data).hexdigest()
            row = RagJob(collection_id=coll.id, file_name=name, size_bytes=len(data),
                         content_hash=digest, tags=clean_tags, replace=replace,
                         created_by=user)
            if digest in busy:
                row.status, row.progress, row.finished_at = SKIPPED, 1.0, utcnow()
                row.message = (f"{name} is already being indexed (as {busy[digest]}); "
                               "not queued again.")
            else:
                staged = f"{uuid.uuid4().hex}.upload"
                tmp = self.uploads / (staged + ".part")
                tmp.write_bytes(data)
                tmp.replace(self.uploads / staged)
                row.staged, row.message = staged, "Waiting to start"
                busy[digest] = name
            rows.append(row)
        rows = self.registry.add_jobs(rows)
        if self.settings.rag_ingest_worker == "thread":
            self.start()
        self._wake.set()
        return rows

    def jobs(self, collection: str | None = None, *, active_only: bool = False,
             limit: int = 200) -> list[RagJob]:
        """Jobs, newest first (dismissed ones left out)."""
        cid = self.rag.collection(collection).id if collection else None
        return self.registry.jobs(cid, statuses=ACTIVE if active_only else None, limit=limit)

    def job(self, job_id: int) -> RagJob:
        row = self.registry.job(job_id)
        if row is None:
            raise RagError("That upload is no longer listed.")
        return row

    def cancel(self, job_id: int) -> None:
        """Ask a job to stop: a queued one stops now, a running one at its next batch."""
        job = self.job(job_id)
        if job.status == QUEUED:
            self.registry.update_job(job_id, status=CANCELLED, progress=1.0,
                                     finished_at=utcnow(), cancel_requested=True,
                                     message=f"Indexing of {job.file_name} was cancelled.")
            self._unstage(job.staged)
        elif job.status == RUNNING:
            self.registry.update_job(job_id, cancel_requested=True, message="Cancelling…")

    def dismiss(self, job_id: int) -> None:
        """Take a finished job off the list (its document, if any, stays)."""
        job = self.job(job_id)
        if job.status in ACTIVE:
            raise RagError(f"{job.file_name} is still being indexed; cancel it first.")
        self.registry.update_job(job_id, dismissed=True)
        self._unstage(job.staged)

    def dismiss_finished(self, collection: str) -> int:
        jobs = [j for j in self.jobs(collection) if j.status in (READY, SKIPPED, CANCELLED)]
        for j in jobs:
            self.dismiss(int(j.id))  # type: ignore[arg-type]
        return len(jobs)

    def retry(self, job_id: int) -> RagJob:
        """Queue a failed or cancelled job again (from its staged file or the kept original)."""
        job = self.job(job_id)
        if job.status in ACTIVE:
            raise RagError(f"{job.file_name} is still being indexed.")
        if job.document_id is not None and self.registry.document(job.document_id) is not None:
            new = self.retry_document(job.document_id)
        else:
            data = self._read(job.staged)
            if data is None:
                raise RagError(f"The upload of {job.file_name} is no longer kept; upload it again.")
            coll = self.registry.collection_by_id(job.collection_id)
            if coll is None:
                raise RagError(f"The collection of {job.file_name} no longer exists.")
            (new,) = self.submit(coll.name, [(job.file_name, data)], user=job.created_by,
                                 tags=job.tag_list, replace=job.replace)
        self.registry.update_job(job_id, dismissed=True)
        self._unstage(job.staged)
        return new

    def retry_document(self, doc_id: int) -> RagJob:
        """Queue a failed document again from its kept original (the failed row goes)."""
        doc = self.registry.document(doc_id)
        if doc is None:
            raise RagError("That document no longer exists.")
        coll = self.registry.collection_by_id(doc.collection_id)
        if coll is None:
            raise RagError(f"The collection of {doc.file_name} no longer exists.")
        path = self.rag._file_path(doc.content_hash, doc.file_name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RagError(f"The original of {doc.file_name} is not kept; upload it again.") \
                from exc
        (job,) = self.submit(coll.name, [(doc.file_name, data)], user=doc.created_by,
                             tags=doc.tag_list, replace=True)
        if doc.status != READY:
            self.rag.delete_document(doc_id)
            # The kept original may have gone with the row; the staged copy has it.
        return job

    # -- running ---------------------------------------------------------
    def start(self) -> None:
        """Run queued jobs in a daemon thread of this process (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="trellis-ingest",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def run_forever(self, poll: float = 2.0) -> None:
        """The worker loop in the calling thread (the `ingest-worker` command)."""
        self._stop.clear()
        self._loop(poll)

    def _loop(self, poll: float = 2.0) -> None:
        last_recover = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_recover > self.recover_every:
                    self.recover()
                    last_recover = time.monotonic()
                if self.run_pending():
                    continue
            except Exception:  # noqa: BLE001 - the worker outlives any one failure
                log.exception("the ingestion worker hit an error; it carries on")
            self._wake.wait(poll)
            self._wake.clear()

    def run_pending(self, *, once: bool = True) -> int:
        """Claim one group of queued jobs and run it here; how many jobs ran."""
        total = 0
        while True:
            jobs = self.registry.claim(owner_id(), self.max_files,
                                       max(int(self.settings.rag_max_upload_mb * 2**20) * 4,
                                           2**20))
            if not jobs:
                return total
            self._run(jobs)
            total += len(jobs)
            if once:
                return total

    def _run(self, jobs: list[RagJob]) -> None:
        ids = [int(j.id) for j in jobs]  # type: ignore[arg-type]
        coll = self.registry.collection_by_id(jobs[0].collection_id)
        if coll is None:
            self.registry.update_jobs(ids, status=FAILED, progress=1.0, finished_at=utcnow(),
                                      message="The collection no longer exists.")
            return
        last_write: dict[int, float] = {}
        stop: set[int] = set()
        last_check = [0.0]

        def progress(i: int, frac: float, msg: str) -> None:
            now = time.monotonic()
            if frac < 1.0 and now - last_write.get(i, 0.0) < self.progress_every:
                return
            last_write[i] = now
            with suppress(Exception):  # progress is advisory; never stops the work
                self.registry.update_job(ids[i], progress=min(max(frac, 0.0), 0.99),
                                         message=_progress_text(msg), heartbeat_at=utcnow())

        def cancelled(i: int) -> bool:
            now = time.monotonic()
            if now - last_check[0] >= self.progress_every:
                last_check[0] = now
                with suppress(Exception):
                    stop.update(self.registry.cancel_requested(ids))
            return ids[i] in stop

        def on_document(i: int, doc_id: int) -> None:
            self.registry.update_job(ids[i], document_id=doc_id)

        def on_done(i: int, res: Any) -> None:
            job = jobs[i]
            self.registry.update_job(ids[i], status=res.status, progress=1.0,
                                     message=res.message, finished_at=utcnow(),
                                     document_id=res.document_id)
            if res.status != FAILED or res.document_id is not None:
                # A failed document keeps its original for "retry"; the staged copy can go.
                self._unstage(job.staged)

        files = _Files(self, jobs)
        try:
            self.rag.ingest(coll.name, files, user=jobs[0].created_by, tags=jobs[0].tag_list,
                            replace=jobs[0].replace, progress=progress, cancelled=cancelled,
                            on_document=on_document, on_done=on_done)
        except Exception:  # noqa: BLE001 - the jobs fail plainly; documents were cleaned up
            log.exception("ingestion jobs %s failed", ids)
            for job, jid in zip(jobs, ids, strict=True):
                if self.job(jid).status == RUNNING:
                    self.registry.update_job(jid, status=FAILED, progress=1.0,
                                             finished_at=utcnow(),
                                             message=f"{job.file_name} could not be indexed "
                                                     "because of an unexpected error; retry it.")

    def recover(self) -> int:
        """Fail running jobs whose worker is gone, then recover their documents."""
        stale_before = utcnow() - timedelta(seconds=self.settings.rag_stale_after_s)
        n = 0
        for job in self.registry.running_jobs():
            beat = job.heartbeat_at or job.started_at or job.created_at
            if owner_alive(job.worker) and beat > stale_before:
                continue
            self.registry.update_job(
                int(job.id), status=FAILED, progress=1.0, finished_at=utcnow(),  # type: ignore[arg-type]
                message=(f"Indexing of {job.file_name} stopped part-way (the app stopped or "
                         "restarted); nothing of it is searchable. Retry it."))
            n += 1
        return n + self.rag.recover()

    def wait(self, job_ids: list[int], timeout: float = 600.0) -> list[RagJob]:
        """Block until the jobs are finished (tests, the CLI); their final rows."""
        deadline = time.monotonic() + timeout
        while True:
            rows = [self.job(i) for i in job_ids]
            if all(r.status in FINISHED for r in rows) or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    # -- staged files ----------------------------------------------------
    def _path(self, staged: str | None) -> Path | None:
        if not staged or "/" in staged or "\\" in staged or staged.startswith("."):
            return None
        return self.uploads / staged

    def _read(self, staged: str | None) -> bytes | None:
        path = self._path(staged)
        try:
            return path.read_bytes() if path is not None else None
        except OSError:
            return None

    def _unstage(self, staged: str | None) -> None:
        path = self._path(staged)
        if path is not None:
            path.unlink(missing_ok=True)


class _Files:
    """The jobs' files, read from disk one at a time as ingestion reaches them."""

    def __init__(self, jobs: IngestJobs, rows: list[RagJob]) -> None:
        self.jobs, self.rows = jobs, rows

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        for row in self.rows:
            yield row.file_name, self.jobs._read(row.staged) or b""

    def __len__(self) -> int:
        return len(self.rows)


def _progress_text(msg: str) -> str:
    return {"reading": "Reading the file", SKIPPED: "Skipped", FAILED: "Failed",
            READY: "Done"}.get(msg, msg[:1].upper() + msg[1:])

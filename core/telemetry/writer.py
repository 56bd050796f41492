"""Writing log rows off the request path, in batches.

The gateway does not need a call's row id before it answers (the call id it
sends is the trace id), so it hands each finished call's record to this
writer instead of writing it inline: one thread looks at the queue every 10 ms
and writes whatever has gathered in one transaction (one multi-row INSERT for the calls,
one for their spans). At concurrency 50 that is a handful of commits instead of
fifty writers queueing for SQLite's lock; at concurrency 1 it takes the write
(about 0.4 ms on SQLite, a round trip and a commit on PostgreSQL) out of the
answer's latency.

Nothing is dropped on purpose: every record put here is written exactly once.
A batch that fails is retried row by row, so one bad row cannot cost the others
theirs; a row that still fails is logged loudly (the same as an inline write
that fails). `flush()` waits until everything queued so far is written;
`close()` flushes and stops the thread (the gateway calls it on shutdown).
A process killed outright loses at most the rows still queued: a few
milliseconds' worth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: The most rows one transaction writes.
MAX_BATCH = 500
#: How often the writer looks for queued rows. Queuing a row does not wake it (a
#: wake-up per call would put a thread switch on every answer's path); rows gather
#: and go in one transaction, at most this long after they were queued. A full
#: batch, a flush or a close wakes it at once.
POLL_S = 0.01


class LogWriter:
    """A queue of log rows and the one thread that writes them."""

    def __init__(self, write_batch: Callable[[list[Any]], None],
                 write_one: Callable[[Any], Any]) -> None:
        self._write_batch = write_batch
        self._write_one = write_one
        self._queue: deque[Any] = deque()
        self._cond = threading.Condition()
        self._queued = 0  # records ever put
        self._done = 0  # records written (or given up on, loudly)
        self._closed = False
        self._thread: threading.Thread | None = None

    def put(self, record: Any) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the log writer is closed")
            self._queue.append(record)
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="trellis-log-writer",
                                                daemon=True)
                self._thread.start()
            if len(self._queue) >= MAX_BATCH:
                self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return self._queued - self._done

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every record put so far is written; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._queued
            self._cond.notify_all()  # the writer goes now, not at its next look
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.error("the log writer did not finish in %.0f s; %d row(s) not written",
                          timeout, self.pending())

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(POLL_S)
                if not self._queue and self._closed:
                    return
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            self._write(batch)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _write(self, batch: list[Any]) -> None:
        try:
            self._write_batch(batch)
            return
        except Exception:  # noqa: BLE001 - retried row by row below
            if len(batch) == 1:
                log.exception("could not write a log row; retrying once")
            else:
                log.exception("could not write a batch of %d log rows; writing them one by one",
                              len(batch))
        for record in batch:
            try:
                self._write_one(record)
            except Exception:  # noqa: BLE001 - loud, like an inline write that fails
                log.exception("could not write the log row for trace %s",
                              getattr(record, "trace_id", "?"))

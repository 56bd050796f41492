"""The runner: a matrix of prompts × models × cases × repeats, every call through the engine.

Cells run on a thread pool (the suite's concurrency, 8 by default). Each call
is an ordinary engine call with source `eval`, so rate limits, budgets,
guards, caches and the call log all apply. The main thread writes each
cell's row as it finishes; `(run_id, cell_key)` is unique, so a run stopped by
a crash or a cancel resumes by running only the cells that have no row, and
`retry_errors` deletes the errored rows first so just those run again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.db import session_scope
from core.engine import CompletionRequest, CompletionResponse
from core.evals.assertions import CellContext, build, combine
from core.evals.datasets import DatasetStore
from core.evals.models import EvalCase, EvalResult, EvalRun
from core.evals.suite import PromptRef, Suite
from core.providers.base import Message
from core.providers.errors import TrellisError
from core.telemetry.models import utcnow

log = logging.getLogger(__name__)

__all__ = ["Cell", "Progress", "Runner", "cell_key"]

_TABLE = EvalResult.__table__  # type: ignore[attr-defined]
_COLUMNS = [c.name for c in _TABLE.columns if c.name != "id"]
#: One prebuilt statement: SQLAlchemy's compiled cache makes each batch a single executemany.
_INSERT = insert(_TABLE)


@dataclass(frozen=True)
class Cell:
    prompt: PromptRef
    model: str
    case: EvalCase
    repeat: int

    @property
    def key(self) -> str:
        return cell_key(self.prompt.key, self.model, self.case.key, self.repeat)


def cell_key(prompt: str, model: str, case: str, repeat: int) -> str:
    return f"{prompt}|{model}|{case}|{repeat}"


@dataclass
class Progress:
    """What a progress callback receives after each cell."""

    done: int
    total: int
    elapsed_s: float
    eta_s: float | None
    last: EvalResult | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class RunOutcome:
    run_id: int
    status: str
    ran: int = 0
    skipped: int = 0
    errors: int = 0
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Creates runs and runs (or resumes) them. One instance per Services."""

    def __init__(self, services: Any) -> None:
        self.services = services
        # The in-process model answers one call at a time: more in flight would only
        # queue inside the engine call and inflate each cell's measured latency.
        self._one_at_a_time = threading.Lock()
        self.db = services.db
        self.engine = services.engine
        self.datasets = DatasetStore(self.db)

    # -- create ---------------------------------------------------------------
    def create_run(self, suite: Suite, *, label: str | None = None,
                   user: str | None = None) -> int:
        """Store the suite's cases as a dataset version and a pending run with its snapshot."""
        default = self.services.settings.default_model
        suite = replace(suite, models=[default if m == "default" else m for m in suite.models])
        suite.check()
        if suite.cases:
            dataset_id = self.datasets.save(suite.dataset_name or suite.name, suite.cases,
                                            description=suite.description, user=user)
        elif suite.dataset_id is not None:
            dataset_id = suite.dataset_id
        else:
            found = self.datasets.latest(suite.dataset_name or "")
            if found is None:
                from core.evals.suite import SuiteError

                raise SuiteError(f"There is no dataset named '{suite.dataset_name}'.")
            dataset_id = found
        n_cases = len(self.datasets.cases(dataset_id))
        total = len(suite.prompts) * len(suite.models) * n_cases * suite.repeats
        config = suite.snapshot()
        config["dataset_id"] = dataset_id
        with session_scope(self.db) as s:
            run = EvalRun(suite=suite.name, label=label, dataset_id=dataset_id, config=config,
                          total_cells=total, created_by=user)
            s.add(run)
            s.flush()
            assert run.id is not None
            return run.id

    def suite_of(self, run_id: int) -> Suite:
        with Session(self.db) as s:
            run = s.get(EvalRun, run_id)
            if run is None:
                raise KeyError(run_id)
            config = dict(run.config)
        config.pop("dataset_id", None)
        suite = Suite.from_snapshot(config)
        suite.dataset_id = run.dataset_id
        return suite

    def cells(self, run_id: int) -> list[Cell]:
        suite = self.suite_of(run_id)
        assert suite.dataset_id is not None
        cases = self.datasets.cases(suite.dataset_id)
        return [Cell(p, m, c, r) for p in suite.prompts for m in suite.models for c in cases
                for r in range(suite.repeats)]

    def ensure_collection(self, suite: Suite) -> bool:
        """Load the shipped sample documents when a suite searches a missing `samples` collection.

        Returns True when it loaded them. Any other missing collection is left
        alone: its cells then answer without context, and the call log says so.
        """
        name = (suite.rag or {}).get("collection")
        if name != "samples" or any(c.name == name for c in self.services.rag.collections()):
            return False
        self.services.rag.load_samples(name)
        return True

    # -- run ------------------------------------------------------------------
    def run(self, run_id: int, *, progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None, retry_errors: bool = False,
            concurrency: int | None = None) -> RunOutcome:
        """Run every cell of `run_id` that has no result yet; safe to call again after a stop."""
        suite = self.suite_of(run_id)
        cancel = cancel or threading.Event()
        if retry_errors:
            with session_scope(self.db) as s:
                s.exec(delete(EvalResult).where(EvalResult.run_id == run_id,  # type: ignore[call-overload]
                                                EvalResult.status == "error"))
        all_cells = self.cells(run_id)
        with Session(self.db) as s:
            done_keys = set(s.exec(select(EvalResult.cell_key)
                                   .where(EvalResult.run_id == run_id)).all())
        pending = [c for c in all_cells if c.key not in done_keys]
        total, done = len(all_cells), len(all_cells) - len(pending)
        outcome = RunOutcome(run_id, "running", skipped=done)
        self._set_status(run_id, "running", started=True)
        workers = max(1, min(concurrency or suite.concurrency, 64))
        t0 = time.perf_counter()
        ran_here = 0
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eval")
        try:
            queue = iter(pending)
            in_flight: set[Future] = set()

            def fill() -> None:
                # Keep the pool just busy: a cancel then waits for at most `workers` calls.
                while len(in_flight) < workers * 2 and not cancel.is_set():
                    cell = next(queue, None)
                    if cell is None:
                        return
                    in_flight.add(pool.submit(self._run_cell, run_id, suite, cell))

            fill()
            while in_flight:
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                in_flight -= finished
                rows = [f.result() for f in finished]
                for row in self._write(rows):
                    done += 1
                    ran_here += 1
                    outcome.ran += 1
                    outcome.errors += row.status == "error"
                    if progress is not None:
                        elapsed = time.perf_counter() - t0
                        eta = elapsed / ran_here * (total - done)
                        progress(Progress(done, total, elapsed, eta, row))
                fill()
            pool.shutdown(wait=True)
        except BaseException:
            # Stopped from outside (a page rerun, Ctrl-C): do not wait for the calls in
            # flight; their cells have no row, so a resume runs them again.
            cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            elapsed = time.perf_counter() - t0
            finished_all = done >= total
            status = "done" if finished_all else ("cancelled" if cancel.is_set() else "interrupted")
            self._set_status(run_id, status, finished=finished_all, add_duration=elapsed)
            outcome.status = status
            outcome.cancelled = cancel.is_set() and not finished_all
        return outcome

    def _set_status(self, run_id: int, status: str, *, started: bool = False,
                    finished: bool = False, add_duration: float = 0.0) -> None:
        with session_scope(self.db) as s:
            run = s.get(EvalRun, run_id)
            if run is None:
                return
            run.status = status
            if started and run.started_at is None:
                run.started_at = utcnow()
            if finished:
                run.finished_at = utcnow()
            run.duration_s = (run.duration_s or 0.0) + add_duration
            s.add(run)

    def _write(self, rows: list[EvalResult]) -> list[EvalResult]:
        """Write the cells that finished together in one transaction; return those written."""
        values = [{c: getattr(r, c) for c in _COLUMNS} for r in rows]
        try:
            with self.db.begin() as conn:
                conn.execute(_INSERT, values)
            return rows
        except IntegrityError:
            if len(rows) > 1:
                return [r for one in rows for r in self._write([one])]
            # Another runner on the same run wrote this cell first: keep theirs.
            log.warning("cell %s of run %s was already written", rows[0].cell_key, rows[0].run_id)
            return []

    # -- one cell -------------------------------------------------------------
    def request_for(self, run_id: int, suite: Suite, cell: Cell) -> CompletionRequest:
        case = cell.case
        prompt = cell.prompt
        messages = [Message("user", case.message)] if case.message else []
        options: dict[str, Any] = {}
        if suite.rag:
            options["rag"] = dict(suite.rag)
        request = CompletionRequest(
            messages=messages,
            model=cell.model,
            system=suite.system if prompt.name is None else None,
            source="eval",
            session_id=f"eval-run-{run_id}",
            tags=["eval", suite.name[:100]],
            prompt_name=prompt.name,
            prompt_version=prompt.version,
            prompt_label=prompt.label,
            variables=dict(case.variables) if case.variables else None,
            # Repeats must reach the model: an engine cache would answer them all alike.
            cache=suite.cache and cell.repeat == 0,
            options=options,
            **{k: v for k, v in suite.params.items()},
        )
        return request

    def _run_cell(self, run_id: int, suite: Suite, cell: Cell) -> EvalResult:
        case = cell.case
        row = EvalResult(run_id=run_id, cell_key=cell.key, prompt=cell.prompt.key,
                         model=cell.model, case_key=case.key, case_id=case.id, repeat=cell.repeat)
        try:
            request = self.request_for(run_id, suite, cell)
        except TrellisError as err:
            row.status, row.error, row.error_class = "error", err.user_message, err.error_class
            return row
        key = request_key(request)
        row.request_key = key
        cached = self._cached(key) if suite.cache and cell.repeat == 0 else None
        sources: list[dict[str, Any]] = []
        guard_report: dict[str, Any] = {}
        if cached is not None:
            row.cached = True
            row.output, row.call_id = cached.output or "", cached.call_id
            row.input_tokens, row.output_tokens = cached.input_tokens, cached.output_tokens
            row.latency_ms, row.ttft_ms, row.cost_usd = cached.latency_ms, cached.ttft_ms, 0.0
        else:
            traces: list[str | None] = []
            try:
                response = self._call(request, suite.stream, traces)
            except TrellisError as err:
                row.error, row.error_class = err.user_message, err.error_class
                row.status = "blocked" if err.error_class == "guard_block" else "error"
                row.call_id = self._call_id(traces[0] if traces else None)
                if row.status == "error":
                    return row
                row.output = ""
            except Exception as exc:  # noqa: BLE001 - one broken cell must not end the run
                log.exception("eval cell %s failed", cell.key)
                row.status, row.error_class = "error", "internal"
                row.error = f"This cell failed with an unexpected error ({type(exc).__name__})."
                return row
            else:
                row.output = response.text
                row.call_id = response.call_id
                row.input_tokens = response.usage.input_tokens
                row.output_tokens = response.usage.output_tokens
                row.cost_usd, row.latency_ms = response.cost_usd, response.latency_ms
                row.ttft_ms = response.ttft_ms
                sources, guard_report = response.sources, response.guard_report
                row.cached = False
        self._grade(row, suite, case, sources, guard_report, run_id)
        return row

    def _call(self, request: CompletionRequest, stream: bool,
              traces: list[str | None]) -> CompletionResponse:
        """One engine call; the in-process model takes one at a time."""
        assert request.model is not None
        local = request.model.startswith("local/")
        with self._one_at_a_time if local else contextlib.nullcontext():
            if not stream:
                return self.engine.chat(request)
            engine_stream = self.engine.stream(request)
            try:
                for _ in engine_stream:
                    pass
            finally:
                traces.append(engine_stream.trace_id)
            assert engine_stream.response is not None
            return engine_stream.response

    def _grade(self, row: EvalResult, suite: Suite, case: EvalCase,
               sources: list[dict[str, Any]], guard_report: dict[str, Any], run_id: int) -> None:
        cell = CellContext(
            output=row.output or "", expected=case.expected, context=case.context,
            status=row.status, latency_ms=row.latency_ms, ttft_ms=row.ttft_ms,
            cost_usd=row.cost_usd, output_tokens=row.output_tokens or None,
            guard_report=guard_report, sources=sources,
            judge=lambda model, prompt: self._judge(model or suite.judge, prompt, run_id),
        )
        specs = list(suite.asserts) + list((case.meta or {}).get("assert") or [])
        outcomes = []
        for spec in specs:
            try:
                outcomes.append(build(spec).evaluate(cell))
            except Exception as exc:  # noqa: BLE001 - a broken check fails, with its reason
                from core.evals.assertions import Outcome

                reason = str(exc) if isinstance(exc, ValueError) else \
                    f"this check failed unexpectedly ({type(exc).__name__})"
                outcomes.append(Outcome(str(spec.get("type", "?")), 0.0, False, reason))
        row.score, row.passed = combine(outcomes, suite.threshold)
        if row.status == "blocked":
            row.passed = row.passed and bool(outcomes)
        row.assertions = [o.as_dict() for o in outcomes]

    def _judge(self, model: str | None, prompt: str, run_id: int) -> str:
        """The judge's call: an ordinary engine call, so it is logged, costed and cached."""
        response = self.engine.chat(CompletionRequest(
            messages=[Message("user", prompt)], model=model, source="eval",
            session_id=f"eval-run-{run_id}", tags=["eval", "judge"], temperature=0.0,
            # One line of JSON: a score and a sentence.
            max_tokens=100,
        ))
        return response.text

    def _cached(self, key: str) -> EvalResult | None:
        with Session(self.db) as s:
            return s.exec(select(EvalResult).where(EvalResult.request_key == key,
                                                   EvalResult.status == "ok",
                                                   EvalResult.cached == False)  # noqa: E712
                          .order_by(EvalResult.id.desc())).first()  # type: ignore[union-attr]

    def _call_id(self, trace: str | None) -> int | None:
        if not trace:
            return None
        row = self.services.telemetry.get_by_trace(trace)
        return row.id if row else None


def request_key(request: CompletionRequest) -> str:
    """A digest of what is sent: model, messages, prompt reference, variables and parameters."""
    payload = {
        "model": request.model, "system": request.system,
        "messages": [[m.role, m.content] for m in request.messages],
        "prompt": [request.prompt_name, request.prompt_version, request.prompt_label],
        "variables": request.variables, "temperature": request.temperature,
        "max_tokens": request.max_tokens, "top_p": request.top_p, "stop": request.stop,
        "options": request.options,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

"""The gate: does a run pass its suite's thresholds? Plus JUnit and JSON reports for CI.

Exit codes follow promptfoo: 0 when the suite passes, 100 when assertions or
thresholds fail, 1 when cells errored (a provider error, a bad setting).
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.evals.results import Comparison, EvalStore, column_label
from core.evals.runner import Progress, Runner
from core.evals.suite import PromptRef, Suite, SuiteError

EXIT_PASS, EXIT_ERRORS, EXIT_FAILED = 0, 1, 100


@dataclass
class GateResult:
    passed: bool
    exit_code: int
    run_id: int | None
    pass_rate: float | None
    interval: tuple[float, float] | None
    reasons: list[str] = field(default_factory=list)
    errors: int = 0
    baseline_run: int | None = None
    comparison: Comparison | None = None

    @property
    def summary(self) -> str:
        head = "PASSED" if self.passed else ("ERRORS" if self.exit_code == EXIT_ERRORS
                                             else "FAILED")
        return f"{head}: " + " ".join(self.reasons)

    @property
    def sentence(self) -> str:
        """The verdict for a page: plain words, the reasons after it."""
        if self.passed:
            head = "This run meets the suite's thresholds."
        elif self.exit_code == EXIT_ERRORS:
            head = "This run had errors, so it cannot pass."
        else:
            head = "This run does not meet the suite's thresholds."
        return " ".join([head, *self.reasons])

    def as_dict(self) -> dict[str, Any]:
        comp = self.comparison
        return {
            "passed": self.passed, "exit_code": self.exit_code, "run_id": self.run_id,
            "pass_rate": self.pass_rate, "interval": self.interval, "reasons": self.reasons,
            "errors": self.errors, "baseline_run": self.baseline_run,
            "comparison": None if comp is None else {
                "regressions": [c.case_key for c in comp.of("regression")],
                "fixes": [c.case_key for c in comp.of("fix")],
                "shared": comp.shared, "p_value": comp.p_value, "significant": comp.significant,
            },
        }


def evaluate(store: EvalStore, run_id: int, suite: Suite) -> GateResult:
    """Check a finished run against its suite's thresholds."""
    [info] = [r for r in store.runs(suite.name) if r.id == run_id] or [None]
    if info is None:
        return GateResult(False, EXIT_ERRORS, run_id, None, None, ["The run was not found."])
    reasons: list[str] = []
    failed = False
    rate = info.pass_rate
    interval = info.interval if info.graded else None
    if info.done_cells < info.total_cells:
        reasons.append(f"The run stopped after {info.done_cells} of {info.total_cells} cells.")
        return GateResult(False, EXIT_ERRORS, run_id, rate, interval, reasons, info.errors)
    want = suite.thresholds.pass_rate
    if rate is not None and interval is not None:
        low, high = interval
        pct = f"{rate:.0%} ({info.passed}/{info.graded}, 95% CI {low:.0%}–{high:.0%})"
        if want is None and info.passed < info.graded:
            failed = True
            reasons.append(f"{info.graded - info.passed} cell(s) failed their assertions; "
                           f"pass rate {pct}.")
        elif want is not None and rate + 1e-9 < want:
            failed = True
            reasons.append(f"Pass rate {pct} is below the threshold {want:.0%}.")
        else:
            reasons.append(f"Pass rate {pct}.")
    baseline_id = None
    comparison = None
    th = suite.thresholds
    if th.baseline or th.max_regressions is not None:
        baseline_id = store.baseline(suite.name, th.baseline or {"label": "production"},
                                     before=run_id)
        if baseline_id is None:
            reasons.append("No baseline run was found, so the relative threshold was skipped.")
        else:
            comparison = store.compare(baseline_id, run_id, alpha=th.alpha)
            allowed = th.max_regressions or 0
            worse = comparison.significant and comparison.regressions > comparison.fixes
            failed = failed or (worse and comparison.regressions > allowed)
            reasons.append(f"Against run #{baseline_id}: {comparison.verdict}")
    if info.errors:
        reasons.insert(0, f"{info.errors} cell(s) errored; see the run for each error.")
        return GateResult(False, EXIT_ERRORS, run_id, rate, interval, reasons, info.errors,
                          baseline_id, comparison)
    return GateResult(not failed, EXIT_FAILED if failed else EXIT_PASS, run_id, rate, interval,
                      reasons, 0, baseline_id, comparison)


def run_suite(services: Any, suite: Suite, *, label: str | None = None,
              progress: Callable[[Progress], None] | None = None,
              cancel: threading.Event | None = None, user: str | None = None,
              ) -> tuple[int, GateResult]:
    """Create a run of `suite`, run it to the end, and gate it."""
    runner = Runner(services)
    run_id = runner.create_run(suite, label=label, user=user)
    runner.run(run_id, progress=progress, cancel=cancel)
    return run_id, evaluate(EvalStore(services.db), run_id, suite)


def gate(prompt_version: int | str | PromptRef, suite: Suite | str | Path, *,
         services: Any = None, label: str | None = None) -> GateResult:
    """Run `suite` on one prompt version and say whether it may be promoted.

    `prompt_version` is a version number of the suite's (first) registry
    prompt, a reference like ``support-answer:5``, or a PromptRef.
    """
    if not isinstance(suite, Suite):
        suite = Suite.load(suite)
    if isinstance(prompt_version, PromptRef):
        ref = prompt_version
    elif isinstance(prompt_version, int):
        named = next((p for p in suite.prompts if p.name), None)
        if named is None:
            raise SuiteError("The suite has no registry prompt to put a version number on.")
        ref = PromptRef(named.name, None, prompt_version)
    else:
        ref = PromptRef.parse(prompt_version)
    suite = replace(suite, prompts=[ref])
    own = services is None
    if own:
        from core.services import Services

        services = Services.build()
    try:
        _, result = run_suite(services, suite, label=label)
        return result
    finally:
        if own:
            services.close()


# -- reports --------------------------------------------------------------------
def write_junit(path: str | Path, store: EvalStore, run_id: int, suite: str) -> None:
    """JUnit XML: one testsuite per prompt × model, one testcase per case (its repeats folded)."""
    root = ET.Element("testsuites", name=suite)
    grid = store.matrix(run_id)
    columns: dict[str, list[tuple[str, list]]] = {}
    for case_key, cols in grid.items():
        for col, cells in cols.items():
            columns.setdefault(col, []).append((case_key, cells))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for col, cases in columns.items():
        ts = ET.SubElement(root, "testsuite", name=f"{suite} · {col}")
        counts = {"tests": 0, "failures": 0, "errors": 0}
        seconds = 0.0
        for case_key, cells in cases:
            took = sum((c.latency_ms or 0) for c in cells) / 1000.0
            seconds += took
            tc = ET.SubElement(ts, "testcase", name=case_key, classname=f"{suite}.{col}",
                               time=f"{took:.3f}")
            counts["tests"] += 1
            errored = [c for c in cells if c.status == "error"]
            failed = [c for c in cells if c.status != "error" and not c.passed]
            if errored:
                counts["errors"] += 1
                err = ET.SubElement(tc, "error", message=errored[0].error or "error",
                                    type=errored[0].error_class or "error")
                err.text = "\n".join(f"repeat {c.repeat}: {c.error}" for c in errored)
            elif failed:
                counts["failures"] += 1
                reasons = [f"repeat {c.repeat}: {a['name']}: {a['reason']}" for c in failed
                           for a in (c.assertions or []) if not a["passed"]]
                fail = ET.SubElement(tc, "failure", message=reasons[0] if reasons
                                     else "the case failed", type="assertion")
                fail.text = "\n".join(reasons)
            out = ET.SubElement(tc, "system-out")
            out.text = (cells[0].output or "")[:4000]
        for k, v in counts.items():
            ts.set(k, str(v))
            totals[k] += v
        ts.set("time", f"{seconds:.3f}")
    for k, v in totals.items():
        root.set(k, str(v))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def run_json(store: EvalStore, run_id: int, result: GateResult) -> dict[str, Any]:
    [info] = [r for r in store.runs() if r.id == run_id]
    return {
        "run": {"id": info.id, "suite": info.suite, "label": info.label, "status": info.status,
                "cells": info.total_cells, "passed": info.passed, "graded": info.graded,
                "errors": info.errors, "cost_usd": info.cost_usd,
                "duration_s": info.duration_s, "prompts": info.prompts, "models": info.models},
        "gate": result.as_dict(),
        "results": [
            {"case": r.case_key, "prompt": r.prompt, "model": r.model,
             "column": column_label(r.prompt, r.model), "repeat": r.repeat,
             "status": r.status, "passed": r.passed, "score": r.score, "output": r.output,
             "error": r.error, "assertions": r.assertions, "input_tokens": r.input_tokens,
             "output_tokens": r.output_tokens, "cost_usd": r.cost_usd,
             "latency_ms": r.latency_ms, "ttft_ms": r.ttft_ms, "cached": r.cached,
             "call_id": r.call_id}
            for r in store.results(run_id)
        ],
    }


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False),
                          encoding="utf-8")

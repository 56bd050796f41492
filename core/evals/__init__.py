"""Evals: datasets, assertions, the runner, run comparison and the CI gate (docs/evals.md)."""

from core.evals.assertions import ASSERTIONS, Assertion, CellContext, Outcome, build, combine
from core.evals.datasets import CaseIn, DatasetError, DatasetStore, ImportPreview, preview_import
from core.evals.gate import GateResult, evaluate, gate, run_suite, write_junit
from core.evals.results import Comparison, EvalStore, RunInfo, mcnemar_exact, wilson
from core.evals.runner import Progress, Runner
from core.evals.suite import PromptRef, Suite, SuiteError

__all__ = [
    "ASSERTIONS", "Assertion", "CaseIn", "CellContext", "Comparison", "DatasetError",
    "DatasetStore", "EvalStore", "GateResult", "ImportPreview", "Outcome", "Progress",
    "PromptRef", "RunInfo", "Runner", "Suite", "SuiteError", "build", "combine", "evaluate",
    "gate", "mcnemar_exact", "preview_import", "run_suite", "wilson", "write_junit",
]

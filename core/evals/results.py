"""Run history and comparison: summaries, the matrix, two runs case by case, trends.

Statistics: pass rates carry Wilson 95% intervals, and two runs are compared
with an exact McNemar test on the cases both ran (a two-sided binomial test on
the discordant pairs), so a two-case swing on twenty cases reads as noise, not
as a regression. A case passes in a run when every one of its cells passes
(all repeats: pass^N); a case with an errored cell has no verdict and is left
out of the test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from scipy.stats import binomtest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.evals.models import EvalCase, EvalResult, EvalRun


def wilson(passed: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for `passed` of `n` (0–1 when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    ci = binomtest(passed, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(fixes: int, regressions: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts."""
    n = fixes + regressions
    if n == 0:
        return 1.0
    return float(binomtest(regressions, n, 0.5).pvalue)


@dataclass
class RunInfo:
    id: int
    suite: str
    label: str | None
    status: str
    created_at: datetime
    duration_s: float
    total_cells: int
    done_cells: int
    passed: int
    graded: int
    errors: int
    cost_usd: float
    unknown_cost: int
    prompts: list[str]
    models: list[str]

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.graded)

    @property
    def title(self) -> str:
        when = self.created_at.strftime("%Y-%m-%d %H:%M")
        label = f" [{self.label}]" if self.label else ""
        return f"#{self.id} {self.suite}{label} · {when}"


@dataclass
class CaseChange:
    case_key: str
    before: bool | None
    after: bool | None

    @property
    def kind(self) -> str:
        if self.before is None or self.after is None:
            return "errored"
        if self.before == self.after:
            return "unchanged"
        return "fix" if self.after else "regression"


@dataclass
class Comparison:
    run_a: int
    run_b: int
    changes: list[CaseChange] = field(default_factory=list)
    alpha: float = 0.05

    def of(self, kind: str) -> list[CaseChange]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def regressions(self) -> int:
        return len(self.of("regression"))

    @property
    def fixes(self) -> int:
        return len(self.of("fix"))

    @property
    def shared(self) -> int:
        return len([c for c in self.changes if c.kind != "errored"])

    def rate(self, which: str) -> tuple[int, int]:
        """(passed, cases) for run a or b over the shared cases."""
        shared = [c for c in self.changes if c.kind != "errored"]
        return sum(bool(c.before if which == "a" else c.after) for c in shared), len(shared)

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.fixes, self.regressions)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        if not self.shared:
            return "The two runs share no case that both graded, so they cannot be compared."
        if not self.significant:
            return (f"No significant difference: {self.fixes} fixed and {self.regressions} "
                    f"regressed of {self.shared} shared cases (p = {self.p_value:.2f}); a swing "
                    "this size is within chance.")
        better = self.fixes > self.regressions
        return (f"Significantly {'better' if better else 'worse'}: {self.fixes} fixed and "
                f"{self.regressions} regressed of {self.shared} shared cases "
                f"(p = {self.p_value:.3f}).")


class EvalStore:
    """Reads over runs and results; pages and the CLI see objects, never SQL."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def run(self, run_id: int) -> EvalRun | None:
        with Session(self.db) as s:
            return s.get(EvalRun, run_id)

    def results(self, run_id: int) -> list[EvalResult]:
        with Session(self.db) as s:
            # In dataset order (case ids follow case positions), then as they finished.
            return list(s.exec(select(EvalResult).where(EvalResult.run_id == run_id)
                               .order_by(EvalResult.case_id, EvalResult.id)).all())

    def case(self, case_id: int | None) -> EvalCase | None:
        if case_id is None:
            return None
        with Session(self.db) as s:
            return s.get(EvalCase, case_id)

    def result(self, result_id: int) -> EvalResult | None:
        with Session(self.db) as s:
            return s.get(EvalResult, result_id)

    def runs(self, suite: str | None = None, limit: int = 200) -> list[RunInfo]:
        """Runs newest first, with pass rate, cost and duration."""
        with Session(self.db) as s:
            query = select(EvalRun).order_by(EvalRun.id.desc()).limit(limit)  # type: ignore[union-attr]
            if suite:
                query = query.where(EvalRun.suite == suite)
            runs = list(s.exec(query).all())
            ids = [r.id for r in runs]
            stats: dict[int, tuple] = {}
            if ids:
                graded = func.sum(func.cast(EvalResult.status != "error", _int()))
                rows = s.exec(select(
                    EvalResult.run_id, func.count(), func.sum(func.cast(EvalResult.passed, _int())),
                    graded, func.sum(EvalResult.cost_usd),
                    func.sum(func.cast(EvalResult.cost_usd.is_(None)  # type: ignore[union-attr]
                                       & (EvalResult.status != "error"), _int())),
                ).where(EvalResult.run_id.in_(ids))  # type: ignore[union-attr]
                    .group_by(EvalResult.run_id)).all()
                stats = {r[0]: r[1:] for r in rows}
        out = []
        for run in runs:
            assert run.id is not None
            done, passed, graded_n, cost, unknown = stats.get(run.id, (0, 0, 0, 0.0, 0))
            config = run.config or {}
            out.append(RunInfo(
                run.id, run.suite, run.label, run.status, run.created_at, run.duration_s or 0.0,
                run.total_cells, int(done or 0), int(passed or 0), int(graded_n or 0),
                int(done or 0) - int(graded_n or 0), float(cost or 0.0), int(unknown or 0),
                [_ref_key(p) for p in config.get("prompts") or [{}]],
                list(config.get("models") or []),
            ))
        return out

    def suites(self) -> list[str]:
        with Session(self.db) as s:
            return sorted(set(s.exec(select(EvalRun.suite)).all()))

    def case_outcomes(self, run_id: int, column: tuple[str, str] | None = None,
                      ) -> dict[str, bool | None]:
        """Per case: True when every cell passed, False when one failed, None when one errored."""
        verdict: dict[str, bool | None] = {}
        for r in self.results(run_id):
            if column is not None and (r.prompt, r.model) != column:
                continue
            if r.status == "error":
                verdict[r.case_key] = None
                continue
            if r.case_key in verdict and verdict[r.case_key] is None:
                continue
            verdict[r.case_key] = verdict.get(r.case_key, True) and r.passed
        return verdict

    def columns(self, run_id: int) -> list[tuple[str, str]]:
        """The run's (prompt, model) columns in the order its suite lists them."""
        run = self.run(run_id)
        config = run.config if run else {}
        return [(_ref_key(p), m) for p in config.get("prompts") or [{}]
                for m in config.get("models") or []]

    def compare(self, run_a: int, run_b: int, *, column_a: tuple[str, str] | None = None,
                column_b: tuple[str, str] | None = None, alpha: float = 0.05) -> Comparison:
        """Case by case, on the cases both runs have: regressions, fixes, unchanged."""
        a = self.case_outcomes(run_a, column_a)
        b = self.case_outcomes(run_b, column_b)
        shared = [k for k in a if k in b]
        return Comparison(run_a, run_b, [CaseChange(k, a[k], b[k]) for k in shared], alpha)

    def matrix(self, run_id: int) -> dict[str, dict[str, list[EvalResult]]]:
        """case key -> column label ("prompt · model") -> that cell's repeats."""
        grid: dict[str, dict[str, list[EvalResult]]] = defaultdict(lambda: defaultdict(list))
        for r in self.results(run_id):
            grid[r.case_key][column_label(r.prompt, r.model)].append(r)
        return {k: dict(v) for k, v in grid.items()}

    def flaky(self, run_id: int) -> list[str]:
        """Cases whose repeats disagree (some passed, some failed)."""
        seen: dict[tuple[str, str, str], set[bool]] = defaultdict(set)
        for r in self.results(run_id):
            if r.status != "error":
                seen[(r.case_key, r.prompt, r.model)].add(r.passed)
        return sorted({k[0] for k, v in seen.items() if len(v) == 2})

    def trend(self, suite: str) -> list[RunInfo]:
        """The suite's finished runs, oldest first, for a pass-rate chart."""
        return [r for r in reversed(self.runs(suite)) if r.graded]

    def baseline(self, suite: str, spec: dict | None, *, before: int | None = None) -> int | None:
        """The run a relative threshold compares with: {run: id} or {label: name}."""
        if not spec:
            return None
        if spec.get("run") is not None:
            return int(spec["run"])
        label = spec.get("label")
        for info in self.runs(suite):
            if before is not None and info.id >= before:
                continue
            if info.status != "done":
                continue
            if info.label == label or any(p.endswith(f"@{label}") for p in info.prompts):
                return info.id
        return None


def column_label(prompt: str, model: str) -> str:
    return model if prompt == "plain" else f"{prompt} · {model}"


def _ref_key(p: dict) -> str:
    from core.evals.suite import PromptRef

    return PromptRef(**p).key if p else "plain"


def _int():  # noqa: ANN202
    from sqlalchemy import Integer

    return Integer

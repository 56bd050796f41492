"""Experiments: A/B tests of prompt versions (and models) on live traffic.

An experiment belongs to one prompt. While it runs, every request for the
prompt's `production` label gets a variant from `assign(salt, unit, weights,
ramp=)` (core.prompts.assignment): the same user always sees the same variant,
on every replica, with no table of who got what. The render stage serves that
variant's version (and model or parameters) and the log row carries the
experiment and variant, so results are plain SQL over `call_log` and
`feedback`. Statistics come from core.prompts.experiment_stats (always-valid
mSPRT, so looking every day does not inflate false winners).

Promotion is gated: the winning version moves to `production` only when a
finished run of the prompt's gating eval suite on that version passes; an
admin may override with a written reason, which goes to the audit trail. The
same gate is registered as a registry `move_checks` entry, so a manual move of
a protected `production` label is gated too.
"""

from __future__ import annotations

import contextvars
import math
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, case, func, select
from sqlmodel import Session

from core.access import Actor
from core.db import session_scope
from core.prompts import experiment_stats as st
from core.prompts.assignment import assign
from core.prompts.experiment_models import ExperimentRow, ExperimentVariantRow, PromptGateRow
from core.prompts.registry import DEFAULT_LABEL, PromptRegistry, slugify
from core.prompts.stage import VariantChoice
from core.prompts.templates import PromptError
from core.prompts.types import LabelMoveRequest
from core.telemetry.models import CallLog, Feedback, utcnow

UNITS = ("user", "session", "request")
STATES = ("draft", "running", "paused", "stopped")
#: key -> (label, kind, higher is better)
METRICS: dict[str, tuple[str, str, bool]] = {
    "thumbs_up": ("thumbs-up rate", "rate", True),
    "eval_score": ("eval pass rate on live answers", "rate", True),
    "error_rate": ("error rate", "rate", False),
    "latency": ("latency", "mean", False),
    "cost": ("cost per call", "mean", False),
}
RUNNING_TTL_S = 1.0
CHECKPOINTS = 20
#: Live answers graded per variant for the eval score (the most recent ones).
EVAL_SAMPLE = 500

C = CallLog.__table__.c  # type: ignore[attr-defined]
FB = Feedback.__table__.c  # type: ignore[attr-defined]

_override: contextvars.ContextVar[bool] = contextvars.ContextVar("gate_override", default=False)


class ExperimentError(PromptError):
    """An experiment could not be created or changed; `detail` is the sentence."""

    error_class = "experiment"


# -- plain objects -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    version: int
    weight: float = 1.0
    control: bool = False
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Experiment:
    id: int
    name: str
    prompt: str
    hypothesis: str | None
    salt: str
    unit: str
    primary_metric: str
    guardrails: tuple[str, ...]
    baseline_rate: float
    mde: float
    ramp: float
    state: str
    variants: tuple[Variant, ...]
    created_by: str
    created_at: datetime
    started_at: datetime | None = None
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    live_asserts: tuple[dict[str, Any], ...] = ()

    @property
    def control(self) -> Variant:
        return next(v for v in self.variants if v.control)

    @property
    def weights(self) -> dict[str, float]:
        return {v.name: v.weight for v in self.variants}

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ExperimentError(f"Experiment '{self.name}' has no variant '{name}'.")


@dataclass(frozen=True, slots=True)
class MetricResult:
    metric: str
    label: str
    value: float
    interval: st.Interval
    n: int
    #: Against control (None for the control itself).
    comparison: st.Comparison | None = None
    verdict: str | None = None
    #: Mann-Whitney p-value of the distribution against control (latency, cost).
    distribution_p: float | None = None


@dataclass(frozen=True, slots=True)
class VariantResult:
    name: str
    version: int
    control: bool
    units: int
    calls: int
    latency_p50: float | None
    latency_p95: float | None
    metrics: dict[str, MetricResult]


@dataclass(frozen=True, slots=True)
class Results:
    experiment: Experiment
    variants: list[VariantResult]
    planned_per_variant: int | None
    srm_p: float
    srm: bool
    fallback_share: float
    winner: str | None
    #: One line per non-control variant on the primary metric.
    verdicts: list[str]
    #: True when the plan was revised from the ratings so far (thumbs-up: users who rate
    #: several calls count for more than one yes/no answer, or less when theirs agree).
    plan_revised: bool = False

    @property
    def units(self) -> int:
        return sum(v.units for v in self.variants)

    def srm_sentence(self) -> str | None:
        if not self.srm:
            return None
        return ("Traffic is not split as configured (sample-ratio mismatch, p = "
                f"{self.srm_p:.1g}); check for an assignment or logging problem before "
                "trusting these results.")


@dataclass(frozen=True, slots=True)
class GateCheck:
    """Whether a version has a passing run of the prompt's gating eval suite."""

    passed: bool
    sentence: str
    suite: str | None = None
    run_id: int | None = None
    failing: list[tuple[str, str]] = field(default_factory=list)


# -- the service -----------------------------------------------------------------
class ExperimentService:
    def __init__(self, db: Engine, registry: PromptRegistry, access: Any | None = None) -> None:
        self._db = db
        self.registry = registry
        self._access = access
        self._lock = threading.Lock()
        # prompt -> (expires, running experiment or None)
        self._running: dict[str, tuple[float, Experiment | None]] = {}

    # -- access --------------------------------------------------------------
    def _require(self, actor: Actor, action: str = "experiments.write") -> None:
        if self._access is not None:
            self._access.require(actor, action)
        elif not actor.can(action):
            from core.access import AccessDenied

            raise AccessDenied(f"Your role ({actor.role}) cannot change experiments.")

    def _audit(self, actor: Actor, action: str, target: str, *, before: Any = None,
               after: Any = None) -> None:
        if self._access is not None:
            self._access.audit(actor, action, target, before=before, after=after)

    # -- create and read -------------------------------------------------------
    def create(
        self, actor: Actor, name: str, prompt: str, variants: Sequence[Variant], *,
        hypothesis: str | None = None, unit: str = "user", primary_metric: str = "thumbs_up",
        guardrails: Sequence[str] = ("error_rate", "latency", "cost"),
        baseline_rate: float = 0.6, mde: float = 0.05, ramp: float = 1.0,
        live_asserts: Sequence[dict[str, Any]] = (), salt: str | None = None,
    ) -> Experiment:
        """A draft experiment. `salt` (default: random) seeds the assignment; pass one only
        to reproduce a split (simulations, tests)."""
        self._require(actor)
        name = (name or "").strip()
        if not name:
            raise ExperimentError("Give the experiment a name.")
        if len(name) > 200:
            raise ExperimentError("The name is too long; keep it under 200 characters.")
        slug = slugify(prompt)
        if not self.registry.exists(slug):
            raise ExperimentError(f"There is no prompt named '{prompt}'.")
        if unit not in UNITS:
            raise ExperimentError("The unit must be user, session or request.")
        if primary_metric not in METRICS:
            raise ExperimentError("Pick the primary metric from the list.")
        guardrails = [g for g in guardrails if g in METRICS and g != primary_metric]
        live_asserts = [dict(a) for a in live_asserts]
        _check_live_asserts(live_asserts)
        if "eval_score" in (primary_metric, *guardrails) and not live_asserts:
            raise ExperimentError("The eval score needs at least one assertion to grade live "
                                  "answers with, like 'contains: refund'.")
        _check_plan(baseline_rate, mde)
        _check_ramp(ramp)
        variants = list(variants)
        if not 2 <= len(variants) <= 10:
            raise ExperimentError("An experiment needs between 2 and 10 variants.")
        names = [v.name.strip() for v in variants]
        if any(not n for n in names):
            raise ExperimentError("Every variant needs a name, like A or B.")
        if len(set(names)) != len(names):
            raise ExperimentError("Two variants have the same name; give each its own.")
        if sum(1 for v in variants if v.control) != 1:
            raise ExperimentError("Mark exactly one variant as the control.")
        if any(v.weight < 0 or not math.isfinite(v.weight) for v in variants) or not any(
                v.weight > 0 for v in variants):
            raise ExperimentError("Weights must be zero or more, and at least one above zero.")
        known = {v.version for v in self.registry.versions(slug)}
        for v in variants:
            if v.version not in known:
                raise ExperimentError(
                    f"Variant {v.name.strip()} uses version {v.version}, which prompt '{slug}' "
                    "does not have.")
        with session_scope(self._db) as s:
            if s.exec(select(ExperimentRow.id).where(ExperimentRow.name == name)).first():
                raise ExperimentError(f"An experiment named '{name}' already exists; "
                                      "pick another name.")
            row = ExperimentRow(
                name=name, hypothesis=(hypothesis or "").strip() or None, prompt=slug,
                salt=(salt or secrets.token_hex(8))[:64], unit=unit, primary_metric=primary_metric,
                guardrails=guardrails, live_asserts=live_asserts,
                baseline_rate=float(baseline_rate), mde=float(mde), ramp=float(ramp),
                state="draft", created_by=actor.name)
            s.add(row)
            s.flush()
            for v in variants:
                s.add(ExperimentVariantRow(
                    experiment_id=row.id, name=v.name.strip(), version=int(v.version),
                    model=(v.model or "").strip() or None, params=dict(v.params or {}),
                    weight=float(v.weight), control=bool(v.control)))
        self._audit(actor, "experiment.create", name, after={
            "prompt": slug, "unit": unit, "metric": primary_metric,
            "variants": [f"{v.name}=v{v.version} ({v.weight:g})" for v in variants]})
        return self.get(name)

    def get(self, name: str) -> Experiment:
        with Session(self._db) as s:
            row = s.exec(select(ExperimentRow).where(ExperimentRow.name == name)).scalars().first()
            if row is None:
                raise ExperimentError(f"There is no experiment named '{name}'.")
            return self._load(s, row)

    def list(self, prompt: str | None = None) -> list[Experiment]:
        with Session(self._db) as s:
            stmt = select(ExperimentRow).order_by(ExperimentRow.id.desc())  # type: ignore[union-attr]
            if prompt:
                stmt = stmt.where(ExperimentRow.prompt == slugify(prompt))
            return [self._load(s, r) for r in s.exec(stmt).scalars().all()]

    @staticmethod
    def _load(s: Session, row: ExperimentRow) -> Experiment:
        vs = s.exec(select(ExperimentVariantRow).where(
            ExperimentVariantRow.experiment_id == row.id).order_by(
            ExperimentVariantRow.id)).scalars().all()  # type: ignore[arg-type]
        assert row.id is not None
        return Experiment(
            row.id, row.name, row.prompt, row.hypothesis, row.salt, row.unit,
            row.primary_metric, tuple(row.guardrails or ()), row.baseline_rate, row.mde,
            row.ramp, row.state,
            tuple(Variant(v.name, v.version, v.weight, v.control, v.model, dict(v.params or {}))
                  for v in vs),
            row.created_by, row.created_at, row.started_at, row.decision, row.decided_by,
            row.decided_at, tuple(row.live_asserts or ()))

    # -- state -------------------------------------------------------------------
    def start(self, actor: Actor, name: str) -> Experiment:
        exp = self.get(name)
        if exp.state == "running":
            return exp
        if exp.state == "stopped":
            raise ExperimentError(f"'{name}' is stopped; create a new experiment to test again.")
        other = self.running_for(exp.prompt, fresh=True)
        if other is not None and other.name != name:
            raise ExperimentError(
                f"'{other.name}' is already running on prompt '{exp.prompt}'; pause or stop it "
                "first.")
        return self._set(actor, exp, "running", started=exp.started_at is None)

    def pause(self, actor: Actor, name: str) -> Experiment:
        exp = self.get(name)
        if exp.state != "running":
            raise ExperimentError(f"'{name}' is not running, so it cannot be paused.")
        return self._set(actor, exp, "paused")

    def stop(self, actor: Actor, name: str, decision: str) -> Experiment:
        exp = self.get(name)
        if exp.state == "stopped":
            raise ExperimentError(f"'{name}' is already stopped.")
        if not (decision or "").strip():
            raise ExperimentError("Write the decision (what was decided and why) to stop.")
        return self._set(actor, exp, "stopped", decision=decision.strip())

    def set_ramp(self, actor: Actor, name: str, ramp: float) -> Experiment:
        self._require(actor)
        _check_ramp(ramp)
        exp = self.get(name)
        if exp.state == "stopped":
            raise ExperimentError(f"'{name}' is stopped; its ramp no longer matters.")
        with session_scope(self._db) as s:
            row = s.get(ExperimentRow, exp.id)
            assert row is not None
            row.ramp = float(ramp)
        self._forget(exp.prompt)
        self._audit(actor, "experiment.ramp", name, before=f"{exp.ramp:.0%}",
                    after=f"{ramp:.0%}")
        return self.get(name)

    def set_weights(self, actor: Actor, name: str, weights: dict[str, float]) -> Experiment:
        """Change the split. Rendezvous hashing moves only the units the change must move."""
        self._require(actor)
        exp = self.get(name)
        if exp.state == "stopped":
            raise ExperimentError(f"'{name}' is stopped; its weights no longer matter.")
        if set(weights) != {v.name for v in exp.variants}:
            raise ExperimentError("Give a weight for every variant of the experiment.")
        if any(w < 0 or not math.isfinite(w) for w in weights.values()) or not any(
                w > 0 for w in weights.values()):
            raise ExperimentError("Weights must be zero or more, and at least one above zero.")
        with session_scope(self._db) as s:
            for row in s.exec(select(ExperimentVariantRow).where(
                    ExperimentVariantRow.experiment_id == exp.id)).scalars().all():
                row.weight = float(weights[row.name])
        self._forget(exp.prompt)
        self._audit(actor, "experiment.weights", name, before=exp.weights, after=weights)
        return self.get(name)

    def _set(self, actor: Actor, exp: Experiment, state: str, *, started: bool = False,
             decision: str | None = None) -> Experiment:
        self._require(actor)
        with session_scope(self._db) as s:
            row = s.get(ExperimentRow, exp.id)
            assert row is not None
            row.state = state
            if started:
                row.started_at = utcnow()
            if state == "stopped":
                row.decision, row.decided_by, row.decided_at = decision, actor.name, utcnow()
        self._forget(exp.prompt)
        verb = {"running": "start", "paused": "pause", "stopped": "stop"}[state]
        self._audit(actor, f"experiment.{verb}", exp.name, before=exp.state,
                    after=state if decision is None else {"state": state, "decision": decision})
        return self.get(exp.name)

    # -- serving -------------------------------------------------------------------
    def running_for(self, prompt: str, *, fresh: bool = False) -> Experiment | None:
        """The experiment running on `prompt`, cached for a second (so every replica follows)."""
        now = time.monotonic()
        with self._lock:
            hit = self._running.get(prompt)
        if hit is not None and hit[0] > now and not fresh:
            return hit[1]
        with Session(self._db) as s:
            row = s.exec(select(ExperimentRow).where(
                ExperimentRow.prompt == prompt, ExperimentRow.state == "running")
            ).scalars().first()
            exp = self._load(s, row) if row is not None else None
        with self._lock:
            self._running[prompt] = (now + RUNNING_TTL_S, exp)
        return exp

    def _forget(self, prompt: str) -> None:
        with self._lock:
            self._running.pop(prompt, None)

    def select_variant(self, req: Any) -> VariantChoice | None:
        """The render stage's `variant_selector`: a variant for a production request, or None."""
        if req.prompt_label not in (None, DEFAULT_LABEL) or not req.prompt_name:
            return None
        exp = self.running_for(slugify(req.prompt_name))
        if exp is None:
            return None
        unit = unit_id(exp.unit, req)
        name = assign(exp.salt, unit, exp.weights, ramp=exp.ramp)
        if name is None:
            return None
        v = exp.variant(name)
        return VariantChoice(variant=name, version=v.version, experiment=exp.name,
                             model=v.model, params=v.params or None)

    def preview(self, name: str, variant: str) -> VariantChoice:
        """What the playground sends to try one variant: its version, model and parameters."""
        exp = self.get(name)
        v = exp.variant(variant)
        return VariantChoice(variant=v.name, version=v.version, experiment=exp.name,
                             model=v.model, params=v.params or None)

    # -- results -----------------------------------------------------------------------
    def results(self, name: str) -> Results:
        exp = self.get(name)
        unit_col = _unit_expr(exp.unit)
        with self._db.connect() as conn:
            base = conn.execute(
                select(C.variant, func.count(), func.count(func.distinct(unit_col)),
                       func.sum(case((C.status != "ok", 1), else_=0)),
                       func.sum(case((C.user_id.is_(None), 1), else_=0)))
                .where(C.experiment == exp.name).group_by(C.variant)).all()
            # Thumbs per unit: a user who rates many calls is one user (compare_ratio).
            thumbs = conn.execute(
                select(C.variant, func.sum(case((FB.score > 0, 1), else_=0)), func.count())
                .select_from(Feedback.__table__.join(CallLog.__table__, FB.call_id == C.id))
                .where(C.experiment == exp.name).group_by(C.variant, unit_col)).all()
            values = conn.execute(
                select(C.variant, C.latency_ms, C.cost_usd)
                .where(C.experiment == exp.name, C.status == "ok")).all()
            graded: dict[str, tuple[int, int]] = {}
            if exp.live_asserts and "eval_score" in (exp.primary_metric, *exp.guardrails):
                grade = _grader(exp.live_asserts)
                for v in exp.variants:
                    texts = conn.execute(
                        select(C.output_text).where(C.experiment == exp.name,
                                                    C.variant == v.name, C.status == "ok")
                        .order_by(C.id.desc()).limit(EVAL_SAMPLE)).scalars().all()
                    graded[v.name] = (sum(grade(t or "") for t in texts), len(texts))
        calls = {r[0]: (int(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0)) for r in base}
        per_unit: dict[str, list[tuple[int, int]]] = {}
        for v, k, n in thumbs:
            per_unit.setdefault(v, []).append((int(k or 0), int(n)))
        lat: dict[str, list[float]] = {}
        cost: dict[str, list[float]] = {}
        for v, latency, c in values:
            if latency is not None:
                lat.setdefault(v, []).append(float(latency))
            if c is not None:
                cost.setdefault(v, []).append(float(c))
        control = exp.control.name

        def metric(key: str, vname: str) -> MetricResult:
            label, kind, higher = METRICS[key]
            # The primary metric's mixing scale is the planned effect, as in the plan.
            tau = abs(exp.mde) if key == exp.primary_metric else 0.05
            if kind == "rate":
                cmp: st.Comparison | None
                if key == "thumbs_up":  # per unit: a user who rates a lot is still one user
                    mine, theirs = per_unit.get(vname, []), per_unit.get(control, [])
                    n = sum(p[1] for p in mine)
                    value = sum(p[0] for p in mine) / n if n else 0.0
                    interval = st.ratio_interval(mine)
                    cmp = None if vname == control else st.compare_ratio(
                        theirs, mine, metric=key, tau=tau)
                else:
                    if key == "eval_score":
                        k, n = graded.get(vname, (0, 0))
                        kc, nc = graded.get(control, (0, 0))
                    else:
                        n, _, k, _ = calls.get(vname, (0, 0, 0, 0))
                        nc, _, kc, _ = calls.get(control, (0, 0, 0, 0))
                    value, interval = (k / n if n else 0.0), st.wilson(k, n)
                    cmp = None if vname == control else st.compare_rates(
                        kc, nc, k, n, metric=key, tau=tau)
                primary = key == exp.primary_metric
                return MetricResult(key, label, value, interval, n, cmp,
                                    None if cmp is None else st.verdict(
                                        cmp, variant_name=vname, label=label,
                                        higher_is_better=higher,
                                        baseline=exp.baseline_rate if primary else None,
                                        mde=exp.mde if primary else None))
            xs = (lat if key == "latency" else cost).get(vname, [])
            cs = (lat if key == "latency" else cost).get(control, [])
            value = float(np.mean(xs)) if xs else 0.0
            interval = _mean_interval(xs)
            if vname == control:
                return MetricResult(key, label, value, interval, len(xs))
            cmp = st.compare_means(cs, xs, metric=key)
            fmt = "ms" if key == "latency" else "$"
            return MetricResult(key, label, value, interval, len(xs), cmp,
                                _mean_verdict(cmp, vname, label, higher, fmt),
                                st.mann_whitney_p(cs, xs))

        out: list[VariantResult] = []
        keys = [exp.primary_metric, *[g for g in exp.guardrails if g != exp.primary_metric]]
        for v in exp.variants:
            n_calls, n_units, _, _ = calls.get(v.name, (0, 0, 0, 0))
            ls = lat.get(v.name, [])
            out.append(VariantResult(
                v.name, v.version, v.control, n_units, n_calls,
                float(np.percentile(ls, 50)) if ls else None,
                float(np.percentile(ls, 95)) if ls else None,
                {k: metric(k, v.name) for k in keys}))
        units = {v.name: v.units for v in out}
        srm_p = st.srm_p_value(units, exp.weights)
        total = sum(c[0] for c in calls.values())
        fallback = sum(c[3] for c in calls.values()) / total if total and exp.unit == "user" \
            else 0.0
        # Traffic split wrongly means the comparison cannot be trusted: no winner then.
        winner = None if srm_p < st.SRM_P else _winner(exp, out)
        verdicts = [r.metrics[exp.primary_metric].verdict or "" for r in out if not r.control]
        planned = plan(exp.baseline_rate, exp.mde) if METRICS[exp.primary_metric][1] == "rate" \
            else None
        # The same revision the verdicts make ("about N more users"), so bar and text agree.
        scales = [c.unit_scale for r in out if not r.control
                  and (c := r.metrics[exp.primary_metric].comparison) is not None
                  and c.unit_scale != 1.0]
        if planned and scales:
            planned = math.ceil(planned * max(scales))
        return Results(exp, out, planned, srm_p, srm_p < st.SRM_P, fallback, winner, verdicts,
                       plan_revised=bool(planned and scales))

    def timeline(self, name: str, metric: str | None = None,
                 checkpoints: int = CHECKPOINTS) -> dict[str, Any]:
        """The metric per variant over time (cumulative, with a 95% band), and the
        cumulative difference against control with its always-valid interval.

        Returns {"variants": {name: [(time, value, low, high, n), ...]},
        "difference": {name: [(time, diff, low, high), ...]}}.
        """
        exp = self.get(name)
        metric = metric or exp.primary_metric
        _, kind, _ = METRICS[metric]
        with self._db.connect() as conn:
            if metric == "thumbs_up":
                stmt = (select(C.variant, C.created_at, case((FB.score > 0, 1.0), else_=0.0),
                               _unit_expr(exp.unit))
                        .select_from(Feedback.__table__.join(CallLog.__table__,
                                                             FB.call_id == C.id)))
            elif metric == "eval_score":
                stmt = select(C.variant, C.created_at, C.output_text).where(C.status == "ok")
            elif metric == "error_rate":
                stmt = select(C.variant, C.created_at, case((C.status != "ok", 1.0), else_=0.0))
            else:
                col = C.latency_ms if metric == "latency" else C.cost_usd
                stmt = select(C.variant, C.created_at, col).where(col.is_not(None),
                                                                    C.status == "ok")
            rows = conn.execute(stmt.where(C.experiment == exp.name)
                                .order_by(C.created_at, C.id)).all()
        if metric == "eval_score":
            grade = _grader(exp.live_asserts)
            rows = [(v, at, 1.0 if grade(text or "") else 0.0) for v, at, text in rows]
        out: dict[str, Any] = {"variants": {}, "difference": {}}
        if not rows:
            return out
        marks = sorted({min(len(rows) - 1, math.ceil((i + 1) * len(rows) / checkpoints) - 1)
                        for i in range(checkpoints)})
        seen: dict[str, list[float]] = {v.name: [] for v in exp.variants}
        # Thumbs: (ups, rated) per unit, so the band and the test count users (compare_ratio).
        units: dict[str, dict[Any, list[int]]] = {v.name: {} for v in exp.variants}
        control = exp.control.name
        tau = abs(exp.mde) if metric == exp.primary_metric else 0.05
        j = 0
        for i, (variant, at, value, *unit) in enumerate(rows):
            if variant in seen:
                seen[variant].append(float(value))
                if unit:
                    tally = units[variant].setdefault(unit[0], [0, 0])
                    tally[0] += int(value)
                    tally[1] += 1
            if i != marks[j]:
                continue
            j += 1
            for v, xs in seen.items():
                if not xs:
                    continue
                pairs = [(a, b) for a, b in units[v].values()]
                if metric == "thumbs_up":
                    band = st.ratio_interval(pairs)
                elif kind == "rate":
                    band = st.wilson(int(sum(xs)), len(xs))
                else:
                    band = _mean_interval(xs)
                out["variants"].setdefault(v, []).append(
                    (at, float(np.mean(xs)), band.low, band.high, len(xs)))
                cs = seen[control]
                if v == control or not cs:
                    continue
                if metric == "thumbs_up":
                    cmp = st.compare_ratio([(a, b) for a, b in units[control].values()], pairs,
                                           tau=tau)
                elif kind == "rate":
                    cmp = st.compare_rates(int(sum(cs)), len(cs), int(sum(xs)), len(xs), tau=tau)
                else:
                    cmp = st.compare_means(cs, xs)
                out["difference"].setdefault(v, []).append(
                    (at, cmp.difference, _finite(cmp.interval.low), _finite(cmp.interval.high)))
        return out

    # -- the eval gate ------------------------------------------------------------------
    def set_gate(self, actor: Actor, prompt: str, suite: str | None) -> None:
        """Name the eval suite that gates `prompt`'s production label (None: no gate)."""
        self._require(actor, "labels.protected")
        slug = slugify(prompt)
        with session_scope(self._db) as s:
            row = s.exec(select(PromptGateRow).where(PromptGateRow.prompt == slug)
                         ).scalars().first()
            before = row.suite if row else None
            if suite is None or not suite.strip():
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(PromptGateRow(prompt=slug, suite=suite.strip(), set_by=actor.name))
            else:
                row.suite, row.set_by, row.set_at = suite.strip(), actor.name, utcnow()
        self._audit(actor, "prompt.gate", slug, before=before, after=suite or None)

    def gate_suite(self, prompt: str) -> str | None:
        with Session(self._db) as s:
            return s.exec(select(PromptGateRow.suite).where(
                PromptGateRow.prompt == slugify(prompt))).scalars().first()

    def gate_check(self, prompt: str, version: int) -> GateCheck:
        """Does `version` have a passing run of the prompt's gating suite?"""
        from core.evals.gate import evaluate
        from core.evals.models import EvalRun
        from core.evals.results import EvalStore
        from core.evals.suite import Suite

        slug = slugify(prompt)
        suite_name = self.gate_suite(slug)
        if suite_name is None:
            return GateCheck(True, f"Prompt '{slug}' has no gating eval suite, so any version "
                             "may be promoted.")
        store = EvalStore(self._db)
        key = f"{slug}:{version}"
        runs = [r for r in store.runs(suite_name) if r.prompts == [key] and r.status == "done"]
        if not runs:
            return GateCheck(False, f"Version {version} has no finished run of the gating eval "
                             f"suite '{suite_name}'; run it on that version first.", suite_name)
        failing: list[tuple[str, str]] = []
        for run in runs:
            with Session(self._db) as s:
                row = s.get(EvalRun, run.id)
                assert row is not None
                config = dict(row.config)
            config.pop("dataset_id", None)
            result = evaluate(store, run.id, Suite.from_snapshot(config))
            if result.passed:
                return GateCheck(True, f"Version {version} passed the gating eval suite "
                                 f"'{suite_name}' (run #{run.id}).", suite_name, run.id)
            if run is runs[0]:
                failing = _failing_cases(store, run.id)
                reasons = " ".join(result.reasons)
        return GateCheck(False, f"Version {version} has not passed the gating eval suite "
                         f"'{suite_name}': the latest run #{runs[0].id} failed. {reasons}",
                         suite_name, runs[0].id, failing)

    def run_gate(self, actor: Actor, services: Any, prompt: str, version: int) -> GateCheck:
        """Run the prompt's gating suite on `version` (the suite as its latest run had it)."""
        from core.evals.gate import gate
        from core.evals.results import EvalStore
        from core.evals.runner import Runner
        from core.evals.suite import PromptRef

        self._require(actor, "evals.run")
        suite_name = self.gate_suite(prompt)
        if suite_name is None:
            return self.gate_check(prompt, version)
        runs = EvalStore(self._db).runs(suite_name, limit=1)
        if not runs:
            raise ExperimentError(f"The suite '{suite_name}' has never run, so Trellis does not "
                                  "know its cases; run it once on the Evals page first.")
        suite = Runner(services).suite_of(runs[0].id)
        gate(PromptRef(slugify(prompt), None, int(version)), suite, services=services)
        self._audit(actor, "prompt.gate_run", slugify(prompt), after=f"version {version}")
        return self.gate_check(prompt, version)

    def move_check(self, ask: LabelMoveRequest) -> str | None:
        """Registry `move_checks` entry: gate moves of `production` on the eval suite."""
        if ask.label != DEFAULT_LABEL or _override.get():
            return None
        check = self.gate_check(ask.prompt, ask.to_version)
        if check.passed:
            return None
        cases = "; ".join(f"{k}: {why}" for k, why in check.failing[:3])
        return check.sentence + (f" Failing cases: {cases}." if cases else "")

    # -- promotion --------------------------------------------------------------------
    def promote(self, actor: Actor, name: str, variant: str | None = None, *,
                override_reason: str | None = None) -> Experiment:
        """Move production to the winner's version and stop the experiment, if the gate allows.

        `override_reason` (admins only) promotes despite a failing or missing eval run.
        """
        self._require(actor)
        exp = self.get(name)
        if exp.state == "stopped":
            raise ExperimentError(f"'{name}' is already stopped.")
        if variant is None:
            variant = self.results(name).winner
            if variant is None:
                raise ExperimentError("There is no winner yet, so nothing can be promoted; "
                                      "wait for more data or stop the experiment.")
        v = exp.variant(variant)
        check = self.gate_check(exp.prompt, v.version)
        reason = (override_reason or "").strip()
        if not check.passed and not reason:
            cases = "; ".join(f"{k}: {why}" for k, why in check.failing[:3])
            raise ExperimentError(check.sentence + (f" Failing cases: {cases}." if cases else "")
                                  + " An admin may override with a written reason.")
        if not check.passed:
            self._require(actor, "labels.protected")
        token = _override.set(not check.passed)
        try:
            current = self.registry.resolve_label(exp.prompt, DEFAULT_LABEL) \
                if _has_production(self.registry, exp.prompt) else None
            if current != v.version:
                self.registry.move_label(
                    exp.prompt, DEFAULT_LABEL, v.version, by=actor.name,
                    reason=f"experiment '{name}': {variant} won"
                    + (f" (eval gate overridden: {reason})" if not check.passed else ""))
        finally:
            _override.reset(token)
        decision = f"Promoted {variant} (version {v.version}) to production."
        if not check.passed:
            decision += f" Eval gate overridden by {actor.name}: {reason}"
            self._audit(actor, "experiment.gate_override", name,
                        before=check.sentence, after=reason)
        self._audit(actor, "experiment.promote", name, before=f"production v{current}",
                    after=f"production v{v.version}")
        return self._set(actor, self.get(name), "stopped", decision=decision)


# -- helpers ------------------------------------------------------------------------
def plan(baseline: float, mde: float, power: float = 0.8) -> int:
    """Units per variant the always-valid test needs to detect `mde` with `power`."""
    _check_plan(baseline, mde)
    try:
        return st.sample_size(baseline, mde, power=power)
    except ValueError as exc:
        raise ExperimentError("That change is too small to detect with any practical number "
                              "of users; plan for a larger one.") from exc


def unit_id(unit: str, req: Any) -> str:
    """The id a request is assigned on: user (falling back to session), session, or request."""
    trace = req.trace_id or uuid.uuid4().hex
    if unit == "request":
        return f"r:{trace}"
    if unit == "user" and req.user_id:
        return f"u:{req.user_id}"
    if req.session_id:
        return f"s:{req.session_id}"
    return f"r:{trace}"


def _unit_expr(unit: str) -> Any:
    if unit == "request":
        return C.trace_id
    if unit == "session":
        return func.coalesce(C.session_id, C.trace_id)
    return func.coalesce(C.user_id, C.session_id, C.trace_id)


def _check_plan(baseline: float, mde: float) -> None:
    if not 0 < baseline < 1:
        raise ExperimentError("The baseline rate must be between 0% and 100%, like 60%.")
    if mde == 0 or not 0 < baseline + mde < 1:
        raise ExperimentError("The minimum detectable change must be non-zero and keep the rate "
                              "between 0% and 100%.")


def _check_ramp(ramp: float) -> None:
    if not 0 < ramp <= 1:
        raise ExperimentError("The ramp must be a share of traffic above 0% and up to 100%.")


def _check_live_asserts(specs: list[dict[str, Any]]) -> None:
    from core.evals.assertions import AssertionError_, Similar, _Judged, build

    for spec in specs:
        try:
            built = build(spec)
        except AssertionError_ as err:
            raise ExperimentError(str(err)) from err
        if isinstance(built, _Judged | Similar):
            raise ExperimentError(f"'{spec.get('type')}' needs a model to grade, which live "
                                  "traffic would pay for; use assertions that need none "
                                  "(contains, regex, is-json, word count, ...).")


def _grader(specs: Sequence[dict[str, Any]]):  # noqa: ANN202 - str -> bool
    """Whether an answer passes every assertion (the eval runner's own assertion classes)."""
    from core.evals.assertions import CellContext, build

    built = [build(dict(s)) for s in specs]

    def grade(text: str) -> bool:
        cell = CellContext(output=text)
        return all(a.evaluate(cell).passed for a in built)

    return grade


def _mean_interval(xs: Sequence[float]) -> st.Interval:
    if len(xs) < 2:
        return st.Interval(float("nan"), float("nan"))
    from scipy import stats

    a = np.asarray(xs, dtype=float)
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return st.Interval(float(a.mean()) - half, float(a.mean()) + half)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _mean_verdict(cmp: st.Comparison, name: str, label: str, higher: bool, unit: str) -> str:
    def f(x: float) -> str:
        return f"{x:+,.0f} ms" if unit == "ms" else f"{x:+.5f} $"

    if cmp.significant:
        better = (cmp.difference > 0) == higher
        return (f"{name} is {'better' if better else 'worse'} on {label}, {f(cmp.difference)}, "
                f"95% interval {f(cmp.interval.low)} to {f(cmp.interval.high)}.")
    if min(cmp.n_control, cmp.n_variant) < st.MIN_UNITS:
        return f"Not enough data yet on {label}: each variant needs at least {st.MIN_UNITS} calls."
    return f"No clear difference on {label} so far ({f(cmp.difference)})."


def _winner(exp: Experiment, out: list[VariantResult]) -> str | None:
    """The best variant that beats control on the primary metric and harms no guardrail;
    the control itself never 'wins' (there is nothing to promote)."""
    _, _, higher = METRICS[exp.primary_metric]
    best: tuple[float, str] | None = None
    for r in out:
        m = r.metrics[exp.primary_metric]
        if r.control or m.comparison is None or not m.comparison.significant:
            continue
        if (m.comparison.difference > 0) != higher:
            continue
        harmed = any(
            g.comparison is not None and g.comparison.significant
            and (g.comparison.difference > 0) != METRICS[g.metric][2]
            for k, g in r.metrics.items() if k != exp.primary_metric and k == "error_rate")
        if harmed:
            continue
        gain = abs(m.comparison.difference)
        if best is None or gain > best[0]:
            best = (gain, r.name)
    return best[1] if best else None


def _failing_cases(store: Any, run_id: int) -> list[tuple[str, str]]:
    out = []
    for r in store.results(run_id):
        if r.passed:
            continue
        why = r.error or next((a["reason"] for a in (r.assertions or []) if not a["passed"]),
                              "failed")
        out.append((r.case_key, str(why)))
    return out


def _has_production(registry: PromptRegistry, prompt: str) -> bool:
    try:
        registry.resolve_label(prompt, DEFAULT_LABEL)
    except PromptError:
        return False
    return True

"""Suites: what to run, as a YAML file or a dict (the page builds one the same way).

```yaml
name: support-answers
dataset: cases.jsonl            # a CSV/JSONL file beside the suite, or {name: <stored dataset>}
prompts:                        # optional; leave out to send each case's own message
  - support-answer@production   # name@label, name:version, or {name, label|version}
models: [local/gemma-3-270m, route/cheap]
system: You answer from the company documents.   # for plain-message cases
params: {temperature: 0, max_tokens: 200}
rag: samples                    # search this document collection for each case
repeats: 1
concurrency: 8
cache: false                    # reuse answers to identical requests from earlier runs
judge: local/gemma-3-270m       # model for rubric / factuality / grounded
threshold: null                 # per case: null = every assertion passes, else weighted score
assert:                         # checked on every case; a case may add its own under `assert`
  - {type: icontains, value: "30 days"}
thresholds:                     # the gate
  pass_rate: 0.8
  max_regressions: 0            # significant regressions allowed against the baseline
  baseline: {label: production} # or {run: 12}
```
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.evals.assertions import AssertionError_, build
from core.evals.datasets import CaseIn, DatasetError, preview_import

#: The demo suite shipped with the sample documents (data/samples/evals/README.md).
DEMO_SUITE = Path(__file__).resolve().parents[2] / "data" / "samples" / "evals" / "demo.yaml"

_REF = re.compile(r"^(?P<name>[^@:]+?)(?:@(?P<label>[\w.-]+)|:(?P<version>\d+))?$")


class SuiteError(ValueError):
    """A suite file that cannot be run; the message is one plain sentence."""


@dataclass(frozen=True)
class PromptRef:
    """One entry of the prompts axis: no prompt (the case's own message), or a registry prompt."""

    name: str | None = None
    label: str | None = None
    version: int | None = None

    @property
    def key(self) -> str:
        if self.name is None:
            return "plain"
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.label}" if self.label else self.name

    @classmethod
    def parse(cls, value: Any) -> PromptRef:
        if value is None or value in ("plain", "", "none"):
            return cls()
        if isinstance(value, dict):
            version = value.get("version")
            return cls(str(value["name"]), value.get("label"),
                       int(version) if version is not None else None)
        match = _REF.match(str(value).strip())
        if not match:
            raise SuiteError(f"'{value}' is not a prompt reference; write name@label or "
                             "name:version.")
        version = match.group("version")
        return cls(match.group("name").strip(), match.group("label"),
                   int(version) if version else None)


@dataclass
class Thresholds:
    pass_rate: float | None = None
    max_regressions: int | None = None
    baseline: dict[str, Any] | None = None
    alpha: float = 0.05


@dataclass
class Suite:
    name: str
    cases: list[CaseIn] = field(default_factory=list)
    dataset_name: str | None = None
    dataset_id: int | None = None
    prompts: list[PromptRef] = field(default_factory=lambda: [PromptRef()])
    models: list[str] = field(default_factory=list)
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    rag: dict[str, Any] | None = None
    repeats: int = 1
    concurrency: int = 8
    cache: bool = False
    stream: bool = True
    judge: str | None = None
    threshold: float | None = None
    asserts: list[dict[str, Any]] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    description: str | None = None

    def check(self) -> None:
        if not self.models:
            raise SuiteError("The suite names no model; add at least one under 'models'.")
        if self.repeats < 1 or self.repeats > 100:
            raise SuiteError("Repeats must be between 1 and 100.")
        if not 1 <= self.concurrency <= 64:
            raise SuiteError("Concurrency must be between 1 and 64.")
        unknown = set(self.params) - {"temperature", "max_tokens", "top_p", "stop"}
        if unknown:
            raise SuiteError(f"'{sorted(unknown)[0]}' is not a model parameter; use temperature, "
                             "max_tokens, top_p or stop.")
        try:
            for spec in self.asserts:
                build(spec)
            for case in self.cases:
                for spec in case.metadata.get("assert") or []:
                    build(spec)
        except AssertionError_ as err:
            raise SuiteError(str(err)) from err
        tp = self.thresholds.pass_rate
        if tp is not None and not 0 <= tp <= 1:
            raise SuiteError("thresholds.pass_rate must be between 0 and 1, like 0.8.")

    def snapshot(self) -> dict[str, Any]:
        """The configuration stored with a run (cases live in the dataset version)."""
        data = asdict(self)
        data.pop("cases")
        data["prompts"] = [asdict(p) for p in self.prompts]
        return data

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Suite:
        data = dict(data)
        data["prompts"] = [PromptRef(**p) for p in data.get("prompts") or [{}]]
        data["thresholds"] = Thresholds(**(data.get("thresholds") or {}))
        return cls(**data)

    # -- files ----------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Suite:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SuiteError(f"The suite file {path} does not exist.") from exc
        except yaml.YAMLError as exc:
            raise SuiteError(f"The suite file {path.name} is not valid YAML ({exc}).") from exc
        return cls.from_dict(raw, base=path.parent, default_name=path.stem)

    @classmethod
    def from_dict(cls, raw: Any, *, base: Path | None = None, default_name: str = "suite",
                  ) -> Suite:
        if not isinstance(raw, dict):
            raise SuiteError("A suite must be a mapping with at least 'dataset' and 'models'.")
        known = {"name", "description", "dataset", "cases", "prompts", "models", "system",
                 "params", "rag", "repeats", "concurrency", "cache", "stream", "judge",
                 "threshold", "assert", "thresholds"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SuiteError(f"The suite has an unknown setting '{unknown[0]}'.")
        suite = cls(name=str(raw.get("name") or default_name),
                    description=raw.get("description"))
        dataset = raw.get("dataset")
        if isinstance(dataset, dict):
            suite.dataset_name = str(dataset.get("name") or "")
        elif isinstance(dataset, str):
            file = (base or Path.cwd()) / dataset
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise SuiteError(f"The dataset file {dataset} could not be read.") from exc
            try:
                preview = preview_import(data, file.name, mapping=_identity(file.name, data))
            except DatasetError as err:
                raise SuiteError(f"The dataset file {dataset}: {err}") from err
            if preview.bad_rows:
                row, why = preview.bad_rows[0]
                raise SuiteError(f"The dataset file {dataset} has a bad row {row}: {why}.")
            suite.cases = preview.cases
            suite.dataset_name = suite.name
        for item in raw.get("cases") or []:
            suite.cases.append(CaseIn.from_dict(item))
            suite.dataset_name = suite.dataset_name or suite.name
        if not suite.cases and not suite.dataset_name:
            raise SuiteError("The suite has no cases: set 'dataset' to a file or a stored dataset.")
        prompts = raw.get("prompts")
        suite.prompts = [PromptRef.parse(p) for p in prompts] if prompts else [PromptRef()]
        models = raw.get("models") or []
        suite.models = [str(m) for m in ([models] if isinstance(models, str) else models)]
        suite.system = raw.get("system")
        suite.params = dict(raw.get("params") or {})
        rag = raw.get("rag")
        suite.rag = {"collection": rag} if isinstance(rag, str) else (dict(rag) if rag else None)
        suite.repeats = int(raw.get("repeats") or 1)
        suite.concurrency = int(raw.get("concurrency") or 8)
        suite.cache = bool(raw.get("cache", False))
        suite.stream = bool(raw.get("stream", True))
        suite.judge = raw.get("judge")
        threshold = raw.get("threshold")
        suite.threshold = float(threshold) if threshold is not None else None
        suite.asserts = list(raw.get("assert") or [])
        th = raw.get("thresholds") or {}
        suite.thresholds = Thresholds(
            pass_rate=float(th["pass_rate"]) if th.get("pass_rate") is not None else None,
            max_regressions=int(th["max_regressions"])
            if th.get("max_regressions") is not None else None,
            baseline=th.get("baseline"), alpha=float(th.get("alpha", 0.05)))
        suite.check()
        return suite


def _identity(filename: str, data: bytes) -> dict[str, str]:
    """Suite files use the stored field names; extra columns become variables."""
    from core.evals.datasets import guess_mapping, read_rows

    columns, _, _ = read_rows(data, filename)
    mapping = {t: c for t, c in guess_mapping(columns).items()}
    used = set(mapping.values()) | {"assert", "vars", "variables"}
    if filename.lower().endswith((".csv", ".tsv")):
        for column in columns:
            if column not in used:
                mapping[f"var:{column}"] = column
    return mapping

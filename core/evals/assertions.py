"""Assertions: small classes with a name and parameters that grade one output.

Each returns an `Outcome`: a score in [0, 1], pass/fail and a one-line
reason. A case's assertions are combined by weight: with no threshold the case
passes when every weighted assertion passes (promptfoo's default); with a
threshold, when the weighted mean score reaches it. A weight of 0 makes an
assertion informational. Nothing here evaluates user-supplied code: regular
expressions run with a time limit (the `regex` package), JSON Schemas are
data, and the model-graded kinds send text to a judge model through the engine.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import regex as safe_regex

__all__ = [
    "ASSERTIONS", "Assertion", "AssertionError_", "CellContext", "Outcome", "build", "combine",
]

#: Seconds a single regular expression may run before it is stopped.
REGEX_TIMEOUT_S = 0.25
_SNIPPET = 60


class AssertionError_(ValueError):  # noqa: N801 - the builtin name is taken
    """A suite names an assertion wrongly; the message is one plain sentence."""


@dataclass
class Outcome:
    name: str
    score: float
    passed: bool
    reason: str
    weight: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "score": round(self.score, 4), "passed": self.passed,
                "reason": self.reason, "weight": self.weight}


@dataclass
class CellContext:
    """What an assertion may look at for one cell."""

    output: str
    expected: str | None = None
    context: str | None = None
    status: str = "ok"
    latency_ms: float | None = None
    ttft_ms: float | None = None
    cost_usd: float | None = None
    output_tokens: int | None = None
    guard_report: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    #: judge(model_or_None, prompt) -> the judge's answer text (through the engine).
    judge: Callable[[str | None, str], str] | None = None


def _snip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


@dataclass
class Assertion:
    """Base class: subclasses set `name` and implement `grade`."""

    name: ClassVar[str] = ""
    weight: float = 1.0

    def grade(self, cell: CellContext) -> tuple[float, str]:
        raise NotImplementedError

    def pass_mark(self) -> float:
        return 1.0

    def evaluate(self, cell: CellContext) -> Outcome:
        try:
            score, reason = self.grade(cell)
        except AssertionError_ as err:
            score, reason = 0.0, str(err)
        score = min(1.0, max(0.0, float(score))) if math.isfinite(score) else 0.0
        return Outcome(self.name, score, score >= self.pass_mark(), reason, self.weight)

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}


def _binary(ok: bool, yes: str, no: str) -> tuple[float, str]:
    return (1.0, yes) if ok else (0.0, no)


# -- deterministic ------------------------------------------------------------
@dataclass
class Equals(Assertion):
    name: ClassVar[str] = "equals"
    value: str | None = None  # None: the case's expected output
    ignore_case: bool = False

    def grade(self, cell: CellContext) -> tuple[float, str]:
        want = self.value if self.value is not None else cell.expected
        if want is None:
            raise AssertionError_("equals has no value and the case has no expected output")
        got, exp = cell.output.strip(), want.strip()
        if self.ignore_case:
            got, exp = got.casefold(), exp.casefold()
        return _binary(got == exp, "the output equals the expected text",
                       f"the output '{_snip(cell.output)}' is not '{_snip(want)}'")


@dataclass
class Contains(Assertion):
    name: ClassVar[str] = "contains"
    value: str = ""

    def _fold(self, s: str) -> str:
        return s

    def grade(self, cell: CellContext) -> tuple[float, str]:
        return _binary(self._fold(self.value) in self._fold(cell.output),
                       f"the output contains '{_snip(self.value)}'",
                       f"the output does not contain '{_snip(self.value)}'")


@dataclass
class IContains(Contains):
    name: ClassVar[str] = "icontains"

    def _fold(self, s: str) -> str:
        return s.casefold()


@dataclass
class ContainsAll(Assertion):
    name: ClassVar[str] = "contains-all"
    values: list[str] = field(default_factory=list)
    ignore_case: bool = True

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if not self.values:
            raise AssertionError_("contains-all needs a list of values")
        fold = str.casefold if self.ignore_case else str
        out = fold(cell.output)
        missing = [v for v in self.values if fold(v) not in out]
        score = 1.0 - len(missing) / len(self.values)
        if not missing:
            return 1.0, f"the output contains all {len(self.values)} values"
        return score, f"the output is missing {', '.join(repr(_snip(m)) for m in missing[:5])}"

    def pass_mark(self) -> float:
        return 1.0


@dataclass
class ContainsAny(Assertion):
    name: ClassVar[str] = "contains-any"
    values: list[str] = field(default_factory=list)
    ignore_case: bool = True

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if not self.values:
            raise AssertionError_("contains-any needs a list of values")
        fold = str.casefold if self.ignore_case else str
        out = fold(cell.output)
        hit = next((v for v in self.values if fold(v) in out), None)
        listed = ", ".join(f"'{_snip(v)}'" for v in self.values[:5])
        more = f" or {len(self.values) - 5} more" if len(self.values) > 5 else ""
        return _binary(hit is not None, f"the output contains '{_snip(hit or '')}'",
                       f"the output contains none of {listed}{more}")


@dataclass
class NotContains(Assertion):
    name: ClassVar[str] = "not-contains"
    value: str | None = None
    values: list[str] = field(default_factory=list)
    ignore_case: bool = True

    def grade(self, cell: CellContext) -> tuple[float, str]:
        banned = ([self.value] if self.value else []) + list(self.values)
        if not banned:
            raise AssertionError_("not-contains needs a value")
        fold = str.casefold if self.ignore_case else str
        out = fold(cell.output)
        hit = next((v for v in banned if fold(v) in out), None)
        return _binary(hit is None, "the output contains none of the banned text",
                       f"the output contains '{_snip(hit or '')}'")


@dataclass
class StartsWith(Assertion):
    name: ClassVar[str] = "starts-with"
    value: str = ""

    def grade(self, cell: CellContext) -> tuple[float, str]:
        return _binary(cell.output.lstrip().startswith(self.value),
                       f"the output starts with '{_snip(self.value)}'",
                       f"the output starts with '{_snip(cell.output[:40])}', "
                       f"not '{_snip(self.value)}'")


@dataclass
class Regex(Assertion):
    name: ClassVar[str] = "regex"
    pattern: str = ""
    ignore_case: bool = False

    def __post_init__(self) -> None:
        try:
            self._compiled = safe_regex.compile(
                self.pattern, safe_regex.IGNORECASE if self.ignore_case else 0)
        except safe_regex.error as exc:
            raise AssertionError_(f"the regular expression '{_snip(self.pattern)}' is not valid "
                                  f"({exc})") from exc

    def grade(self, cell: CellContext) -> tuple[float, str]:
        try:
            found = self._compiled.search(cell.output, timeout=REGEX_TIMEOUT_S)
        except TimeoutError:
            return 0.0, (f"the pattern took longer than {REGEX_TIMEOUT_S} s on this output and "
                         "was stopped; simplify it")
        return _binary(found is not None, f"the pattern matched '{_snip(found.group(0))}'"
                       if found else "", f"the pattern '{_snip(self.pattern)}' did not match")


def _parse_json(text: str) -> Any:
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    if not body:
        raise AssertionError_("the output is empty, not JSON")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise AssertionError_(f"the output is not valid JSON ({getattr(exc, 'msg', 'too deep')})") \
            from exc


def _schema_validator(schema: Any) -> Any:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise AssertionError_("the JSON Schema must be an object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise AssertionError_(f"the JSON Schema is not valid ({exc.message})") from exc
    return Draft202012Validator(schema)


@dataclass
class IsJson(Assertion):
    name: ClassVar[str] = "is-json"
    schema: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._validator = _schema_validator(self.schema) if self.schema else None

    def grade(self, cell: CellContext) -> tuple[float, str]:
        data = _parse_json(cell.output)
        if self._validator is not None:
            error = next(iter(self._validator.iter_errors(data)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "the top level"
                return 0.0, f"the JSON does not match the schema at {where}: {_snip(error.message)}"
            return 1.0, "the output is JSON matching the schema"
        return 1.0, "the output is valid JSON"


@dataclass
class JsonSchema(IsJson):
    name: ClassVar[str] = "json-schema"

    def __post_init__(self) -> None:
        if not self.schema:
            raise AssertionError_("json-schema needs a schema")
        super().__post_init__()


@dataclass
class _CountBounds(Assertion):
    min: int | None = None
    max: int | None = None
    unit: ClassVar[str] = ""

    def count(self, cell: CellContext) -> int:
        raise NotImplementedError

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if self.min is None and self.max is None:
            raise AssertionError_(f"{self.name} needs a min or a max")
        n = self.count(cell)
        if self.min is not None and n < self.min:
            return 0.0, f"the output has {n} {self.unit}, fewer than {self.min}"
        if self.max is not None and n > self.max:
            return 0.0, f"the output has {n:,} {self.unit}, more than {self.max:,}"
        return 1.0, f"the output has {n:,} {self.unit}, within bounds"


@dataclass
class WordCount(_CountBounds):
    name: ClassVar[str] = "word-count"
    unit: ClassVar[str] = "words"

    def count(self, cell: CellContext) -> int:
        return len(cell.output.split())


@dataclass
class TokenCount(_CountBounds):
    name: ClassVar[str] = "token-count"
    unit: ClassVar[str] = "tokens"

    def count(self, cell: CellContext) -> int:
        # The provider's own count when it reported one; else about four characters a token.
        if cell.output_tokens:
            return cell.output_tokens
        return math.ceil(len(cell.output) / 4)


# -- semantic -----------------------------------------------------------------
@dataclass
class Similar(Assertion):
    """Cosine similarity with the bundled MiniLM against the expected output (or `value`)."""

    name: ClassVar[str] = "similar"
    value: str | None = None
    threshold: float = 0.75

    def pass_mark(self) -> float:
        return self.threshold

    def grade(self, cell: CellContext) -> tuple[float, str]:
        want = self.value if self.value is not None else cell.expected
        if not want:
            raise AssertionError_("similar has no value and the case has no expected output")
        if not cell.output.strip():
            return 0.0, "the output is empty"
        from core.rag.embeddings import embed

        vectors = embed([cell.output, want])
        score = float(vectors[0] @ vectors[1])
        verdict = "at least" if score >= self.threshold else "below"
        return score, f"similarity {score:.2f} is {verdict} the threshold {self.threshold:.2f}"


# -- model-graded -------------------------------------------------------------
_SCORE = re.compile(r"score\W{0,3}(\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?", re.IGNORECASE)
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?")


def parse_judgement(text: str) -> tuple[float | None, str]:
    """A score in [0, 1] and a reason from a judge's answer, or None when it gave no score."""
    body = text.strip()
    match = re.search(r"\{.*\}", body, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
            if isinstance(data, dict) and "score" in data:
                return _scale(float(data["score"]), None), str(data.get("reason") or "").strip()
        except (json.JSONDecodeError, TypeError, ValueError):
            pass
    found = _SCORE.search(body) or _NUMBER.search(body)
    if not found:
        return None, ""
    reason = re.sub(r"(?i)^.*?reason\W*", "", body, count=1) if "reason" in body.lower() else ""
    return _scale(float(found.group(1)), found.group(2)), reason.strip()


def _scale(value: float, out_of: str | None) -> float:
    if out_of:
        return value / float(out_of) if float(out_of) else 0.0
    if value <= 1:
        return value
    if value <= 10:
        return value / 10
    return min(value, 100) / 100


_JUDGE_FORMAT = (
    'Reply with one line of JSON and nothing else: {"score": <a number from 0 to 10>, '
    '"reason": "<one sentence>"}.'
)


@dataclass
class _Judged(Assertion):
    judge: str | None = None  # any model id; None: the default (local) model
    threshold: float = 0.5

    def pass_mark(self) -> float:
        return self.threshold

    def prompt(self, cell: CellContext) -> str:
        raise NotImplementedError

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if cell.judge is None:
            raise AssertionError_(f"{self.name} needs a judge model and none is available")
        if not cell.output.strip():
            return 0.0, "the output is empty"
        try:
            answer = cell.judge(self.judge, self.prompt(cell))
        except Exception as exc:  # noqa: BLE001 - the judge's failure is this assertion's reason
            message = getattr(exc, "user_message", None) or "the judge model failed"
            return 0.0, f"the judge could not grade this: {message}"
        score, reason = parse_judgement(answer)
        if score is None:
            return 0.0, f"the judge gave no score (it said '{_snip(answer)}')"
        return score, f"judge score {score:.2f}: {_snip(reason) if reason else 'no reason given'}"


@dataclass
class Rubric(_Judged):
    name: ClassVar[str] = "rubric"
    rubric: str = ""

    def __post_init__(self) -> None:
        if not self.rubric.strip():
            raise AssertionError_("rubric needs the rubric text")

    def prompt(self, cell: CellContext) -> str:
        return (f"You grade an answer against a rubric.\n\nRubric:\n{self.rubric}\n\n"
                f"Answer:\n{cell.output}\n\n{_JUDGE_FORMAT}")


@dataclass
class Factuality(_Judged):
    name: ClassVar[str] = "factuality"

    def prompt(self, cell: CellContext) -> str:
        if not cell.expected:
            raise AssertionError_("factuality needs the case's expected output")
        return ("You check whether an answer agrees with the reference answer on the facts. "
                "10 means every fact agrees, 0 means it contradicts the reference.\n\n"
                f"Reference:\n{cell.expected}\n\nAnswer:\n{cell.output}\n\n{_JUDGE_FORMAT}")


@dataclass
class Grounded(_Judged):
    """The answer is supported by the retrieved chunks (or the case's reference context)."""

    name: ClassVar[str] = "grounded"

    def prompt(self, cell: CellContext) -> str:
        chunks = [str(s.get("text", "")) for s in cell.sources if s.get("text")]
        context = "\n\n".join(f"[{n}] {t}" for n, t in enumerate(chunks, 1)) or cell.context
        if not context:
            raise AssertionError_("nothing was retrieved and the case has no reference context")
        return ("You check whether every claim in an answer is supported by the context. "
                "10 means fully supported, 0 means unsupported.\n\n"
                f"Context:\n{context}\n\nAnswer:\n{cell.output}\n\n{_JUDGE_FORMAT}")


# -- operational --------------------------------------------------------------
@dataclass
class Latency(Assertion):
    name: ClassVar[str] = "latency"
    max_ms: float = 0.0

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if cell.latency_ms is None:
            return 0.0, "the latency was not measured"
        return _binary(cell.latency_ms <= self.max_ms,
                       f"latency {cell.latency_ms:,.0f} ms is within {self.max_ms:,.0f} ms",
                       f"latency {cell.latency_ms:,.0f} ms is over {self.max_ms:,.0f} ms")


@dataclass
class Ttft(Assertion):
    name: ClassVar[str] = "ttft"
    max_ms: float = 0.0

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if cell.ttft_ms is None:
            return 0.0, "time to first token was not measured (the cell did not stream)"
        return _binary(cell.ttft_ms <= self.max_ms,
                       f"first token after {cell.ttft_ms:,.0f} ms, within {self.max_ms:,.0f} ms",
                       f"first token after {cell.ttft_ms:,.0f} ms, over {self.max_ms:,.0f} ms")


@dataclass
class Cost(Assertion):
    name: ClassVar[str] = "cost"
    max_usd: float = 0.0

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if cell.cost_usd is None:
            return 0.0, "the cost is unknown (no price for this model)"
        return _binary(cell.cost_usd <= self.max_usd,
                       f"cost ${cell.cost_usd:.6f} is within ${self.max_usd:.6f}",
                       f"cost ${cell.cost_usd:.6f} is over ${self.max_usd:.6f}")


_PII_ENTITIES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE",
                 "IP_ADDRESS"]


@dataclass
class NoPii(Assertion):
    """No personal data left in the output (Presidio, the guards' own scanner)."""

    name: ClassVar[str] = "no-pii"
    entities: list[str] = field(default_factory=lambda: list(_PII_ENTITIES))
    min_score: float = 0.5

    def grade(self, cell: CellContext) -> tuple[float, str]:
        from core.guards.pii import PiiScanner

        findings = PiiScanner().scan(cell.output, {e: self.min_score for e in self.entities})
        if not findings:
            return 1.0, "no personal data found in the output"
        kinds = sorted({f.entity_type for f in findings})
        return 0.0, f"the output contains personal data: {', '.join(kinds)}"


@dataclass
class NotBlocked(Assertion):
    name: ClassVar[str] = "not-blocked"

    def grade(self, cell: CellContext) -> tuple[float, str]:
        return _binary(cell.status != "blocked", "the guards let the call through",
                       "a guardrail policy blocked the call")


_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass
class CitesSource(Assertion):
    """The answer cites at least one retrieved source by its number, like [1]."""

    name: ClassVar[str] = "cites-source"

    def grade(self, cell: CellContext) -> tuple[float, str]:
        if not cell.sources:
            return 0.0, "nothing was retrieved, so there is nothing to cite"
        numbers = {int(n) for n in _CITATION.findall(cell.output)}
        valid = sorted(n for n in numbers if 1 <= n <= len(cell.sources))
        return _binary(bool(valid), f"the answer cites source {', '.join(map(str, valid))}",
                       "the answer cites none of the retrieved sources")


ASSERTIONS: dict[str, type[Assertion]] = {
    cls.name: cls
    for cls in (Equals, Contains, IContains, ContainsAll, ContainsAny, NotContains, StartsWith,
                Regex, IsJson, JsonSchema, WordCount, TokenCount, Similar, Rubric, Factuality,
                Grounded, Latency, Ttft, Cost, NoPii, NotBlocked, CitesSource)
}


def build(spec: dict[str, Any] | str) -> Assertion:
    """An assertion from its suite form: `{"type": "contains", "value": "x", "weight": 2}`."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise AssertionError_("Each assertion needs a type, for example 'type: contains'.")
    kind = str(spec["type"])
    cls = ASSERTIONS.get(kind)
    if cls is None:
        raise AssertionError_(f"'{kind}' is not an assertion type; use one of "
                              f"{', '.join(sorted(ASSERTIONS))}.")
    params = {k: v for k, v in spec.items() if k != "type"}
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise AssertionError_(f"The {kind} assertion has no setting '{unknown[0]}'; it takes "
                              f"{', '.join(sorted(allowed))}.")
    try:
        return cls(**params)
    except AssertionError_ as err:
        raise AssertionError_(f"The {kind} assertion: {err}.") from err
    except TypeError as exc:
        raise AssertionError_(f"The {kind} assertion's settings are not right ({exc}).") from exc


def combine(outcomes: list[Outcome], threshold: float | None = None) -> tuple[float, bool]:
    """The case's weighted score and whether it passes."""
    weighted = [o for o in outcomes if o.weight > 0]
    total = sum(o.weight for o in weighted)
    score = sum(o.score * o.weight for o in weighted) / total if total else 1.0
    if threshold is None:
        return score, all(o.passed for o in weighted)
    return score, score >= threshold - 1e-9

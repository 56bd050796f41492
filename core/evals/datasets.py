"""Versioned datasets: create, import (CSV or JSONL with column mapping), add from the call log.

Versions are immutable. `save` writes a new version only when the cases
differ from the newest one (by digest), so importing the same file twice, or
running the same suite file again, reuses the version the earlier runs used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.db import session_scope
from core.evals.models import EvalCase, EvalDataset

#: Fields a column can be mapped to; any other target "var:<name>" fills an input variable.
TARGETS = ("key", "message", "expected", "context", "tags", "metadata")
MAX_IMPORT_BYTES = 20 * 1024 * 1024


class DatasetError(ValueError):
    """A dataset problem a user can fix; the message is one plain sentence."""


@dataclass
class CaseIn:
    """One case as written by a person or read from a file, before it is stored."""

    message: str | None = None
    variables: dict[str, Any] | None = None
    expected: str | None = None
    context: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    source_call_id: int | None = None

    def check(self) -> None:
        filled = any(v not in (None, "") for v in (self.variables or {}).values())
        if not (self.message and self.message.strip()) and not filled:
            raise DatasetError("the case has neither a message nor input variables")

    @classmethod
    def from_row(cls, row: EvalCase) -> CaseIn:
        return cls(row.message, row.variables, row.expected, row.context, list(row.tags or []),
                   dict(row.meta or {}), row.key, row.source_call_id)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseIn:
        """A case from a suite file or JSONL line written in the stored field names."""
        return cls(
            message=_text(data.get("message") or data.get("input")),
            variables=_variables(data.get("variables") or data.get("vars")),
            expected=_text(data.get("expected")),
            context=_text(data.get("context")),
            tags=_tags(data.get("tags")),
            metadata=_metadata(data.get("metadata")),
            key=_text(data.get("key") or data.get("id")),
        )


@dataclass
class ImportPreview:
    """What an import would store: the columns found, the good cases, and each bad row's reason."""

    columns: list[str]
    cases: list[CaseIn]
    bad_rows: list[tuple[int, str]]

    @property
    def ok(self) -> bool:
        return bool(self.cases)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if text.strip() else None


def _tags(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value).replace(";", ",").split(",") if t.strip()]


def _json_object(value: Any, what: str) -> dict[str, Any] | None:
    """A dict given as is or as JSON text (a CSV cell); None when empty."""
    if not value:
        return None
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"the {what} not a JSON object") from exc
    if not isinstance(parsed, dict):
        raise DatasetError(f"the {what} not a JSON object")
    return parsed


def _metadata(value: Any) -> dict[str, Any]:
    return _json_object(value, "metadata is") or {}


def _variables(value: Any) -> dict[str, Any] | None:
    return _json_object(value, "variables are")


def digest(cases: list[CaseIn]) -> str:
    payload = json.dumps([asdict(c) for c in cases], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


# -- import -----------------------------------------------------------------
Rows = list[tuple[int, dict[str, Any]]]


def read_rows(data: bytes, filename: str) -> tuple[list[str], Rows, list[tuple[int, str]]]:
    """(line number, row) pairs of a CSV or JSONL file, the column names, and unreadable lines."""
    if len(data) > MAX_IMPORT_BYTES:
        raise DatasetError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; "
                           "split it into smaller files.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError("The file is not UTF-8 text; save it as UTF-8 and import it again.") \
            from exc
    name = filename.lower()
    rows: Rows = []
    bad: list[tuple[int, str]] = []
    columns: list[str] = []
    if name.endswith((".jsonl", ".ndjson", ".json")):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad.append((n, "this line is not valid JSON"))
                continue
            if not isinstance(obj, dict):
                bad.append((n, "this line is not a JSON object"))
                continue
            rows.append((n, obj))
            columns.extend(k for k in obj if k not in columns)
        return columns, rows, bad
    if name.endswith((".csv", ".tsv")):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith(".tsv") else ",")
        columns = list(reader.fieldnames or [])
        for row in reader:
            if None in row:
                bad.append((reader.line_num, "this row has more values than there are columns"))
                continue
            rows.append((reader.line_num, row))
        return columns, rows, bad
    raise DatasetError("Import a .csv or .jsonl file.")


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """A starting column mapping (target -> column) from common column names."""
    names = {
        "key": ("key", "id", "case", "name"),
        "message": ("message", "input", "question", "prompt", "query", "user"),
        "expected": ("expected", "expected_output", "answer", "output", "reference", "ideal"),
        "context": ("context", "reference_context", "contexts"),
        "tags": ("tags", "tag", "labels"),
        "metadata": ("metadata", "meta"),
    }
    lower = {c.lower(): c for c in columns}
    mapping: dict[str, str] = {}
    for target, options in names.items():
        for option in options:
            if option in lower and lower[option] not in mapping.values():
                mapping[target] = lower[option]
                break
    if "vars" in lower or "variables" in lower:
        mapping["variables"] = lower.get("variables") or lower["vars"]
    return mapping


def preview_import(
    data: bytes, filename: str, mapping: dict[str, str] | None = None
) -> ImportPreview:
    """Parse a file with a column mapping (target -> column; "var:name" targets fill variables)."""
    columns, rows, bad = read_rows(data, filename)
    mapping = mapping if mapping is not None else guess_mapping(columns)
    cases: list[CaseIn] = []
    for row_no, row in rows:
        try:
            variables: dict[str, Any] = {}
            if mapping.get("variables"):
                variables.update(_variables(row.get(mapping["variables"])) or {})
            for target, column in mapping.items():
                if target.startswith("var:") and column:
                    variables[target[4:]] = row.get(column)
            case = CaseIn(
                message=_text(row.get(mapping["message"])) if mapping.get("message") else None,
                variables=variables or None,
                expected=_text(row.get(mapping["expected"])) if mapping.get("expected") else None,
                context=_text(row.get(mapping["context"])) if mapping.get("context") else None,
                tags=_tags(row.get(mapping["tags"])) if mapping.get("tags") else [],
                metadata=_metadata(row.get(mapping["metadata"])) if mapping.get("metadata") else {},
                key=_text(row.get(mapping["key"])) if mapping.get("key") else None,
            )
            case.check()
            own = row.get("assert")
            if own:
                # A case's own assertions ride in its metadata (checked when a suite runs).
                own = json.loads(own) if isinstance(own, str) else own
                if not isinstance(own, list):
                    raise DatasetError("the 'assert' column is not a list of assertions")
                case.metadata["assert"] = own
        except json.JSONDecodeError:
            bad.append((row_no, "the 'assert' column is not valid JSON"))
            continue
        except DatasetError as err:
            bad.append((row_no, str(err)))
            continue
        cases.append(case)
    bad.sort()
    return ImportPreview(columns, cases, bad)


# -- storage ----------------------------------------------------------------
@dataclass
class DatasetInfo:
    id: int
    name: str
    version: int
    cases: int
    description: str | None
    created_at: Any
    created_by: str | None


class DatasetStore:
    """Datasets and their versions, behind methods that return ids and plain objects."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def save(self, name: str, cases: list[CaseIn], *, description: str | None = None,
             user: str | None = None) -> int:
        """Store `cases` as the next version of `name` (or reuse the newest if identical)."""
        name = name.strip()
        if not name:
            raise DatasetError("Give the dataset a name.")
        if not cases:
            raise DatasetError("A dataset needs at least one case.")
        for n, case in enumerate(cases, start=1):
            try:
                case.check()
            except DatasetError as err:
                raise DatasetError(f"Case {n}: {err}.") from err
        keys = [c.key or f"case-{n}" for n, c in enumerate(cases, start=1)]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise DatasetError(f"Two cases share the key '{dup}'; keys must be unique.")
        stored = [CaseIn(**{**asdict(c), "key": k}) for c, k in zip(cases, keys, strict=True)]
        dig = digest(stored)
        with session_scope(self.db) as s:
            latest = self._latest(s, name)
            if latest is not None and latest.digest == dig:
                assert latest.id is not None
                return latest.id
            row = EvalDataset(name=name, version=(latest.version + 1) if latest else 1,
                              description=description if description is not None
                              else (latest.description if latest else None),
                              digest=dig, created_by=user)
            s.add(row)
            s.flush()
            assert row.id is not None
            for pos, c in enumerate(stored):
                s.add(EvalCase(dataset_id=row.id, position=pos, key=c.key or "", message=c.message,
                               variables=c.variables, expected=c.expected, context=c.context,
                               tags=c.tags or None, meta=c.metadata or None,
                               source_call_id=c.source_call_id))
            return row.id

    @staticmethod
    def _latest(s: Session, name: str) -> EvalDataset | None:
        return s.exec(select(EvalDataset).where(EvalDataset.name == name)
                      .order_by(EvalDataset.version.desc())).first()  # type: ignore[attr-defined]

    def latest(self, name: str) -> int | None:
        with Session(self.db) as s:
            row = self._latest(s, name)
            return row.id if row else None

    def get(self, dataset_id: int) -> DatasetInfo:
        with Session(self.db) as s:
            row = s.get(EvalDataset, dataset_id)
            if row is None:
                raise DatasetError("That dataset no longer exists.")
            count = s.exec(select(func.count()).select_from(EvalCase)
                           .where(EvalCase.dataset_id == dataset_id)).one()
            return _info(row, int(count))

    def list(self) -> list[DatasetInfo]:
        """The newest version of every dataset, newest first."""
        with Session(self.db) as s:
            counts = dict(s.exec(select(EvalCase.dataset_id, func.count())
                                 .group_by(EvalCase.dataset_id)).all())
            rows = s.exec(select(EvalDataset).order_by(EvalDataset.created_at.desc())).all()  # type: ignore[attr-defined]
        seen: set[str] = set()
        out: list[DatasetInfo] = []
        for row in sorted(rows, key=lambda r: (r.name, -r.version)):
            if row.name in seen:
                continue
            seen.add(row.name)
            out.append(_info(row, int(counts.get(row.id, 0))))
        return out

    def versions(self, name: str) -> list[DatasetInfo]:
        with Session(self.db) as s:
            rows = s.exec(select(EvalDataset).where(EvalDataset.name == name)
                          .order_by(EvalDataset.version.desc())).all()  # type: ignore[attr-defined]
            return [self.get(r.id) for r in rows if r.id is not None]

    def cases(self, dataset_id: int) -> list[EvalCase]:
        with Session(self.db) as s:
            return list(s.exec(select(EvalCase).where(EvalCase.dataset_id == dataset_id)
                               .order_by(EvalCase.position)).all())

    def import_file(self, name: str, data: bytes, filename: str,
                    mapping: dict[str, str] | None = None, *, user: str | None = None,
                    ) -> tuple[int, ImportPreview]:
        """Import the good rows as a new version; the preview says which rows were left out."""
        preview = preview_import(data, filename, mapping)
        if not preview.cases:
            raise DatasetError("No row could be read as a case; check the column mapping.")
        return self.save(name, preview.cases, user=user), preview

    def append(self, name: str, new: list[CaseIn], *, user: str | None = None) -> int:
        """A new version of `name` with `new` cases after the existing ones (creates it if new)."""
        latest = self.latest(name)
        existing = [CaseIn.from_row(r) for r in self.cases(latest)] if latest else []
        taken = {c.key for c in existing}
        n = len(existing)
        for case in new:
            while case.key is None or case.key in taken:
                n += 1
                case.key = f"case-{n}"
            taken.add(case.key)
        return self.save(name, existing + new, user=user)

    def add_from_call(self, call_id: int, dataset: str, *, user: str | None = None) -> int:
        """Copy a logged call (its stored, redacted text) into `dataset` as a new case.

        The call's last user message becomes the case's message, its system
        prompt and answer go into metadata (the answer is not assumed right:
        a thumbs-down call is added to fix it), and the call id is kept.
        Returns the new dataset version's id.
        """
        from core.telemetry.models import CallLog

        with Session(self.db) as s:
            call = s.get(CallLog, call_id)
            if call is None:
                raise DatasetError(f"Call {call_id} is not in the log (it may have been deleted).")
            try:
                messages = json.loads(call.input_text or "[]")
            except json.JSONDecodeError:
                messages = []
            user_text = next((m.get("content") for m in reversed(messages)
                              if isinstance(m, dict) and m.get("role") == "user"), None)
            if not user_text:
                raise DatasetError(f"Call {call_id} has no stored user message to copy.")
            meta: dict[str, Any] = {"call_id": call_id, "model": f"{call.provider}/{call.model}"}
            system = next((m.get("content") for m in messages
                           if isinstance(m, dict) and m.get("role") == "system"), None)
            if system:
                meta["system"] = system
            if call.output_text:
                meta["original_output"] = call.output_text
            case = CaseIn(message=user_text, metadata=meta, tags=["from-log"],
                          key=f"call-{call_id}", source_call_id=call_id)
        return self.append(dataset, [case], user=user)


def _info(row: EvalDataset, count: int) -> DatasetInfo:
    assert row.id is not None
    return DatasetInfo(row.id, row.name, row.version, count, row.description, row.created_at,
                       row.created_by)

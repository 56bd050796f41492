"""Prompts as YAML files, one per prompt, so teams can keep them in git.

A file holds the prompt's details, its versions (all, or one) with their
authors, notes and times, and its labels. Import is idempotent: a version
already here with the same content is left alone, a missing one is added
under its own number and author, and a version number that holds different
content here is reported as a conflict and never overwritten. Labels are set
only where they point nowhere yet; a label pointing elsewhere is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert, select, update

from core.db import write_transaction
from core.prompts.registry import (
    LATEST,
    PromptRegistry,
    _config,
    _messages,
    _variable,
    check_label_name,
    slugify,
)
from core.prompts.registry import L as LABELS
from core.prompts.registry import P as PROMPTS
from core.prompts.registry import V as VERSIONS
from core.prompts.templates import PromptError, find_variables
from core.prompts.types import Variable, content_hash
from core.telemetry.models import utcnow

FORMAT = 1


class _VersionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    author: str = "import"
    created_at: datetime | None = None
    note: str | None = None
    messages: list[dict[str, str]]
    variables: list[dict[str, Any]] = []
    config: dict[str, Any] = {}


class _LabelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = None
    protected: bool = False


class _PromptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: int = FORMAT
    name: str
    description: str | None = None
    tags: list[str] = []
    created_by: str = "import"
    created_at: datetime | None = None
    archived: bool = False
    labels: dict[str, _LabelFile] = {}
    versions: list[_VersionFile] = []


@dataclass
class ImportReport:
    prompts_created: list[str] = field(default_factory=list)
    versions_added: list[str] = field(default_factory=list)
    labels_set: list[str] = field(default_factory=list)
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.prompts_created or self.versions_added or self.labels_set)

    def lines(self) -> list[str]:
        out = [f"created prompt {n}" for n in self.prompts_created]
        out += [f"added {v}" for v in self.versions_added]
        out += [f"set label {lab}" for lab in self.labels_set]
        out += [f"CONFLICT {c}" for c in self.conflicts]
        out.append(f"{self.unchanged} version(s) already here and unchanged")
        return out


def export_prompt(reg: PromptRegistry, name: str, version: int | None = None) -> dict[str, Any]:
    prompt = reg.prompt(name)
    versions = [reg.version(name, version)] if version else list(reversed(reg.versions(name)))
    kept = {v.version for v in versions}
    return {
        "format": FORMAT,
        "name": prompt.name,
        "description": prompt.description,
        "tags": list(prompt.tags),
        "created_by": prompt.created_by,
        "created_at": prompt.created_at.isoformat(),
        "archived": prompt.archived,
        "labels": {
            lab.name: {"version": lab.version if lab.version in kept else None,
                       "protected": lab.protected}
            for lab in prompt.labels if lab.name != LATEST
        },
        "versions": [
            {
                "version": v.version,
                "author": v.author,
                "created_at": v.created_at.isoformat(),
                "note": v.note,
                "messages": [{"role": m.role, "content": m.content} for m in v.messages],
                "variables": [{"name": x.name, "description": x.description,
                               "example": x.example} for x in v.variables],
                "config": v.config.set_fields(),
            }
            for v in versions
        ],
    }


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_prompt(reg: PromptRegistry, directory: Path | str, name: str,
                 version: int | None = None) -> Path:
    """Write `<name>.yaml` (all versions, or only `version`) into `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    data = export_prompt(reg, name, version)
    path = folder / f"{data['name']}.yaml"
    path.write_text(dump_yaml(data), encoding="utf-8")
    return path


def export_dir(reg: PromptRegistry, directory: Path | str) -> list[Path]:
    """Write `<name>.yaml` for every prompt (archived ones too) into `directory`."""
    return [write_prompt(reg, directory, p.name) for p in reg.list(include_archived=True)]


def load_file(path: Path) -> _PromptFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise PromptError(f"{path.name} is not a readable YAML file.") from None
    if not isinstance(raw, dict):
        raise PromptError(f"{path.name} does not describe a prompt (expected a mapping).")
    try:
        return _PromptFile(**raw)
    except ValidationError as err:
        where = ".".join(str(p) for p in err.errors()[0].get("loc", ()))
        raise PromptError(f"{path.name} has a field that is missing or wrong: {where}.") from None


def import_dir(reg: PromptRegistry, directory: Path | str, *, by: str) -> ImportReport:
    folder = Path(directory)
    report = ImportReport()
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise PromptError(f"No .yaml files in {folder}.")
    for path in files:
        try:
            data = load_file(path)
            import_prompt(reg, data, by=by, report=report)
        except PromptError as err:
            report.conflicts.append(err.user_message)
    return report


def import_prompt(reg: PromptRegistry, data: _PromptFile, *, by: str,
                  report: ImportReport) -> None:
    slug = slugify(data.name)
    if slug != data.name:
        raise PromptError(f"'{data.name}' is not a valid prompt name; it would be '{slug}'.")
    # Check every version before anything is written, so a refused file leaves
    # no empty prompt behind.
    parsed = []
    for v in sorted(data.versions, key=lambda x: x.version):
        msgs = _messages(None, None, v.messages)
        cfg = _config(v.config)  # plain sentences; an invalid answer format refused
        given = {x.name: x for x in (_variable(d) for d in v.variables)}
        vars_ = tuple(given.get(n) or Variable(n)
                      for n in find_variables(*(m.content for m in msgs)))
        parsed.append((v, msgs, cfg, vars_))
    created = not reg.exists(slug)
    if created:
        reg.create(slug, by=data.created_by, description=data.description, tags=data.tags,
                   created_at=data.created_at)
        report.prompts_created.append(slug)
    with write_transaction(reg._db) as conn:  # noqa: SLF001 - same package
        pid = conn.execute(select(PROMPTS.c.id).where(PROMPTS.c.name == slug)).scalar_one()
        have = {r.version: r.content_hash for r in conn.execute(
            select(VERSIONS.c.version, VERSIONS.c.content_hash)
            .where(VERSIONS.c.prompt_id == pid))}
        for v, msgs, cfg, vars_ in parsed:
            digest = content_hash(msgs, vars_, cfg)
            if v.version in have:
                if have[v.version] == digest:
                    report.unchanged += 1
                else:
                    report.conflicts.append(
                        f"{slug} version {v.version} differs from the one already here; "
                        "kept the existing one"
                    )
                continue
            conn.execute(insert(VERSIONS).values(
                prompt_id=pid, version=v.version,
                messages=[{"role": m.role, "content": m.content} for m in msgs],
                variables=[{"name": x.name, "description": x.description,
                            "example": x.example} for x in vars_],
                config=cfg.set_fields(), content_hash=digest, author=v.author,
                note=v.note, created_at=v.created_at or utcnow(),
            ))
            have[v.version] = digest
            report.versions_added.append(f"{slug} version {v.version}")
        for name, lab in data.labels.items():
            if name == LATEST:
                continue
            name = check_label_name(name)
            row = conn.execute(select(LABELS.c.version, LABELS.c.protected).where(
                LABELS.c.prompt_id == pid, LABELS.c.name == name)).first()
            if row is None:
                conn.execute(insert(LABELS).values(
                    prompt_id=pid, name=name, version=None, protected=lab.protected,
                    updated_by=by, updated_at=utcnow()))
                row_version = None
            else:
                row_version = row.version
            if lab.version is None or row_version == lab.version:
                continue
            if lab.version not in have:
                report.conflicts.append(
                    f"{slug} label {name} points at version {lab.version}, which is not here")
            elif row_version is None:
                reg._move(conn, pid, name, row_version, lab.version, by,  # noqa: SLF001
                          "import")
                report.labels_set.append(f"{slug} {name} -> version {lab.version}")
            else:
                report.conflicts.append(
                    f"{slug} label {name} points at version {row_version} here and "
                    f"{lab.version} in the file; left as it is")
        if created and data.archived:
            conn.execute(update(PROMPTS).where(PROMPTS.c.id == pid).values(archived=True))
    reg._forget(slug)  # noqa: SLF001

"""The prompt registry: create prompts, save immutable versions, move labels.

Every write runs in one short transaction that takes the write lock first
(`write_transaction`): on SQLite that serialises writers; on PostgreSQL the
label row is read `FOR UPDATE`. Two editors saving at once both read the
same highest version number; the unique constraint on (prompt, version)
rejects the second insert and the save retries with the next number, so
both get a version and nothing is lost.

Reads by label go through a small per-registry cache with a one-second
TTL: a label moved by another replica (another process, another
`Services`) is served within about a second, never minutes later.
"""

from __future__ import annotations

import difflib
import random
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from core.db import write_transaction
from core.prompts.answer_format import check_schema
from core.prompts.models import PromptLabelMoveRow, PromptLabelRow, PromptRow, PromptVersionRow
from core.prompts.templates import PromptError, compile_template, find_variables
from core.prompts.types import (
    ROLES,
    LabelInfo,
    LabelMove,
    LabelMoveRequest,
    Prompt,
    PromptConfig,
    PromptMessage,
    PromptVersion,
    SaveResult,
    Variable,
    VersionDiff,
    content_hash,
)
from core.telemetry.models import utcnow

P = PromptRow.__table__
V = PromptVersionRow.__table__
L = PromptLabelRow.__table__
M = PromptLabelMoveRow.__table__

#: Labels every prompt has. `latest` is not stored: it is always the newest version.
BUILTIN_LABELS = ("production", "staging")
LATEST = "latest"
DEFAULT_LABEL = "production"
LABEL_TTL_S = 1.0
NAME_MAX = 100
_SAVE_ATTEMPTS = 12

#: Asked before a protected label moves: return a refusal sentence, or None to allow.
MoveCheck = Callable[[LabelMoveRequest], str | None]


def slugify(name: str) -> str:
    """The registry's form of a name: lowercase ASCII letters, digits and dashes."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:NAME_MAX].strip("-")


def check_label_name(label: str) -> str:
    slug = slugify(label)
    if not slug or len(slug) > 50:
        raise PromptError(
            "A label name needs 1 to 50 letters, digits or dashes, for example 'canary'."
        )
    return slug


class PromptRegistry:
    """Prompts, their versions and labels, in the Trellis database."""

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._lock = threading.Lock()
        # (name, label) -> (expires, version number or None, archived)
        self._labels: dict[tuple[str, str], tuple[float, int | None, bool]] = {}
        # (name, version) -> PromptVersion; versions never change, so no expiry.
        self._versions: dict[tuple[str, int], PromptVersion] = {}
        #: Who may move a protected label (the access issue replaces this; today: anyone).
        self.can_move_protected: Callable[[str, str, str], bool] = lambda user, prompt, label: True
        #: Checks run before a protected label moves (an eval gate plugs in here).
        self.move_checks: list[MoveCheck] = []

    # -- names --------------------------------------------------------------
    @staticmethod
    def normalize_name(name: str) -> str:
        """The slug `name` is stored under, or a PromptError saying why it cannot be one."""
        slug = slugify(name)
        if not slug:
            raise PromptError(
                "A prompt name needs at least one letter or digit (a-z, 0-9); "
                "for example 'support-reply'."
            )
        return slug

    # -- prompts ------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        by: str,
        description: str | None = None,
        tags: Iterable[str] = (),
        created_at: Any = None,
    ) -> Prompt:
        """A new, empty prompt under the slug of `name` (see `Prompt.name`)."""
        slug = self.normalize_name(name)
        now = utcnow()
        try:
            with write_transaction(self._db) as conn:
                if conn.execute(select(P.c.id).where(P.c.name == slug)).first():
                    raise PromptError(
                        f"A prompt named '{slug}' already exists; open it, or pick another name."
                    )
                pid = conn.execute(
                    insert(P).values(
                        name=slug, description=description or None, tags=_tags(tags),
                        created_by=by, created_at=created_at or now, updated_at=now,
                        archived=False,
                    )
                ).inserted_primary_key[0]
                for label in BUILTIN_LABELS:
                    conn.execute(insert(L).values(
                        prompt_id=pid, name=label, version=None,
                        protected=label == "production", updated_by=by, updated_at=now,
                    ))
        except IntegrityError:
            raise PromptError(
                f"A prompt named '{slug}' already exists; open it, or pick another name."
            ) from None
        return self.prompt(slug)

    def prompt(self, name: str) -> Prompt:
        with self._db.connect() as conn:
            row = conn.execute(select(P).where(P.c.name == slugify(name))).first()
            if row is None:
                raise PromptError(
                    f"There is no prompt named '{name}'. Check the name on the Prompts page."
                )
            return self._prompt(conn, row)

    def exists(self, name: str) -> bool:
        with self._db.connect() as conn:
            return conn.execute(select(P.c.id).where(P.c.name == slugify(name))).first() is not None

    def list(
        self, search: str = "", *, tag: str | None = None, include_archived: bool = False
    ) -> list[Prompt]:
        """Prompts by most recent change, matching `search` in name or description."""
        stmt = select(P).order_by(P.c.updated_at.desc(), P.c.id.desc())
        if not include_archived:
            stmt = stmt.where(P.c.archived.is_(False))
        if search.strip():
            pattern = f"%{search.strip().lower()}%"
            stmt = stmt.where(or_(func.lower(P.c.name).like(pattern),
                                  func.lower(func.coalesce(P.c.description, "")).like(pattern)))
        with self._db.connect() as conn:
            prompts = [self._prompt(conn, row) for row in conn.execute(stmt)]
        if tag:
            prompts = [p for p in prompts if tag in p.tags]
        return prompts

    def tags(self) -> list[str]:
        with self._db.connect() as conn:
            found = {t for (tags,) in conn.execute(select(P.c.tags)) for t in (tags or [])}
        return sorted(found)

    def update_details(
        self, name: str, *, by: str, description: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> Prompt:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if description is not None:
            values["description"] = description or None
        if tags is not None:
            values["tags"] = _tags(tags)
        with write_transaction(self._db) as conn:
            self._prompt_id(conn, name)
            conn.execute(update(P).where(P.c.name == slugify(name)).values(**values))
        return self.prompt(name)

    def archive(self, name: str, *, by: str, archived: bool = True) -> Prompt:
        """Hide a prompt from lists and stop serving it (its versions and history stay)."""
        with write_transaction(self._db) as conn:
            self._prompt_id(conn, name)
            conn.execute(update(P).where(P.c.name == slugify(name))
                         .values(archived=archived, updated_at=utcnow()))
        self._forget(slugify(name))
        return self.prompt(name)

    def restore(self, name: str, *, by: str) -> Prompt:
        return self.archive(name, by=by, archived=False)

    # -- versions -----------------------------------------------------------
    def save_version(
        self,
        name: str,
        *,
        by: str,
        system: str | None = None,
        user: str | None = None,
        messages: Sequence[PromptMessage | dict[str, str] | tuple[str, str]] | None = None,
        variables: Iterable[Variable | dict[str, Any]] = (),
        config: PromptConfig | dict[str, Any] | None = None,
        note: str | None = None,
        examples: Sequence[tuple[str, str]] | None = None,
    ) -> SaveResult:
        """Save new content as the next version; identical content saves nothing.

        Give `system`/`user` (the editor's fields) with optional `examples`
        (few-shot pairs: example user message, example answer), or a full
        `messages` list. Variables are found in the templates; `variables` adds
        each one's description and example value.
        """
        msgs = _messages(system, user, messages, examples)
        cfg = _config(config)
        found = find_variables(*(m.content for m in msgs))
        given = {v.name: v for v in (_variable(v) for v in variables)}
        vars_ = tuple(given.get(n) or Variable(n) for n in found)
        digest = content_hash(msgs, vars_, cfg)
        slug = slugify(name)
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                with write_transaction(self._db) as conn:
                    pid = self._prompt_id(conn, slug)
                    latest = conn.execute(
                        select(V.c.version, V.c.content_hash).where(V.c.prompt_id == pid)
                        .order_by(V.c.version.desc()).limit(1)
                    ).first()
                    if latest is not None and latest.content_hash == digest:
                        existing = latest.version
                        number = None
                    else:
                        number = (latest.version if latest else 0) + 1
                        now = utcnow()
                        conn.execute(insert(V).values(
                            prompt_id=pid, version=number,
                            messages=[{"role": m.role, "content": m.content} for m in msgs],
                            variables=[{"name": v.name, "description": v.description,
                                        "example": v.example} for v in vars_],
                            config=cfg.set_fields(), content_hash=digest, author=by,
                            note=(note or "").strip() or None, created_at=now,
                        ))
                        conn.execute(update(P).where(P.c.id == pid).values(updated_at=now))
                        # A prompt's first version serves at once: an empty production
                        # label would make every call to a new prompt fail.
                        prod = conn.execute(
                            select(L.c.version).where(L.c.prompt_id == pid,
                                                      L.c.name == DEFAULT_LABEL)
                        ).first()
                        if prod is not None and prod.version is None:
                            self._move(conn, pid, DEFAULT_LABEL, None, number, by,
                                       "first version")
                break
            except IntegrityError:
                # Another editor took this number: read again and take the next one.
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
            except OperationalError as err:
                if "locked" not in str(err).lower() and "deadlock" not in str(err).lower():
                    raise
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
        else:
            raise PromptError(
                "Many people saved this prompt at the same moment and yours could not be "
                "stored; try saving again."
            )
        self._forget(slug)
        if number is None:
            return SaveResult(self.version(slug, existing), created=False)
        return SaveResult(self.version(slug, number), created=True)

    def draft(
        self,
        name: str,
        *,
        system: str | None = None,
        user: str | None = None,
        messages: Sequence[PromptMessage | dict[str, str] | tuple[str, str]] | None = None,
        variables: Iterable[Variable | dict[str, Any]] = (),
        config: PromptConfig | dict[str, Any] | None = None,
        examples: Sequence[tuple[str, str]] | None = None,
    ) -> PromptVersion:
        """An unsaved version (number 0) to try before saving; checked like a saved one."""
        msgs = _messages(system, user, messages, examples)
        cfg = _config(config)
        for m in msgs:
            compile_template(m.content)
        found = find_variables(*(m.content for m in msgs))
        given = {v.name: v for v in (_variable(v) for v in variables)}
        vars_ = tuple(given.get(n) or Variable(n) for n in found)
        return PromptVersion(slugify(name) or "draft", 0, msgs, vars_, cfg, "", None, utcnow(),
                             content_hash(msgs, vars_, cfg))

    def version(self, name: str, number: int) -> PromptVersion:
        slug = slugify(name)
        cached = self._versions.get((slug, number))
        if cached is not None:
            return cached
        with self._db.connect() as conn:
            pid = self._prompt_id(conn, slug)
            row = conn.execute(
                select(V).where(V.c.prompt_id == pid, V.c.version == number)
            ).first()
        if row is None:
            raise PromptError(f"Prompt '{slug}' has no version {number}.")
        found = _version(slug, row)
        with self._lock:
            if len(self._versions) > 4096:
                self._versions.clear()
            self._versions[(slug, number)] = found
        return found

    def versions(self, name: str) -> list[PromptVersion]:
        """Every version, newest first."""
        slug = slugify(name)
        with self._db.connect() as conn:
            pid = self._prompt_id(conn, slug)
            rows = conn.execute(
                select(V).where(V.c.prompt_id == pid).order_by(V.c.version.desc())
            ).all()
        return [_version(slug, row) for row in rows]

    def get(
        self, name: str, *, label: str | None = None, version: int | None = None
    ) -> PromptVersion:
        """The version `label` points at (production by default), or version `version`."""
        slug = slugify(name)
        if version is not None:
            self._check_servable(slug)
            return self.version(slug, int(version))
        label = label or DEFAULT_LABEL
        number = self.resolve_label(slug, label)
        return self.version(slug, number)

    def resolve_label(self, name: str, label: str) -> int:
        """The version number `label` points at, cached for LABEL_TTL_S."""
        slug = slugify(name)
        key = (slug, label)
        now = time.monotonic()
        hit = self._labels.get(key)
        if hit is None or hit[0] < now:
            number, archived = self._read_label(slug, label)
            hit = (now + LABEL_TTL_S, number, archived)
            with self._lock:
                if len(self._labels) > 4096:
                    self._labels.clear()
                self._labels[key] = hit
        _, number, archived = hit
        if archived:
            raise _archived(slug)
        if number is None:
            if label == DEFAULT_LABEL:
                raise PromptError(
                    f"Prompt '{slug}' has no production version yet; make a version "
                    "production on the Prompts page."
                )
            raise PromptError(
                f"The label '{label}' of prompt '{slug}' points at no version yet."
            )
        return number

    def _read_label(self, slug: str, label: str) -> tuple[int | None, bool]:
        with self._db.connect() as conn:
            row = conn.execute(select(P.c.id, P.c.archived).where(P.c.name == slug)).first()
            if row is None:
                raise PromptError(
                    f"There is no prompt named '{slug}'. Check the name on the Prompts page."
                )
            if label == LATEST:
                number = conn.execute(
                    select(func.max(V.c.version)).where(V.c.prompt_id == row.id)
                ).scalar()
                return number, bool(row.archived)
            lab = conn.execute(
                select(L.c.version).where(L.c.prompt_id == row.id, L.c.name == label)
            ).first()
        if lab is None:
            raise PromptError(f"Prompt '{slug}' has no label '{label}'.")
        return lab.version, bool(row.archived)

    def _check_servable(self, slug: str) -> None:
        now = time.monotonic()
        key = (slug, "#archived")
        hit = self._labels.get(key)
        if hit is None or hit[0] < now:
            with self._db.connect() as conn:
                row = conn.execute(select(P.c.archived).where(P.c.name == slug)).first()
            if row is None:
                raise PromptError(
                    f"There is no prompt named '{slug}'. Check the name on the Prompts page."
                )
            hit = (now + LABEL_TTL_S, None, bool(row.archived))
            self._labels[key] = hit
        if hit[2]:
            raise _archived(slug)

    def diff(self, name: str, a: int, b: int) -> VersionDiff:
        """What changed from version `a` to version `b`: text, settings and variables."""
        va, vb = self.version(name, a), self.version(name, b)
        return diff_versions(va, vb)

    # -- labels -------------------------------------------------------------
    def labels(self, name: str) -> list[LabelInfo]:
        return list(self.prompt(name).labels)

    def add_label(self, name: str, label: str, *, by: str, protected: bool = False) -> LabelInfo:
        label = check_label_name(label)
        if label == LATEST:
            raise PromptError("'latest' always points at the newest version; pick another name.")
        with write_transaction(self._db) as conn:
            pid = self._prompt_id(conn, name)
            if conn.execute(select(L.c.id).where(L.c.prompt_id == pid,
                                                 L.c.name == label)).first():
                raise PromptError(f"Prompt '{slugify(name)}' already has a label '{label}'.")
            conn.execute(insert(L).values(prompt_id=pid, name=label, version=None,
                                          protected=protected, updated_by=by,
                                          updated_at=utcnow()))
        return next(lab for lab in self.labels(name) if lab.name == label)

    def set_protected(self, name: str, label: str, protected: bool, *, by: str) -> None:
        with write_transaction(self._db) as conn:
            pid = self._prompt_id(conn, name)
            done = conn.execute(update(L).where(L.c.prompt_id == pid, L.c.name == label)
                                .values(protected=protected, updated_by=by, updated_at=utcnow()))
            if not done.rowcount:
                raise PromptError(f"Prompt '{slugify(name)}' has no label '{label}'.")

    def move_label(
        self, name: str, label: str, version: int, *, by: str, reason: str | None = None
    ) -> LabelMove:
        """Point `label` at `version` of this prompt, and record who, when, from, to and why."""
        slug = slugify(name)
        if label == LATEST:
            raise PromptError("'latest' moves by itself to the newest version.")
        with write_transaction(self._db) as conn:
            pid = self._prompt_id(conn, slug)
            lab = conn.execute(
                select(L.c.version, L.c.protected)
                .where(L.c.prompt_id == pid, L.c.name == label).with_for_update()
            ).first()
            if lab is None:
                raise PromptError(
                    f"Prompt '{slug}' has no label '{label}'; add the label first."
                )
            if not isinstance(version, int) or not conn.execute(
                select(V.c.id).where(V.c.prompt_id == pid, V.c.version == version)
            ).first():
                raise PromptError(
                    f"Prompt '{slug}' has no version {version}, so '{label}' cannot point "
                    "at it. Pick one of the versions in its history."
                )
            if lab.protected:
                if not self.can_move_protected(by, slug, label):
                    raise PromptError(
                        f"The '{label}' label of '{slug}' is protected and {by} may not move "
                        "it; ask an editor who can."
                    )
                ask = LabelMoveRequest(slug, label, lab.version, version, by, reason)
                for check in self.move_checks:
                    refusal = check(ask)
                    if refusal:
                        raise PromptError(refusal)
            move = self._move(conn, pid, label, lab.version, version, by, reason)
        self._forget(slug)
        return move

    def rollback(
        self, name: str, *, by: str, label: str = DEFAULT_LABEL, to_version: int | None = None,
        reason: str | None = None,
    ) -> LabelMove:
        """Move `label` back: to `to_version`, or to where it pointed before its last move."""
        if to_version is None:
            current = next((lab.version for lab in self.labels(name) if lab.name == label), None)
            earlier = [m.from_version for m in self.history(name, label=label)
                       if m.to_version == current and m.from_version is not None]
            if not earlier:
                raise PromptError(
                    f"'{label}' has no earlier version to roll back to; pick a version instead."
                )
            to_version = earlier[0]
        return self.move_label(name, label, to_version, by=by,
                               reason=reason or f"roll back to version {to_version}")

    def history(self, name: str, *, label: str | None = None) -> list[LabelMove]:
        """Every label move, newest first."""
        with self._db.connect() as conn:
            pid = self._prompt_id(conn, name)
            stmt = select(M).where(M.c.prompt_id == pid).order_by(M.c.moved_at.desc(),
                                                                   M.c.id.desc())
            if label:
                stmt = stmt.where(M.c.label == label)
            return [LabelMove(r.label, r.from_version, r.to_version, r.moved_by, r.moved_at,
                              r.reason) for r in conn.execute(stmt)]

    # -- internals ----------------------------------------------------------
    def _move(self, conn: Any, pid: int, label: str, old: int | None, new: int, by: str,
              reason: str | None) -> LabelMove:
        now = utcnow()
        conn.execute(update(L).where(L.c.prompt_id == pid, L.c.name == label)
                     .values(version=new, updated_by=by, updated_at=now))
        conn.execute(insert(M).values(prompt_id=pid, label=label, from_version=old,
                                      to_version=new, moved_by=by, moved_at=now,
                                      reason=(reason or "").strip() or None))
        conn.execute(update(P).where(P.c.id == pid).values(updated_at=now))
        return LabelMove(label, old, new, by, now, reason)

    def _prompt_id(self, conn: Any, name: str) -> int:
        row = conn.execute(select(P.c.id).where(P.c.name == slugify(name))).first()
        if row is None:
            raise PromptError(
                f"There is no prompt named '{name}'. Check the name on the Prompts page."
            )
        return row.id

    def _prompt(self, conn: Any, row: Any) -> Prompt:
        labels = tuple(
            LabelInfo(r.name, r.version, bool(r.protected), r.updated_by, r.updated_at)
            for r in conn.execute(select(L).where(L.c.prompt_id == row.id)
                                  .order_by(L.c.id))
        )
        latest = conn.execute(
            select(func.max(V.c.version)).where(V.c.prompt_id == row.id)
        ).scalar()
        labels += (LabelInfo(LATEST, latest, False, None, None),)
        return Prompt(row.id, row.name, row.description, tuple(row.tags or ()), row.created_by,
                      row.created_at, row.updated_at, bool(row.archived), latest, labels)

    def _forget(self, slug: str) -> None:
        """Drop this prompt's cached labels here; other replicas expire theirs by TTL."""
        with self._lock:
            for key in [k for k in self._labels if k[0] == slug]:
                del self._labels[key]


def _archived(slug: str) -> PromptError:
    return PromptError(
        f"Prompt '{slug}' is archived; restore it on the Prompts page to use it again."
    )


def _tags(tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        t = str(tag).strip().lower()[:40]
        if t and t not in out:
            out.append(t)
    return out


def _messages(
    system: str | None, user: str | None,
    messages: Sequence[PromptMessage | dict[str, str] | tuple[str, str]] | None,
    examples: Sequence[tuple[str, str]] | None = None,
) -> tuple[PromptMessage, ...]:
    out: list[PromptMessage] = []
    if messages is not None and examples:
        raise PromptError("Give the examples inside the messages, or system, user and "
                          "examples, not both.")
    if messages is not None:
        for m in messages:
            if isinstance(m, PromptMessage):
                out.append(m)
            elif isinstance(m, dict):
                out.append(PromptMessage(str(m.get("role", "")), str(m.get("content", ""))))
            else:
                out.append(PromptMessage(str(m[0]), str(m[1])))
    else:
        if system and system.strip():
            out.append(PromptMessage("system", system))
        out.extend(_example_messages(examples or ()))
        if user and user.strip():
            out.append(PromptMessage("user", user))
    for m in out:
        if m.role not in ROLES:
            raise PromptError(
                f"A message's role must be system, user or assistant, not '{m.role}'."
            )
    if not any(m.role == "user" and m.content.strip() for m in out):
        raise PromptError("Write the user message: a prompt needs at least one.")
    return tuple(out)


def _example_messages(examples: Sequence[tuple[str, str]]) -> list[PromptMessage]:
    """Few-shot pairs as user/assistant messages; a pair left empty is dropped."""
    out: list[PromptMessage] = []
    for i, pair in enumerate(examples, start=1):
        question, answer = (str(x or "") for x in pair)
        if not question.strip() and not answer.strip():
            continue
        if not question.strip():
            raise PromptError(f"Example {i} has an answer but no user message; write both "
                              "or remove the example.")
        if not answer.strip():
            raise PromptError(f"Example {i} has a user message but no answer; write both "
                              "or remove the example.")
        out += [PromptMessage("user", question), PromptMessage("assistant", answer)]
    return out


def _variable(v: Variable | dict[str, Any]) -> Variable:
    if isinstance(v, Variable):
        return v
    return Variable(str(v.get("name", "")), str(v.get("description") or ""),
                    str(v.get("example") if v.get("example") is not None else ""))


_CONFIG_LABELS = {
    "model": "model", "temperature": "temperature", "max_tokens": "max tokens",
    "top_p": "top-p", "stop": "stop sequences", "response_schema": "answer format",
    "guard_policy": "guardrail policy", "rag_collection": "answer from documents",
    "rag_top_k": "how many passages",
}


def config_label(key: str) -> str:
    return _CONFIG_LABELS.get(key, key.replace("_", " "))


def _config(config: PromptConfig | dict[str, Any] | None) -> PromptConfig:
    if isinstance(config, PromptConfig):
        return config
    try:
        cfg = PromptConfig(**{k: v for k, v in (config or {}).items() if v is not None})
    except ValidationError as err:
        first = err.errors()[0]
        key = str(first["loc"][0]) if first.get("loc") else "a setting"
        raise PromptError(
            f"The setting '{config_label(key)}' is not valid: {_plain(first)}."
        ) from None
    if cfg.response_schema is not None:
        # A schema the output guard could not use must not be saved.
        check_schema(cfg.response_schema)
    return cfg


def _plain(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in ("less_than_equal", "less_than"):
        return f"it must be at most {_num(ctx.get('le', ctx.get('lt')))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"it must be at least {_num(ctx.get('ge', ctx.get('gt')))}"
    if kind == "extra_forbidden":
        return "prompts do not have this setting"
    return "check its value"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _version(slug: str, row: Any) -> PromptVersion:
    return PromptVersion(
        prompt=slug,
        version=row.version,
        messages=tuple(PromptMessage(m["role"], m["content"]) for m in row.messages),
        variables=tuple(Variable(v["name"], v.get("description") or "", v.get("example") or "")
                        for v in row.variables),
        config=PromptConfig(**(row.config or {})),
        author=row.author,
        note=row.note,
        created_at=row.created_at,
        content_hash=row.content_hash,
    )


def diff_versions(va: PromptVersion, vb: PromptVersion) -> VersionDiff:
    out = VersionDiff(va.prompt, va.version, vb.version,
                      examples=(len(va.examples_pairs or ()), len(vb.examples_pairs or ())))
    roles_a = _by_part(va)
    roles_b = _by_part(vb)
    if (va.examples_pairs is None) != (vb.examples_pairs is None):
        roles_a, roles_b = _by_role(va.messages), _by_role(vb.messages)
    for key in dict.fromkeys([*roles_a, *roles_b]):
        a, b = roles_a.get(key, ""), roles_b.get(key, "")
        if a != b:
            lines = list(difflib.unified_diff(
                a.splitlines(), b.splitlines(), f"version {va.version}", f"version {vb.version}",
                lineterm="", n=2,
            ))
            out.messages.append((key, lines))
    ca, cb = va.config.set_fields(), vb.config.set_fields()
    for key in PromptConfig.model_fields:
        if ca.get(key) != cb.get(key):
            out.config.append((key, ca.get(key), cb.get(key)))
    names_a, names_b = va.variable_names, vb.variable_names
    out.variables_added.extend(n for n in names_b if n not in names_a)
    out.variables_removed.extend(n for n in names_a if n not in names_b)
    return out


def _by_part(version: PromptVersion) -> dict[str, str]:
    """A version's messages keyed by what they are to a reader.

    Few-shot pairs get "example N: user message" / "example N: answer", so an
    added, removed or edited example reads as such in a diff.
    """
    pairs = version.examples_pairs
    if pairs is None:
        return _by_role(version.messages)
    out: dict[str, str] = {}
    if version.system or any(m.role == "system" for m in version.messages):
        out["system"] = version.system
    for i, (question, answer) in enumerate(pairs, start=1):
        out[f"example {i}: user message"] = question
        out[f"example {i}: answer"] = answer
    out["user"] = version.user
    return out


def _by_role(messages: tuple[PromptMessage, ...]) -> dict[str, str]:
    """Messages keyed by role, with a number when a role repeats."""
    out: dict[str, str] = {}
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.role] = counts.get(m.role, 0) + 1
        key = m.role if counts[m.role] == 1 else f"{m.role} {counts[m.role]}"
        out[key] = m.content
    return out

"""What the registry hands out: plain, immutable values (no sessions, no SQL)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.prompts.templates import compile_template, render_text
from core.providers.base import Message

ROLES = ("system", "user", "assistant")


class PromptConfig(BaseModel):
    """A version's settings. None means "not set": the engine's default applies."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, max_length=300)  # provider/model or route/<name>
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = None
    response_schema: dict[str, Any] | None = None
    guard_policy: str | None = None
    rag_collection: str | None = None
    rag_top_k: int | None = Field(None, ge=1, le=50)

    def set_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


#: Config fields a caller's request can set directly, and the request field each maps to.
REQUEST_PARAMS = ("model", "temperature", "max_tokens", "top_p", "stop")


@dataclass(frozen=True, slots=True)
class PromptMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    description: str = ""
    example: str = ""


def content_hash(
    messages: tuple[PromptMessage, ...], variables: tuple[Variable, ...], config: PromptConfig
) -> str:
    """Identity of a version's content: equal hashes mean "nothing changed"."""
    body = {
        "messages": [[m.role, m.content] for m in messages],
        "variables": [[v.name, v.description, v.example] for v in variables],
        "config": config.set_fields(),
    }
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """One saved, immutable version of a prompt. `render(values)` fills it in."""

    prompt: str
    version: int
    messages: tuple[PromptMessage, ...]
    variables: tuple[Variable, ...]
    config: PromptConfig
    author: str
    note: str | None
    created_at: datetime
    content_hash: str

    @property
    def label(self) -> str:
        return f"{self.prompt} v{self.version}" if self.version else f"the draft of {self.prompt}"

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def system(self) -> str:
        return next((m.content for m in self.messages if m.role == "system"), "")

    @property
    def user(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")

    @property
    def examples_pairs(self) -> list[tuple[str, str]] | None:
        """The few-shot pairs (example user message, example answer), in order.

        None when the messages are not shaped as [system], (user, assistant)*,
        user: such a version (imported, or saved through the library) is kept
        as it is and its pairs cannot be edited as pairs.
        """
        msgs = list(self.messages)
        if msgs and msgs[0].role == "system":
            msgs = msgs[1:]
        if not msgs or msgs[-1].role != "user" or len(msgs) % 2 != 1:
            return None
        pairs: list[tuple[str, str]] = []
        for q, a in zip(msgs[:-1:2], msgs[1:-1:2], strict=True):
            if q.role != "user" or a.role != "assistant":
                return None
            pairs.append((q.content, a.content))
        return pairs

    def render(self, variables: dict[str, Any] | None = None) -> list[Message]:
        """The chat messages with `variables` filled in.

        Raises PromptError (a plain sentence naming the version) when a
        variable is missing or the template breaks a limit.
        """
        templates = [compile_template(m.content) for m in self.messages]
        texts = render_text(templates, variables or {}, where=self.label)
        return [Message(m.role, text) for m, text in zip(self.messages, texts, strict=True)]  # type: ignore[arg-type]

    def examples(self) -> dict[str, str]:
        return {v.name: v.example for v in self.variables}


@dataclass(frozen=True, slots=True)
class LabelInfo:
    name: str
    version: int | None
    protected: bool
    updated_by: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class LabelMove:
    label: str
    from_version: int | None
    to_version: int | None
    moved_by: str
    moved_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class Prompt:
    id: int
    name: str
    description: str | None
    tags: tuple[str, ...]
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived: bool
    latest_version: int | None
    labels: tuple[LabelInfo, ...] = ()

    def label(self, name: str) -> LabelInfo | None:
        return next((lab for lab in self.labels if lab.name == name), None)

    @property
    def production_version(self) -> int | None:
        lab = self.label("production")
        return lab.version if lab else None


@dataclass(frozen=True, slots=True)
class SaveResult:
    version: PromptVersion
    #: False when the content equalled the latest version's: nothing was saved.
    created: bool


@dataclass(frozen=True, slots=True)
class LabelMoveRequest:
    """What a move check (for example an eval gate) is asked to allow."""

    prompt: str
    label: str
    from_version: int | None
    to_version: int
    by: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class VersionDiff:
    prompt: str
    a: int
    b: int
    #: Per message: (which message, unified-diff lines); only messages that changed.
    #: Which: "system", "user", or "example N: user message" / "example N: answer".
    messages: list[tuple[str, list[str]]] = field(default_factory=list)
    #: How many few-shot examples a and b have.
    examples: tuple[int, int] = (0, 0)
    #: (setting, value in a, value in b) for settings that differ.
    config: list[tuple[str, Any, Any]] = field(default_factory=list)
    variables_added: list[str] = field(default_factory=list)
    variables_removed: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.messages or self.config or self.variables_added
                    or self.variables_removed)

"""Chat conversations kept per user, so a refresh or another day finds them again.

A conversation is a list of turns: a user's message, or the answer(s) to it
(two in compare mode, each with its figures, sources and guard report). Texts
are stored as the call log stores them: through the guards' storage redaction
(`text_filter`, installed with the guards), so a name typed in the chat is
kept as `<PERSON_1>`, never as itself.

`user_id` None is the anonymous local user (an install without sign-in),
as for feedback. Every read and delete is scoped to the asking user.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, String, Text, delete, select
from sqlalchemy import Engine as DBEngine
from sqlmodel import Field, SQLModel

from core.db import session_scope
from core.telemetry.models import utcnow

TITLE_CHARS = 80


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (Index("ix_conversation_user_updated", "user_id", "updated_at"),)

    #: A random hex id: it goes in the page URL (`?chat=`), so it must not be guessable.
    id: str = Field(primary_key=True, max_length=32)
    user_id: str | None = Field(default=None, max_length=200)
    title: str = Field(default="New chat", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class ConversationTurn(SQLModel, table=True):
    __tablename__ = "conversation_turn"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(
        sa_column=Column(
            String(32),
            ForeignKey("conversation.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    seq: int = 0
    role: str = Field(max_length=20)  # user | assistant
    content: str | None = Field(default=None, sa_column=Column(Text))
    #: The assistant's answers (one, or two in compare mode): text, figures, sources.
    answers: list | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    title: str
    updated_at: datetime
    turns: int


@dataclass(slots=True)
class ConversationView:
    id: str
    title: str
    updated_at: datetime
    #: `{"role": "user", "content": ...}` or `{"role": "assistant", "answers": [...]}`.
    turns: list[dict[str, Any]] = field(default_factory=list)


class ConversationStore:
    """Create, extend, list, open and delete conversations. Pages never see SQL."""

    #: Free text on its way to the database, redacted (the guards install theirs).
    text_filter: Callable[[str], str | None] | None = None

    def __init__(self, engine: DBEngine) -> None:
        self._engine = engine

    def _redact(self, text: str | None) -> str | None:
        if not text or self.text_filter is None:
            return text
        return self.text_filter(text)

    def _redact_answer(self, answer: dict[str, Any]) -> dict[str, Any]:
        out = dict(answer)
        for key in ("text", "error"):
            if isinstance(out.get(key), str):
                out[key] = self._redact(out[key])
        if out.get("sources"):
            out["sources"] = [
                {**s, "text": self._redact(s.get("text"))} for s in out["sources"]
            ]
        return out

    def create(self, user_id: str | None = None) -> str:
        """A new, empty conversation for `user_id`; returns its id."""
        conv = Conversation(id=uuid.uuid4().hex, user_id=user_id)
        with session_scope(self._engine) as s:
            s.add(conv)
        return conv.id

    def add_user_turn(self, conversation_id: str, content: str) -> int:
        """Append the user's message (redacted); the first one titles the conversation."""
        stored = self._redact(content) or ""
        return self._append(conversation_id, "user", content=stored, title=stored)

    def add_assistant_turn(self, conversation_id: str, answers: list[dict[str, Any]]) -> int:
        """Append the answer(s) to the last message, their texts redacted."""
        return self._append(
            conversation_id, "assistant", answers=[self._redact_answer(a) for a in answers]
        )

    def _append(
        self,
        conversation_id: str,
        role: str,
        *,
        content: str | None = None,
        answers: list | None = None,
        title: str | None = None,
    ) -> int:
        with session_scope(self._engine) as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise KeyError(conversation_id)
            count = s.execute(
                select(ConversationTurn.seq)
                .where(ConversationTurn.conversation_id == conversation_id)
                .order_by(ConversationTurn.seq.desc())
                .limit(1)
            ).scalar()
            turn = ConversationTurn(
                conversation_id=conversation_id,
                seq=0 if count is None else count + 1,
                role=role,
                content=content,
                answers=answers,
            )
            s.add(turn)
            conv.updated_at = utcnow()
            if title and count is None:
                conv.title = _title(title)
            s.flush()
            return int(turn.id)

    def list(self, user_id: str | None = None, limit: int = 50) -> list[ConversationSummary]:
        """This user's conversations that have at least one turn, newest first."""
        from sqlalchemy import func

        turns = (
            select(ConversationTurn.conversation_id, func.count().label("n"))
            .group_by(ConversationTurn.conversation_id)
            .subquery()
        )
        with session_scope(self._engine) as s:
            rows = s.execute(
                select(Conversation.id, Conversation.title, Conversation.updated_at, turns.c.n)
                .join(turns, turns.c.conversation_id == Conversation.id)
                .where(_owned_by(user_id))
                .order_by(Conversation.updated_at.desc(), Conversation.id)
                .limit(limit)
            ).all()
        return [ConversationSummary(r[0], r[1], r[2], int(r[3])) for r in rows]

    def get(self, conversation_id: str, user_id: str | None = None) -> ConversationView | None:
        """The conversation with its turns, or None when it is not this user's (or gone)."""
        with session_scope(self._engine) as s:
            conv = _owned(s, conversation_id, user_id)
            if conv is None:
                return None
            rows = s.execute(
                select(ConversationTurn)
                .where(ConversationTurn.conversation_id == conversation_id)
                .order_by(ConversationTurn.seq)
            ).scalars()
            turns: list[dict[str, Any]] = []
            for t in rows:
                if t.role == "user":
                    turns.append({"role": "user", "content": t.content or ""})
                else:
                    turns.append({"role": "assistant", "answers": list(t.answers or [])})
            return ConversationView(conv.id, conv.title, conv.updated_at, turns)

    def delete(self, conversation_id: str, user_id: str | None = None) -> bool:
        """Delete this user's conversation and its turns; False when there was none."""
        with session_scope(self._engine) as s:
            conv = _owned(s, conversation_id, user_id)
            if conv is None:
                return False
            # Explicit, so it holds where the database does not enforce foreign keys.
            s.execute(
                delete(ConversationTurn).where(
                    ConversationTurn.conversation_id == conversation_id
                )
            )
            s.delete(conv)
            return True


def _owned(s: Any, conversation_id: str, user_id: str | None) -> Conversation | None:
    """The conversation when it exists and belongs to `user_id`."""
    return s.execute(
        select(Conversation).where(Conversation.id == conversation_id, _owned_by(user_id))
    ).scalar_one_or_none()


def _owned_by(user_id: str | None) -> Any:
    col = Conversation.user_id
    return col.is_(None) if user_id is None else col == user_id


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"

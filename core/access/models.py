"""Tables behind access control: users, API keys and the audit trail.

Secrets are never stored: a password is an argon2 hash, an API key a SHA-256
digest of a 256-bit random key (a fast hash is right for a high-entropy key;
argon2 is for low-entropy passwords). The key's short public prefix is its
lookup id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Index
from sqlmodel import Field, SQLModel

from core.telemetry.models import utcnow


def _ts(nullable: bool = False) -> Column:
    return Column(DateTime, nullable=nullable)


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True)
    role: str = Field(default="viewer", max_length=10)  # viewer | editor | admin
    password_hash: str | None = Field(default=None, max_length=200)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=_ts(True))
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_login_at: datetime | None = Field(default=None, sa_column=_ts(True))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=20, unique=True)
    key_hash: str = Field(max_length=64)
    name: str = Field(max_length=100)
    owner: str = Field(max_length=100)
    #: `provider/model` or `route/name` patterns (fnmatch); empty = any model.
    models: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Prompt names this key may render; empty = any prompt.
    prompts: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rpm: int | None = None
    tpm: int | None = None
    #: Daily spend cap in USD, enforced by a core/reliability budget on the key's tag.
    budget_usd: float | None = None
    expires_at: datetime | None = Field(default=None, sa_column=_ts(True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    actor: str = Field(max_length=100)
    action: str = Field(max_length=60)
    target: str | None = Field(default=None, max_length=300)
    before: str | None = Field(default=None, max_length=2000)
    after: str | None = Field(default=None, max_length=2000)

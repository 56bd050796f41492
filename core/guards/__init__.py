"""Guardrails: PII redaction (Presidio), prompt-injection detection, input and
output validation, and the named policies that decide what each does.

`install_guards(engine, db, settings)` wires them into an engine; see
docs/guards.md.
"""

from __future__ import annotations

from sqlalchemy import Engine as DBEngine

from core.config import Settings
from core.guards.errors import GuardBlocked, OutputSchemaInvalid, RedactionUnavailable
from core.guards.hooks import Guards
from core.guards.policy import (
    BUILTIN_ENTITIES,
    CustomRecognizer,
    GuardPolicy,
    PolicyStore,
    builtin_policies,
)
from core.guards.stats import guard_stats

__all__ = [
    "BUILTIN_ENTITIES",
    "CustomRecognizer",
    "GuardBlocked",
    "GuardPolicy",
    "Guards",
    "OutputSchemaInvalid",
    "PolicyStore",
    "RedactionUnavailable",
    "builtin_policies",
    "guard_stats",
    "install_guards",
]


def install_guards(engine: object, db: DBEngine, settings: Settings) -> Guards:
    """Build the guards on `db` and register them on `engine`; returns them."""
    guards = Guards(settings, PolicyStore(db))
    guards.install(engine)
    return guards

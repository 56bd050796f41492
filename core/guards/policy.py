"""Named guard policies: what each guard does, stored in the database.

A policy is a small pydantic model saved as JSON, so adding a knob needs no
migration. Four built-in policies are seeded on first use; admins edit them
or add their own on the Guardrails page.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from core.db import session_scope
from core.forms import check_name
from core.guards.models import GuardPolicyRow, GuardRecognizerRow
from core.telemetry.models import utcnow

#: The entities Presidio finds out of the box that policies may switch on.
BUILTIN_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
    "LOCATION",
)

# Thresholds tuned on generated_small.json (bench/guard_quality.py): 0.5 keeps
# the phone recognizer's bare digit groups only when a context word is near,
# and drops the proper-noun fallback (0.35) that the strict policy keeps.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "PERSON": 0.5,
    "EMAIL_ADDRESS": 0.5,
    "PHONE_NUMBER": 0.4,
    "CREDIT_CARD": 0.5,
    "US_SSN": 0.5,
    "IBAN_CODE": 0.5,
    "IP_ADDRESS": 0.5,
    "LOCATION": 0.6,
}

#: Validation context for rows read back from the database: names saved under an
#: older, looser rule still load (the rule applies to what people type now).
STORED = {"stored": True}


def _checked_name(value: str, info: ValidationInfo) -> str:
    if info.context and info.context.get("stored"):
        return value
    return check_name(value)


PiiAction = Literal["redact", "flag", "off"]
InjectionAction = Literal["block", "flag", "allow"]
LeakAction = Literal["block", "flag", "off"]


class GuardPolicy(BaseModel):
    """What the guards do on a call. Values are never stored in a report, only counts."""

    name: str = Field(max_length=50)
    description: str = ""
    #: Entity type -> minimum Presidio score. Custom recognizers' entities go here too.
    entities: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    #: What leaves the machine: "redact" replaces PII with <TYPE_n> before the provider call.
    pii_input: PiiAction = "redact"
    #: Providers that receive the raw text (their calls never leave the machine).
    exempt_providers: list[str] = Field(default_factory=lambda: ["local"])
    #: Put the user's own values back into the answer they see.
    deanonymize: bool = True
    #: PII the model writes in its answer that the user did not send.
    pii_output: PiiAction = "flag"
    injection: InjectionAction = "flag"
    injection_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    leak: LeakAction = "flag"
    leak_threshold: float = Field(default=0.6, ge=0.0, le=1.0)

    @field_validator("name")
    @classmethod
    def _name_rule(cls, value: str, info: ValidationInfo) -> str:
        return _checked_name(value, info)

    @field_validator("entities")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for entity, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"The threshold for {entity} must be between 0 and 1.")
        return value

    def sends_raw_to(self, provider: str | None) -> bool:
        """True when this provider receives unredacted text."""
        return self.pii_input != "redact" or (provider or "") in self.exempt_providers


def builtin_policies() -> list[GuardPolicy]:
    """The policies every installation starts with."""
    return [
        GuardPolicy(
            name="standard",
            description=(
                "The default. Hide personal data (names, e-mail addresses, phone and card "
                "numbers…) before it reaches a remote provider (the local model sees the "
                "text), restore the user's values in the answer, flag "
                "prompt injection and system-prompt leaks."
            ),
        ),
        GuardPolicy(
            name="strict",
            description=(
                "Redact everything, for every provider including the local model; favour "
                "recall (proper-noun fallback for names); redact PII in answers; block "
                "prompt injection and answers that leak the system prompt."
            ),
            entities={**DEFAULT_THRESHOLDS, "PERSON": 0.3, "LOCATION": 0.4},
            exempt_providers=[],
            deanonymize=False,
            pii_output="redact",
            injection="block",
            leak="block",
        ),
        GuardPolicy(
            name="internal",
            description="Flag only: report PII, injection and leaks, change nothing.",
            pii_input="flag",
            pii_output="flag",
        ),
        GuardPolicy(
            name="off",
            description=(
                "No guard acts on the call. Stored text is still redacted: nothing raw "
                "reaches the database under any policy."
            ),
            pii_input="off",
            pii_output="off",
            injection="allow",
            leak="off",
        ),
    ]


class CustomRecognizer(BaseModel):
    """An admin's regular expression for one entity type."""

    name: str = Field(max_length=100)
    entity_type: str = Field(min_length=1, max_length=50)
    pattern: str = Field(min_length=1)
    score: float = Field(default=0.8, ge=0.0, le=1.0)
    context: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name_rule(cls, value: str, info: ValidationInfo) -> str:
        return _checked_name(value, info)

    @field_validator("entity_type")
    @classmethod
    def _entity_upper(cls, value: str) -> str:
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
            raise ValueError(
                "An entity type uses capital letters, digits and underscores, starting with "
                "a letter (for example EMPLOYEE_ID)."
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(
                f"The regular expression is not valid ({exc}); check its brackets and "
                "backslashes."
            ) from exc
        return value


class PolicyStore:
    """Policies and custom recognizers in the database, with a short read cache."""

    #: Seconds a policy read stays cached; another process's edit shows up after this.
    TTL_S = 5.0

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, object]] = {}
        self._seeded = False

    # -- policies -----------------------------------------------------------
    def ensure_builtins(self) -> None:
        """Insert the built-in policies that are missing (edits to them are kept)."""
        if self._seeded:
            return
        with session_scope(self._db) as s:
            have = set(s.execute(select(GuardPolicyRow.name)).scalars())
        for policy in builtin_policies():
            if policy.name in have:
                continue
            try:
                with session_scope(self._db) as s:
                    s.add(_row(policy, builtin=True))
            except IntegrityError:
                pass  # another process seeded it first
        self._seeded = True

    def names(self) -> list[str]:
        self.ensure_builtins()
        with session_scope(self._db) as s:
            q = select(GuardPolicyRow.name).order_by(GuardPolicyRow.id)
            return list(s.execute(q).scalars())

    def policies(self) -> list[GuardPolicy]:
        self.ensure_builtins()
        with session_scope(self._db) as s:
            rows = s.execute(select(GuardPolicyRow).order_by(GuardPolicyRow.id)).scalars()
            return [GuardPolicy.model_validate({**r.config, "name": r.name}, context=STORED)
                    for r in rows]

    def get(self, name: str) -> GuardPolicy | None:
        cached = self._cached(f"p:{name}")
        if cached is not None:
            return cached  # type: ignore[return-value]
        self.ensure_builtins()
        with session_scope(self._db) as s:
            row = s.execute(
                select(GuardPolicyRow).where(GuardPolicyRow.name == name)
            ).scalar_one_or_none()
            policy = (GuardPolicy.model_validate({**row.config, "name": row.name}, context=STORED)
                      if row else None)
        if policy is not None:
            self._put(f"p:{name}", policy)
        return policy

    def save(self, policy: GuardPolicy) -> None:
        """Create or replace the policy with this name."""
        self.ensure_builtins()
        with session_scope(self._db) as s:
            row = s.execute(
                select(GuardPolicyRow).where(GuardPolicyRow.name == policy.name)
            ).scalar_one_or_none()
            if row is None:
                s.add(_row(policy, builtin=False))
            else:
                row.config = policy.model_dump(exclude={"name"})
                row.description = policy.description
                row.updated_at = utcnow()
        self._invalidate()

    def delete(self, name: str) -> None:
        """Delete a policy an admin made; built-in policies can be edited, not deleted."""
        with session_scope(self._db) as s:
            row = s.execute(
                select(GuardPolicyRow).where(GuardPolicyRow.name == name)
            ).scalar_one_or_none()
            if row is None:
                return
            if row.builtin:
                raise ValueError(f"'{name}' is a built-in policy; edit it instead of deleting it.")
            s.delete(row)
        self._invalidate()

    # -- custom recognizers ----------------------------------------------------
    def recognizers(self, *, enabled_only: bool = False) -> list[CustomRecognizer]:
        key = f"r:{enabled_only}"
        cached = self._cached(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        with session_scope(self._db) as s:
            q = select(GuardRecognizerRow).order_by(GuardRecognizerRow.id)
            if enabled_only:
                q = q.where(GuardRecognizerRow.enabled.is_(True))
            out = [
                CustomRecognizer.model_validate(
                    {
                        "name": r.name,
                        "entity_type": r.entity_type,
                        "pattern": r.pattern,
                        "score": r.score,
                        "context": list(r.context or []),
                        "enabled": r.enabled,
                    },
                    context=STORED,
                )
                for r in s.execute(q).scalars()
            ]
        self._put(key, out)
        return out

    def save_recognizer(self, rec: CustomRecognizer) -> None:
        with session_scope(self._db) as s:
            row = s.execute(
                select(GuardRecognizerRow).where(GuardRecognizerRow.name == rec.name)
            ).scalar_one_or_none()
            if row is None:
                row = GuardRecognizerRow(
                    name=rec.name, entity_type=rec.entity_type, pattern=rec.pattern
                )
                s.add(row)
            row.entity_type, row.pattern, row.score = rec.entity_type, rec.pattern, rec.score
            row.context, row.enabled, row.updated_at = rec.context or None, rec.enabled, utcnow()
        self._invalidate()

    def delete_recognizer(self, name: str) -> None:
        with session_scope(self._db) as s:
            row = s.execute(
                select(GuardRecognizerRow).where(GuardRecognizerRow.name == name)
            ).scalar_one_or_none()
            if row is not None:
                s.delete(row)
        self._invalidate()

    # -- cache --------------------------------------------------------------
    def _cached(self, key: str) -> object | None:
        with self._lock:
            hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self.TTL_S:
            return hit[1]
        return None

    def _put(self, key: str, value: object) -> None:
        with self._lock:
            self._cache[key] = (time.monotonic(), value)

    def _invalidate(self) -> None:
        with self._lock:
            self._cache.clear()


def _row(policy: GuardPolicy, *, builtin: bool) -> GuardPolicyRow:
    return GuardPolicyRow(
        name=policy.name,
        description=policy.description,
        config=policy.model_dump(exclude={"name"}),
        builtin=builtin,
    )

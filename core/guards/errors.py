"""Typed errors the guards raise; each carries one plain sentence for the user."""

from __future__ import annotations

from typing import Any

from core.providers.errors import TrellisError


class GuardBlocked(TrellisError):
    """A guard policy stopped the call. The call is logged with status "blocked"."""

    error_class = "guard_block"

    def __init__(
        self, reason: str, *, policy: str, report: dict[str, Any] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.policy = policy
        #: The guard report so far (counts and scores only, never values).
        self.report = report or {}

    @property
    def user_message(self) -> str:
        return f"The guardrail policy '{self.policy}' blocked this message: {self.reason}."


class OutputSchemaInvalid(TrellisError):
    """The answer did not match the requested JSON Schema, even after one repair attempt."""

    error_class = "schema"

    @property
    def user_message(self) -> str:
        why = f" ({self.detail})" if self.detail else ""
        return f"The model's answer did not match the requested JSON format{why}."

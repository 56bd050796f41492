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

    def __init__(self, detail: str = "", *, no_time_to_repair: bool = False) -> None:
        super().__init__(detail)
        self.no_time_to_repair = no_time_to_repair

    @property
    def user_message(self) -> str:
        why = f" ({self.detail})" if self.detail else ""
        late = "; there was no time left to ask the model to fix it" if self.no_time_to_repair \
            else ""
        return f"The model's answer did not match the requested JSON format{why}{late}."


class RedactionUnavailable(TrellisError):
    """PII redaction failed where the policy requires it: nothing was sent."""

    error_class = "guard_error"

    def __init__(self, detail: str, *, provider: str | None = None) -> None:
        super().__init__(detail)
        self.provider = provider

    @property
    def user_message(self) -> str:
        return (
            "Personal-data redaction is not working right now, so your message was not sent "
            "to the model; try again in a moment, and tell an admin if it keeps happening."
        )

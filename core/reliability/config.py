"""Operations settings: retries, timeouts, breakers, rate limits and caches.

Defaults live here; ops staff change them on the Operations page, which
stores the changed values in the `ops_setting` table so every replica (and
the next restart) uses them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from core.db import session_scope
from core.reliability.models import OpsSetting
from core.telemetry.models import utcnow

KEY = "reliability"


class ReliabilityConfig(BaseModel):
    # Retries: exponential backoff with full jitter, honouring retry-after.
    max_retries: int = Field(2, ge=0, le=10)
    backoff_base_s: float = Field(0.5, gt=0, le=30)
    backoff_max_s: float = Field(8.0, gt=0, le=120)
    attempt_timeout_s: float = Field(30.0, gt=0, le=600)
    deadline_s: float = Field(60.0, gt=0, le=3600)

    # Circuit breaker per deployment.
    breaker_failures: int = Field(5, ge=1, le=1000)
    breaker_window_s: float = Field(60.0, gt=0)
    breaker_failure_rate: float = Field(0.5, gt=0, le=1)
    breaker_min_calls: int = Field(10, ge=1)
    breaker_cooldown_s: float = Field(30.0, gt=0, le=3600)

    # Rate limits (None = unlimited). Per user applies to each user id separately.
    rpm_global: int | None = Field(None, ge=1)
    rpm_user: int | None = Field(None, ge=1)
    tpm_global: int | None = Field(None, ge=1)
    tpm_user: int | None = Field(None, ge=1)
    max_concurrent: int | None = Field(None, ge=1)

    # Caches.
    cache_mode: Literal["off", "exact", "semantic", "both"] = "off"
    cache_ttl_s: float = Field(3600.0, gt=0)
    semantic_threshold: float = Field(0.92, gt=0, le=1)


def load_config(engine: Engine) -> ReliabilityConfig:
    with session_scope(engine) as s:
        row = s.get(OpsSetting, KEY)
        return ReliabilityConfig(**(row.value if row else {}))


def save_config(engine: Engine, config: ReliabilityConfig) -> None:
    with session_scope(engine) as s:
        row = s.execute(select(OpsSetting).where(OpsSetting.key == KEY)).scalar_one_or_none()
        if row is None:
            row = OpsSetting(key=KEY, value={})
            s.add(row)
        row.value = config.model_dump()
        row.updated_at = utcnow()

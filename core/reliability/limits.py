"""Rate limits: requests and tokens per minute, per user and global, and a
cap on calls in flight.

Admission is atomic: one lock covers the check and the reservation, so 20
threads arriving at once cannot all squeeze under a limit. Tokens are
reserved up front (estimated input plus max_tokens) and corrected when the
call settles. Counters are per process: with several app replicas each
enforces the limit on its own share of traffic.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from core.providers import errors as E

WINDOW_S = 60.0


class RateLimitExceeded(E.TrellisError):
    """Trellis's own limit, not the provider's: the call was never sent."""

    error_class = "rate_limit"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def user_message(self) -> str:
        wait = max(1, math.ceil(self.retry_after))
        return f"{self.detail} Try again in {wait} s."


@dataclass
class _Window:
    """Sliding one-minute window of (time, amount) entries."""

    entries: deque = field(default_factory=deque)
    total: float = 0.0

    def trim(self, now: float) -> None:
        while self.entries and self.entries[0][0] <= now - WINDOW_S:
            self.total -= self.entries.popleft()[1]

    def wait_for(self, now: float, need: float, limit: float) -> float:
        """Seconds until `need` more fits under `limit`."""
        if self.total + need <= limit:
            return 0.0
        freed = 0.0
        for t, amount in self.entries:
            freed += amount
            if self.total - freed + need <= limit:
                return max(0.0, t + WINDOW_S - now)
        return WINDOW_S


@dataclass
class Admission:
    """What one admitted call holds, to be settled when it ends."""

    user: str | None
    tokens: int
    slot: bool
    token_entries: list = field(default_factory=list)


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, _Window] = {}
        self._tokens: dict[str, _Window] = {}
        self._in_flight = 0

    def in_flight(self) -> int:
        return self._in_flight

    def usage(self, user: str | None = None) -> dict[str, float]:
        """Requests and tokens in the last minute (global, or for one user)."""
        now = time.monotonic()
        key = f"user:{user}" if user else "global"
        with self._lock:
            out = {}
            for name, table in (("requests", self._requests), ("tokens", self._tokens)):
                w = table.get(key)
                if w:
                    w.trim(now)
                out[name] = w.total if w else 0.0
            out["in_flight"] = self._in_flight
            return out

    def admit(
        self,
        *,
        user: str | None,
        tokens: int,
        rpm_global: int | None,
        rpm_user: int | None,
        tpm_global: int | None,
        tpm_user: int | None,
        max_concurrent: int | None,
    ) -> Admission:
        now = time.monotonic()
        checks = [("global", rpm_global, tpm_global, "Trellis")]
        if user:
            checks.append((f"user:{user}", rpm_user, tpm_user, "your user"))
        with self._lock:
            if max_concurrent is not None and self._in_flight >= max_concurrent:
                raise RateLimitExceeded(
                    f"{self._in_flight} calls are already running, the most allowed at once.",
                    retry_after=1.0,
                )
            for key, rpm, tpm, who in checks:
                rw = self._requests.setdefault(key, _Window())
                tw = self._tokens.setdefault(key, _Window())
                rw.trim(now)
                tw.trim(now)
                if rpm is not None and (wait := rw.wait_for(now, 1, rpm)) > 0:
                    raise RateLimitExceeded(
                        f"The limit of {rpm} requests per minute for {who} is reached.",
                        retry_after=wait,
                    )
                if tpm is not None and (wait := tw.wait_for(now, tokens, tpm)) > 0:
                    raise RateLimitExceeded(
                        f"The limit of {tpm:,} tokens per minute for {who} is reached.",
                        retry_after=wait,
                    )
            admission = Admission(user, tokens, max_concurrent is not None)
            for key, *_ in checks:
                self._requests[key].entries.append((now, 1))
                self._requests[key].total += 1
                entry = [now, tokens]
                self._tokens[key].entries.append(entry)
                self._tokens[key].total += tokens
                admission.token_entries.append((key, entry))
            if admission.slot:
                self._in_flight += 1
            return admission

    def settle(self, admission: Admission, actual_tokens: int | None) -> None:
        """Free the concurrency slot and replace the token estimate with the real count."""
        with self._lock:
            if admission.slot:
                self._in_flight -= 1
                admission.slot = False
            if actual_tokens is None:
                return
            for key, entry in admission.token_entries:
                w = self._tokens.get(key)
                if w is None:
                    continue
                delta = actual_tokens - entry[1]
                entry[1] = actual_tokens
                w.total += delta
            admission.token_entries = []

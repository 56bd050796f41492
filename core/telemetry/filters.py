"""The filter every monitoring query shares, and the time buckets it implies.

Times inside Trellis are naive UTC. A filter accepts aware datetimes (any
zone) and converts them; pages convert results back to the viewer's zone with
`to_local` for display only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pandas as pd

from core.telemetry.models import utcnow

#: Preset ranges the pages offer, by their URL value.
RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {"1h": "Last hour", "24h": "Last 24 h", "7d": "Last 7 days", "30d": "Last 30 days"}

#: The list-valued filters, in the order pages show them.
LIST_FIELDS = ("provider", "model", "user", "tag", "prompt", "source", "status")

STATUSES = ("ok", "cached", "error", "blocked", "cancelled")


def as_utc(value: datetime) -> datetime:
    """A naive-UTC datetime from an aware one (any zone) or a naive one (taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _tuple(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value if v not in (None, ""))  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Filters:
    """What to look at: a UTC time range [start, end) and optional value lists.

    An empty tuple means "any". `tag` matches calls carrying any of the given
    tags; `prompt` matches the prompt name.
    """

    start: datetime
    end: datetime
    provider: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    user: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    prompt: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    status: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.end <= self.start:
            raise ValueError("The end of the time range must be after its start.")
        for name in LIST_FIELDS:
            object.__setattr__(self, name, _tuple(getattr(self, name)))

    @classmethod
    def last(cls, span: str | timedelta = "30d", now: datetime | None = None, **lists) -> Filters:
        """The preset range ending now. The end is rounded up to the next minute
        so that repeated page loads within a minute share cached results."""
        delta = RANGES[span] if isinstance(span, str) else span
        now = as_utc(now) if now else utcnow()
        end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return cls(start=end - delta, end=end, **lists)

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)

    def without_time(self, start: datetime, end: datetime) -> Filters:
        """The same value filters over another time range."""
        return replace(self, start=start, end=end)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def choose_bucket(start: datetime, end: datetime) -> str:
    """minute for ranges up to 3 hours, hour up to 4 days, day beyond."""
    span = end - start
    if span <= timedelta(hours=3):
        return "minute"
    if span <= timedelta(days=4):
        return "hour"
    return "day"


BUCKET_STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def zone(name: str | None) -> tzinfo:
    """The viewer's zone by IANA name; UTC when unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return UTC


def to_local(
    df: pd.DataFrame, tz: str | tzinfo | None, columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A copy of `df` whose naive-UTC datetime columns are shown in `tz`.

    Columns default to every datetime column. The zone suffix is dropped after
    conversion so tables and CSV files read as plain local wall-clock times.
    """
    tzi = zone(tz) if tz is None or isinstance(tz, str) else tz
    out = df.copy()
    cols = columns or tuple(c for c in out.columns if pd.api.types.is_datetime64_any_dtype(out[c]))
    for col in cols:
        series = pd.to_datetime(out[col])
        if series.dt.tz is None:
            series = series.dt.tz_localize("UTC")
        out[col] = series.dt.tz_convert(tzi).dt.tz_localize(None)
    return out

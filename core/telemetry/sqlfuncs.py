"""The few SQL pieces that differ between SQLite and PostgreSQL.

Percentiles: PostgreSQL has `percentile_cont(array[...]) WITHIN GROUP (ORDER
BY x)`. SQLite has no percentile function, so Trellis registers an aggregate
on each SQLite connection that collects the group's values and finishes with
`numpy.percentile` (linear interpolation, the same definition as
percentile_cont). A pure-SQL alternative (row_number/count windows with
interpolation) gives the same figures but sorts every row in SQLite's VM and
measured about 3x slower at a million rows; see docs/monitoring.md.

Time buckets: SQLite stores SQLAlchemy DateTime values as ISO text
("YYYY-MM-DD HH:MM:SS.ffffff"), so a bucket is a prefix of the text (cheap,
and sorts correctly); PostgreSQL uses date_trunc.
"""

from __future__ import annotations

import array
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Integer, case, cast, func, literal
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement

#: The percentiles every dashboard shows, in this order.
PERCENTILES: tuple[float, float, float] = (0.5, 0.95, 0.99)
_SQLITE_PCT = "trellis_percentiles"

_PREFIX = {"minute": 16, "hour": 13, "day": 10}
_PARSE = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}


class _Percentiles:
    """SQLite aggregate: p50, p95, p99 of the non-NULL values, as a JSON list."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = array.array("d")

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> str | None:
        if not self.values:
            return None
        data = np.frombuffer(self.values, dtype=np.float64)
        return json.dumps(np.percentile(data, [p * 100 for p in PERCENTILES]).tolist())


def prepare(conn: Connection) -> None:
    """Register the SQLite helpers on this connection (idempotent, microseconds)."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        raw.create_aggregate(_SQLITE_PCT, 1, _Percentiles)  # type: ignore[union-attr]


def percentiles(dialect: str, column: ColumnElement) -> ColumnElement:
    """An aggregate giving p50/p95/p99 of `column`; decode its value with `unpack`."""
    if dialect == "postgresql":
        fractions = postgresql.array([literal(p) for p in PERCENTILES])
        return func.percentile_cont(fractions).within_group(column)
    return getattr(func, _SQLITE_PCT)(column)


def unpack(value: Any) -> tuple[float | None, float | None, float | None]:
    """(p50, p95, p99) from what `percentiles` returned for one group."""
    if value is None:
        return (None, None, None)
    if isinstance(value, str):
        value = json.loads(value)
    vals = [None if v is None else float(v) for v in value]
    return (vals[0], vals[1], vals[2])


def bucket(dialect: str, column: ColumnElement, unit: str) -> ColumnElement:
    """The start of `column`'s minute/hour/day bucket (UTC), as the DB sees it."""
    if dialect == "postgresql":
        return func.date_trunc(unit, column)
    return func.substr(column, 1, _PREFIX[unit])


def bucket_value(value: Any, unit: str) -> datetime:
    """A bucket from `bucket` as a naive-UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.strptime(str(value), _PARSE[unit])


def log_bin(column: ColumnElement) -> ColumnElement:
    """Tenth-of-a-decade bin of a positive value: floor(10·log10(x)); 0 below 1.

    One-argument log() is base 10 on both SQLite (math functions) and PostgreSQL.
    """
    return case(
        (column >= 1, cast(func.floor(func.log(column) * 10), Integer)),
        else_=0,
    )


def numpy_percentiles(values: Sequence[float]) -> list[float]:
    """The reference the tests compare against: NumPy's default (linear) method."""
    return np.percentile(np.asarray(values, dtype=float), [p * 100 for p in PERCENTILES]).tolist()

"""The few SQL pieces that differ between SQLite and PostgreSQL.

Percentiles are exact (linear interpolation, PostgreSQL percentile_cont's
definition), computed by NumPy over value lists that one grouped scan returns.

Value lists: the latency views need percentiles for the whole range, per
time bucket and per model at once. Rather than one percentile aggregate per
grouping (each a full scan), one scan groups by the finest grain (bucket,
provider, model) and returns each group's values packed as float64 bytes;
NumPy then computes exact percentiles for any union of groups. PostgreSQL
concatenates `float8send` of each value with `string_agg` (8 bytes a value,
no text round trip); SQLite uses a registered aggregate that collects the
values into float arrays (`trellis_value_lists`). On SQLite a GROUP BY sorts
every row unless an index yields them in group order: day buckets read the
day index of migration 0008 (see `queries._in_day_order`).

Time buckets: SQLite stores SQLAlchemy DateTime values as ISO text
("YYYY-MM-DD HH:MM:SS.ffffff"), so a bucket is a prefix of the text (cheap,
and sorts correctly); PostgreSQL uses date_trunc.
"""

from __future__ import annotations

import array
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    LargeBinary,
    and_,
    cast,
    func,
    literal,
    literal_column,
)
from sqlalchemy.sql import ColumnElement

#: The percentiles every dashboard shows, in this order.
PERCENTILES: tuple[float, float, float] = (0.5, 0.95, 0.99)
_SQLITE_LISTS = "trellis_value_lists"

_PREFIX = {"minute": 16, "hour": 13, "day": 10}
_PARSE = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}


class _Percentiles:
    """SQLite aggregate: p50, p95, p99 of the non-NULL values, as a JSON list.

    Not used by the dashboards (they use `value_lists`): bench/dashboard.py
    registers it as `trellis_percentiles` for its hand-written baseline SQL."""

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


class _ValueLists:
    """SQLite aggregate `trellis_value_lists(x, y)`: the group's non-NULL x
    values, and the non-NULL y values of the rows with an x, as native float64
    bytes behind an 8-byte count of x values. Decode with `unpack_lists`."""

    __slots__ = ("x", "y")

    def __init__(self) -> None:
        self.x = array.array("d")
        self.y = array.array("d")

    def step(self, x: float | None, y: float | None) -> None:
        if x is not None:
            self.x.append(x)
            if y is not None:
                self.y.append(y)

    def finalize(self) -> bytes:
        return len(self.x).to_bytes(8, "little") + self.x.tobytes() + self.y.tobytes()


def prepare(conn: Connection) -> None:
    """Register the SQLite helpers on this connection (idempotent, microseconds)."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        raw.create_aggregate(_SQLITE_LISTS, 2, _ValueLists)  # type: ignore[union-attr]


def value_lists(dialect: str, x: ColumnElement, y: ColumnElement,
                where: ColumnElement) -> list[ColumnElement]:
    """Aggregates giving the group's x values and y values (each without
    NULLs) over the rows matching `where` whose x is not NULL, as float64
    bytes; decode with `unpack_lists`. PostgreSQL: big-endian `float8send`
    concatenated, one column per list. SQLite: `_ValueLists`, one column."""
    rows = and_(where, x.isnot(None))
    if dialect != "postgresql":
        return [getattr(func, _SQLITE_LISTS)(x, y).filter(rows)]
    empty = cast(literal(b""), LargeBinary)
    return [
        func.string_agg(func.float8send(x), empty).filter(rows),
        func.string_agg(func.float8send(y), empty).filter(and_(rows, y.isnot(None))),
    ]


def unpack_lists(dialect: str, *cells: bytes | None) -> tuple[np.ndarray, np.ndarray]:
    """The x and y float64 arrays from the cells `value_lists` gave."""
    if dialect != "postgresql":
        blob = cells[0]
        if not blob:
            return _EMPTY, _EMPTY
        n = int.from_bytes(blob[:8], "little")
        values = np.frombuffer(blob, dtype=np.float64, offset=8)
        return values[:n], values[n:]
    x, y = (np.frombuffer(c, dtype=">f8").astype(np.float64) if c else _EMPTY for c in cells)
    return x, y


#: PostgreSQL memory for the value lists' hash aggregate (16 bytes a
#: successful call: 64 MB holds four million). The server default, 4 MB, makes
#: it spill to disk, which measured 30-50% slower at a million calls.
LISTS_WORK_MEM = "64MB"


@contextmanager
def roomy_work_mem(conn: Connection) -> Iterator[None]:
    """Raise PostgreSQL's work_mem to LISTS_WORK_MEM for the statements inside,
    in this transaction only, when it is lower; restore it after."""
    if conn.dialect.name != "postgresql":
        yield
        return
    current, low = conn.exec_driver_sql(
        "SELECT current_setting('work_mem'), "
        f"pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('{LISTS_WORK_MEM}')"
    ).one()
    if not low:
        yield
        return
    conn.exec_driver_sql(f"SELECT set_config('work_mem', '{LISTS_WORK_MEM}', true)")
    try:
        yield
    finally:
        conn.exec_driver_sql("SELECT set_config('work_mem', %(v)s, true)", {"v": current})


_EMPTY = np.empty(0, dtype=np.float64)


def exact_percentiles(values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """p50, p95, p99 of `values` with linear interpolation (percentile_cont's
    definition); None for an empty array, as the SQL aggregates give NULL."""
    if len(values) == 0:
        return (None, None, None)
    p = np.percentile(values, [q * 100 for q in PERCENTILES])
    return (float(p[0]), float(p[1]), float(p[2]))


def log_bins(values: np.ndarray) -> np.ndarray:
    """Tenth-of-a-decade bins of positive values: floor(10·log10(x)); 0 below 1."""
    out = np.zeros(len(values), dtype=np.int64)
    big = values >= 1
    out[big] = np.floor(np.log10(values[big]) * 10).astype(np.int64)
    return out


def bucket(dialect: str, column: ColumnElement, unit: str) -> ColumnElement:
    """The start of `column`'s minute/hour/day bucket (UTC), as the DB sees it."""
    prefix = _PREFIX[unit]  # also rejects anything but minute/hour/day
    if dialect == "postgresql":
        # The unit is written into the SQL, not bound, so the expression is the
        # one the planner's statistics describe (migration 0007).
        return func.date_trunc(literal_column(f"'{unit}'"), column)
    # Literal numbers, not bound ones, so that SQLite matches the expression
    # with the day index of migration 0008.
    return func.substr(column, literal_column("1"), literal_column(str(prefix)))


def bucket_value(value: Any, unit: str) -> datetime:
    """A bucket from `bucket` as a naive-UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.strptime(str(value), _PARSE[unit])



"""Shared helpers of the world generator: the calendar window, RNG streams, Arrow I/O.

Dates are handled as int64 days since 1970-01-01 and timestamps as int64 seconds since
the epoch (UTC) until they are turned into Arrow columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import WORLD_TABLES, qualified

EPOCH = dt.date(1970, 1, 1)
DAY = 86_400

# Independent random streams, so that changing one part of the world never shifts another.
STREAM_PLAN = 1
STREAM_RATES = 2
STREAM_ERP = 3
STREAM_CRM = 4
STREAM_PORTAL = 5
STREAM_CASES = 6
STREAM_REPORTS = 7
STREAM_NAMES = 8
STREAM_SEGMENTS = 9


def rng_for(seed: int, stream: int, *sub: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *sub])


def day_num(d: dt.date) -> int:
    return (d - EPOCH).days


def day_date(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


@dataclass(frozen=True)
class Window:
    """The `months` calendar months that end with the month of `as_of`.

    Index k = 0 .. months-1; `start[k]` is the first day (day number) of month k and
    `start[months]` the first day of the month after the as_of month.
    """

    as_of: dt.date
    months: int
    start: np.ndarray  # int64 day numbers, length months + 1
    length: np.ndarray  # days in month, length months
    year: np.ndarray
    month: np.ndarray
    labels: tuple[str, ...]
    as_of_day: int
    as_of_end: int  # seconds: 23:59:59 of as_of
    due: np.ndarray  # bool: the report of month k is due (as_of after day 10 of k+1)

    @classmethod
    def build(cls, as_of: dt.date, months: int) -> Window:
        last = as_of.year * 12 + as_of.month - 1
        first = last - (months - 1)
        idx = np.arange(first, last + 2)
        years = idx // 12
        mons = idx % 12 + 1
        starts = np.array(
            [day_num(dt.date(int(y), int(m), 1)) for y, m in zip(years, mons, strict=True)],
            dtype=np.int64,
        )
        as_of_day = day_num(as_of)
        due = np.array([as_of_day > starts[k + 1] + 9 for k in range(months)], dtype=bool)
        return cls(
            as_of=as_of,
            months=months,
            start=starts,
            length=np.diff(starts),
            year=years[:months].astype(np.int64),
            month=mons[:months].astype(np.int64),
            labels=tuple(month_label(int(y), int(m)) for y, m in zip(years, mons, strict=True))[
                :months
            ],
            as_of_day=as_of_day,
            as_of_end=as_of_day * DAY + DAY - 1,
            due=due,
        )

    @property
    def as_of_minute(self) -> int:
        """The last minute-truncated instant of as_of (23:59:00)."""
        return self.as_of_end - 59

    def month_of_day(self, days: np.ndarray) -> np.ndarray:
        """Window month index of each day number (-1 before the window)."""
        return np.searchsorted(self.start, days, side="right") - 1

    def last_due(self) -> int:
        ks = np.nonzero(self.due)[0]
        return int(ks[-1]) if len(ks) else -1


# ---------------------------------------------------------------- Arrow columns


def a_date(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    arr = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return pa.array(arr, type=pa.date32(), mask=mask)


def a_ts(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    arr = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[us]")
    return pa.array(arr, type=pa.timestamp("us"), mask=mask)


def a_str(values, mask: np.ndarray | None = None) -> pa.Array:
    arr = np.asarray(values, dtype=object)
    if mask is not None:
        arr = arr.copy()
        arr[np.asarray(mask, dtype=bool)] = None
    return pa.array(arr, type=pa.string())


def a_f64(values, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), mask=mask)


def a_i64(values, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=mask)


def a_bool(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool), type=pa.bool_())


def a_tf(values) -> pa.Array:
    """NetSuite 'T'/'F' flags."""
    return pc.if_else(pa.array(np.asarray(values, dtype=bool)), "T", "F")


def insert(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, pa.Array]) -> int:
    """Append one Arrow batch to a world table (columns by name, all of them)."""
    expected = [c for c, _ in WORLD_TABLES[table]]
    missing = set(expected) ^ set(columns)
    if missing:
        raise ValueError(f"{table}: column mismatch {sorted(missing)}")
    return insert_arrow(con, qualified(table), pa.table({c: columns[c] for c in expected}))


def insert_arrow(con: duckdb.DuckDBPyConnection, qualified_name: str, tbl: pa.Table) -> int:
    if tbl.num_rows == 0:
        return 0
    con.register("_batch", tbl)
    try:
        con.execute(f"INSERT INTO {qualified_name} BY NAME SELECT * FROM _batch")
    finally:
        con.unregister("_batch")
    return tbl.num_rows


def round_money(x: np.ndarray, decimals: np.ndarray | int) -> np.ndarray:
    """Round to currency precision so that values print exactly with that many decimals."""
    f = np.power(10.0, decimals)
    return np.rint(np.asarray(x, dtype=np.float64) * f) / f


def uniform_int(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Uniform integers in [lo, hi] elementwise (hi >= lo)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    span = hi - lo + 1
    return lo + np.floor(rng.random(lo.shape) * span).astype(np.int64)

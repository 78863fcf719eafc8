"""Marts of a DuckDB run against the same marts built on Spark, row by row."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pandas as pd

from connectors.serving import is_published

# The tier history is stamped with the time its snapshot ran (dbt_valid_from): two builds
# at different moments differ there and nowhere else. Their order and NULLs still compare
# (version_number, is_current, previous_tier).
SNAPSHOT_TIMES = {
    "dim_partner_tier_history": {"valid_from", "valid_to", "tier_version_id"},
    "dim_partners": {"tier_observed_since"},
}


def duckdb_marts(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The marts in a warehouse file as BI readers get them (`is_published`: the
    bookkeeping `_month_inputs_digest` is NULL on Spark)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.sql(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
        marts = {}
        for (name,) in names:
            frame = con.sql(f"select * from marts.{name}").df()
            marts[name] = frame[[c for c in frame.columns if is_published(c)]]
        return marts
    finally:
        con.close()


def published_marts(folder: Path) -> dict[str, pd.DataFrame]:
    """The marts published as Parquet beside a warehouse (`parquet/current/<mart>.parquet`),
    each with its columns' types in `attrs["types"]`."""
    marts = {}
    for path in sorted((folder / "parquet" / "current").glob("*.parquet")):
        relation = duckdb.sql(f"select * from read_parquet('{path}')")
        frame = relation.df()
        frame.attrs["types"] = [str(t) for t in relation.types]
        marts[path.stem] = frame
    return marts


def _money(column: str) -> bool:
    return column.endswith("_usd") or "amount" in column


def _same(column: str, a: object, b: object) -> bool:
    if pd.isna(a) or pd.isna(b):
        return pd.isna(a) and pd.isna(b)
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        if _money(column):
            return abs(a - b) < 0.01  # within a cent
        # Ratios within 1e-9 relative; about zero, where float noise is all there is,
        # within 1e-9 absolute.
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def differences(
    expected: dict[str, pd.DataFrame], actual: dict[str, pd.DataFrame], types: bool = False
) -> list[str]:
    """What differs, mart by mart: missing marts, columns (and their types, if asked: from
    `attrs["types"]`), row counts, then values (rows in the order of their non-float
    columns, then their floats rounded to 6 places)."""
    found = []
    if set(expected) != set(actual):
        found.append(f"marts: {sorted(expected)} != {sorted(actual)}")
    for name in sorted(set(expected) & set(actual)):
        a, b = expected[name], actual[name]
        if list(a.columns) != list(b.columns):
            found.append(f"{name}: columns {list(a.columns)} != {list(b.columns)}")
            continue
        if types and a.attrs["types"] != b.attrs["types"]:
            pairs = zip(a.columns, a.attrs["types"], b.attrs["types"], strict=True)
            found.append(f"{name}: types {[(c, x, y) for c, x, y in pairs if x != y]}")
        if len(a) != len(b):
            found.append(f"{name}: {len(a)} rows != {len(b)}")
            continue
        columns = [c for c in a.columns if c not in SNAPSHOT_TIMES.get(name, set())]
        a, b = _ordered(a[columns]), _ordered(b[columns])
        for column in columns:
            bad = [
                (i, x, y)
                for i, (x, y) in enumerate(zip(a[column], b[column], strict=True))
                if not _same(column, x, y)
            ]
            if bad:
                found.append(f"{name}.{column}: {len(bad)} rows differ, e.g. {bad[:3]}")
    return found


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    keys = frame.assign(**{f"__{c}": frame[c].round(6) for c in floats})
    by = [c for c in frame.columns if c not in floats] + [f"__{c}" for c in floats]
    return keys.sort_values(by, na_position="last").reset_index(drop=True)[list(frame.columns)]

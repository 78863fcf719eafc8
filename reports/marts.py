"""Reading the published marts: rows as dicts, their figures rounded, and which marts a
publication holds."""

from __future__ import annotations

from typing import Any

import duckdb

from connectors.warehouse import quote

Row = dict[str, Any]

# DuckDB's types whose values are read rounded (`rows`).
FLOAT_TYPES = frozenset({"DOUBLE", "FLOAT"})


def rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | dict[str, Any] | None = None
) -> list[Row]:
    """The rows of `sql` as dicts keyed by column name, every floating-point value rounded
    as `rounded` rounds it."""
    columns = con.execute(f"select * from ({sql}) limit 0", params or []).description
    selected = ", ".join(
        rounded(quote(name)) + f" as {quote(name)}" if str(kind) in FLOAT_TYPES else quote(name)
        for name, kind, *_ in columns
    )
    # A select over one subquery keeps its rows' order (DuckDB's order preservation), so
    # the `order by` of `sql` holds.
    cursor = con.execute(f"select {selected} from ({sql})", params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def rounded(value: str) -> str:
    """SQL for the double `value` rounded to 6 decimals and at most 10 significant digits,
    with -0.0 as 0.0: more than any page or chart shows.

    DuckDB sums in parallel, in no fixed order, so an average of the same values differs
    in its 16th digit from run to run, and a difference of two equal sums is 0 or ±1e-11.
    Read rounded, equal figures are equal floats, so a page or chart whose figures did not
    change digests the same (reports.shown) without a walk over its every value. From 1e4
    up, 10 significant digits are fewer than 6 decimals: the value is scaled by a power of
    ten, rounded and scaled back (DuckDB's `round` takes only a constant precision).
    """
    scale = f"pow(10, 9 - floor(log10(abs({value}))))"
    return (
        f"(case when isfinite({value}) and abs({value}) >= 1e4 "
        f"then round({value} * {scale}) / {scale} "
        f"else round({value}, 6) end + 0.0::double)"
    )


def published(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The marts in the publication: a mart added since an older publication may be absent."""
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }

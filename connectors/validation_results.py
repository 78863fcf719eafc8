"""The checks' results: `ops.validation_results`, one row per expectation and finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.warehouse import connect

VALIDATION_RESULT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("validated_at", pa.timestamp("us")),
        ("checkpoint", pa.string()),
        ("suite", pa.string()),
        ("asset_key", pa.string()),
        ("check_name", pa.string()),
        ("expectation", pa.string()),
        ("expectation_type", pa.string()),
        ("column_name", pa.string()),
        ("finding", pa.string()),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("partner_id", pa.string()),
        ("month_start", pa.date32()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("detail", pa.string()),
    ]
)


def record_validation_results(
    path: Path | str, run_id: str, checkpoint: str, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Stores one checkpoint's results of one run in `ops.validation_results`.

    The rows replace whatever that run stored for that checkpoint before (a retried check
    does not count twice), in one transaction. Missing fields are NULL. Returns the count.
    """
    names = VALIDATION_RESULT_SCHEMA.names
    batch = pa.Table.from_pylist(
        [{n: row.get(n) for n in names} for row in rows], schema=VALIDATION_RESULT_SCHEMA
    )
    with connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "DELETE FROM ops.validation_results WHERE run_id = ? AND checkpoint = ?",
                [run_id, checkpoint],
            )
            con.register("_pp_validation_results", batch)
            try:
                con.execute(
                    f"INSERT INTO ops.validation_results ({', '.join(names)}) "
                    f"SELECT {', '.join(names)} FROM _pp_validation_results"
                )
            finally:
                con.unregister("_pp_validation_results")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(rows)

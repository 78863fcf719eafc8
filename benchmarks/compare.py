"""Do the hand-written marts hold what dbt built? Every mart, row by row, column by column.

Rows are matched on the mart's grain, as its dbt tests state it in
`models/marts/_marts__models.yml` (`unique_combination_of_columns`, else the column tested
`unique`). Numbers agree within 1e-9 relative (sums taken in another order differ in the
last bits), with a floor of 1e-9 absolute for values that cancel out to about zero;
everything else (text, booleans, dates, integers) exactly, NULL equal to NULL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import proc
from connectors.serving import is_published

MARTS_DIR = proc.REPO / "dbt_project" / "models" / "marts"
MARTS_YML = MARTS_DIR / "_marts__models.yml"
REL_TOL = 1e-9
ABS_TOL = 1e-6
FLOATS = ("DOUBLE", "FLOAT", "REAL")


def marts() -> list[str]:
    """Every mart the dbt project builds: the models of the marts folder."""
    return sorted(p.stem for p in MARTS_DIR.glob("*.sql"))


def grains(path: Path = MARTS_YML) -> dict[str, list[str]]:
    """Each mart's grain, from its uniqueness tests."""
    import yaml

    out: dict[str, list[str]] = {}
    for model in yaml.safe_load(path.read_text()).get("models") or []:
        for test in model.get("data_tests") or []:
            if isinstance(test, dict) and "unique_combination_of_columns" in test:
                spec = test["unique_combination_of_columns"]
                out[model["name"]] = list((spec.get("arguments") or spec)["combination_of_columns"])
        if model["name"] in out:
            continue
        for column in model.get("columns") or []:
            tests = column.get("data_tests") or []
            if any(t == "unique" or (isinstance(t, dict) and "unique" in t) for t in tests):
                out[model["name"]] = [column["name"]]
                break
    return out


def _numeric(type_name: str) -> bool:
    t = type_name.upper()
    return t in FLOATS or t.startswith("DECIMAL")


def _differs(column: str, type_name: str) -> str:
    a, b = f'a."{column}"', f'b."{column}"'
    if not _numeric(type_name):
        return f"{a} IS DISTINCT FROM {b}"
    return (
        f"({a} IS NULL) <> ({b} IS NULL) OR abs({a} - {b}) > "
        f"greatest({ABS_TOL}, {REL_TOL} * greatest(abs({a}), abs({b})))"
    )


def compare_mart(con: Any, table: str, key: list[str]) -> dict[str, Any]:
    """One mart: d.marts.<table> against h.handwritten.<table> (both attached to `con`),
    as BI readers get it (`connectors.serving.is_published`)."""
    dcols = {
        r[0]: r[1]
        for r in con.execute(f"DESCRIBE d.marts.{table}").fetchall()
        if is_published(r[0])
    }
    hcols = {r[0]: r[1] for r in con.execute(f"DESCRIBE h.handwritten.{table}").fetchall()}
    missing_key = [k for k in key if k not in dcols or k not in hcols]
    if missing_key:
        return {"equal": False, "key": key, "error": f"grain columns missing: {missing_key}"}
    common = [c for c in dcols if c in hcols and c not in key]
    keys = ", ".join(f'"{k}"' for k in key)
    join = " AND ".join(f'a."{k}" IS NOT DISTINCT FROM b."{k}"' for k in key)
    both = 'a."__side" AND b."__side"'
    checks = [f"count(*) FILTER (WHERE {both} AND ({_differs(c, dcols[c])}))" for c in common]
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE b."__side" IS NULL),
            count(*) FILTER (WHERE a."__side" IS NULL), {", ".join(checks) or "0"}
        FROM (SELECT *, true AS "__side" FROM d.marts.{table}) a
        FULL OUTER JOIN (SELECT *, true AS "__side" FROM h.handwritten.{table}) b ON {join}"""
    ).fetchall()[0]
    only_dbt, only_hand, *per_col = row
    differing = {c: n for c, n in zip(common, per_col, strict=True) if n}
    counts = {}
    for side, rel in (("dbt", f"d.marts.{table}"), ("handwritten", f"h.handwritten.{table}")):
        total, distinct = con.execute(
            f"SELECT count(*), count(DISTINCT ({keys})) FROM {rel}"
        ).fetchall()[0]
        counts[side] = (total, total - distinct)
    out = {
        "key": key,
        "rows_dbt": counts["dbt"][0],
        "rows_handwritten": counts["handwritten"][0],
        "rows_only_in_dbt": only_dbt,
        "rows_only_in_handwritten": only_hand,
        "duplicate_keys_dbt": counts["dbt"][1],
        "duplicate_keys_handwritten": counts["handwritten"][1],
        "columns_compared": len(common) + len(key),
        "columns_only_in_dbt": [c for c in dcols if c not in hcols],
        "columns_only_in_handwritten": [c for c in hcols if c not in dcols],
        "columns_differing": differing,
    }
    out["equal"] = not (
        only_dbt
        or only_hand
        or differing
        or out["columns_only_in_dbt"]
        or out["columns_only_in_handwritten"]
        or counts["dbt"][1]
        or counts["handwritten"][1]
    )
    if differing:
        out["example"] = _example(con, table, key, join, both, dcols, next(iter(differing)))
    return out


def _example(con, table, key, join, both, dcols, column) -> dict[str, Any]:
    """The first row whose `column` differs: its key and both values (for the reader)."""
    row = con.execute(
        f"""SELECT {", ".join(f'a."{k}"' for k in key)}, a."{column}", b."{column}"
        FROM d.marts.{table} a JOIN h.handwritten.{table} b ON {join}
        WHERE {_differs(column, dcols[column])} LIMIT 1"""
    ).fetchall()
    if not row:
        return {}
    *k, dbt_value, hand_value = row[0]
    return {
        "column": column,
        "key": dict(zip(key, (str(v) for v in k), strict=True)),
        "dbt": str(dbt_value),
        "handwritten": str(hand_value),
    }


def compare_marts(dbt_wh: Path, hand_wh: Path) -> dict[str, Any]:
    """Every mart of dbt's warehouse against the hand-written one: per mart, equal or not,
    rows on each side and on one side only, the columns that differ (rows per column)."""
    import duckdb

    grain = grains()
    con = duckdb.connect()
    out: dict[str, Any] = {}
    try:
        con.execute(f"ATTACH '{dbt_wh}' AS d (READ_ONLY)")
        con.execute(f"ATTACH '{hand_wh}' AS h (READ_ONLY)")
        for table in marts():
            if table not in grain:
                out[table] = {"equal": False, "error": "no grain in _marts__models.yml"}
                continue
            try:
                out[table] = compare_mart(con, table, grain[table])
            except duckdb.Error as exc:
                out[table] = {"equal": False, "error": str(exc).splitlines()[0]}
    finally:
        con.close()
    return out


def snapshot_time(dbt_wh: Path) -> str | None:
    """When dbt's tier snapshot last ran (its versions' stamp), for the hand-written one."""
    import duckdb

    con = duckdb.connect(str(dbt_wh), read_only=True)
    try:
        value = con.execute(
            "SELECT max(dbt_updated_at) FROM snapshots.snp_crm__partner_tiers"
        ).fetchall()[0][0]
    except duckdb.Error:
        return None
    finally:
        con.close()
    return None if value is None else value.isoformat(sep=" ")

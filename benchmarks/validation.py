"""The validation figure: our GX checks against the same expectations evaluated naively.

Our checks (orchestration/checks/gx.py) read, per validation, a small frame from its view
(the dbt model `validation.val_<name>`, which reduces the warehouse to one row per report
or partner-month) and run a GX checkpoint on it. The same expectations (read from the
suites' JSON, `$PARAMETER`s resolved by the view `validation.val_suite_parameters`) are
evaluated here two more ways on the same frames, read by the same SQL:

- naive: the frame's rows fetched into Python as tuples and checked in plain loops;
- sql: one aggregate query per expectation in DuckDB over the materialised frame.

Each returns, per expectation, its type, column and unexpected count, so the harness can
check that all three agree. Expectation types or options not implemented here are
reported as `unsupported` (never silently passed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GX_ROOT = Path(__file__).resolve().parents[1] / "expectations"


@dataclass(frozen=True)
class Suite:
    checkpoint: str
    suite: str
    sql: str  # reads the frame, as the check does
    parameters: dict[str, Any]  # the values `sql` binds
    expectations: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(
        cls, root: Path, checkpoint: str, suite: str, sql: str, parameters: dict, **_: Any
    ) -> Suite:
        data = json.loads((root / "gx" / "expectations" / f"{suite}.json").read_text())
        return cls(checkpoint, suite, sql, dict(parameters), data["expectations"])


def validations() -> list[dict[str, Any]]:
    """Every validation our asset checks run (`orchestration.checks.gx.VALIDATIONS`), with
    the SQL that reads its frame and that of the suite parameters, as plain dicts (so that
    the naive and SQL stages need not import Dagster)."""
    from orchestration.checks.gx import VALIDATIONS
    from orchestration.checks.gx_context import SUITE_PARAMETERS_MODEL, frame_sql

    out = []
    for v in VALIDATIONS:
        sql, parameters = v.frame_query()
        out.append(
            {
                "checkpoint": v.checkpoint,
                "suite": v.suite,
                "sql": sql,
                "parameters": parameters,
                "suite_parameters_sql": frame_sql(SUITE_PARAMETERS_MODEL),
            }
        )
    return out


def suite_parameters(con: Any, sql: str) -> dict[str, Any]:
    """The suite parameters: the one row `sql` reads, one column per parameter."""
    cur = con.execute(sql)
    row = cur.fetchall()[0]
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def resolve(kwargs: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """kwargs with `{"$PARAMETER": name}` values replaced by the parameter's value."""
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, dict) and "$PARAMETER" in v:
            v = parameters[v["$PARAMETER"]]
            v = list(v) if isinstance(v, list | tuple) else v
        out[k] = v
    return out


_CONDITION = re.compile(r"^\s*(\w+)\s+(not in|in|==|!=)\s+(.+?)\s*$")


def row_filter(kwargs: dict[str, Any]):
    """(column, op, values) of a simple pandas pass-through row condition, None if none;
    raises ValueError for a condition this module does not implement."""
    cond = kwargs.get("row_condition")
    if not cond:
        return None
    if isinstance(cond, dict) and cond.get("type") == "comparison":
        ops = {"IN": "in", "NOT_IN": "not in", "==": "==", "EQUAL": "==", "!=": "!="}
        op = ops.get(str(cond.get("operator")).upper())
        if op is None:
            raise ValueError(f"unsupported row_condition operator {cond.get('operator')!r}")
        values = cond.get("parameter")
        values = list(values) if isinstance(values, list | tuple) else [values]
        return cond["column"]["name"], op, values
    text = cond.get("pass_through_filter") if isinstance(cond, dict) else str(cond)
    m = _CONDITION.match(text or "")
    if not m:
        raise ValueError(f"unsupported row_condition {text!r}")
    column, op, raw = m.groups()
    values = json.loads(raw)
    values = values if isinstance(values, list) else [values]
    return column, op, values


def _keep(value: Any, op: str, values: list) -> bool:
    inside = value in values
    return inside if op in ("in", "==") else not inside


def _columns(kwargs: dict[str, Any]) -> list[str]:
    if "column" in kwargs:
        return [kwargs["column"]]
    return list(kwargs.get("column_list") or [])


def _passes(unexpected: int, nonnull: int, mostly: float | None) -> bool:
    if mostly is None or nonnull == 0:
        return unexpected == 0
    return (nonnull - unexpected) / nonnull >= mostly


def _between(value: Any, kw: dict[str, Any]) -> bool:
    lo, hi = kw.get("min_value"), kw.get("max_value")
    if lo is not None and (value < lo if not kw.get("strict_min") else value <= lo):
        return False
    return not (hi is not None and (value > hi if not kw.get("strict_max") else value >= hi))


# -- naive: plain Python loops over fetched rows -----------------------------------------------

ROW_KINDS = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
)
UNIQUE_KINDS = ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique")


def naive_evaluate(
    names: Sequence[str],
    rows: Sequence[tuple],
    expectations: Iterable[dict[str, Any]],
    parameters: dict[str, Any],
) -> list[dict[str, Any]]:
    """Evaluate expectations row by row over `rows` (tuples in the order of `names`)."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for e in expectations:
        kind, kw = e["type"], resolve(e.get("kwargs", {}), parameters)
        unexpected = counted = 0
        try:
            flt = row_filter(kw)
        except ValueError:
            out.append(_outcome(e, False, 0, 0))
            continue
        subset = rows
        if flt is not None:
            fi = index[flt[0]]
            subset = [r for r in rows if _keep(r[fi], flt[1], flt[2])]
        supported = True
        if kind == "expect_table_columns_to_match_set":
            wanted, have = set(kw["column_set"]), set(names)
            unexpected = len(wanted - have if not kw.get("exact_match", True) else wanted ^ have)
        elif kind == "expect_table_row_count_to_be_between":
            unexpected = 0 if _between(len(subset), kw) else 1
        elif kind in UNIQUE_KINDS:
            ix = [index[c] for c in _columns(kw)]
            counts: dict[tuple, int] = {}
            keys = []
            for r in subset:
                key = tuple(r[i] for i in ix)
                if kind == "expect_column_values_to_be_unique" and key[0] is None:
                    continue
                keys.append(key)
                counts[key] = counts.get(key, 0) + 1
            counted = len(keys)
            unexpected = sum(1 for k in keys if counts[k] > 1)
        elif kind in ROW_KINDS:
            i = index[kw["column"]]
            value_set = list(kw.get("value_set") or [])
            regex = re.compile(kw["regex"]) if "regex" in kw else None
            for r in subset:
                v = r[i]
                if kind == "expect_column_values_to_not_be_null":
                    counted += 1
                    unexpected += v is None
                    continue
                if kind == "expect_column_values_to_be_null":
                    counted += 1
                    unexpected += v is not None
                    continue
                if v is None:
                    continue
                counted += 1
                if kind == "expect_column_values_to_be_in_set":
                    ok = _in_set(v, value_set)
                elif kind == "expect_column_values_to_not_be_in_set":
                    ok = not _in_set(v, value_set)
                elif kind == "expect_column_values_to_be_between":
                    ok = _between(v, kw)
                else:
                    ok = regex.search(str(v)) is not None
                unexpected += not ok
        else:
            supported = False
        out.append(_outcome(e, supported, unexpected, counted))
    return out


def _in_set(value: Any, value_set: Sequence[Any]) -> bool:
    if value in value_set:
        return True
    return hasattr(value, "isoformat") and value.isoformat() in value_set


def _outcome(e: dict[str, Any], supported: bool, unexpected: int, counted: int) -> dict[str, Any]:
    kw = e.get("kwargs", {})
    return {
        "type": e["type"],
        "column": kw.get("column"),  # as our checks store it (None for multi-column ones)
        "supported": supported,
        "unexpected_count": int(unexpected) if supported else None,
        "success": _passes(unexpected, counted, kw.get("mostly")) if supported else None,
    }


# -- sql: one aggregate query per expectation in DuckDB ----------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _member(column: str, values: Sequence[Any]) -> str:
    if not values:
        return "FALSE"
    if all(isinstance(v, bool) for v in values):
        return f"{column} IN ({', '.join(_lit(v) for v in values)})"
    return f"CAST({column} AS VARCHAR) IN ({', '.join(_lit(str(v)) for v in values)})"


def sql_evaluate(
    con: Any, relation: str, expectations: Iterable[dict[str, Any]], parameters: dict[str, Any]
) -> list[dict[str, Any]]:
    """Evaluate expectations with one DuckDB query each over `relation`."""
    names = [d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]
    out = []
    for e in expectations:
        kind, kw = e["type"], resolve(e.get("kwargs", {}), parameters)
        try:
            flt = row_filter(kw)
        except ValueError:
            out.append(_outcome(e, False, 0, 0))
            continue
        where = "TRUE"
        if flt is not None:
            member = _member(_q(flt[0]), flt[2])
            where = member if flt[1] in ("in", "==") else f"NOT ({member})"
        supported = True
        unexpected = counted = 0
        if kind == "expect_table_columns_to_match_set":
            wanted, have = set(kw["column_set"]), set(names)
            unexpected = len(wanted - have if not kw.get("exact_match", True) else wanted ^ have)
        elif kind == "expect_table_row_count_to_be_between":
            n = con.execute(f"SELECT count(*) FROM {relation} WHERE {where}").fetchall()[0][0]
            unexpected = 0 if _between(n, kw) else 1
        elif kind in UNIQUE_KINDS:
            cols = ", ".join(_q(c) for c in _columns(kw))
            if kind == "expect_column_values_to_be_unique":
                where += f" AND {_q(kw['column'])} IS NOT NULL"
            unexpected, counted = con.execute(
                f"""SELECT coalesce(sum(n) FILTER (WHERE n > 1), 0), coalesce(sum(n), 0) FROM
                (SELECT count(*) AS n FROM {relation} WHERE {where} GROUP BY {cols})"""
            ).fetchall()[0]
        elif kind in ROW_KINDS:
            c = _q(kw["column"])
            if kind == "expect_column_values_to_not_be_null":
                bad = f"{c} IS NULL"
            elif kind == "expect_column_values_to_be_null":
                bad = f"{c} IS NOT NULL"
            else:
                where += f" AND {c} IS NOT NULL"
                if kind == "expect_column_values_to_be_in_set":
                    bad = f"NOT ({_member(c, list(kw.get('value_set') or []))})"
                elif kind == "expect_column_values_to_not_be_in_set":
                    bad = _member(c, list(kw.get("value_set") or []))
                elif kind == "expect_column_values_to_be_between":
                    conds = []
                    if kw.get("min_value") is not None:
                        op = "<=" if kw.get("strict_min") else "<"
                        conds.append(f"{c} {op} {_lit(kw['min_value'])}")
                    if kw.get("max_value") is not None:
                        op = ">=" if kw.get("strict_max") else ">"
                        conds.append(f"{c} {op} {_lit(kw['max_value'])}")
                    bad = " OR ".join(conds) or "FALSE"
                else:
                    bad = f"NOT regexp_matches(CAST({c} AS VARCHAR), {_lit(kw['regex'])})"
            unexpected, counted = con.execute(
                f"SELECT count(*) FILTER (WHERE {bad}), count(*) FROM {relation} WHERE {where}"
            ).fetchall()[0]
        else:
            supported = False
        out.append(_outcome(e, supported, int(unexpected or 0), int(counted or 0)))
    return out


def agreement(reference: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    """How many expectations two evaluations agree on (success and unexpected count),
    matched by checkpoint, type and column (GX may order a suite's results its own way)."""

    def groups(outcomes: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
        out: dict[tuple, list[dict[str, Any]]] = {}
        for o in outcomes:
            out.setdefault((o.get("checkpoint"), o["type"], o.get("column")), []).append(o)
        return out

    ref, oth = groups(reference), groups(other)
    same = differ = unsupported = 0
    diffs = []
    for key, items in ref.items():
        mine = oth.get(key, [])
        if any(not o.get("supported", True) for o in mine):
            unsupported += len(items)
            continue

        def norm(o: dict[str, Any]) -> tuple:
            return (bool(o.get("success")), int(o.get("unexpected_count") or 0))

        a, b = sorted(map(norm, items)), sorted(map(norm, mine))
        if a == b:
            same += len(items)
        else:
            differ += len(items)
            diffs.append(
                {"checkpoint": key[0], "type": key[1], "column": key[2], "gx": a, "other": b}
            )
    return {"agree": same, "differ": differ, "unsupported": unsupported, "diffs": diffs[:10]}

"""Benchmark stages, each run in a child process: `python -m benchmarks.stages NAME SPEC`.

SPEC is a JSON file; the stage writes its measurements to `spec["result_file"]`. Stages
time themselves from the point where their imports are done (`import_s` is reported
apart), so the parent's wall time minus the stage's own time is interpreter start-up.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
_T0 = time.perf_counter()


def cpu_seconds() -> float:
    """CPU time of this process so far (every thread, user + system)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def stage(func: Callable[[dict[str, Any]], dict[str, Any]]):
    STAGES[func.__name__.replace("_", "-")] = func
    return func


# -- world ---------------------------------------------------------------------------------


@stage
def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Generate the world (`generate_world`)."""
    import datetime as dt

    from source_servers.generator import generate_world

    started = time.perf_counter()
    manifest = generate_world(
        Path(spec["out"]),
        seed=spec["seed"],
        partners=spec["partners"],
        months=spec["months"],
        scale=spec.get("scale", 1.0),
        as_of=dt.date.fromisoformat(spec["as_of"]),
    )
    return {"seconds": time.perf_counter() - started, "manifest": manifest}


@stage
def next_day(spec: dict[str, Any]) -> dict[str, Any]:
    """Copy a world and append one day of activity to the copy (see benchmarks.daily)."""
    from benchmarks.daily import add_one_day

    started = time.perf_counter()
    added = add_one_day(Path(spec["world"]), Path(spec["out"]))
    return {"seconds": time.perf_counter() - started, "added": added}


# -- ingestion: ours -------------------------------------------------------------------------


def _rows_of(result: Any) -> int:
    """Rows a sync landed across its raw tables (sales reports: reports + lines)."""
    return int(result.rows_read) + int(result.details.get("sales_report_lines_merged") or 0)


@stage
def ingest(spec: dict[str, Any]) -> dict[str, Any]:
    """Our connectors: sync `objects` into `warehouse` from the sources in the environment,
    as the pipeline's ingestion steps do (`connectors.sync.sync_objects`: CRM and portal
    objects `workers` at a time, ERP windows `erp_window_workers` at a time)."""
    from connectors.config import Settings
    from connectors.sync import sync_objects

    settings = Settings.from_env()
    settings = settings.replace(
        erp_window_workers=int(spec.get("erp_window_workers", settings.erp_window_workers)),
        object_workers=int(spec.get("workers", settings.object_workers)),
        spool_dir=Path(spec["spool_dir"]) if spec.get("spool_dir") else None,
    )
    warehouse = Path(spec["warehouse"])
    by_source: dict[str, list[str]] = {}
    for source, name in spec["objects"]:
        by_source.setdefault(source, []).append(name)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    cpu0 = cpu_seconds()
    per_source: dict[str, float] = {}
    for source, names in by_source.items():
        t = time.perf_counter()
        for result in sync_objects(settings, warehouse, source, names):
            if isinstance(result, Exception):
                raise result
            meta = result.as_metadata()
            results.append(
                {
                    "source": result.source,
                    "object": result.object,
                    "rows": _rows_of(result),
                    "pages": result.pages,
                    "seconds": result.duration_s,
                    "fetch_s": meta.get("fetch_s"),
                    "land_s": meta.get("land_s"),
                    "requests": meta.get("requests"),
                    "windows": meta.get("windows"),
                    "read_with": meta.get("read_with"),
                }
            )
        per_source[source] = time.perf_counter() - t
    return {
        "seconds": time.perf_counter() - started,
        "cpu_s": cpu_seconds() - cpu0,
        "rows": sum(r["rows"] for r in results),
        "per_source_s": per_source,
        "objects": results,
    }


# -- ingestion: pages captured to local files (for the limit) --------------------------------


@stage
def capture(spec: dict[str, Any]) -> dict[str, Any]:
    """Fetch every page of `objects` with our connectors into `out/<source>__<object>/`."""
    import shutil

    from connectors import netsuite, partner_portal, salesforce
    from connectors.config import Settings
    from connectors.spool import PageSpool
    from connectors.sync import Clients, get_object

    settings = Settings.from_env()
    out = Path(spec["out"])
    captured = {}
    with Clients(settings) as clients:
        for source, name in spec["objects"]:
            obj = get_object(source, name)
            target = out / f"{source}__{name}"
            target.mkdir(parents=True, exist_ok=True)
            with PageSpool(target.parent) as spool:
                if source == "crm":
                    table = obj.raw_tables[0].split(".", 1)[1]
                    salesforce.fetch_object(clients.crm, salesforce.OBJECTS[table], None, spool)
                elif source == "erp":
                    tbl = netsuite.TABLES[obj.source_object]
                    netsuite.fetch_table(clients.erp, tbl, None, spool)
                else:
                    res = partner_portal.RESOURCES[name]
                    partner_portal.fetch_resource(clients.portal, res, None, spool)
                for f in spool.files:
                    shutil.move(str(f), target / f.name)
                captured[f"{source}/{name}"] = {"pages": spool.pages, "records": spool.records}
    return {"objects": captured}


LIMIT_KEYS = {"crm": "records", "erp": "items", "portal": "data"}


@stage
def limit(spec: dict[str, Any]) -> dict[str, Any]:
    """DuckDB alone reading the captured pages from local files into tables (the limit).

    `method` "read_json": `read_json` with auto-detected types, records unnested;
    "from_json": `read_text` + `from_json` with the records' keys as VARCHAR (the way our
    landing parses, without its typing, validation and merge).
    """
    import duckdb

    method = spec.get("method", "read_json")
    con = duckdb.connect(spec["warehouse"])
    started = time.perf_counter()
    cpu0 = cpu_seconds()
    per_object = {}
    rows_total = 0
    for source, name in spec["objects"]:
        folder = Path(spec["pages"]) / f"{source}__{name}"
        key = LIMIT_KEYS[source]
        glob = str(folder / "*.json").replace("'", "''")
        t = time.perf_counter()
        table = f"{source}__{name}"
        if method == "read_json":
            con.execute(
                f"CREATE TABLE {table}_flat AS SELECT unnest(r) FROM "
                f"(SELECT unnest({key}) AS r FROM read_json('{glob}', "
                "format = 'unstructured', maximum_object_size = 268435456))"
            )
        else:
            fields = _captured_fields(folder, key)
            structure = json.dumps({key: [{f: "VARCHAR" for f in fields}]}).replace("'", "''")
            con.execute(
                f"CREATE TABLE {table}_flat AS SELECT unnest(r) FROM (SELECT unnest("
                f"from_json(content, '{structure}').{key}) AS r FROM read_text('{glob}'))"
            )
        rows = con.execute(f"SELECT count(*) FROM {table}_flat").fetchall()[0][0]
        if name == "sales_reports":
            if method == "read_json":
                con.execute(
                    f"CREATE TABLE {table}_lines AS SELECT unnest(l) FROM "
                    f"(SELECT unnest(lines) AS l FROM {table}_flat)"
                )
            else:
                line_fields = _captured_fields(folder, key, nested="lines")
                structure = json.dumps(
                    {key: [{"id": "VARCHAR", "lines": [{f: "VARCHAR" for f in line_fields}]}]}
                ).replace("'", "''")
                con.execute(
                    f"CREATE TABLE {table}_lines AS SELECT unnest(l) FROM (SELECT unnest(r.lines) "
                    f"AS l FROM (SELECT unnest(from_json(content, '{structure}').{key}) AS r "
                    f"FROM read_text('{glob}')))"
                )
            rows += con.execute(f"SELECT count(*) FROM {table}_lines").fetchall()[0][0]
        per_object[f"{source}/{name}"] = {"rows": rows, "seconds": time.perf_counter() - t}
        rows_total += rows
    con.close()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_s": cpu_seconds() - cpu0,
        "rows": rows_total,
        "objects": per_object,
    }


def _captured_fields(folder: Path, key: str, nested: str | None = None) -> list[str]:
    """The record keys seen on the first page of a captured object (not timed)."""
    first = next(iter(sorted(folder.glob("*.json"))), None)
    if first is None:
        return ["id"]
    records = json.loads(first.read_bytes()).get(key) or [{}]
    if nested:
        records = [line for r in records for line in (r.get(nested) or [])] or [{}]
    seen: dict[str, None] = {}
    for r in records:
        for k in r:
            if k != "attributes" and not (nested is None and k == "lines"):
                seen[k] = None
    return list(seen) or ["id"]


# -- ingestion: the peer (dlt rest_api) ------------------------------------------------------


@stage
def dlt(spec: dict[str, Any]) -> dict[str, Any]:
    """dlt's `rest_api` source reading the same CRM and portal endpoints into DuckDB."""
    from benchmarks.peer import run_dlt

    return run_dlt(spec)


# -- transformation ----------------------------------------------------------------------------


@stage
def dbt(spec: dict[str, Any]) -> dict[str, Any]:
    """`dbt <command>` in-process (dbtRunner), timed in phases; `command` is build or parse.

    Phases: import of dbt; set-up and parse (invoke until the first node starts); nodes
    (from run_results.json); tear-down (last node until invoke returns).
    """
    import datetime as dt
    import gc
    import os
    import shutil

    from orchestration.commands import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)  # as the pipeline's dbt (`partnerpulse-dbt`) collects
    t0 = time.perf_counter()
    from dbt.cli.main import dbtRunner

    import_s = time.perf_counter() - t0
    project = Path(spec["project_dir"])
    target = Path(spec["target_dir"])
    target.mkdir(parents=True, exist_ok=True)
    if spec.get("partial_parse_from"):
        shutil.copy2(spec["partial_parse_from"], target / "partial_parse.msgpack")
    os.environ["PARTNERPULSE_WAREHOUSE"] = spec["warehouse"]
    command = spec.get("command", "build")
    # As the pipeline builds: unit tests and the other tests of the SQL itself are CI's
    # (CI_ONLY_TESTS in orchestration/assets/transform.py).
    exclude = ["--exclude-resource-type", "unit_test"] if command == "build" else []
    if spec.get("exclude"):
        exclude += ["--exclude", spec["exclude"]]
    args = [
        command,
        *exclude,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target),
        "--log-path",
        str(spec["log_dir"]),
        "--vars",
        json.dumps({"as_of": spec["as_of"]}),
        "--no-use-colors",
        "--quiet",
    ]
    invoked_wall = dt.datetime.now(dt.UTC)
    t1 = time.perf_counter()
    res = dbtRunner().invoke(args)
    invoke_s = time.perf_counter() - t1
    out: dict[str, Any] = {
        "import_s": import_s,
        "invoke_s": invoke_s,
        "seconds": import_s + invoke_s,
        "success": bool(res.success),
    }
    run_results = target / "run_results.json"
    if spec.get("command", "build") == "build" and run_results.exists():
        rr = json.loads(run_results.read_text())
        nodes = []
        first = last = None
        for r in rr["results"]:
            starts = [_ts(t["started_at"]) for t in r.get("timing") or [] if t.get("started_at")]
            ends = [_ts(t["completed_at"]) for t in r.get("timing") or [] if t.get("completed_at")]
            if starts:
                first = min([first, *starts]) if first else min(starts)
            if ends:
                last = max([last, *ends]) if last else max(ends)
            nodes.append(
                {
                    "unique_id": r["unique_id"],
                    "status": r["status"],
                    "seconds": r.get("execution_time") or 0.0,
                }
            )
        out["elapsed_time"] = rr.get("elapsed_time")
        out["nodes"] = nodes
        if first and last:
            out["setup_parse_s"] = (first - invoked_wall).total_seconds()
            out["node_span_s"] = (last - first).total_seconds()
            out["teardown_s"] = invoke_s - out["setup_parse_s"] - out["node_span_s"]
        manifest = target / "manifest.json"
        if manifest.exists():
            m = json.loads(manifest.read_text())
            out["parents"] = {k: v for k, v in m.get("parent_map", {}).items()}
            out["resource_types"] = {
                k: v.get("resource_type")
                for k, v in {**m["nodes"], **m.get("unit_tests", {})}.items()
            }
    if res.exception is not None:  # dbt itself failed (not a model or a test)
        raise RuntimeError(f"dbt {spec.get('command', 'build')} failed: {res.exception}")
    out["failed_nodes"] = [
        n["unique_id"]
        for n in out.get("nodes", [])
        if n["status"] in ("error", "fail", "runtime error")
    ]
    return out


def _ts(text: str):
    import datetime as dt

    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@stage
def handwritten(spec: dict[str, Any]) -> dict[str, Any]:
    """benchmarks/handwritten.sql on the raw tables, statement by statement."""
    import duckdb

    from benchmarks.sqlscript import split_statements

    script = Path(spec["script"]).read_text()
    statements = split_statements(script)
    con = duckdb.connect(spec["warehouse"])
    started = time.perf_counter()
    con.execute(f"SET VARIABLE as_of = DATE '{spec['as_of']}'")
    if spec.get("snapshot_at"):
        con.execute(f"SET VARIABLE snapshot_at = TIMESTAMP '{spec['snapshot_at']}'")
    timings = []
    for sql in statements:
        t = time.perf_counter()
        con.execute(sql)
        timings.append(
            {"sql": sql.strip().splitlines()[0][:100], "seconds": time.perf_counter() - t}
        )
    seconds = time.perf_counter() - started
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'handwritten' ORDER BY 1"
    ).fetchall()
    counts = {
        t: con.execute(f"SELECT count(*) FROM handwritten.{t}").fetchall()[0][0] for (t,) in tables
    }
    con.close()
    return {"seconds": seconds, "statements": timings, "rows": counts}


@stage
def explain(spec: dict[str, Any]) -> dict[str, Any]:
    """EXPLAIN ANALYZE of given statements (profiling output for the results file)."""
    import duckdb

    con = duckdb.connect(spec["warehouse"])
    if spec.get("as_of"):
        con.execute(f"SET VARIABLE as_of = DATE '{spec['as_of']}'")
    for sql in spec.get("setup") or []:
        con.execute(sql)
    out = {}
    for name, sql in spec["statements"].items():
        rows = con.execute(f"EXPLAIN ANALYZE {sql}").fetchall()
        out[name] = rows[0][1] if rows and len(rows[0]) > 1 else str(rows)
    con.close()
    return {"plans": out}


# -- forecasting ----------------------------------------------------------------------------


@stage
def forecast(spec: dict[str, Any]) -> dict[str, Any]:
    """The forecasts step's work on a copy of the warehouse dbt built: read the series, build
    the forecast marts, write them (benchmarks.forecasting)."""
    from benchmarks.forecasting import measure

    return measure(spec)


# -- validation ------------------------------------------------------------------------------


def _gx_copy(target: Path) -> Path:
    """A copy of `expectations/` (suites, checkpoints; no Data Docs) for a run to write into."""
    import shutil

    from benchmarks.validation import GX_ROOT

    if not target.exists():
        shutil.copytree(
            GX_ROOT, target, ignore=shutil.ignore_patterns("data_docs", "validations", "*.pyc")
        )
    return target


@stage
def checks_gx(spec: dict[str, Any]) -> dict[str, Any]:
    """Our asset checks' own code (`orchestration.checks.gx.evaluate`) for every validation:
    the frame query, the GX checkpoint, the results stored in `ops.validation_results`.
    Data Docs go to a copy of the GX project, not the repository's."""
    import os

    os.environ["PARTNERPULSE_WAREHOUSE"] = spec["warehouse"]
    os.environ["PARTNERPULSE_AS_OF"] = spec["as_of"]
    os.environ["PARTNERPULSE_GX_PROJECT_DIR"] = str(_gx_copy(Path(spec["gx_project"])))
    t0 = time.perf_counter()
    import great_expectations  # noqa: F401 - its import is timed apart

    from orchestration.checks import gx as gx_checks
    from orchestration.resources import PipelineSettings

    import_s = time.perf_counter() - t0
    settings = PipelineSettings()
    started = time.perf_counter()
    tables = []
    for v in gx_checks.VALIDATIONS:
        t = time.perf_counter()
        results = list(gx_checks.evaluate(v, v.check_levels(), spec["run_id"], settings))
        meta = {}
        for r in results:
            for k in ("rows_validated", "query_seconds", "validation_seconds"):
                if k in (r.metadata or {}):
                    meta[k] = r.metadata[k].value
        tables.append(
            {
                "checkpoint": v.checkpoint,
                "rows": meta.get("rows_validated"),
                "query_s": meta.get("query_seconds"),
                "validate_s": meta.get("validation_seconds"),
                "seconds": time.perf_counter() - t,
                "passed": [bool(r.passed) for r in results],
            }
        )
    seconds = time.perf_counter() - started
    import duckdb

    con = duckdb.connect(spec["warehouse"], read_only=True)
    try:
        stored = con.execute(
            """SELECT checkpoint, expectation_type, column_name, success, unexpected_count
            FROM ops.validation_results WHERE run_id = ? AND partner_id IS NULL
                AND month_start IS NULL AND expectation_type IS NOT NULL
            ORDER BY rowid""",
            [spec["run_id"]],
        ).fetchall()
    finally:
        con.close()
    for t in tables:
        t["outcomes"] = [
            {"type": k, "column": c, "success": ok, "unexpected_count": n}
            for cp, k, c, ok, n in stored
            if cp == t["checkpoint"]
        ]
    from benchmarks.validation import validations

    return {
        "import_s": import_s,
        "seconds": seconds,
        "tables": tables,
        "validations": validations(),
    }


def _frames(spec: dict[str, Any], con: Any):
    from benchmarks.validation import Suite, suite_parameters

    root = _gx_copy(Path(spec["gx_project"]))
    parameters = suite_parameters(con, spec["validations"][0]["suite_parameters_sql"])
    for v in spec["validations"]:
        suite = Suite.load(root, **v)
        yield suite, suite.sql, suite.parameters, parameters


@stage
def checks_naive(spec: dict[str, Any]) -> dict[str, Any]:
    """The same expectations on the same frames, rows checked in plain Python loops."""
    import duckdb

    from benchmarks.validation import naive_evaluate

    con = duckdb.connect(spec["warehouse"], read_only=True)
    started = time.perf_counter()
    tables = []
    try:
        for suite, sql, params, parameters in _frames(spec, con):
            t = time.perf_counter()
            cur = con.execute(sql, params) if params else con.execute(sql)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
            query_s = time.perf_counter() - t
            outcomes = naive_evaluate(names, rows, suite.expectations, parameters)
            tables.append(
                {
                    "checkpoint": suite.checkpoint,
                    "rows": len(rows),
                    "query_s": query_s,
                    "validate_s": time.perf_counter() - t - query_s,
                    "seconds": time.perf_counter() - t,
                    "outcomes": outcomes,
                }
            )
    finally:
        con.close()
    return {"seconds": time.perf_counter() - started, "tables": tables}


@stage
def checks_sql(spec: dict[str, Any]) -> dict[str, Any]:
    """The same expectations as one DuckDB aggregate query each over the frame."""
    import duckdb

    from benchmarks.validation import sql_evaluate

    con = duckdb.connect(spec["warehouse"], read_only=True)
    started = time.perf_counter()
    tables = []
    try:
        for suite, sql, params, parameters in _frames(spec, con):
            t = time.perf_counter()
            con.execute("DROP TABLE IF EXISTS temp._frame")
            create = f"CREATE TEMP TABLE _frame AS {sql}"
            con.execute(create, params) if params else con.execute(create)
            query_s = time.perf_counter() - t
            outcomes = sql_evaluate(con, "temp._frame", suite.expectations, parameters)
            tables.append(
                {
                    "checkpoint": suite.checkpoint,
                    "query_s": query_s,
                    "validate_s": time.perf_counter() - t - query_s,
                    "seconds": time.perf_counter() - t,
                    "outcomes": outcomes,
                }
            )
    finally:
        con.close()
    return {"seconds": time.perf_counter() - started, "tables": tables}


# -- end to end -----------------------------------------------------------------------------


@stage
def dagster_steps(spec: dict[str, Any]) -> dict[str, Any]:
    """Step timings of one `partnerpulse run` from its Dagster instance."""
    import os

    os.environ["DAGSTER_HOME"] = spec["dagster_home"]
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        run_stats = instance.get_run_stats(spec["run_id"])
        steps = [
            {
                "step": s.step_key,
                "status": str(getattr(s.status, "value", s.status)),
                "seconds": (s.end_time or 0) - (s.start_time or 0),
            }
            for s in instance.get_run_step_stats(spec["run_id"])
            # A skipped step did no work (a rerun with nothing changed skips most of them).
            if str(getattr(s.status, "value", s.status)) != "SKIPPED"
        ]
    return {
        "run_seconds": (run_stats.end_time or 0) - (run_stats.start_time or 0),
        "steps": steps,
    }


# -- entry point -----------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    name, spec_path = argv[0], Path(argv[1])
    spec = json.loads(spec_path.read_text())
    import_s = time.perf_counter() - _T0
    result = STAGES[name](spec)
    result.setdefault("import_s", import_s)
    result["stage_s"] = time.perf_counter() - _T0
    Path(spec["result_file"]).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])

"""The benchmark run: generate a world, measure every stage side by side, write the results.

Figures (see BENCHMARKS.md for the method):

1. ingestion: our connectors vs dlt `rest_api` (CRM + portal) vs DuckDB reading the same
   pages from local files, at 0 and 100 ms of injected latency per request;
2. transformation: `dbt build` vs benchmarks/handwritten.sql (every mart, compared row by
   row with dbt's);
3. incremental: `partnerpulse run --month` (the daily refresh) after one new day vs
   `partnerpulse run` from an empty warehouse;
4. validation: our GX checks vs the same expectations evaluated naively (and in SQL);
5. peak RSS per stage, and `partnerpulse run` end to end from an empty warehouse;
6. that run against the data floor: the local-file limit + the hand-written SQL + the
   checks as SQL, stage by stage (benchmarks/floor.py);
7. forecasting every active partner on the warehouse dbt built (benchmarks/forecasting.py);
8. Salesforce's CRM objects read by REST `queryAll` against Bulk API 2.0 query jobs
   (benchmarks/bulk.py).

Every measurement is a child process in a folder of its own; each variant is measured
`reps` times, interleaved with the others, so load drifts hit all variants alike.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import bulk, proc, report
from benchmarks.compare import compare_marts, snapshot_time
from benchmarks.daily import link_world
from benchmarks.scales import Scale
from benchmarks.serve import ServedSources
from orchestration.dbt_selection import CI_ONLY_TESTS

REPO = proc.REPO
DBT_PROJECT = REPO / "dbt_project"
HANDWRITTEN = Path(__file__).resolve().parent / "handwritten.sql"
PARTNERPULSE = Path(proc.PYTHON).parent / "partnerpulse"
# Transformation starts from the warehouse ingestion filled, forecasting and validation
# from the one dbt built; e2e stands alone.
NEEDS = {
    "transformation": "ingestion",
    "forecasting": "transformation",
    "validation": "transformation",
}


@dataclass
class Options:
    scale: Scale
    reps: int = 3
    out_dir: Path = REPO / "benchmarks" / "results"
    workdir: Path | None = None
    keep: bool = False
    latencies: tuple[float, ...] = (0.0, 100.0)
    e2e_reps: int | None = None
    parallel_e2e: bool = False  # smoke tests only: overlaps the e2e runs with the rest
    profile: bool = True
    dlt: bool = True  # off only to fit a large run into a session; the ratio goal needs it
    stages: tuple[str, ...] = report.STAGES  # a subset splits a run too long for one sitting
    # "spark": the e2e runs are made on DuckDB and then on Spark, side by side.
    engine: str = "duckdb"
    command: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.stages) - set(report.STAGES))
        if unknown:
            raise ValueError(f"unknown stages {unknown}; choose from {list(report.STAGES)}")
        for stage, needed in NEEDS.items():
            if stage in self.stages and needed not in self.stages:
                raise ValueError(f"the {stage} stage starts from {needed}'s warehouse: add it")
        # In the canonical order, so the results files' name does not depend on the order
        # they were given in.
        self.stages = tuple(s for s in report.STAGES if s in self.stages)


class Run:
    """The state of one benchmark run: options, folders and every measurement."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.scale = opts.scale
        root = opts.workdir or Path(tempfile.mkdtemp(prefix=f"pp-bench-{self.scale.name}-"))
        self.work = Path(root)
        self.work.mkdir(parents=True, exist_ok=True)
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self.commands: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.extra: dict[str, Any] = {}
        self._seq = 0

    # -- bookkeeping ---------------------------------------------------------------------------

    def folder(self, label: str) -> Path:
        self._seq += 1
        d = self.work / f"{self._seq:03d}-{label}"
        d.mkdir(parents=True)
        return d

    def record(self, key: str, sample: dict[str, Any]) -> None:
        self.samples.setdefault(key, []).append(sample)

    def stage(
        self, name: str, spec: dict[str, Any], label: str, env=None, folder: Path | None = None
    ) -> proc.ProcResult:
        d = folder or self.folder(label)
        res = proc.stage(name, spec, workdir=d, env=env)
        self.commands.append(
            {"label": label, "argv": _argv(res.argv), "spec": {**spec}, "env": _env(env)}
        )
        return res

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def command(self, argv: list[str], label: str, env: dict[str, str], cwd: Path | None = None):
        d = self.folder(label)
        res = proc.run(argv, log=d / "run.log", env=env, cwd=cwd or REPO)
        self.commands.append({"label": label, "argv": _argv(argv), "env": _env(env)})
        return res, d


def _argv(argv: list[str]) -> list[str]:
    return [os.path.relpath(a, REPO) if a.startswith(str(REPO)) else a for a in argv]


def _env(env: dict[str, str] | None) -> dict[str, str]:
    """The environment a command got, secrets left out."""
    return {
        k: ("<secret>" if any(s in k for s in ("SECRET", "KEY", "TOKEN")) else v)
        for k, v in (env or {}).items()
    }


# -- the run ---------------------------------------------------------------------------------


def run_benchmarks(opts: Options) -> tuple[Path, Path]:
    """Run every figure and write `<date>-<scale>.md` and `.json` into `opts.out_dir`.

    Should a stage fail, the files are still written with what was measured (and the
    error), then the error is raised.
    """
    run = Run(opts)
    started = time.time()
    machine = machine_info()
    machine["load_average_start"] = list(os.getloadavg())
    failure: BaseException | None = None
    try:
        worlds = _worlds(run)
        e2e_thread = None
        if opts.parallel_e2e and "e2e" in opts.stages:
            import threading

            errors: list[BaseException] = []

            def e2e() -> None:
                try:
                    _e2e(run, worlds)
                except BaseException as exc:  # reported by the main thread
                    errors.append(exc)

            e2e_thread = threading.Thread(target=e2e, daemon=True)
            e2e_thread.start()
        base = _ingestion(run, worlds) if "ingestion" in opts.stages else None
        if "bulk" in opts.stages:
            bulk.measure(run, worlds)
        built = None
        if base is not None and "transformation" in opts.stages:
            built = _transformation(run, base)
        if built is not None and "forecasting" in opts.stages:
            _forecasting(run, built)
        if built is not None and "validation" in opts.stages:
            _validation(run, built)
        if e2e_thread is not None:
            e2e_thread.join()
            if errors:
                raise errors[0]
        elif "e2e" in opts.stages:
            _e2e(run, worlds)
        if opts.profile and base is not None:
            try:
                _profiles(run, worlds, base)
            except Exception as exc:  # profiles explain the figures; they are not figures
                run.note(f"profiling failed: {type(exc).__name__}: {str(exc)[:300]}")
    except BaseException as exc:
        failure = exc
        run.note(f"the run stopped early: {type(exc).__name__}: {str(exc)[:500]}")
    finally:
        if not opts.keep:
            shutil.rmtree(run.work, ignore_errors=True)
    machine["load_average_end"] = list(os.getloadavg())
    results = report.build(
        run.scale,
        opts,
        machine,
        run.samples,
        run.commands,
        run.notes,
        run.extra,
        duration_s=time.time() - started,
    )
    paths = report.write(results, opts.out_dir)
    if failure is not None:
        raise failure
    return paths


# -- worlds ----------------------------------------------------------------------------------


@dataclass
class Worlds:
    today: Path  # the world as of D
    tomorrow: Path  # the same plus one day of activity (as of D+1)
    cache_name_today: str
    cache_name_tomorrow: str


def _worlds(run: Run) -> Worlds:
    from source_servers.generator import world_dir_name

    s = run.scale
    names = {
        d: world_dir_name(seed=s.seed, partners=s.partners, months=s.months, scale=s.scale, as_of=d)
        for d in (s.as_of, s.next_day)
    }
    worlds = run.work / "worlds"
    today = worlds / names[s.as_of]
    res = run.stage(
        "generate",
        {
            "out": str(today),
            "seed": s.seed,
            "partners": s.partners,
            "months": s.months,
            "scale": s.scale,
            "as_of": s.as_of.isoformat(),
        },
        "generate",
    )
    run.record("generate", _sample(res, seconds=res.result["seconds"]))
    manifest = res.result["manifest"]
    run.extra["world"] = {
        k: manifest.get(k) for k in ("partners", "months", "as_of", "sales_lines", "pos_files")
    }
    run.extra["world"]["row_counts"] = manifest.get("row_counts")
    tomorrow = worlds / names[s.next_day]
    res = run.stage("next-day", {"world": str(today), "out": str(tomorrow)}, "next-day")
    run.extra["next_day"] = res.result["added"]
    return Worlds(today, tomorrow, names[s.as_of], names[s.next_day])


def _sample(res: proc.ProcResult, **metrics: Any) -> dict[str, Any]:
    return {
        "wall_s": res.wall_s,
        "max_rss_mb": res.max_rss_mb,
        "process_cpu_s": res.cpu_s,
        **metrics,
    }


def rows_sample(res: proc.ProcResult, **metrics: Any) -> dict[str, Any]:
    """A sample of a stage that read rows: its seconds, CPU, rows and rows per second."""
    r = res.result
    return _sample(
        res,
        seconds=r["seconds"],
        cpu_s=r.get("cpu_s"),
        rows=r["rows"],
        rows_per_s=r["rows"] / r["seconds"],
        **metrics,
    )


# -- figure 1: ingestion -----------------------------------------------------------------------


def _http_objects() -> dict[str, list[list[str]]]:
    from connectors.sync import objects

    out: dict[str, list[list[str]]] = {"crm_portal": [], "erp": [], "all": []}
    for o in objects():
        pair = [o.source, o.object]
        out["all"].append(pair)
        if o.source in ("crm", "portal"):
            out["crm_portal"].append(pair)
        elif o.source == "erp":
            out["erp"].append(pair)
    return out


def _ingestion(run: Run, worlds: Worlds) -> Path:
    """Figure 1. Returns a warehouse holding every object (the base of figures 2 and 4)."""
    objs = _http_objects()
    landing = run.work / "landing-served"
    base: Path | None = None
    with ServedSources(worlds.today, landing, run.work / "serve-today.log") as src:
        env = src.env
        pages = run.folder("capture") / "pages"
        run.stage(
            "capture",
            {"out": str(pages), "objects": objs["crm_portal"] + objs["erp"]},
            "capture",
            env,
        )
        for rep in range(run.opts.reps):
            for latency in run.opts.latencies:
                src.set_latency(latency)
                lat = f"{int(latency)}ms"
                for variant, name, objects, extra in (
                    ("ours", "crm_portal", objs["crm_portal"], {}),
                    ("dlt", "crm_portal", objs["crm_portal"], {}),
                    ("ours", "erp", objs["erp"], {}),
                ):
                    if variant == "dlt" and not run.opts.dlt:
                        continue
                    d = run.folder(f"ingest-{variant}-{name}-{lat}-r{rep}")
                    src.reset_stats()
                    server_cpu0 = src.cpu_seconds()
                    spec = {"warehouse": str(d / "warehouse.duckdb"), "objects": objects, **extra}
                    if variant == "dlt":
                        spec["workdir"] = str(d)
                        spec["file_format"] = "parquet"
                    res = run.stage("ingest" if variant == "ours" else "dlt", spec, d.name, env, d)
                    server_s = src.handler_seconds()
                    server_cpu_s = src.cpu_seconds() - server_cpu0
                    r = res.result
                    run.record(
                        f"ingest.{variant}.{name}.{lat}",
                        rows_sample(
                            res,
                            server_s=server_s,
                            server_cpu_s=server_cpu_s,
                            server_cpu_share=server_cpu_s / (server_cpu_s + r["cpu_s"]),
                            rows_per_cpu_s=r["rows"] / r["cpu_s"],
                            **({"steps": r.get("steps")} if variant == "dlt" else {}),
                            **(
                                {"objects": r.get("objects"), "per_source_s": r.get("per_source_s")}
                                if variant == "ours"
                                else {}
                            ),
                        ),
                    )
                    shutil.rmtree(d, ignore_errors=True)
            src.set_latency(0)
            for name in ("crm_portal", "erp"):
                d = run.folder(f"limit-{name}-r{rep}")
                res = run.stage(
                    "limit",
                    {
                        "warehouse": str(d / "limit.duckdb"),
                        "objects": objs[name],
                        "pages": str(pages),
                        "method": "from_json",
                    },
                    d.name,
                    folder=d,
                )
                r = res.result
                run.record(
                    f"ingest.limit.{name}",
                    rows_sample(res, rows_per_cpu_s=r["rows"] / r["cpu_s"]),
                )
                shutil.rmtree(d, ignore_errors=True)
            # Every object (POS files included) from an empty warehouse: the raw layer the
            # transformation and validation figures start from.
            d = run.folder(f"ingest-all-r{rep}")
            spec = {
                "warehouse": str(d / "warehouse.duckdb"),
                "objects": objs["all"],
            }
            src.reset_stats()
            res = run.stage("ingest", spec, d.name, env, d)
            run.record(
                "ingest.ours.all.0ms",
                _sample(
                    res,
                    seconds=res.result["seconds"],
                    rows=res.result["rows"],
                    server_s=src.handler_seconds(),
                ),
            )
            if base is None:
                base = d / "warehouse.duckdb"
            else:
                shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(pages.parent, ignore_errors=True)
    run.extra["server_max_rss_mb"] = src.max_rss_mb
    assert base is not None
    return base


# -- figure 2: transformation ------------------------------------------------------------------


def _transformation(run: Run, base: Path) -> Path:
    """Figure 2. Returns a warehouse built by dbt (for the validation figure)."""
    as_of = run.scale.as_of.isoformat()
    built: Path | None = None
    for rep in range(run.opts.reps):
        d = run.folder(f"dbt-build-r{rep}")
        wh = d / "warehouse.duckdb"
        # The build starts from the parse state of its own warehouse, as a pipeline run does
        # from the last run's (orchestration/assets/transform.py): the warehouse's path is
        # part of dbt's profile, and a parse state made for another path is parsed again in
        # full (it was here until 2026-12-05: 6.3 s at medium where a partial parse takes
        # about 1.5 s).
        prime = run.folder(f"dbt-parse-r{rep}")
        res = run.stage(
            "dbt",
            {
                "command": "parse",
                "project_dir": str(DBT_PROJECT),
                "target_dir": str(prime / "target"),
                "log_dir": str(prime / "logs"),
                "warehouse": str(wh),
                "as_of": as_of,
            },
            prime.name,
            folder=prime,
        )
        if rep == 0:
            run.record("dbt.parse_full", _sample(res, seconds=res.result["invoke_s"]))
        partial = prime / "target" / "partial_parse.msgpack"
        shutil.copy2(base, wh)
        res = run.stage(
            "dbt",
            {
                "command": "build",
                "exclude": CI_ONLY_TESTS,
                "project_dir": str(DBT_PROJECT),
                "target_dir": str(d / "target"),
                "log_dir": str(d / "logs"),
                "warehouse": str(wh),
                "as_of": as_of,
                "partial_parse_from": str(partial) if partial.exists() else None,
            },
            d.name,
            folder=d,
        )
        r = res.result
        run.record(
            "dbt.build",
            _sample(
                res,
                seconds=res.wall_s,
                import_s=r["import_s"],
                setup_parse_s=r.get("setup_parse_s"),
                node_span_s=r.get("node_span_s"),
                teardown_s=r.get("teardown_s"),
                startup_s=res.wall_s - r["stage_s"] + r["import_s"],
                nodes=r.get("nodes"),
            ),
        )
        if r.get("failed_nodes"):
            run.note(
                f"dbt build run {rep + 1}: {len(r['failed_nodes'])} node(s) failed (the dbt "
                f"project as found in the working tree): {', '.join(r['failed_nodes'][:5])}"
            )
        if rep == 0:
            run.extra["dbt_graph"] = {
                "parents": r.get("parents", {}),
                "resource_types": r.get("resource_types", {}),
            }
        h = run.folder(f"handwritten-r{rep}")
        hw = h / "warehouse.duckdb"
        shutil.copy2(base, hw)
        # The hand-written tier snapshot stamps its versions with dbt's snapshot time, so
        # that the two histories can be compared (handwritten.sql's header).
        spec = {"script": str(HANDWRITTEN), "warehouse": str(hw), "as_of": as_of}
        spec["snapshot_at"] = snapshot_time(wh)
        res_h = run.stage("handwritten", spec, h.name, folder=h)
        run.record(
            "handwritten",
            _sample(
                res_h,
                seconds=res_h.wall_s,
                sql_s=res_h.result["seconds"],
                statements=res_h.result["statements"],
                rows=res_h.result["rows"],
            ),
        )
        if rep == 0:
            run.extra["handwritten_equal"] = compare_marts(wh, hw)
        shutil.rmtree(h, ignore_errors=True)
        if built is None:
            built = wh
        else:
            shutil.rmtree(d, ignore_errors=True)
    assert built is not None
    return built


# -- figure 7: forecasting ---------------------------------------------------------------------


def _forecasting(run: Run, built: Path) -> None:
    """Figure 7: the forecasts step on a copy of dbt's warehouse, as of the scale's today."""
    for rep in range(run.opts.reps):
        d = run.folder(f"forecast-r{rep}")
        wh = d / "warehouse.duckdb"
        shutil.copy2(built, wh)
        spec = {"warehouse": str(wh), "as_of": run.scale.as_of.isoformat()}
        res = run.stage("forecast", spec, d.name, folder=d)
        run.record("forecast", _sample(res, **res.result))
        shutil.rmtree(d, ignore_errors=True)


# -- figure 4: validation ---------------------------------------------------------------------


def _validation(run: Run, built: Path) -> None:
    from benchmarks.validation import agreement

    as_of = run.scale.as_of.isoformat()
    validations = None
    for rep in range(run.opts.reps):
        outcomes: dict[str, list] = {}
        for variant in ("gx", "naive", "sql"):
            d = run.folder(f"checks-{variant}-r{rep}")
            wh = d / "warehouse.duckdb"
            shutil.copy2(built, wh)
            spec = {
                "warehouse": str(wh),
                "gx_project": str(d / "expectations"),
                "as_of": as_of,
                "run_id": f"bench-{rep}",
            }
            if variant != "gx":
                spec["validations"] = validations
            res = run.stage(f"checks-{variant}", spec, d.name, folder=d)
            r = res.result
            if variant == "gx":
                validations = r["validations"]
            tables = r["tables"]
            outcomes[variant] = [
                {**o, "checkpoint": t["checkpoint"]} for t in tables for o in t["outcomes"]
            ]
            run.record(
                f"checks.{variant}",
                _sample(
                    res,
                    seconds=r["seconds"],
                    import_s=r.get("import_s"),
                    query_s=sum(t.get("query_s") or 0 for t in tables),
                    validate_s=sum(t.get("validate_s") or 0 for t in tables),
                    expectations=len(outcomes[variant]),
                    rows_validated=sum(t.get("rows") or 0 for t in tables),
                    tables=[
                        {
                            k: t.get(k)
                            for k in ("checkpoint", "rows", "seconds", "query_s", "validate_s")
                        }
                        for t in tables
                    ],
                ),
            )
            shutil.rmtree(d, ignore_errors=True)
        if rep == 0:
            run.extra["checks_agreement"] = {
                "naive_vs_gx": agreement(outcomes["gx"], outcomes["naive"]),
                "sql_vs_gx": agreement(outcomes["gx"], outcomes["sql"]),
            }


# -- figures 3 and 5: partnerpulse run, from empty and after one new day ------------------------


def _e2e(run: Run, worlds: Worlds) -> None:
    """`partnerpulse run`: full, again with nothing changed, then the next day's month; on
    DuckDB, then (`--engine spark`) on Spark, recorded as `e2e.<kind>` and
    `e2e.spark.<kind>`."""
    reps = run.opts.reps if run.opts.e2e_reps is None else run.opts.e2e_reps  # 0: skipped
    engines = ("duckdb", "spark") if run.opts.engine == "spark" else ("duckdb",)
    for rep in range(reps):
        for engine in engines:
            _e2e_runs(run, worlds, rep, engine)


def _e2e_runs(run: Run, worlds: Worlds, rep: int, engine: str) -> None:
    s = run.scale
    prefix = "e2e" if engine == "duckdb" else f"e2e.{engine}"
    d = run.folder(f"{prefix}-r{rep}")
    cache = d / "worlds"
    link_world(worlds.today, cache / worlds.cache_name_today)
    link_world(worlds.tomorrow, cache / worlds.cache_name_tomorrow)
    home = d / "dagster_home"
    home.mkdir()
    shutil.copy2(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        "PARTNERPULSE_WAREHOUSE": str(d / "warehouse.duckdb"),
        "PARTNERPULSE_LANDING_DIR": str(d / "landing"),
        "PARTNERPULSE_STANDIN_CACHE_DIR": str(cache),
        "PARTNERPULSE_STANDIN_PARTNERS": str(s.partners),
        "PARTNERPULSE_STANDIN_MONTHS": str(s.months),
        "PARTNERPULSE_STANDIN_SEED": str(s.seed),
        "PARTNERPULSE_SPOOL_DIR": str(d / "spool"),
        "PARTNERPULSE_ENGINE": engine,
        "DAGSTER_HOME": str(home),
    }
    # The full run is the whole history from an empty warehouse; the unchanged run is the
    # same again with nothing changed; the daily run is what the daily_refresh schedule
    # runs the next day: that day's month partition.
    runs = (
        ("full", s.as_of, [str(PARTNERPULSE), "run"]),
        ("unchanged", s.as_of, [str(PARTNERPULSE), "run"]),
        ("daily", s.next_day, [str(PARTNERPULSE), "run", "--month", f"{s.next_day:%Y-%m}"]),
    )
    for kind, as_of, argv in runs:
        env_k = {**env, "PARTNERPULSE_AS_OF": as_of.isoformat()}
        res, folder = run.command(argv, f"{prefix}-{kind}-r{rep}", env_k)
        run_id = _run_id(folder / "run.log")
        steps: dict[str, Any] = {}
        if run_id:
            st = run.stage(
                "dagster-steps",
                {"dagster_home": str(home), "run_id": run_id},
                f"{prefix}-{kind}-steps-r{rep}",
            )
            steps = st.result
        run.record(
            f"{prefix}.{kind}",
            _sample(
                res,
                seconds=res.wall_s,
                run_s=steps.get("run_seconds"),
                steps=steps.get("steps"),
            ),
        )
    shutil.rmtree(d, ignore_errors=True)


def _run_id(log: Path) -> str | None:
    for line in log.read_text(errors="replace").splitlines()[::-1]:
        if line.startswith("run ") and ":" in line:
            return line.split()[1].rstrip(":")
    return None


# -- profiles of the stages that miss a goal ---------------------------------------------------


def _profiles(run: Run, worlds: Worlds, base: Path) -> None:
    """pyinstrument over one ERP ingestion (one window worker, so the main thread does all
    the work) and DuckDB EXPLAIN ANALYZE of the hand-written script's heaviest statement."""
    objs = _http_objects()
    with ServedSources(worlds.today, run.work / "landing-profile", run.work / "serve-p.log") as src:
        d = run.folder("profile-ingest-erp")
        spec = {
            "warehouse": str(d / "warehouse.duckdb"),
            "objects": objs["erp"],
            "erp_window_workers": 1,
            "result_file": str(d / "result.json"),
        }
        (d / "spec.json").write_text(json.dumps(spec))
        out = d / "profile.txt"
        argv = [
            proc.PYTHON,
            "-m",
            "pyinstrument",
            "-r",
            "text",
            "-o",
            str(out),
            "-m",
            "benchmarks.stages",
            "ingest",
            str(d / "spec.json"),
        ]
        proc.run(argv, log=d / "run.log", env=src.env)
        run.commands.append({"label": "profile-ingest-erp", "argv": _argv(argv)})
        run.extra["profile_ingest_erp"] = _trim_profile(out.read_text())
    hand = run.samples.get("handwritten") or []
    if hand:
        statements = hand[0]["statements"]
        heaviest = max(range(len(statements)), key=lambda i: statements[i]["seconds"])
        from benchmarks.sqlscript import split_statements

        sql_all = split_statements(HANDWRITTEN.read_text())
        sql = sql_all[heaviest]
        d = run.folder("profile-handwritten")
        wh = d / "warehouse.duckdb"
        shutil.copy2(base, wh)
        setup = sql_all[:heaviest]
        res = run.stage(
            "explain",
            {
                "warehouse": str(wh),
                "setup": setup,
                "as_of": run.scale.as_of.isoformat(),
                "statements": {"heaviest": _explainable(sql)},
            },
            d.name,
            folder=d,
        )
        run.extra["explain_handwritten"] = {
            "statement": statements[heaviest]["sql"],
            "plan": res.result["plans"].get("heaviest", ""),
        }


def _explainable(sql: str) -> str:
    """The query of a `CREATE ... TABLE name AS <query>` (EXPLAIN ANALYZE runs it once)."""
    import re

    m = re.match(r"(?is)^\s*CREATE\b.*?\bTABLE\s+\S+\s+AS\s+(.*)$", sql)
    return m.group(1) if m else sql


def _trim_profile(text: str, lines: int = 70) -> str:
    kept = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(kept[:lines])


# -- machine ----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import importlib.metadata as md

    def version(pkg: str) -> str | None:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    commit = None
    dirty = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        )
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": {
            p: version(p)
            for p in (
                "duckdb",
                "dbt-core",
                "dbt-duckdb",
                "dagster",
                "great-expectations",
                "dlt",
                "pyarrow",
                "pandas",
                "requests",
            )
        },
    }

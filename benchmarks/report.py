"""Turn the run's samples into figures, goals and the two result files (JSON and Markdown)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import compare

FIGURES = (
    "ingestion",
    "transformation",
    "incremental",
    "validation",
    "memory",
    "end_to_end",
    "forecasting",
)
GIB_MB = 1024.0
# The stages of a run, each measuring its figures; a run of some of them names its files
# after them.
STAGES = ("ingestion", "bulk", "transformation", "forecasting", "validation", "e2e")


def partial_stages(results: dict[str, Any]) -> list[str] | None:
    """The stages a run measured when it measured only some of them, else None."""
    stages = list(results.get("stages") or STAGES)
    return None if stages == list(STAGES) else stages


def stat(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min, max and spread ((max - min) / median) of the measured values."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None, "spread_pct": None, "values": []}
    med = statistics.median(vals)
    return {
        "n": len(vals),
        "median": med,
        "min": min(vals),
        "max": max(vals),
        "spread_pct": (max(vals) - min(vals)) / med * 100 if med else None,
        "values": vals,
    }


def _col(samples: list[dict[str, Any]], key: str) -> list[Any]:
    return [s.get(key) for s in samples]


def _paired(
    a: list[dict[str, Any]], b: list[dict[str, Any]], fn: Callable[[dict, dict], float | None]
) -> dict[str, Any]:
    return stat([fn(x, y) for x, y in zip(a, b, strict=False)])


def _ratio(x: float | None, y: float | None) -> float | None:
    if x is None or y is None or y == 0:
        return None
    return x / y


# -- figures ----------------------------------------------------------------------------------


def ingestion(samples: dict[str, list], latencies: Sequence[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limit_cp = samples.get("ingest.limit.crm_portal", [])
    limit_erp = samples.get("ingest.limit.erp", [])
    for latency in latencies:
        lat = f"{int(latency)}ms"
        ours_cp = samples.get(f"ingest.ours.crm_portal.{lat}", [])
        ours_erp = samples.get(f"ingest.ours.erp.{lat}", [])
        dlt_cp = samples.get(f"ingest.dlt.crm_portal.{lat}", [])
        fig: dict[str, Any] = {}
        for name, rows in (
            ("ours_crm_portal", ours_cp),
            ("dlt_crm_portal", dlt_cp),
            ("ours_erp", ours_erp),
        ):
            fig[name] = {
                "rows": rows[0]["rows"] if rows else None,
                "seconds": stat(_col(rows, "seconds")),
                "rows_per_s": stat(_col(rows, "rows_per_s")),
                "server_handler_s": stat(_col(rows, "server_s")),
                "server_cpu_s": stat(_col(rows, "server_cpu_s")),
                "server_cpu_share_pct": stat(
                    [None if v is None else v * 100 for v in _col(rows, "server_cpu_share")]
                ),
                "cpu_s": stat(_col(rows, "cpu_s")),
                "rows_per_cpu_s": stat(_col(rows, "rows_per_cpu_s")),
                "peak_rss_mb": stat(_col(rows, "max_rss_mb")),
            }
        fig["ours_vs_dlt"] = _paired(
            ours_cp, dlt_cp, lambda a, b: _ratio(a["rows_per_s"], b["rows_per_s"])
        )
        fig["dlt_cpu_vs_ours_cpu"] = _paired(
            ours_cp, dlt_cp, lambda a, b: _ratio(b.get("cpu_s"), a.get("cpu_s"))
        )
        if latency == 0 and limit_cp and limit_erp:
            for name, rows in (("limit_crm_portal", limit_cp), ("limit_erp", limit_erp)):
                fig[name] = {
                    "rows": rows[0]["rows"],
                    "seconds": stat(_col(rows, "seconds")),
                    "rows_per_s": stat(_col(rows, "rows_per_s")),
                    "cpu_s": stat(_col(rows, "cpu_s")),
                    "rows_per_cpu_s": stat(_col(rows, "rows_per_cpu_s")),
                }

            quads = list(zip(ours_cp, ours_erp, limit_cp, limit_erp, strict=False))
            fig["limit_vs_ours"] = stat([_limit_vs_ours(q) for q in quads])
            fig["ours_cpu_vs_limit_cpu"] = stat([_cpu_vs_limit(q) for q in quads])
            for src, ours_rows, lim_rows in (
                ("erp", ours_erp, limit_erp),
                ("crm_portal", ours_cp, limit_cp),
            ):
                fig[f"ours_cpu_vs_limit_cpu_{src}"] = _paired(
                    ours_rows, lim_rows, lambda o, li: _ratio(o.get("cpu_s"), li.get("cpu_s"))
                )
            fig["ours_objects"] = _object_breakdown(ours_cp + ours_erp)
        out[lat] = fig
    alls = samples.get("ingest.ours.all.0ms", [])
    out["all_objects"] = {
        "rows": alls[0]["rows"] if alls else None,
        "seconds": stat(_col(alls, "seconds")),
        "peak_rss_mb": stat(_col(alls, "max_rss_mb")),
    }
    return out


def _limit_vs_ours(quad: tuple[dict, ...]) -> float:
    """Limit rows/s over ours, end to end (every HTTP object)."""
    oc, oe, lc, le = quad
    ours = (oc["rows"] + oe["rows"]) / (oc["seconds"] + oe["seconds"])
    return (lc["rows"] + le["rows"]) / (lc["seconds"] + le["seconds"]) / ours


def _cpu_vs_limit(quad: tuple[dict, ...]) -> float | None:
    """Our CPU seconds over the limit's, every HTTP object."""
    if any(p.get("cpu_s") is None for p in quad):
        return None
    oc, oe, lc, le = quad
    return (oc["cpu_s"] + oe["cpu_s"]) / (lc["cpu_s"] + le["cpu_s"])


def _object_breakdown(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median fetch / land seconds per object (the biggest first)."""
    per: dict[str, dict[str, list]] = {}
    for s in samples:
        for o in s.get("objects") or []:
            d = per.setdefault(
                f"{o['source']}/{o['object']}", {"rows": [], "fetch": [], "land": [], "sec": []}
            )
            d["rows"].append(o["rows"])
            d["fetch"].append(o.get("fetch_s"))
            d["land"].append(o.get("land_s"))
            d["sec"].append(o.get("seconds"))
    out = [
        {
            "object": k,
            "rows": v["rows"][0],
            "seconds": stat(v["sec"])["median"],
            "fetch_s": stat(v["fetch"])["median"],
            "land_s": stat(v["land"])["median"],
        }
        for k, v in per.items()
    ]
    return sorted(out, key=lambda x: -(x["seconds"] or 0))


def transformation(samples: dict[str, list], extra: dict[str, Any]) -> dict[str, Any]:
    builds = samples.get("dbt.build", [])
    hand = samples.get("handwritten", [])
    graph = extra.get("dbt_graph", {})
    types = graph.get("resource_types", {})
    parents = graph.get("parents", {})
    marts = tuple(f".{m}" for m in compare.marts())
    needed = _ancestors(parents, [k for k in types if k.startswith("model.") and k.endswith(marts)])
    by_type: dict[str, list[float]] = {}
    needed_s: list[float] = []
    model_times: dict[str, list[float]] = {}
    for b in builds:
        totals: dict[str, float] = {}
        nsum = 0.0
        for n in b.get("nodes") or []:
            kind = n["unique_id"].split(".", 1)[0]
            totals[kind] = totals.get(kind, 0.0) + n["seconds"]
            if n["unique_id"] in needed and kind in ("model", "snapshot"):
                nsum += n["seconds"]
            if kind == "model":
                model_times.setdefault(n["unique_id"].split(".")[-1], []).append(n["seconds"])
        for k, v in totals.items():
            by_type.setdefault(k, []).append(v)
        needed_s.append(nsum)
    top = sorted(
        ({"model": m, "seconds": statistics.median(v)} for m, v in model_times.items()),
        key=lambda x: -x["seconds"],
    )[:10]
    node_counts: dict[str, int] = {}
    if builds:
        for n in builds[0].get("nodes") or []:
            kind = n["unique_id"].split(".", 1)[0]
            node_counts[kind] = node_counts.get(kind, 0) + 1
    hand_statements = []
    if hand:
        per_stmt: dict[int, list[float]] = {}
        for h in hand:
            for i, st in enumerate(h.get("statements") or []):
                per_stmt.setdefault(i, []).append(st["seconds"])
        hand_statements = sorted(
            (
                {"statement": hand[0]["statements"][i]["sql"], "seconds": statistics.median(v)}
                for i, v in per_stmt.items()
            ),
            key=lambda x: -x["seconds"],
        )[:8]
    return {
        "dbt_build_s": stat(_col(builds, "seconds")),
        "handwritten_s": stat(_col(hand, "seconds")),
        "handwritten_sql_s": stat(_col(hand, "sql_s")),
        "dbt_vs_handwritten": _paired(
            builds, hand, lambda a, b: _ratio(a["seconds"], b["seconds"])
        ),
        "dbt_needed_models_vs_handwritten_sql": stat(
            [_ratio(n, h.get("sql_s")) for n, h in zip(needed_s, hand, strict=False)]
        ),
        "breakdown": {
            "startup_s": stat(_col(builds, "startup_s")),
            "import_s": stat(_col(builds, "import_s")),
            "setup_parse_s": stat(_col(builds, "setup_parse_s")),
            "node_span_s": stat(_col(builds, "node_span_s")),
            "teardown_s": stat(_col(builds, "teardown_s")),
            "node_seconds_by_type": {k: stat(v) for k, v in by_type.items()},
            "needed_models_s": stat(needed_s),
            "needed_models": len([n for n in needed if types.get(n) in ("model", "snapshot")]),
        },
        "dbt_parse_full_s": stat(_col(samples.get("dbt.parse_full", []), "seconds")),
        "node_counts": node_counts,
        "slowest_models": top,
        "handwritten_slowest_statements": hand_statements,
        "handwritten_equal_to_dbt": extra.get("handwritten_equal"),
        "peak_rss_mb": {
            "dbt_build": stat(_col(builds, "max_rss_mb")),
            "handwritten": stat(_col(hand, "max_rss_mb")),
        },
    }


def _ancestors(parents: dict[str, list[str]], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(parents.get(n, []))
    return seen


def _steps(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    per: dict[str, list[float]] = {}
    for s in samples:
        for st in s.get("steps") or []:
            per.setdefault(st["step"], []).append(st["seconds"])
    rows = [{"step": k, "seconds": statistics.median(v), "n": len(v)} for k, v in per.items()]
    return sorted(rows, key=lambda x: -x["seconds"])


def incremental(samples: dict[str, list]) -> dict[str, Any]:
    full = samples.get("e2e.full", [])
    daily = samples.get("e2e.daily", [])
    unchanged = samples.get("e2e.unchanged", [])
    ing_full = samples.get("ingest.ours.all.0ms", [])
    return {
        "full_run_s": stat(_col(full, "seconds")),
        "daily_run_s": stat(_col(daily, "seconds")),
        "unchanged_run_s": stat(_col(unchanged, "seconds")),
        "daily_vs_full_pct": _paired(
            daily, full, lambda a, b: 100 * _ratio(a["seconds"], b["seconds"])
        ),
        "unchanged_vs_full_pct": _paired(
            unchanged, full, lambda a, b: 100 * _ratio(a["seconds"], b["seconds"])
        ),
        "full_steps": _steps(full),
        "daily_steps": _steps(daily),
        "unchanged_steps": _steps(unchanged),
        "full_ingestion_s": stat(_col(ing_full, "seconds")),
    }


def validation(samples: dict[str, list], extra: dict[str, Any]) -> dict[str, Any]:
    gx = samples.get("checks.gx", [])
    naive = samples.get("checks.naive", [])
    sql = samples.get("checks.sql", [])
    return {
        "gx_s": stat(_col(gx, "seconds")),
        "gx_import_s": stat(_col(gx, "import_s")),
        "gx_query_s": stat(_col(gx, "query_s")),
        "gx_validate_s": stat(_col(gx, "validate_s")),
        "naive_s": stat(_col(naive, "seconds")),
        "naive_validate_s": stat(_col(naive, "validate_s")),
        "sql_s": stat(_col(sql, "seconds")),
        "sql_validate_s": stat(_col(sql, "validate_s")),
        "gx_vs_naive": _paired(gx, naive, lambda a, b: _ratio(a["seconds"], b["seconds"])),
        "gx_vs_sql": _paired(gx, sql, lambda a, b: _ratio(a["seconds"], b["seconds"])),
        "gx_with_import_vs_naive": _paired(
            gx, naive, lambda a, b: _ratio(a["seconds"] + (a.get("import_s") or 0), b["seconds"])
        ),
        "expectations": gx[0]["expectations"] if gx else None,
        "rows_validated": gx[0]["rows_validated"] if gx else None,
        "tables": gx[0]["tables"] if gx else [],
        "agreement": extra.get("checks_agreement"),
    }


MEMORY_STAGES = {
    "generate": "world generation",
    "ingest.ours.all.0ms": "ingestion, ours (every object)",
    "ingest.ours.crm_portal.0ms": "ingestion, ours (CRM + portal)",
    "ingest.ours.erp.0ms": "ingestion, ours (ERP)",
    "ingest.dlt.crm_portal.0ms": "ingestion, dlt (CRM + portal)",
    "ingest.limit.erp": "ingestion limit, DuckDB local files (ERP)",
    "dbt.build": "dbt build",
    "forecast": "forecasting (statsforecast, every active partner)",
    "handwritten": "hand-written SQL",
    "checks.gx": "GX checks",
    "checks.naive": "naive checks",
    "checks.sql": "SQL checks",
    "e2e.full": "partnerpulse run (full, embedded sources in-process)",
    "e2e.daily": "partnerpulse run --month (daily refresh)",
    "e2e.unchanged": "partnerpulse run again, nothing changed",
    "e2e.spark.full": "partnerpulse run on Spark (full)",
    "e2e.spark.daily": "partnerpulse run --month on Spark",
    "e2e.spark.unchanged": "partnerpulse run again on Spark, nothing changed",
}
PIPELINE_STAGES = ("ingest.ours.all.0ms", "dbt.build", "forecast", "checks.gx")


def memory(samples: dict[str, list], extra: dict[str, Any]) -> dict[str, Any]:
    out = {
        key: {"stage": label, "peak_rss_mb": stat(_col(samples.get(key, []), "max_rss_mb"))}
        for key, label in MEMORY_STAGES.items()
        if samples.get(key)
    }
    if extra.get("server_max_rss_mb"):
        out["stand_in_servers"] = {
            "stage": "stand-in servers (separate process)",
            "peak_rss_mb": stat([extra["server_max_rss_mb"]]),
        }
    return out


def end_to_end(samples: dict[str, list]) -> dict[str, Any]:
    full = samples.get("e2e.full", [])
    gen = samples.get("generate", [])
    return {
        "partnerpulse_run_s": stat(_col(full, "seconds")),
        "dagster_run_s": stat(_col(full, "run_s")),
        "steps": _steps(full),
        "world_generation_s": stat(_col(gen, "wall_s")),
    }


def engines(samples: dict[str, list]) -> dict[str, Any] | None:
    """Each e2e run and each step of the full run, DuckDB against Spark (`--engine spark`),
    with the peak RSS of the run's process tree (for Spark, the driver's JVM is in it)."""
    if not samples.get("e2e.spark.full"):
        return None
    runs = []
    for kind in ("full", "unchanged", "daily"):
        duck, spark = samples.get(f"e2e.{kind}", []), samples.get(f"e2e.spark.{kind}", [])
        duck_s, spark_s = stat(_col(duck, "seconds")), stat(_col(spark, "seconds"))
        runs.append(
            {
                "run": kind,
                "duckdb_s": duck_s,
                "spark_s": spark_s,
                "spark_vs_duckdb": _ratio(spark_s["median"], duck_s["median"]),
                "duckdb_peak_rss_mb": stat(_col(duck, "max_rss_mb")),
                "spark_peak_rss_mb": stat(_col(spark, "max_rss_mb")),
            }
        )
    duck_steps = {x["step"]: x["seconds"] for x in _steps(samples.get("e2e.full", []))}
    spark_steps = {x["step"]: x["seconds"] for x in _steps(samples["e2e.spark.full"])}
    steps = [
        {"step": step, "duckdb_s": duck_steps.get(step), "spark_s": spark_steps.get(step)}
        for step in sorted(set(duck_steps) | set(spark_steps), key=lambda x: -spark_steps.get(x, 0))
    ]
    return {"runs": runs, "full_run_steps": steps}


# -- goals ------------------------------------------------------------------------------------


def goals(scale_name: str, figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, each met / missed (or only indicative at another scale)."""
    out = []
    ing = figures["ingestion"]

    def add(goal, target, measured, ok, unit, judged_at=None, **kw):
        if measured is None:
            status = "not measured"
        elif judged_at and not scale_name.startswith(judged_at):
            status = f"{'met' if ok else 'missed'} here (indicative: judged at {judged_at} scale)"
        else:
            status = "met" if ok else "missed"
        out.append(
            {
                "goal": goal,
                "target": target,
                "measured": measured,
                "unit": unit,
                "status": status,
                **kw,
            }
        )

    for lat in [k for k in ing if k.endswith("ms")]:
        r = ing[lat]["ours_vs_dlt"]["median"]
        add(
            f"ingestion >= 3x dlt's throughput (CRM + portal, {lat} injected latency)",
            ">= 3.0x",
            r,
            r is not None and r >= 3.0,
            "x",
        )
    zero = ing.get("0ms", {})
    lim = zero.get("ours_cpu_vs_limit_cpu", {}).get("median")
    add(
        "ingestion within 2x of the local-file limit (client CPU time, the server's excluded)",
        "<= 2.0x",
        lim,
        lim is not None and lim <= 2.0,
        "x",
        end_to_end_ratio=zero.get("limit_vs_ours", {}).get("median"),
    )
    t = figures["transformation"]["dbt_vs_handwritten"]["median"]
    add(
        "dbt build within 3x of the hand-written SQL",
        "<= 3.0x",
        t,
        t is not None and t <= 3.0,
        "x",
        "medium",
    )
    inc = figures["incremental"]["daily_vs_full_pct"]["median"]
    add(
        "daily incremental run under 10% of a full run (partnerpulse run)",
        "< 10%",
        inc,
        inc is not None and inc < 10.0,
        "%",
    )
    unchanged = figures["incremental"]["unchanged_vs_full_pct"]["median"]
    add(
        "rerun with nothing changed under 5% of a full run (partnerpulse run, twice)",
        "< 5%",
        unchanged,
        unchanged is not None and unchanged < 5.0,
        "%",
    )
    stages = {
        k: v["peak_rss_mb"]["max"]
        for k, v in figures["memory"].items()
        if k in PIPELINE_STAGES and v["peak_rss_mb"]["max"] is not None
    }
    peak = max(stages.values()) if stages else None
    add(
        "peak memory of every pipeline stage (ingest, dbt build, forecasts, checks) under 2 GiB",
        "< 2048 MB",
        peak,
        peak is not None and peak < 2048.0,
        "MB",
        "large",
        worst_stage=max(stages, key=stages.get) if stages else None,
    )
    fl = figures["floor"]["ratio"]["median"]
    add(
        "full run (partnerpulse run from an empty warehouse) within 3x of the data floor",
        "<= 3.0x",
        fl,
        fl is not None and fl <= 3.0,
        "x",
    )
    e2e = figures["end_to_end"]["partnerpulse_run_s"]["median"]
    add(
        "demo world end to end (partnerpulse run from an empty warehouse) under 60 s",
        "< 60 s",
        e2e,
        e2e is not None and e2e < 60.0,
        "s",
        "small",
    )
    return out


# -- build and write ----------------------------------------------------------------------------


def build(
    scale, opts, machine, samples, commands, notes, extra, *, duration_s: float
) -> dict[str, Any]:
    figures = {
        "ingestion": ingestion(samples, opts.latencies),
        "transformation": transformation(samples, extra),
        "incremental": incremental(samples),
        "validation": validation(samples, extra),
        "memory": memory(samples, extra),
        "end_to_end": end_to_end(samples),
        "engines": engines(samples),
    }
    from benchmarks import bulk, floor, forecasting  # they build on this module's stat()

    figures["bulk"] = bulk.figure(samples)
    figures["floor"] = floor.figure(samples)
    figures["forecasting"] = forecasting.figure(samples)
    return {
        "benchmark": "partnerpulse",
        "format": 1,
        "scale": {
            "name": scale.name,
            "partners": scale.partners,
            "months": scale.months,
            "seed": scale.seed,
            "as_of": scale.as_of.isoformat(),
            "world": extra.get("world"),
            "next_day_added": extra.get("next_day"),
        },
        "reps": opts.reps,
        "stages": list(opts.stages),
        "engine": opts.engine,
        "latencies_ms": list(opts.latencies),
        "command": opts.command,
        "duration_s": duration_s,
        "machine": machine,
        "figures": figures,
        "goals": goals(scale.name, figures),
        "profiles": {
            k: extra[k] for k in ("profile_ingest_erp", "explain_handwritten") if k in extra
        },
        "notes": notes,
        "commands": commands,
        "samples": samples,
    }


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    date = results["machine"]["date"][:10]
    stem = f"{date}-{results['scale']['name']}"
    stages = partial_stages(results)
    if stages:
        stem += "-" + "-".join(stages)
    if results.get("engine", "duckdb") != "duckdb":
        stem += f"-{results['engine']}"
    json_path = out_dir / f"{stem}.json"
    md_path = out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    from benchmarks.markdown import render

    md_path.write_text(render(results))
    return md_path, json_path

"""The Markdown results file: what a reader needs, from the results JSON."""

from __future__ import annotations

from typing import Any

from benchmarks import bulk, floor, forecasting
from benchmarks.compare import ABS_TOL, REL_TOL
from benchmarks.report import STAGES, partial_stages


def _num(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt(s: dict[str, Any] | None, unit: str = "", digits: int = 2) -> str:
    """`median [min–max]` of a stat (n = 1: the value alone)."""
    if not s or s.get("median") is None:
        return "n/a"
    med = f"{_num(s['median'], digits)}{unit}"
    if s.get("n", 0) <= 1:
        return med
    return f"{med} [{_num(s['min'], digits)}–{_num(s['max'], digits)}]"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def render(r: dict[str, Any]) -> str:
    m, sc, f = r["machine"], r["scale"], r["figures"]
    world = sc.get("world") or {}
    lines = [
        f"# PartnerPulse benchmarks: {sc['name']} "
        f"({sc['partners']} partners x {sc['months']} months)",
        "",
        f"Run {m['date']} on {m.get('cpus')} CPUs ({m.get('cpu')}), {m.get('memory_gib')} GiB, "
        f"Python {m['python']}; commit `{(m.get('git_commit') or '')[:10]}`"
        f"{' (with uncommitted changes)' if m.get('git_dirty') else ''}.",
        f"Load average (1, 5, 15 min) at the start: {_loads(m['load_average_start'])}; "
        f"at the end: {_loads(m.get('load_average_end', []))}. "
        "The machine was shared with other jobs: figures are medians of "
        f"{r['reps']} runs with [min–max], and ratios are taken run by run, side by side.",
        f"World: {world.get('sales_lines') or 0:,} ERP sales lines, "
        f"{world.get('pos_files', 'n/a')} POS files, as of {sc['as_of']}. "
        f"Command: `{' '.join(r.get('command') or [])}` ({r['duration_s'] / 60:.1f} min). "
        "Every command and figure: the JSON file beside this one.",
        "",
    ]
    stages = partial_stages(r)
    if stages:
        lines += [
            f"Only these stages were measured: {', '.join(stages)}. The sections of the "
            'others are left out and their goals read "not measured"; other results files '
            "have them.",
            "",
        ]
    lines += ["## Goals", ""]
    rows = []
    for g in r["goals"]:
        unit = g["unit"]
        meas = (
            _num(g["measured"]) + ("" if unit == "x" else f" {unit}")
            if g["measured"] is not None
            else "n/a"
        )
        if unit == "x" and g["measured"] is not None:
            meas += "x"
        extra = ""
        if g.get("end_to_end_ratio") is not None:
            extra = f" (end to end, server time included: {_num(g['end_to_end_ratio'])}x)"
        if g.get("worst_stage"):
            extra = f" (worst: {g['worst_stage']})"
        rows.append([g["goal"], g["target"], meas + extra, f"**{g['status']}**"])
    lines.append(_table(["goal", "target", "measured (median)", "status"], rows))

    measured = stages or STAGES
    lines += _ingestion_section(f) if "ingestion" in measured else []
    lines += _transformation_section(f) if "transformation" in measured else []
    lines += _incremental_section(f) if "e2e" in measured else []
    lines += _validation_section(f) if "validation" in measured else []
    # 5. memory and end to end
    lines += ["## 5. Peak memory and end to end", ""]
    rows = [
        [x["stage"], fmt(x["peak_rss_mb"], " MB", 0), _num(x["peak_rss_mb"]["max"], 0) + " MB"]
        for x in f["memory"].values()
    ]
    lines.append(_table(["stage (own process)", "peak RSS, median", "max"], rows))
    if "e2e" in measured:
        e = f["end_to_end"]
        lines += [
            f"`partnerpulse run` from an empty warehouse: **{fmt(e['partnerpulse_run_s'], ' s')}** "
            f"(Dagster's own run time {fmt(e['dagster_run_s'], ' s')}); generating the world "
            f"beforehand took {fmt(e['world_generation_s'], ' s')} (not included).",
            "",
        ]
    lines += _engines_section(f.get("engines"))
    lines += floor.section(f)
    lines += forecasting.section(f) if "forecasting" in measured else []
    lines += bulk.section(f) if "bulk" in measured else []
    if r.get("profiles"):
        lines += ["## Profiles", ""]
        p = r["profiles"]
        if p.get("profile_ingest_erp"):
            lines += [
                "pyinstrument, ERP ingestion with one window worker (0 ms):",
                "",
                "```",
                p["profile_ingest_erp"],
                "```",
                "",
            ]
        if p.get("explain_handwritten"):
            lines += [
                "EXPLAIN ANALYZE of the hand-written script's heaviest statement "
                f"(`{p['explain_handwritten']['statement']}`):",
                "",
                "```",
                "\n".join(p["explain_handwritten"]["plan"].splitlines()[:80]),
                "```",
                "",
            ]
    if r.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in r["notes"]] + [""]
    return "\n".join(lines)


def _ingestion_section(f: dict[str, Any]) -> list[str]:
    """The figures of ingestion: our connectors, dlt and the local-file limit."""
    lines: list[str] = []
    ing = f["ingestion"]
    lines += ["## 1. Ingestion", ""]
    for lat, fig in ing.items():
        if not lat.endswith("ms"):
            continue
        rows = []
        for key, label in (
            ("ours_crm_portal", "ours, CRM + portal"),
            ("dlt_crm_portal", "dlt rest_api, CRM + portal"),
            ("ours_erp", "ours, ERP (SuiteQL)"),
        ):
            x = fig.get(key)
            if not x:
                continue
            rows.append(
                [
                    label,
                    f"{x['rows']:,}" if x.get("rows") else "n/a",
                    fmt(x["seconds"], " s"),
                    fmt(x["rows_per_s"], "", 0),
                    fmt(x.get("cpu_s"), " s"),
                    fmt(x.get("rows_per_cpu_s"), "", 0),
                    f"{fmt(x.get('server_cpu_s'), ' s')} "
                    f"({fmt(x.get('server_cpu_share_pct'), '%', 0)})",
                ]
            )
        for key, label in (
            ("limit_crm_portal", "limit: DuckDB, local files, CRM + portal"),
            ("limit_erp", "limit: DuckDB, local files, ERP"),
        ):
            x = fig.get(key)
            if x:
                rows.append(
                    [
                        label,
                        f"{x['rows']:,}",
                        fmt(x["seconds"], " s"),
                        fmt(x["rows_per_s"], "", 0),
                        fmt(x.get("cpu_s"), " s"),
                        fmt(x.get("rows_per_cpu_s"), "", 0),
                        "-",
                    ]
                )
        lines += [
            f"### {lat} injected latency per request",
            "",
            _table(
                [
                    "reader",
                    "rows",
                    "time",
                    "rows/s",
                    "client CPU",
                    "rows per CPU s",
                    "server CPU (share)",
                ],
                rows,
            ),
            f"Ours vs dlt (rows/s, run by run): **{fmt(fig['ours_vs_dlt'], 'x')}**; dlt used "
            f"{fmt(fig.get('dlt_cpu_vs_ours_cpu'), 'x')} our CPU time.",
        ]
        if "limit_vs_ours" in fig:
            lines.append(
                "Ours vs the limit, every HTTP object: ours used "
                f"**{fmt(fig['ours_cpu_vs_limit_cpu'], 'x')}** the limit's CPU time (ERP "
                f"{fmt(fig.get('ours_cpu_vs_limit_cpu_erp'), 'x')}, CRM + portal "
                f"{fmt(fig.get('ours_cpu_vs_limit_cpu_crm_portal'), 'x')}); end to end, with "
                f"the server's time, the limit is {fmt(fig['limit_vs_ours'], 'x')} faster."
            )
        lines.append("")
        if fig.get("ours_objects"):
            rows = [
                [
                    o["object"],
                    f"{o['rows']:,}",
                    _num(o["seconds"]),
                    _num(o["fetch_s"]),
                    _num(o["land_s"]),
                ]
                for o in fig["ours_objects"][:6]
            ]
            lines += [
                "Where our time goes (median seconds per object, the largest):",
                "",
                _table(["object", "rows", "sync", "fetch", "land"], rows),
            ]
    return lines


def _transformation_section(f: dict[str, Any]) -> list[str]:
    """The figures of transformation: dbt build against the hand-written SQL."""
    lines: list[str] = []
    t = f["transformation"]
    b = t["breakdown"]
    lines += [
        "## 2. Transformation",
        "",
        _table(
            ["what", "time"],
            [
                [
                    "`dbt build` (every node: "
                    + ", ".join(f"{v} {k}s" for k, v in t["node_counts"].items())
                    + ")",
                    fmt(t["dbt_build_s"], " s"),
                ],
                ["hand-written SQL (process)", fmt(t["handwritten_s"], " s")],
                ["hand-written SQL (statements only)", fmt(t["handwritten_sql_s"], " s")],
                ["**dbt build / hand-written**", f"**{fmt(t['dbt_vs_handwritten'], 'x')}**"],
                [
                    f"dbt's {b['needed_models']} models and snapshots behind the marts / "
                    "hand-written statements",
                    fmt(t["dbt_needed_models_vs_handwritten_sql"], "x"),
                ],
            ],
        ),
        "Where dbt's time goes:",
        "",
        _table(
            ["phase", "time"],
            [
                ["interpreter start-up and `import dbt`", fmt(b["startup_s"], " s")],
                ["set-up and (partial) parse", fmt(b["setup_parse_s"], " s")],
                ["nodes, first start to last end (2 threads)", fmt(b["node_span_s"], " s")],
                *[
                    [f"  sum of {k} node times", fmt(v, " s")]
                    for k, v in b["node_seconds_by_type"].items()
                ],
                ["  models and snapshots behind the marts", fmt(b["needed_models_s"], " s")],
                ["tear-down", fmt(b["teardown_s"], " s")],
                ["(a full parse, for comparison)", fmt(t["dbt_parse_full_s"], " s")],
            ],
        ),
    ]
    if t["slowest_models"]:
        lines += [
            "Slowest models: "
            + ", ".join(f"`{x['model']}` {_num(x['seconds'])} s" for x in t["slowest_models"][:6])
            + ".",
            "",
        ]
    lines += _equality(t.get("handwritten_equal_to_dbt") or {})
    return lines


def _equality(eq: dict[str, Any]) -> list[str]:
    """Each hand-written mart against dbt's: equal or not, rows, and what differs."""
    if not eq:
        return []
    rows = []
    for table, e in eq.items():
        if "error" in e:
            rows.append([f"`{table}`", "-", "-", "-", "-", f"**ERROR**: {e['error']}"])
            continue
        what = []
        if e["columns_differing"]:
            what.append(
                "differing: " + ", ".join(f"{c} ({n})" for c, n in e["columns_differing"].items())
            )
        for side in ("dbt", "handwritten"):
            if e[f"columns_only_in_{side}"]:
                what.append(f"only in {side}: {', '.join(e[f'columns_only_in_{side}'])}")
            if e[f"duplicate_keys_{side}"]:
                what.append(f"{e[f'duplicate_keys_{side}']} duplicate keys in {side}")
        rows.append(
            [
                f"`{table}`",
                ", ".join(e["key"]),
                f"{e['rows_dbt']:,} / {e['rows_handwritten']:,}",
                f"{e['rows_only_in_dbt']:,} / {e['rows_only_in_handwritten']:,}",
                str(e["columns_compared"]),
                ("equal" if e["equal"] else "**DIFFERS**")
                + (f" ({'; '.join(what)})" if what else ""),
            ]
        )
    equal = sum(1 for e in eq.values() if e.get("equal"))
    return [
        f"The hand-written marts against dbt's, row by row on each mart's grain (numbers "
        f"within {REL_TOL:g} relative, {ABS_TOL:g} absolute near zero; the rest exactly): "
        f"**{equal} of {len(eq)} equal**.",
        "",
        _table(
            ["mart", "grain", "rows dbt / hand", "rows only in dbt / hand", "columns", "result"],
            rows,
        ),
    ]


def _incremental_section(f: dict[str, Any]) -> list[str]:
    """The figures of the daily run and of a rerun with nothing changed against a full run."""
    lines: list[str] = []
    inc = f["incremental"]
    lines += [
        "## 3. Incremental",
        "",
        _table(
            ["run", "time"],
            [
                ["`partnerpulse run` from an empty warehouse", fmt(inc["full_run_s"], " s")],
                [
                    "`partnerpulse run --month` (the daily refresh) after one new day",
                    fmt(inc["daily_run_s"], " s"),
                ],
                ["**daily / full**", f"**{fmt(inc['daily_vs_full_pct'], '%', 1)}**"],
                [
                    "`partnerpulse run` again with nothing changed",
                    fmt(inc["unchanged_run_s"], " s"),
                ],
                ["**unchanged / full**", f"**{fmt(inc['unchanged_vs_full_pct'], '%', 1)}**"],
            ],
        ),
        "Steps (median seconds, full -> daily): "
        + ", ".join(
            f"`{s['step']}` {_num(s['seconds'])} -> {_num(_step(inc['daily_steps'], s['step']))}"
            for s in inc["full_steps"][:8]
        )
        + ".",
        "",
    ]
    return lines


def _validation_section(f: dict[str, Any]) -> list[str]:
    """The figures of validation: our GX checks against naive loops and SQL."""
    lines: list[str] = []
    v = f["validation"]
    ag = v.get("agreement") or {}
    lines += [
        "## 4. Validation",
        "",
        _table(
            ["checks", "time"],
            [
                [
                    f"our GX checks ({v['expectations']} expectations, "
                    f"{v['rows_validated']} frame rows)",
                    fmt(v["gx_s"], " s"),
                ],
                [
                    "  of which frame queries / GX validation",
                    f"{fmt(v['gx_query_s'], ' s')} / {fmt(v['gx_validate_s'], ' s')}",
                ],
                [
                    "  importing GX and the checks (not in the line above)",
                    fmt(v["gx_import_s"], " s"),
                ],
                ["same expectations, naive Python loops over the rows", fmt(v["naive_s"], " s")],
                ["same expectations, one DuckDB query each", fmt(v["sql_s"], " s")],
                [
                    "**GX / naive**",
                    f"**{fmt(v['gx_vs_naive'], 'x')}** "
                    f"(with GX's import: {fmt(v['gx_with_import_vs_naive'], 'x')})",
                ],
                ["GX / SQL", fmt(v["gx_vs_sql"], "x")],
            ],
        ),
    ]
    if ag:
        lines += [
            "Agreement with GX, expectation by expectation (agree / differ / not implemented): "
            f"naive {_agree(ag['naive_vs_gx'])}, SQL {_agree(ag['sql_vs_gx'])}.",
            "",
        ]
    return lines


def _engines_section(e: dict[str, Any] | None) -> list[str]:
    if not e:
        return []
    lines = ["## DuckDB against Spark (`--engine spark`, local session)", ""]
    rows = [
        [
            x["run"],
            fmt(x["duckdb_s"], " s"),
            fmt(x["spark_s"], " s"),
            _num(x["spark_vs_duckdb"]) + "x",
            fmt(x["duckdb_peak_rss_mb"], " MB", 0),
            fmt(x["spark_peak_rss_mb"], " MB", 0),
        ]
        for x in e["runs"]
    ]
    lines.append(
        _table(
            ["run", "DuckDB", "Spark", "Spark / DuckDB", "peak RSS DuckDB", "peak RSS Spark"], rows
        )
    )
    rows = [
        [x["step"], _num(x["duckdb_s"], 1) + " s", _num(x["spark_s"], 1) + " s"]
        for x in e["full_run_steps"]
    ]
    lines += ["Steps of the full run (median seconds):", ""]
    lines.append(_table(["step", "DuckDB", "Spark"], rows))
    return lines


def _loads(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def _agree(a: dict[str, Any]) -> str:
    return f"{a['agree']} / {a['differ']} / {a['unsupported']}"


def _step(steps: list[dict[str, Any]], name: str) -> float | None:
    for s in steps:
        if s["step"] == name:
            return s["seconds"]
    return None

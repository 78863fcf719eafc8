"""The full run against the data floor: what the machine must do whatever the tool.

The floor is three stages the same bench run measures elsewhere, each the work alone
(in-process time, no interpreter start-up):

- ingestion: DuckDB reading the pages our connectors fetched, from local files, into
  tables (the ingestion limit, CRM + portal + ERP);
- transformation: benchmarks/handwritten.sql, every mart, its statements;
- checks: the GX suites' expectations as one DuckDB query each (the validation figure's
  SQL variant).

Beside them, `partnerpulse run` from an empty warehouse (the e2e stage), split by Dagster's
step timings. What the floor has no part for (POS files, publishing, pages, Dagster
between the steps, start-up) keeps rows of its own, so that the rows add up to the run's
wall time. Ratios are taken run by run (floor of repetition i against full run i), as
elsewhere.
"""

from __future__ import annotations

from typing import Any

from benchmarks.report import stat

GOAL = 3.0
# Floor stage -> the samples it adds up, and the field of each that times the work alone.
FLOOR = {
    "ingestion": (("ingest.limit.crm_portal", "seconds"), ("ingest.limit.erp", "seconds")),
    "transformation": (("handwritten", "sql_s"),),
    "checks": (("checks.sql", "seconds"),),
}
# The bench stage that measures each floor stage (for saying what a subset left out).
MEASURED_BY = {"ingestion": "ingestion", "transformation": "transformation", "checks": "validation"}
ROWS = (
    ("ingestion", "ingestion: CRM, portal, ERP", "DuckDB reads the captured pages"),
    ("pos", "ingestion: POS files", None),
    ("transformation", "transformation: the dbt steps", "hand-written SQL, every mart"),
    ("checks", "checks: GX, findings, freshness", "the expectations as SQL"),
    ("publishing", "publishing the marts: serving DuckDB, Parquet", None),
    ("pages", "the partner pages and PDFs", None),
    ("other_steps", "other steps", None),
    ("orchestration", "Dagster between the steps", None),
    ("startup", "start-up and run creation", None),
)


def _step_kind(step: str) -> str:
    if step == "ingest_pos":
        return "pos"
    if step.startswith("ingest_"):
        return "ingestion"
    if "dbt" in step:
        return "transformation"
    if step.startswith(("gx_", "freshness_check", "data_quality_findings")):
        return "checks"
    if step == "serving__reports":
        return "pages"
    if step.startswith("serving"):
        return "publishing"
    return "other_steps"


def run_parts(sample: dict[str, Any]) -> dict[str, float]:
    """One `partnerpulse run`'s wall time split into the rows (they add up to it).

    The executor is in-process, so steps run one after the other: the run's own time
    minus its steps is Dagster's work between them (events, planning); the wall time
    minus the run's is start-up (interpreter, definitions, the embedded stand-in world)
    and the run's creation (its planned events)."""
    parts = {key: 0.0 for key, _, _ in ROWS}
    steps = sample.get("steps") or []
    for s in steps:
        parts[_step_kind(s["step"])] += s["seconds"]
    run_s = sample.get("run_s") or 0.0
    parts["orchestration"] = run_s - sum(s["seconds"] for s in steps)
    parts["startup"] = sample["seconds"] - run_s
    return parts


def floor_parts(samples: dict[str, list], rep: int) -> dict[str, float | None]:
    """Repetition `rep` of each floor stage (None where it was not measured)."""
    out: dict[str, float | None] = {}
    for stage, sources in FLOOR.items():
        values = []
        for key, field in sources:
            rows = samples.get(key) or []
            values.append(rows[rep].get(field) if rep < len(rows) else None)
        out[stage] = None if any(v is None for v in values) else sum(values)
    return out


def figure(samples: dict[str, list]) -> dict[str, Any]:
    """The floor table: each row's run and floor seconds, their ratio, and the goal."""
    runs = [run_parts(s) for s in samples.get("e2e.full") or [] if s.get("steps")]
    reps = max((len(samples.get(k) or []) for src in FLOOR.values() for k, _ in src), default=0)
    floors = [floor_parts(samples, r) for r in range(reps)]
    missing = [stage for stage in FLOOR if not floors or any(f[stage] is None for f in floors)]
    complete = not missing and bool(floors)
    pairs = list(zip(runs, floors, strict=False))
    rows = []
    for key, label, floor_label in ROWS:
        has_floor = key in FLOOR and key not in missing
        rows.append(
            {
                "stage": key,
                "label": label,
                "floor_label": floor_label,
                "run_s": stat([r[key] for r in runs]),
                "floor_s": stat([f[key] for f in floors]) if has_floor else None,
                "ratio": (
                    stat([r[key] / f[key] for r, f in pairs if f[key]]) if has_floor else None
                ),
            }
        )
    run_total = [sum(r.values()) for r in runs]
    floor_total = [sum(f.values()) for f in floors] if complete else []
    ratio = stat([r / f for r, f in zip(run_total, floor_total, strict=False) if f])
    out = {
        "goal": GOAL,
        "complete": complete,
        "floor_missing": [MEASURED_BY[s] for s in missing],
        "run_measured": bool(runs),
        "rows": rows,
        "run_s": stat(run_total),
        "floor_s": stat(floor_total),
        "ratio": ratio,
        "status": "not measured",
    }
    if ratio["median"] is not None:
        out["status"] = "met" if ratio["median"] <= GOAL else "missed"
        out["vs_goal"] = ratio["median"] / GOAL
        out["bounded_by"] = _excess(rows)
    return out


def _excess(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where the run's time above its floor goes, the largest share first."""
    excess = []
    for row in rows:
        run = row["run_s"]["median"] or 0.0
        floor = (row["floor_s"] or {}).get("median") or 0.0
        excess.append({"stage": row["stage"], "label": row["label"], "excess_s": run - floor})
    total = sum(e["excess_s"] for e in excess if e["excess_s"] > 0) or 1.0
    for e in excess:
        e["share_pct"] = 100 * e["excess_s"] / total
    return sorted((e for e in excess if e["excess_s"] > 0), key=lambda e: -e["excess_s"])


# -- Markdown ------------------------------------------------------------------------------------


def _s(st: dict[str, Any] | None, unit: str = " s") -> str:
    from benchmarks.markdown import fmt

    return fmt(st, unit) if st else "-"


def _floor_cell(row: dict[str, Any]) -> str:
    if not row["floor_label"]:
        return "-"
    if row["floor_s"] is None:
        return f"not measured ({row['floor_label']})"
    return f"{_s(row['floor_s'])} ({row['floor_label']})"


def section(f: dict[str, Any]) -> list[str]:
    """The section of the results file: the table, the goal, and what bounds it."""
    from benchmarks.markdown import _num, _table

    fl = f.get("floor") or {}
    if not fl:
        return []
    run_total = fl["run_s"]["median"] or 0.0
    rows = []
    for row in fl["rows"]:
        share = 100 * (row["run_s"]["median"] or 0.0) / run_total if run_total else None
        rows.append(
            [
                row["label"],
                _s(row["run_s"]),
                "n/a" if share is None else f"{share:.0f}%",
                _floor_cell(row),
                _s(row["ratio"], "x") if row["ratio"] else "-",
            ]
        )
    rows.append(
        [
            "**the whole run**",
            f"**{_s(fl['run_s'])}**",
            "100%",
            f"**{_s(fl['floor_s'])}**" if fl["complete"] else "incomplete",
            f"**{_s(fl['ratio'], 'x')}**" if fl["complete"] else "-",
        ]
    )
    lines = [
        "## 6. The full run against the data floor",
        "",
        "`partnerpulse run` from an empty warehouse (section 5), split by Dagster's step "
        "timings, against the data floor: what the machine must do whatever the tool, each "
        "stage's work alone (DuckDB reading the captured source pages from local files, the "
        "hand-written SQL of every mart, the checks as plain SQL). Rows without a floor are "
        "work the floor does not do. dbt's data tests run inside the dbt steps; the floor's "
        "checks are the GX suites only. Ratios run by run, median [min–max].",
        "",
        _table(["stage", "full run", "share", "floor", "run / floor"], rows),
    ]
    if not fl["run_measured"]:
        lines += ["The full run was not measured in this run (stage e2e): no ratio.", ""]
    if not fl["complete"]:
        lines += [
            "**The floor is incomplete**: the stages it needs were not all measured in this "
            f"run (missing: {', '.join(fl['floor_missing']) or 'none'}), so no floor and no "
            "ratio are given; other results files have them.",
            "",
        ]
    if fl["status"] in ("met", "missed"):
        verdict = (
            f"met ({_num(fl['vs_goal'])} of the {fl['goal']:g}x allowed)"
            if fl["status"] == "met"
            else f"missed by {_num(fl['vs_goal'])}x"
        )
        lines += [
            f"**Goal: the full run within {fl['goal']:g}x of the data floor: {verdict}** "
            f"({_s(fl['run_s'])} against {_s(fl['floor_s'])}).",
            "",
            "What bounds it, the run's time above the floor: "
            + ", ".join(
                f"{e['label']} {_num(e['excess_s'])} s ({e['share_pct']:.0f}%)"
                for e in fl["bounded_by"][:5]
            )
            + ".",
            "",
        ]
    return lines

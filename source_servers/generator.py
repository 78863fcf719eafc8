"""Deterministic generator of the synthetic partner ecosystem ("the world").

`generate_world` writes `world.duckdb` (every source table in its source's shape),
`pos/*.csv` (partners' POS CSV drops), `truth.json` (the injected cases) and
`world.json` (parameters and row counts); see docs/source-servers.md. The same
parameters always give identical tables: every random draw comes from a numpy Generator
seeded from (seed, stream, ...), nothing reads the wall clock or Python's hash.

The volume is generated month by month with vectorised numpy and appended to DuckDB as
Arrow batches, so memory stays proportional to one month of the ecosystem.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from .world import crm, erp, portal, reports
from .world.cases import CaseBook
from .world.common import Window
from .world.plan import build_plan, case_count
from .world.schema import WORLD_TABLES, create_ddl, qualified
from .world.segments import plant_segments

# Bumped whenever the same parameters give another world; cached worlds carry it in their
# folder name, so a new version is generated afresh rather than read from an old cache.
# 2: planted product-line gaps and industry specialists (world/segments.py).
GENERATOR_VERSION = 2


def world_dir_name(*, seed: int, partners: int, months: int, scale: float, as_of: dt.date) -> str:
    return (
        f"world-v{GENERATOR_VERSION}-s{seed}-p{partners}-m{months}-x{float(scale)}-"
        f"{_as_date(as_of).isoformat()}"
    )


def generate_world(
    out_dir: Path,
    *,
    seed: int = 7,
    partners: int = 150,
    months: int = 36,
    scale: float = 1.0,
    as_of: dt.date,
) -> dict:
    """Generate the world into `out_dir` (replacing what is there) and return its manifest."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        manifest = _generate_into(tmp, seed, partners, months, scale, as_of)
        if out_dir.exists():
            if out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
                os.rename(out_dir, old / "world")
                shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def ensure_world(
    cache_root: Path,
    *,
    seed: int = 7,
    partners: int = 150,
    months: int = 36,
    scale: float = 1.0,
    as_of: dt.date,
) -> Path:
    """The cached world for these parameters, generated only when it is absent."""
    cache_root = Path(cache_root)
    path = cache_root / world_dir_name(
        seed=seed, partners=partners, months=months, scale=scale, as_of=as_of
    )
    if (path / "world.json").is_file():
        return path
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=cache_root))
    try:
        _generate_into(tmp, seed, partners, months, scale, as_of)
        try:
            os.rename(tmp, path)
        except OSError:
            if not (path / "world.json").is_file():  # not a concurrent twin: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _generate_into(
    out: Path, seed: int, partners: int, months: int, scale: float, as_of: dt.date
) -> dict:
    as_of = _as_date(as_of)
    if int(partners) < 4:
        raise ValueError("partners must be at least 4")
    if int(months) < 6:
        raise ValueError("months must be at least 6")
    if not float(scale) > 0:
        raise ValueError("scale must be positive")
    seed, partners, months, scale = int(seed), int(partners), int(months), float(scale)

    window = Window.build(as_of, months)
    n_case = case_count(partners)
    plan = build_plan(seed, partners, window, scale, n_unmapped=n_case)
    planted = plant_segments(plan, partners)
    book = CaseBook(plan, n_case)
    book.truth.extend(planted)
    book.plan_erp_cases()

    scratch = out / "scratch.duckdb"
    con = duckdb.connect(str(out / "world.duckdb"))
    try:
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET memory_limit = '1GB'")
        con.execute(f"SET temp_directory = '{_sql_str(str(out / 'tmp'))}'")
        for stmt in create_ddl():
            con.execute(stmt)
        con.execute(f"ATTACH '{_sql_str(str(scratch))}' AS scratch")

        schedule = reports.Reports(con, plan, book)
        erp.write_dimensions(con, plan, book.externalid)
        state = erp.generate_transactions(
            con, plan, book.forced, schedule.api_no, schedule.csv_flag
        )
        schedule.attach_erp(state)
        book.record_erp_cases(con, state)
        crm_result = crm.generate_crm(con, plan, book.used, n_case)
        book.truth.extend(crm_result.truth)
        portal.generate_portal(con, plan, state.sales_usd, crm_result.campaigns)
        schedule.place_all()
        rep = schedule.write(out / "pos")

        con.execute("DETACH scratch")
        counts = {
            t: con.execute(f"SELECT count(*) FROM {qualified(t)}").fetchall()[0][0]
            for t in WORLD_TABLES
        }
        sales_lines = con.execute(
            "SELECT count(*) FROM erp.transactionline WHERE mainline = 'F' AND taxline = 'F'"
        ).fetchall()[0][0]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    scratch.unlink(missing_ok=True)
    shutil.rmtree(out / "tmp", ignore_errors=True)

    cases = sorted(
        book.truth,
        key=lambda c: (
            c["case"],
            c["partner_id"] or "",
            c["month"] or "",
            json.dumps(c["detail"], sort_keys=True),
        ),
    )
    truth = {
        "as_of": as_of.isoformat(),
        "seed": seed,
        "csv_partners": sorted(plan.sf_id[plan.crm & plan.csv].tolist()),
        "erp_only_partners": sorted(int(i) for i in plan.erp_id[~plan.crm]),
        "cases": cases,
    }
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "partners": partners,
        "months": months,
        "scale": scale,
        "as_of": as_of.isoformat(),
        "first_month": window.labels[0],
        "last_month": window.labels[-1],
        "cases_per_kind": n_case,
        "unplaced_cases": sorted(set(book.unplaced)),
        "row_counts": counts,
        "sales_lines": sales_lines,
        "pos_files": rep["pos_files"],
        "truth_cases": len(cases),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    (out / "world.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _sql_str(s: str) -> str:
    return s.replace("'", "''")

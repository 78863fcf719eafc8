"""The real pipeline end to end: stand-in servers over loopback HTTP, DuckDB, dbt, GX, Dagster.

One small world is generated; the whole asset graph runs in-process through Dagster (as
`partnerpulse run` does); the marts are compared partner-month by partner-month with
values computed independently from the generator's data (tests/e2e/oracle.py).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.e2e.oracle import WorldOracle

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 11, 22)
WORLD = {"PARTNERPULSE_STANDIN_PARTNERS": "16", "PARTNERPULSE_STANDIN_MONTHS": "14"}


def pipeline_env(tmp: Path) -> dict[str, str]:
    home = tmp / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return {
        "PARTNERPULSE_WAREHOUSE": str(tmp / "warehouse.duckdb"),
        "PARTNERPULSE_LANDING_DIR": str(tmp / "landing"),
        "PARTNERPULSE_STANDIN_CACHE_DIR": str(tmp / "worlds"),
        "PARTNERPULSE_AS_OF": AS_OF.isoformat(),
        "DAGSTER_HOME": str(home),
        **WORLD,
    }


def run_in_process(env: dict[str, str]) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with dg.DagsterInstance.get() as instance:
            job = defs.resolve_implicit_global_asset_job_def()
            return job.execute_in_process(instance=instance, raise_on_error=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("e2e")
    env = pipeline_env(tmp)
    first = run_in_process(env)
    counts_first = table_counts(Path(env["PARTNERPULSE_WAREHOUSE"]))
    second = run_in_process(env)  # incremental rerun: must change nothing
    (world_dir,) = (tmp / "worlds").iterdir()
    return {
        "env": env,
        "first": first,
        "second": second,
        "counts_first": counts_first,
        "oracle": WorldOracle(world_dir, tmp / "landing", AS_OF),
    }


def table_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.sql(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema like 'raw_%' or table_schema = 'marts'"
        ).fetchall()
        return {t: con.sql(f"select count(*) from {t}").fetchall()[0][0] for (t,) in tables}
    finally:
        con.close()


def mart(run: dict, sql: str) -> pd.DataFrame:
    con = duckdb.connect(run["env"]["PARTNERPULSE_WAREHOUSE"], read_only=True)
    try:
        return con.sql(sql).df()
    finally:
        con.close()


def test_both_runs_succeed_and_the_rerun_duplicates_nothing(run: dict) -> None:
    assert run["first"].success
    assert run["second"].success
    assert table_counts(Path(run["env"]["PARTNERPULSE_WAREHOUSE"])) == run["counts_first"]
    assert run["counts_first"]["raw_erp.transactionline"] > 1000


def test_sales_volume_and_units_match_the_erp_partner_month_by_partner_month(run: dict) -> None:
    expected = run["oracle"].partner_months()
    actual = mart(
        run,
        "select partner_id, month_start, sales_volume_usd, units_sold, "
        "reported_sales_usd from marts.fct_partner_months",
    )
    actual["month_start"] = pd.to_datetime(actual["month_start"])
    merged = expected.merge(
        actual,
        on=["partner_id", "month_start"],
        how="outer",
        suffixes=("_expected", "_actual"),
        indicator=True,
    )
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head(10)
    for col in ("sales_volume_usd", "units_sold"):
        diff = (merged[f"{col}_expected"] - merged[f"{col}_actual"]).abs()
        assert (diff < 0.005).all(), merged.loc[diff >= 0.005].head(10)


def test_reported_sales_follow_the_effective_report(run: dict) -> None:
    expected = run["oracle"].partner_months()
    actual = mart(
        run, "select partner_id, month_start, reported_sales_usd from marts.fct_partner_months"
    )
    actual["month_start"] = pd.to_datetime(actual["month_start"])
    merged = expected.merge(actual, on=["partner_id", "month_start"], suffixes=("_e", "_a"))
    assert (merged["reported_sales_usd_e"].isna() == merged["reported_sales_usd_a"].isna()).all()
    both = merged.dropna(subset=["reported_sales_usd_e"])
    assert len(both) > 0
    diff = (both["reported_sales_usd_e"] - both["reported_sales_usd_a"]).abs()
    assert (diff < 0.005).all(), both.loc[diff >= 0.005].head(10)


def test_every_reconciliation_status_matches_the_independent_computation(run: dict) -> None:
    expected = run["oracle"].reconciliation()[["partner_id", "month_start", "status"]]
    actual = mart(
        run, "select partner_id, month_start, status from marts.rpt_partner_reconciliation"
    )
    actual["month_start"] = pd.to_datetime(actual["month_start"])
    merged = expected.merge(
        actual, on=["partner_id", "month_start"], how="outer", suffixes=("_expected", "_actual")
    )
    wrong = merged[merged["status_expected"] != merged["status_actual"]]
    assert wrong.empty, wrong.head(20)
    # The world injects mis-reporting: the comparison covers more than the happy path.
    assert {
        "matched",
        "missing_report",
        "over_reported",
        "under_reported",
        "timing_difference",
    } <= set(merged["status_actual"])


def test_gx_checks_pass_the_structure_and_name_mis_reporting_partner_months(run: dict) -> None:
    evaluations = {e.check_name: e for e in run["first"].get_asset_check_evaluations()}
    assert evaluations["partner_reconciliation_structure"].passed
    behaviour = evaluations["partner_reconciliation_partner_behaviour"]
    assert not behaviour.passed
    assert behaviour.severity == dg.AssetCheckSeverity.WARN
    text = "\n".join(str(v.value) for v in behaviour.metadata.values())
    over = run["oracle"].reconciliation().query("status == 'over_reported'")
    for row in over.itertuples():
        assert row.partner_id in text and f"{row.month_start:%Y-%m-%d}" in text


def test_cli_exits_non_zero_and_names_the_system_when_a_source_is_unreachable(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        **pipeline_env(tmp_path),
        "PARTNERPULSE_PORTAL_URL": "http://127.0.0.1:9",  # nothing listens on port 9
        "PARTNERPULSE_PORTAL_API_KEY": "not-a-real-key-123",
        "PARTNERPULSE_HTTP_MAX_RETRIES": "1",
        "PARTNERPULSE_HTTP_BACKOFF_FACTOR": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--select", "portal/trainings"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "portal" in output and "/api/v2/trainings" in output
    assert "not-a-real-key-123" not in output

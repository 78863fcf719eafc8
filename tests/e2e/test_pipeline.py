"""The real pipeline end to end: stand-in servers over loopback HTTP, DuckDB, dbt, GX, Dagster.

One small world is generated; the whole asset graph runs in-process through Dagster (as
`partnerpulse run` does); the marts are compared partner-month by partner-month with
values computed independently from the generator's data (tests/e2e/oracle.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_dbt.asset_utils import DAGSTER_DBT_UNIQUE_ID_METADATA_KEY

from connectors import builds
from orchestration.assets.transform import dbt_target_dir, partnerpulse_monthly_dbt_models
from orchestration.dbt_selection import CI_ONLY_TESTS
from orchestration.launch import LOCATION_NAME
from orchestration.project import DBT_PROJECT_DIR, dbt_project
from orchestration.resources import PipelineSettings, patched_environ
from orchestration.same_inputs import BUILT_IN_RUN, PASSED_IN_RUN, Lineage
from tests.e2e.harness import REPO, mart, pipeline_env, table_counts

# One session-scoped run of the world (conftest.py): every test of it on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e_world")]


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


def _partnerpulse(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`partnerpulse <args>` in a process of its own, with `env`."""
    argv = [str(Path(sys.executable).parent / "partnerpulse"), *args]
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)


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
        # The step is still retried (connection refused is transient), without the wait.
        "PARTNERPULSE_SOURCE_RETRY_WAIT_S": "0",
    }
    proc = _partnerpulse(env, "run", "--select", "portal/trainings")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "portal" in output and "/api/v2/trainings" in output
    assert "not-a-real-key-123" not in output


def _dbt_logs(run_id: str) -> list[Path]:
    """The dbt logs of a run's dbt invocations (dagster-dbt names each target folder
    `<step>-<run id prefix>-<random>`)."""
    return sorted(dbt_target_dir().glob(f"*-{run_id[:7]}-*/dbt.log"))


def test_a_run_leaves_the_ci_only_dbt_tests_to_ci_which_passes_them_on_its_world(
    run: dict, tmp_path: Path
) -> None:
    """The dbt tests of the project's SQL (intermediate grains, relationships, invariants:
    `dbt_selection.CI_ONLY_TESTS`) are not run by the pipeline; here, in CI, they run on the
    warehouse the pipeline built and pass."""
    ran = _dbt_nodes(run["first"].all_events).keys()
    assert any(i.startswith("test.") for i in ran) and not any(
        i.startswith("test.partnerpulse.intermediate.") or ".relationships_" in i for i in ran
    )

    with patched_environ(run["env"]):
        settings = PipelineSettings()
        with settings.dbt_environment():
            proc = subprocess.run(
                [
                    str(Path(sys.executable).parent / "dbt"),
                    "test",
                    "--select",
                    CI_ONLY_TESTS,
                    "--vars",
                    settings.dbt_vars_json(),
                    "--project-dir",
                    str(DBT_PROJECT_DIR),
                    "--profiles-dir",
                    str(DBT_PROJECT_DIR),
                    "--target-path",
                    str(tmp_path / "target"),
                    "--log-path",
                    str(tmp_path),
                ],
                env=os.environ.copy(),
                capture_output=True,
                text=True,
                timeout=600,
            )
    assert proc.returncode == 0, proc.stdout[-4000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert len(results) > 80 and {r["status"] for r in results} == {"pass"}


def test_a_rerun_with_nothing_changed_builds_nothing_again(run: dict) -> None:
    """The second run synced the same data: its first dbt step found the inputs of the first
    run's complete build and built nothing, and everything after it was skipped (the oracle
    tests above judge the warehouse it left)."""
    second = run["second"]
    con = duckdb.connect(run["env"]["PARTNERPULSE_WAREHOUSE"], read_only=True)
    try:
        inputs = dict(con.execute("select run_id, inputs from ops.complete_builds").fetchall())
    finally:
        con.close()
    first, again = (json.loads(inputs[r.run_id]) for r in (run["first"], second))
    assert builds.changed(first, again) == []  # else: what the second run found changed
    assert _dbt_logs(second.run_id) == []
    skipped = {
        e.step_key for e in second.all_events if e.event_type == dg.DagsterEventType.STEP_SKIPPED
    }
    assert {"partnerpulse_monthly_dbt_models", "serving__marts", "serving__reports"} <= skipped
    materialized = {e.asset_key.path[0] for e in second.get_asset_materialization_events()}
    assert materialized == {"crm", "erp", "portal"}  # the syncs always run; nothing else


def test_a_complete_run_starts_dbt_once_and_each_dbt_step_reports_its_own_nodes(
    run: dict,
) -> None:
    """The unpartitioned step's `dbt build` built the monthly step's models and tests too
    (orchestration/assets/dbt_handover.py); the monthly step materialized them and gave
    their checks' results, and the unpartitioned step none of them."""
    (log,) = _dbt_logs(run["first"].run_id)
    assert log.parent.name.startswith("partnerpulse_dbt_models-")
    events = run["first"].all_events
    monthly = _dbt_nodes(events, "partnerpulse_monthly_dbt_models")
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    models = {
        spec.metadata[DAGSTER_DBT_UNIQUE_ID_METADATA_KEY]
        for spec in partnerpulse_monthly_dbt_models.specs
    }
    tests = {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and set(node["depends_on"]["nodes"]) & models
    }
    assert models <= monthly.keys() <= models | tests
    assert {uid for uid in monthly if uid.startswith("test.")}
    assert set(monthly.values()) <= {"success", "pass", "warn"}
    assert monthly.keys().isdisjoint(_dbt_nodes(events, "partnerpulse_dbt_models"))


def test_a_month_run_refreshes_that_partition_alone_and_changes_nothing_else(
    run: dict, tmp_path: Path
) -> None:
    # Published afresh, so that the digest (against no previous publication) lists every
    # mis-report of the world.
    parquet = tmp_path / "parquet"
    publication = {
        "PARTNERPULSE_SERVING_PARQUET_DIR": str(parquet),
        "PARTNERPULSE_SERVING_WAREHOUSE": str(tmp_path / "serving.duckdb"),
        "PARTNERPULSE_REPORTS_DIR": str(tmp_path / "reports"),
        "PARTNERPULSE_REPORTS_PDF": "false",
    }
    proc = _partnerpulse({**os.environ, **run["env"], **publication}, "run", "--month", "2026-11")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert table_counts(Path(run["env"]["PARTNERPULSE_WAREHOUSE"])) == run["counts_first"]
    with patched_environ(run["env"]), dg.DagsterInstance.get() as instance:
        (latest,) = instance.get_runs(limit=1)
        materialized = instance.get_records_for_run(
            latest.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    assert latest.job_name == "daily_refresh"
    assert latest.tags["dagster/partition"] == "2026-11-01"
    # Recorded as the UI's own runs are: in the code location `make dev` loads, so the UI
    # shows its target and timeline, and re-executes it.
    assert latest.remote_job_origin is not None
    assert latest.remote_job_origin.location_name == LOCATION_NAME
    assert latest.remote_job_origin.repository_origin.repository_name == "__repository__"
    # The digest names exactly the mis-reporting partners of the publication, by name.
    digest = [
        line.split(": ", 1)[1]
        for line in proc.stdout.splitlines()
        if line.startswith(("  over reported: ", "  under reported: "))
    ]
    named = {line.split(")", 1)[0] + ")" for line in digest}
    published = (
        duckdb.connect()
        .sql(
            f"select distinct p.partner_name || ' (' || r.partner_id || ')' from read_parquet("
            f"'{parquet}/current/rpt_partner_reconciliation.parquet') r join read_parquet("
            f"'{parquet}/current/dim_partners.parquet') p using (partner_id) "
            "where r.status in ('over_reported', 'under_reported')"
        )
        .fetchall()
    )
    assert named == {name for (name,) in published} and named
    # One line per step with its time and what it did, then where the time went; the
    # engine's log (Dagster's lines, dbt's) in the run's log file instead.
    lines = proc.stdout.splitlines()
    log_file = Path(run["env"]["PARTNERPULSE_WAREHOUSE"]).parent / "logs"
    log_file = log_file / f"run-{latest.run_id}.log"
    assert lines[0] == f"run {latest.run_id} ({log_file})"
    (crm,) = [line for line in lines if line.startswith("ingest_crm ")]
    assert re.fullmatch(r"ingest_crm +\d+\.\d s  [\d,]+ rows synced", crm), crm
    assert any(re.match(r" +crm/accounts +[\d,]+ rows$", line) for line in lines)
    assert any(line.startswith("partnerpulse_monthly_dbt_models ") for line in lines)
    # dbt's progress inside its steps: each invocation's last quarter, all nodes done.
    done = [re.fullmatch(r"    dbt: (\d+) of (\d+) nodes done", line) for line in lines]
    finished = [m for m in done if m and m[1] == m[2]]
    assert len(finished) == 1, lines  # one invocation for both dbt steps
    assert any(re.match(r"serving__marts +[\d.]+ s  \d+ marts published$", x) for x in lines)
    assert any(
        re.fullmatch(
            r"serving__reports +[\d.]+ s  \d+ partner pages \(\d+ rendered\), "
            r"no PDFs: PDFs not asked for",
            x,
        )
        for x in lines
    )  # PARTNERPULSE_REPORTS_PDF=false
    assert any(re.match(r"[\d.]+ s in all: .*dbt [\d.]+ s", line) for line in lines)
    assert " - dagster - " not in proc.stdout and "OK created sql" not in proc.stdout
    engine_log = log_file.read_text()
    assert " - dagster - INFO - daily_refresh - " in engine_log
    assert "OK created sql" in engine_log  # dbt's own lines
    partitions = {r.event_log_entry.dagster_event.partition for r in materialized}
    assert partitions == {None, "2026-11-01"}  # unpartitioned assets, and that month
    # The month reaches dbt through the environment, not as a var: dbt parses the whole
    # project again whenever its vars change (about 6 s).
    invocations = [log for r in (run["first"].run_id, latest.run_id) for log in _dbt_logs(r)]
    assert len(invocations) == 2  # one for both dbt steps in each run
    dbt_vars = {_dbt_vars(log) for log in invocations}
    assert len(dbt_vars) == 1, dbt_vars
    # Nothing new was landed: the tests that passed in the first run on the raw tables they
    # have now (on the sources, the staging views and what is built from them alone) were
    # left out of the month's unpartitioned build; every other test ran again.
    first_events, month_events = run["first"].all_events, _events(run, latest.run_id)
    first_results, month_results = (
        _unpartitioned_nodes(events, "test.") for events in (first_events, month_events)
    )
    lineage = Lineage(json.loads(Path(dbt_project.manifest_path).read_text()))
    left_out = {
        test
        for test, status in first_results.items()
        if status == "pass" and lineage.raw_tables(test) is not None
    }
    assert any(".source_" in test for test in left_out)
    assert any("_stg_" in test for test in left_out)
    assert month_results.keys() == first_results.keys() - left_out
    # Their checks passed again in the month run, naming the run they passed in; its line
    # says how many.
    with patched_environ(run["env"]), dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(
            latest.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
        ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    carried = {e.metadata["unique_id"].value: e for e in evaluations if PASSED_IN_RUN in e.metadata}
    assert carried.keys() == left_out
    assert {(e.passed, e.metadata[PASSED_IN_RUN].value) for e in carried.values()} == {
        (True, run["first"].run_id)
    }
    # So were the models built in the first run from those raw tables alone (the staging
    # views, the partner reports' tables, ...): left in place, their materializations name
    # the run that built them, and every step after them ran.
    first_models, month_models = (
        _unpartitioned_nodes(events, "model.") for events in (first_events, month_events)
    )
    kept = first_models.keys() - month_models.keys()
    assert {
        "model.partnerpulse.stg_crm__accounts",
        "model.partnerpulse.int_partner_reports_unioned",
    } <= kept
    assert all(lineage.raw_tables(model) is not None for model in kept)
    metadata = [
        r.event_log_entry.dagster_event.event_specific_data.materialization.metadata
        for r in materialized
    ]
    built_in = {m["unique_id"].value: m[BUILT_IN_RUN].value for m in metadata if BUILT_IN_RUN in m}
    assert built_in == dict.fromkeys(kept, run["first"].run_id)
    (dbt_line,) = [line for line in lines if line.startswith("partnerpulse_dbt_models ")]
    assert f"({len(kept)} as built before from the same inputs)" in dbt_line, dbt_line
    assert f"{len(left_out)} passed before on the same inputs" in dbt_line, dbt_line
    assert not any(line.endswith("skipped: a step it depends on built nothing") for line in lines)


def _dbt_vars(log: Path) -> str:
    """The `--vars` of a dbt invocation, from the command its debug log records."""
    command = re.search(r"'invocation_command': '([^']*)'", log.read_text())
    assert command, log
    return command[1].split(" --vars ", 1)[1].split(" --", 1)[0]


def _events(run: dict, run_id: str) -> list[dg.DagsterEvent]:
    """The events of a run made in the instance of DAGSTER_HOME (by the command line)."""
    with patched_environ(run["env"]), dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(run_id, limit=100_000).records
    return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]


def _dbt_nodes(events: list[dg.DagsterEvent], step: str | None = None) -> dict[str, str]:
    """The dbt nodes a run's dbt steps (or `step`) ran, with the status dbt gave each, from
    their materializations and check results (those of the nodes left out have none)."""
    nodes = {}
    for event in events:
        if event.event_type not in (
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        ):
            continue
        data = event.event_specific_data
        metadata = getattr(data, "materialization", data).metadata
        if (step is None or event.step_key == step) and "status" in metadata:
            nodes[metadata["unique_id"].value] = metadata["status"].value
    return nodes


def _unpartitioned_nodes(events: list[dg.DagsterEvent], kind: str) -> dict[str, str]:
    """The dbt nodes of a `kind` (`test.`, `model.`) a run's unpartitioned dbt step ran,
    with their status."""
    nodes = _dbt_nodes(events, "partnerpulse_dbt_models")
    return {node: status for node, status in nodes.items() if node.startswith(kind)}


def test_cli_refuses_a_month_that_is_not_a_partition() -> None:
    from click.testing import CliRunner

    from orchestration.cli import main

    result = CliRunner().invoke(main, ["run", "--month", "1999-01"])
    assert result.exit_code == 2
    assert "'1999-01' is not a partition: the months run from" in result.output

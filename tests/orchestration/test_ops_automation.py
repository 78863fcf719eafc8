"""Schedules, sensors and alerts, ticked in-process against the real pipeline.

The pipeline is built once (tests/orchestration/conftest.py: one run over every month of
a small world). Each test ticks a schedule or sensor with `build_schedule_context` /
`build_sensor_context` on its Dagster instance, asserts the runs it requests, and runs
them; the last one runs a dbt step and asserts which dbt invocation folders it leaves.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.test_utils import freeze_time  # Dagster's own clock for tests

from connectors import pos_files
from orchestration.assets.transform import (
    INVOCATION_FOLDER,
    PARTITIONED_ASSET_KEYS,
    partnerpulse_dbt_models,
)
from orchestration.definitions import defs
from orchestration.partitions import whole_history_tags
from orchestration.project import dbt_target_dir
from orchestration.schedules import daily_refresh_schedule, month_close_schedule
from orchestration.sensors import (
    error_check_alert,
    pos_file_sensor,
    restated_months_sensor,
    run_failure_alert,
    source_freshness_checks,
)
from tests.orchestration.conftest import HOOK_TOKEN, SECRETS, Pipeline

DEADLINE_S = 10

# The pipeline (tests/orchestration/conftest.py) is built once per session, on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ops_pipeline")]


def materialized_months(result: dg.ExecuteInProcessResult) -> dict[str, set[str | None]]:
    """Partitions materialized per month-grained asset in a run."""
    months: dict[str, set[str | None]] = {}
    for event in result.get_asset_materialization_events():
        if event.asset_key in PARTITIONED_ASSET_KEYS:
            months.setdefault(event.asset_key.to_user_string(), set()).add(event.partition)
    return months


def only_partition(result: dg.ExecuteInProcessResult, partition: str) -> None:
    """The run materialized every month-grained asset of its job, for `partition` only."""
    expected = PARTITIONED_ASSET_KEYS & result.job_def.asset_layer.executable_asset_keys
    months = materialized_months(result)
    assert expected and set(months) == {k.to_user_string() for k in expected}
    assert all(parts == {partition} for parts in months.values()), months


def tick(sensor: dg.SensorDefinition, pipeline: Pipeline, cursor: str | None):
    """One evaluation of `sensor`, as the daemon would run it."""
    # A run-status sensor matches runs of its own code location; runs executed in-process
    # have none, and match a sensor evaluated without a repository.
    watches_runs = isinstance(sensor, dg.RunStatusSensorDefinition)
    repository = None if watches_runs else defs.get_repository_def()
    with (
        pipeline.environ(),
        dg.build_sensor_context(
            instance=pipeline.instance, cursor=cursor, repository_def=repository
        ) as ctx,
    ):
        return sensor.evaluate_tick(ctx)


def schedule_tick(schedule: dg.ScheduleDefinition, pipeline: Pipeline, at: dt.datetime):
    """The run requests of one tick of `schedule` at `at` (UTC)."""
    with dg.build_schedule_context(
        instance=pipeline.instance,
        scheduled_execution_time=at.replace(tzinfo=dt.UTC),
        repository_def=defs.get_repository_def(),
    ) as ctx:
        return schedule.evaluate_tick(ctx).run_requests


def test_schedules_request_the_current_and_the_just_closed_month(pipeline: Pipeline) -> None:
    assert daily_refresh_schedule.cron_schedule == "0 5 * * *"
    # The report due day is the 10th (PARTNERPULSE_REPORT_DUE_DAY): the close runs the 11th.
    assert month_close_schedule.cron_schedule == "0 6 11 * *"
    (daily,) = schedule_tick(daily_refresh_schedule, pipeline, dt.datetime(2026, 11, 22, 5))
    assert (daily.partition_key, daily.run_key) == ("2026-11-01", "daily_refresh:2026-11-22")
    assert daily_refresh_schedule.job_name == "daily_refresh"

    (close,) = schedule_tick(month_close_schedule, pipeline, dt.datetime(2026, 11, 11, 6))
    assert (close.partition_key, close.run_key) == ("2026-10-01", "month_close:2026-10-01")

    # The close run syncs every source, rebuilds October alone, validates and publishes.
    result = pipeline.run(month_close_schedule.job_name, close)
    assert result.success
    only_partition(result, "2026-10-01")
    synced = {e.asset_key.path[0] for e in result.get_asset_materialization_events()}
    assert {"crm", "erp", "portal", "serving"} <= synced
    checks = result.get_asset_check_evaluations()
    assert any(c.asset_key.path[0] == "marts" for c in checks)
    assert all(c.passed for c in checks if c.severity == dg.AssetCheckSeverity.ERROR)
    con = duckdb.connect(str(pipeline.warehouse.parent / "serving.duckdb"), read_only=True)
    try:
        assert con.sql("select distinct run_id from _publication").fetchall() == [(result.run_id,)]
    finally:
        con.close()


def _pos_file(pipeline: Pipeline, month: str) -> Path:
    return sorted(pipeline.landing.glob(f"pos_*_{month}.csv"))[0]


def test_pos_sensor_lands_a_new_file_and_rebuilds_its_month(pipeline: Pipeline) -> None:
    baseline = tick(pos_file_sensor, pipeline, None)
    assert baseline.run_requests == []  # files already there are the daily sync's
    original = _pos_file(pipeline, "2026-03")
    restated = original.with_name(original.stem + "_r7.csv")
    lines = original.read_text().splitlines()
    header = lines[0].split(",")
    amount = header.index("amount")
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        row[amount] = f"{float(row[amount]) * 2:.2f}"
    restated.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")

    data = tick(pos_file_sensor, pipeline, baseline.cursor)
    (request,) = data.run_requests
    assert request.partition_key == "2026-03-01"
    assert request.tags["partnerpulse/pos_files"] == restated.name
    assert tick(pos_file_sensor, pipeline, data.cursor).run_requests == []  # seen once

    result = pipeline.run("pos_files", request)
    assert result.success
    only_partition(result, "2026-03-01")
    (pos,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["portal", "pos_reports"]
    ]
    assert pos.materialization.metadata["changed_months"].value == ["2026-03-01"]
    assert pipeline.sql(
        f"select status from raw_portal.pos_files where file_name = '{restated.name}'"
    ) == [("loaded",)]


def test_malformed_pos_file_fails_its_run_clearly_moves_it_and_alerts(
    pipeline: Pipeline, webhook: tuple[str, queue.Queue]
) -> None:
    url, bodies = webhook
    alert_cursor = tick(run_failure_alert, pipeline, None).cursor  # starts watching now
    pos_cursor = tick(pos_file_sensor, pipeline, None).cursor
    original = _pos_file(pipeline, "2026-05")
    bad = original.with_name(original.stem + "_r8.csv")
    lines = original.read_text().splitlines()
    amount = lines[0].split(",").index("amount")
    row = lines[1].split(",")
    row[amount] = "twelve"
    bad.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")

    (request,) = tick(pos_file_sensor, pipeline, pos_cursor).run_requests
    assert request.partition_key == "2026-05-01"
    result = pipeline.run("pos_files", request)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "ingest_pos"
    message = failure.step_failure_data.user_failure_data.description
    moved = pipeline.landing / "rejected" / bad.name
    assert f"POS file {bad.name} was rejected and moved to {moved}" in message
    assert "twelve" in message and "amount" in message
    ((partner_id, name),) = pipeline.sql(
        "select partner_id, partner_name from marts.dim_partners "
        f"where partner_id = '{pos_files.parse_file_name(bad.name).partner_id}'"
    )
    assert f"{name} ({partner_id})" in message  # the partner by name, beside its id
    assert moved.is_file() and not bad.exists()
    assert pipeline.sql(
        f"select status from raw_portal.pos_files where file_name = '{bad.name}'"
    ) == [("rejected",)]

    # The failure sensor's next tick posts the alert.
    with pipeline.environ(PARTNERPULSE_ALERT_WEBHOOK_URL=url):
        tick(run_failure_alert, pipeline, alert_cursor)
    path, body = bodies.get(timeout=DEADLINE_S)
    payload = json.loads(body)
    text = payload["text"]
    assert payload["blocks"][0]["text"]["text"] == text
    assert result.run_id in text and "pos_files" in text and "2026-05-01" in text
    assert "portal/pos_reports" in text and bad.name in text and "twelve" in text
    assert path.endswith(HOOK_TOKEN)
    for secret in [HOOK_TOKEN, *SECRETS.values()]:
        assert secret not in body


def _restate_report(pipeline: Pipeline, period: str) -> str:
    """A new revision of one partner's report for `period`, 1.5 times the amounts, made
    on the portal as the partner would; returns the partner id."""
    sources = pipeline.sources
    ((report_id, partner_id),) = sources.execute(
        f"select id, partner_id from portal.sales_reports where period = '{period}' "
        "and status = 'submitted' order by id limit 1"
    )
    sources.execute(
        "insert into portal.sales_reports select 'SR-RESTATED', partner_id, period, "
        "revision + 1, status, currency, submitted_at, "
        "(select max(updated_at) from portal.sales_reports) + interval 1 minute "
        f"from portal.sales_reports where id = '{report_id}'"
    )
    sources.execute(
        "insert into portal.sales_report_lines select 'SR-RESTATED', line_no, sku, quantity, "
        f"amount * 1.5, end_customer, invoice_ref, sold_on from portal.sales_report_lines "
        f"where report_id = '{report_id}'"
    )
    return partner_id


def test_restated_report_for_a_past_month_rebuilds_that_month_alone(pipeline: Pipeline) -> None:
    # Whatever earlier runs left to rebuild is not this test's: start from now.
    cursor = tick(restated_months_sensor, pipeline, None).cursor
    partner_id = _restate_report(pipeline, "2026-02")
    reported = (
        "select reported_sales_usd from marts.fct_partner_months "
        f"where partner_id = '{partner_id}' and month_start = date '2026-02-01'"
    )
    ((before,),) = pipeline.sql(reported)

    # A sync (here: of the sales reports alone) lands the restatement.
    sync = pipeline.run("__ASSET_JOB", asset_selection=[dg.AssetKey(["portal", "sales_reports"])])
    assert sync.success
    (landed,) = sync.get_asset_materialization_events()
    assert landed.materialization.metadata["changed_months"].value == ["2026-02-01"]

    data = tick(restated_months_sensor, pipeline, cursor)
    (request,) = data.run_requests
    assert request.partition_key == "2026-02-01"
    assert restated_months_sensor.job_name == "month_rebuild"
    assert tick(restated_months_sensor, pipeline, data.cursor).run_requests == []

    rebuild = pipeline.run("month_rebuild", request)
    assert rebuild.success
    only_partition(rebuild, "2026-02-01")
    ((after,),) = pipeline.sql(reported)
    assert after == pytest.approx(before * 1.5, rel=1e-9)


def test_freshness_checks_flag_a_stale_source_and_the_error_check_alert_posts(
    pipeline: Pipeline, webhook: tuple[str, queue.Queue]
) -> None:
    url, bodies = webhook
    keys = {key for checks in source_freshness_checks for key in checks.check_keys}
    checks_job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection=keys
    )
    fresh = checks_job.execute_in_process(instance=pipeline.instance)
    assert {e.passed for e in fresh.get_asset_check_evaluations()} == {True}

    alert_cursor = tick(error_check_alert, pipeline, None).cursor
    # A day and a half without a sync: every source is overdue.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=36)
    with freeze_time(later):
        stale = checks_job.execute_in_process(instance=pipeline.instance)
    evaluations = stale.get_asset_check_evaluations()
    assert stale.success and len(evaluations) == len(keys)
    assert all(not e.passed and e.severity == dg.AssetCheckSeverity.ERROR for e in evaluations)

    with pipeline.environ(PARTNERPULSE_ALERT_WEBHOOK_URL=url):
        tick(error_check_alert, pipeline, alert_cursor)
    _, body = bodies.get(timeout=DEADLINE_S)
    text = json.loads(body)["text"]
    assert "ERROR check failed" in text and stale.run_id in text
    assert "crm/accounts:freshness_check" in text and "erp/transaction_lines" in text
    assert HOOK_TOKEN not in body


def test_a_transient_source_failure_retries_the_step_and_duplicates_nothing(
    pipeline: Pipeline,
) -> None:
    counts = """
        select (select count(*) from raw_erp.transaction),
               (select count(distinct id) from raw_erp.transaction),
               (select count(*) from raw_erp.transactionline),
               (select count(distinct (transaction, id)) from raw_erp.transactionline)
    """
    (before,) = pipeline.sql(counts)
    assert before[0] == before[1] and before[2] == before[3]
    erp_keys = [k for k in defs.resolve_all_asset_keys() if k.path[0] == "erp"]
    # Each request gets two attempts (PARTNERPULSE_HTTP_MAX_RETRIES=1): the first request
    # of the step fails both, so its sync fails as a transient 503 and the step retries.
    pipeline.sources.set_faults("erp", fail_next=2, fail_status=503)
    try:
        with pipeline.environ(
            PARTNERPULSE_SOURCE_STEP_RETRIES="1", PARTNERPULSE_SOURCE_RETRY_WAIT_S="0"
        ):
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=pipeline.instance,
                asset_selection=erp_keys,
                tags=whole_history_tags(),
                raise_on_error=False,
            )
    finally:
        pipeline.sources.set_faults("erp")
    assert result.success
    retried = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert [e.step_key for e in retried] == ["ingest_erp"]
    assert "503" in retried[0].event_specific_data.error.to_string()
    assert {e.asset_key for e in result.get_asset_materialization_events()} == set(erp_keys)
    (after,) = pipeline.sql(counts)
    assert after == before


def test_a_spent_api_share_stops_the_crm_step_without_retries_and_the_next_run_resumes(
    pipeline: Pipeline,
) -> None:
    counts = """
        select (select count(*) from raw_crm.opportunity),
               (select count(distinct id) from raw_crm.opportunity),
               (select count(*) from raw_crm.account),
               (select count(distinct id) from raw_crm.account)
    """
    (before,) = pipeline.sql(counts)
    crm_keys = [k for k in defs.resolve_all_asset_keys() if k.path[0] == "crm"]
    # 20 % of 5 calls is kept for others: /limits and three more calls are the pipeline's,
    # fewer than one page of each of the five CRM objects needs.
    pipeline.sources.set_faults("crm", daily_limit=5)
    try:
        with pipeline.environ(
            PARTNERPULSE_SOURCE_STEP_RETRIES="1", PARTNERPULSE_SOURCE_RETRY_WAIT_S="0"
        ):
            stopped = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=pipeline.instance,
                asset_selection=crm_keys,
                tags=whole_history_tags(),
                raise_on_error=False,
            )
        used = pipeline.sources.states["crm"].api_usage
    finally:
        pipeline.sources.set_faults("crm")
    assert not stopped.success
    events = stopped.all_events
    assert not [e for e in events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    (failure,) = [e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    text = failure.event_specific_data.error.to_string()
    assert "stopped before spending API calls kept for other integrations" in text
    assert "the next run resumes it from the same watermark" in text
    # Objects sync three at a time, each checking before its own requests.
    assert used <= 4 + 2
    assert not any(secret in text for secret in SECRETS.values())
    resumed = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=pipeline.instance, asset_selection=crm_keys, tags=whole_history_tags()
    )
    assert resumed.success
    (after,) = pipeline.sql(counts)
    assert after == before


def test_one_dbt_invocation_builds_both_dbt_steps_and_a_failed_monthly_model_fails_its_own_step(
    pipeline: Pipeline,
) -> None:
    """dbt starts once a run; a monthly model that errors in that invocation fails the
    monthly step, with dbt's error, and not the unpartitioned step that ran dbt."""
    table = "marts.rpt_partner_invoice_reconciliation"
    con = duckdb.connect(str(pipeline.warehouse))
    try:
        # The same table, but refusing rows of the last month it has: the month the run
        # replaces.
        con.execute(f"create table marts.invoices_kept as select * from {table}")
        ((month,),) = con.sql("select max(month_start) from marts.invoices_kept").fetchall()
        columns = ", ".join(
            f'"{name}" {kind}' for name, kind, *_ in con.sql(f"describe {table}").fetchall()
        )
        con.execute(f"drop table {table}")
        before = f"month_start < date '{month}'"
        con.execute(f"create table {table} ({columns}, check ({before}))")
        con.execute(f"insert into {table} select * from marts.invoices_kept where {before}")
    finally:
        con.close()
    try:
        result = pipeline.run("daily_refresh", dg.RunRequest(partition_key=f"{month:%Y-%m-%d}"))
    finally:
        con = duckdb.connect(str(pipeline.warehouse))
        try:
            con.execute(f"create or replace table {table} as select * from marts.invoices_kept")
            con.execute("drop table marts.invoices_kept")
        finally:
            con.close()

    assert not result.success
    (invocation,) = dbt_target_dir().glob(f"*-{result.run_id[:7]}-*/dbt.log")
    assert invocation.parent.name.startswith("partnerpulse_dbt_models-")
    failed = {e.step_key for e in result.all_events if e.is_step_failure}
    assert failed == {"partnerpulse_monthly_dbt_models"}
    assert "partnerpulse_dbt_models" in {e.step_key for e in result.all_events if e.is_step_success}
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data.user_failure_data
    assert "model.partnerpulse.rpt_partner_invoice_reconciliation" in data.description
    assert "CHECK constraint failed" in data.description  # dbt's own error
    assert Path(data.metadata["dbt debug log"].value) == invocation
    # What dbt built of the step before and beside the failure is materialized by the step.
    monthly = {
        e.asset_key.path[-1]
        for e in result.get_asset_materialization_events()
        if e.step_key == "partnerpulse_monthly_dbt_models"
    }
    assert "fct_partner_months" in monthly and "rpt_partner_invoice_reconciliation" not in monthly


def test_a_dbt_step_keeps_the_newest_invocation_folders_and_removes_the_older_ones(
    pipeline: Pipeline,
) -> None:
    # dagster-dbt leaves each invocation's folder (about 8 MB) in the dbt target folder: two
    # a run grew it by gigabytes a year.
    target = dbt_target_dir()
    hour_ago = time.time() - 3600
    old = [
        target / "partnerpulse_dbt_models-0a1b2c3-4d5e6f7",
        target / "partnerpulse_monthly_dbt_models-0a1b2c3-7f6e5d4",
    ]
    others = [target / "partnerpulse_dbt_models-by-hand", target / "notes"]
    recent = target / "partnerpulse_dbt_models-1a2b3c4-5d6e7f8"  # besides the pipeline's run
    for folder in [*old, *others, recent]:
        folder.mkdir()
        (folder / "dbt.log").write_text("kept or not")
        os.utime(folder, (hour_ago, hour_ago) if folder != recent else None)
    newer = sorted(
        (f for f in target.iterdir() if INVOCATION_FOLDER.fullmatch(f.name) and f not in old),
        key=lambda f: f.stat().st_mtime,
    )
    assert len(newer) >= 2

    # One view of the step's selection: a dbt invocation like any other, in seconds.
    currencies = dg.AssetKey(["staging", "stg_erp__currencies"])
    assert currencies in partnerpulse_dbt_models.keys
    with pipeline.environ(PARTNERPULSE_DBT_KEEP_INVOCATIONS="3"):
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=pipeline.instance, asset_selection=[currencies], raise_on_error=False
        )
    assert result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [currencies]
    kept = {f for f in target.iterdir() if INVOCATION_FOLDER.fullmatch(f.name)}
    (own,) = [f for f in kept if f"-{result.run_id[:7]}-" in f.name]
    assert (own / "dbt.log").exists()
    assert kept == {own, *newer[-2:]}  # the run's own and the two newest before it
    assert all(folder.exists() for folder in others)  # not dagster-dbt's: left alone
    assert (target / "manifest.json").exists()
    # The parse state the next invocation starts from is the step's own (a full parse else).
    state = "partial_parse.msgpack"
    assert (target / state).read_bytes() == (own / state).read_bytes()

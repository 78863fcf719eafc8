"""`dagster dev` (webserver and daemon) on the built pipeline, driven through GraphQL as the
UI drives it: the asset graph, its checks, the schedules and sensors, and a backfill of two
chosen months that rebuilds those months and nothing else.

The server (tests/orchestration/conftest.py) runs on an ephemeral port under a temporary
DAGSTER_HOME with the repository's dagster.yaml; readiness is polled with a deadline; it is
stopped with SIGTERM at the end of the session and must exit by itself.
"""

from __future__ import annotations

import time

import dagster as dg
import duckdb
import pytest

from orchestration.assets.transform import MONTHLY_ASSET_KEYS
from tests.orchestration.conftest import POLL_INTERVAL_S, DagsterDev, Pipeline

BACKFILL_DEADLINE_S = 420
MONTHS = ("2026-03-01", "2026-04-01")  # backfilled
UNTOUCHED = "2026-06-01"  # changed in the ERP too, but not backfilled

# On the worker that builds the pipeline, after test_ops_automation.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ops_pipeline")]


@pytest.fixture(scope="module")
def webserver(pipeline: Pipeline) -> DagsterDev:
    """`dagster dev` on the built pipeline, once its code location has loaded."""
    assert pipeline.dagster_dev is not None
    pipeline.dagster_dev.wait_until_loaded()
    return pipeline.dagster_dev


ASSET_NODES = """
{ assetNodes {
    assetKey { path } groupName description isPartitioned
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    partitionDefinition { type description }
    dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
} }
"""

REPOSITORY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    jobs { name }
    schedules { name cronSchedule executionTimezone scheduleState { status } }
    sensors { name sensorState { status } }
} } } }
"""


def _key(node: dict) -> str:
    return "/".join(node["assetKey"]["path"])


def test_asset_graph_is_grouped_described_owned_and_partitioned(webserver: DagsterDev) -> None:
    nodes = {_key(n): n for n in webserver.query(ASSET_NODES)["assetNodes"]}
    for key, node in nodes.items():
        assert node["description"], f"{key} has no description"
        assert node["owners"], f"{key} has no owner"
    # Raw assets grouped by source, dbt models by layer, the published marts last.
    assert {n["groupName"] for k, n in nodes.items() if k.startswith("erp/")} == {"erp"}
    assert nodes["crm/accounts"]["groupName"] == "crm"
    assert nodes["portal/pos_reports"]["groupName"] == "portal"
    assert nodes["staging/stg_erp__transaction_lines"]["dependencyKeys"] == [
        {"path": ["erp", "transaction_lines"]}
    ]
    serving = nodes["serving/marts"]
    assert {"/".join(d["path"]) for d in serving["dependencyKeys"]} == {
        k for k in nodes if k.startswith("marts/")
    }
    monthly = {k.to_user_string() for k in MONTHLY_ASSET_KEYS}
    assert {"marts/fct_partner_months", "marts/rpt_partner_reconciliation"} <= monthly
    for key, node in nodes.items():
        assert node["isPartitioned"] == (key in monthly), key
        if key in monthly:
            assert node["partitionDefinition"]["description"].startswith("Monthly")
    # Checks: Great Expectations (blocking) on the reconciliation, freshness on every
    # source object, POS file acceptance, dbt tests.
    checks = {
        key: {c["name"]: c["blocking"] for c in n["assetChecksOrError"].get("checks", [])}
        for key, n in nodes.items()
    }
    assert checks["marts/rpt_partner_reconciliation"]["partner_reconciliation_structure"] is True
    assert all("freshness_check" in checks[k] for k in nodes if k.split("/")[0] in ("crm", "erp"))
    assert "pos_files_accepted" in checks["portal/pos_reports"]
    assert any(name.startswith("unique") for name in checks["marts/fct_partner_months"])


def _sales_by_month(pipeline: Pipeline) -> dict[str, float]:
    rows = pipeline.sql(
        "select strftime(month_start, '%Y-%m-%d'), round(sum(sales_volume_usd), 2) "
        "from marts.fct_partner_months group by 1"
    )
    return dict(rows)


def test_backfill_of_two_months_rebuilds_those_months_only(
    webserver: DagsterDev, pipeline: Pipeline
) -> None:
    # The ERP restates three months (straight in the raw layer, so no sync notices):
    # the backfill of two of them must pick up theirs and leave the third as it was.
    before = _sales_by_month(pipeline)
    con = duckdb.connect(str(pipeline.warehouse))
    try:
        con.execute(
            "update raw_erp.transactionline set netamount = netamount * 10 where transaction in "
            "(select id from raw_erp.transaction where date_trunc('month', trandate) "
            f"in ('{MONTHS[0]}', '{MONTHS[1]}', '{UNTOUCHED}'))"
        )
    finally:
        con.close()

    launched = webserver.query(
        """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
        } }""",
        {
            "p": {
                "partitionNames": list(MONTHS),
                "assetSelection": [{"path": list(k.path)} for k in MONTHLY_ASSET_KEYS],
                "title": "ERP restatement",
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    deadline = time.monotonic() + BACKFILL_DEADLINE_S
    while True:
        status = webserver.query(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                ... on PartitionBackfill { status } } }""",
            {"id": backfill_id},
        )["partitionBackfillOrError"]["status"]
        if status not in ("REQUESTED",):
            break
        assert time.monotonic() < deadline, f"backfill not done in {BACKFILL_DEADLINE_S}s"
        time.sleep(POLL_INTERVAL_S)
    assert status == "COMPLETED_SUCCESS"

    runs = webserver.query(
        """query($id: String!) {
            runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
                ... on Runs { results { status tags { key value } } } } }""",
        {"id": backfill_id},
    )["runsOrError"]["results"]
    # Adjacent months: one run over the range (single-run backfill policy).
    (run,) = runs
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/asset_partition_range_start"] == MONTHS[0]
    assert tags["dagster/asset_partition_range_end"] == MONTHS[1]
    assert run["status"] == "SUCCESS"
    with dg.DagsterInstance.from_config(str(webserver.home)) as instance:
        for key in MONTHLY_ASSET_KEYS:
            assert instance.get_materialized_partitions(key) == set(MONTHS), key

    after = _sales_by_month(pipeline)
    changed = {m for m in before if after.get(m) != before[m]}
    assert changed == set(MONTHS)
    for month in MONTHS:
        assert after[month] == pytest.approx(before[month] * 10, rel=1e-6)
    assert after[UNTOUCHED] == before[UNTOUCHED]


def test_every_schedule_and_sensor_is_listed_and_can_be_switched_on(webserver: DagsterDev) -> None:
    (repo,) = webserver.query(REPOSITORY)["repositoriesOrError"]["nodes"]
    assert {j["name"] for j in repo["jobs"]} >= {"daily_refresh", "month_rebuild", "pos_files"}
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert schedules["daily_refresh_schedule"]["cronSchedule"] == "0 5 * * *"
    assert schedules["month_close_schedule"]["cronSchedule"] == "0 6 11 * *"
    assert {s["executionTimezone"] for s in schedules.values()} == {"UTC"}
    assert {s["scheduleState"]["status"] for s in schedules.values()} == {"STOPPED"}
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    assert sensors == {
        "pos_file_sensor": "STOPPED",
        "restated_months_sensor": "STOPPED",
        "source_freshness_sensor": "STOPPED",
        "run_failure_alert": "RUNNING",
        "error_check_alert": "RUNNING",
        "run_summary": "RUNNING",
    }
    # Switch each one that is off on, then off again, as the UI's toggle does.
    selector = {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}
    for name in schedules:
        state = webserver.query(
            """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
                ... on ScheduleStateResult { scheduleState { id status } } } }""",
            {"s": {**selector, "scheduleName": name}},
        )["startSchedule"]["scheduleState"]
        assert state["status"] == "RUNNING", name
        stopped = webserver.query(
            """mutation($id: String!) { stopRunningSchedule(id: $id) {
                ... on ScheduleStateResult { scheduleState { status } } } }""",
            {"id": state["id"]},
        )["stopRunningSchedule"]["scheduleState"]
        assert stopped["status"] == "STOPPED", name
    for name, status in sensors.items():
        if status == "RUNNING":
            continue
        state = webserver.query(
            """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
                ... on Sensor { sensorState { id status } } } }""",
            {"s": {**selector, "sensorName": name}},
        )["startSensor"]["sensorState"]
        assert state["status"] == "RUNNING", name
        stopped = webserver.query(
            """mutation($id: String!) { stopSensor(id: $id) {
                ... on StopSensorMutationResult { instigationState { status } } } }""",
            {"id": state["id"]},
        )["stopSensor"]["instigationState"]
        assert stopped["status"] == "STOPPED", name

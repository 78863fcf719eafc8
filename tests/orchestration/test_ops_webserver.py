"""`dagster dev` (webserver and daemon) on the built pipeline, driven through GraphQL as the
UI drives it: the asset graph, its checks, the schedules and sensors, and a backfill of two
chosen months that rebuilds those months and nothing else.

The server (tests/orchestration/conftest.py) runs on an ephemeral port under a temporary
DAGSTER_HOME with the repository's dagster.yaml; readiness is polled with a deadline; it is
stopped with SIGTERM at the end of the session and must exit by itself.
"""

from __future__ import annotations

import json
import time

import dagster as dg
import duckdb
import pytest

from orchestration.alerts import failed_checks
from orchestration.assets.transform import MONTH_GRAINED_ASSET_KEYS, PARTITIONED_ASSET_KEYS
from orchestration.checks.findings import FINDINGS
from orchestration.digest import WARNING_NAMES_TAG, WARNINGS_TAG
from orchestration.partitions import monthly_partitions
from reports.formatting import usd
from tests.orchestration.conftest import POLL_INTERVAL_S, DagsterDev, Pipeline

# Guards against a hang, not speed goals, under the suite's 900 s per test. The backfill
# (two runs through the daemon) takes 210-240 s beside the suite's two other workers, and
# once passed 420 s on CI's host (BENCHMARKS.md, "The test suite").
BACKFILL_DEADLINE_S = 840
RUN_DEADLINE_S = 540  # one run launched through the UI
SUMMARY_DEADLINE_S = 180  # the run_summary sensor ticks every 30 s
MONTHS = ("2026-03-01", "2026-04-01", "2026-05-01")  # backfilled
RESTATED = ("2026-03-01", "2026-04-01")  # restated in the ERP and backfilled
UNTOUCHED = "2026-06-01"  # restated in the ERP too, but not backfilled
MIS_REPORTS = ("over_reported", "under_reported", "no_erp_sales")
UNMAPPED_CHECK = "findings_erp_partner_unmapped"
# The reconciliation's checks sit on its validation frame (a dbt view, month-partitioned).
RECONCILIATION_FRAME = dg.AssetKey(["validation", "val_partner_reconciliation"])

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
    # Publication waits for every mart and every validation frame (their blocking checks).
    serving = nodes["serving/marts"]
    assert {"/".join(d["path"]) for d in serving["dependencyKeys"]} == {
        k for k in nodes if k.startswith(("marts/", "validation/"))
    }
    monthly = {k.to_user_string() for k in PARTITIONED_ASSET_KEYS}
    # The partner-month marts are partitioned; the models they are built from are not.
    assert {
        "marts/fct_partner_months",
        "marts/rpt_partner_reconciliation",
        "validation/val_partner_reconciliation",
    } <= monthly
    assert "intermediate/int_erp_sales_aggregated_to_erp_partner_item_months" not in monthly
    for key, node in nodes.items():
        assert node["isPartitioned"] == (key in monthly), key
        if key in monthly:
            assert node["partitionDefinition"]["description"].startswith("Monthly")
    # Checks: Great Expectations on the frames they validate (blocking: the structure
    # checks), freshness on every source object, POS file acceptance, dbt tests.
    checks = {
        key: {c["name"]: c["blocking"] for c in n["assetChecksOrError"].get("checks", [])}
        for key, n in nodes.items()
    }
    frame = checks["validation/val_partner_reconciliation"]
    assert frame["partner_reconciliation_structure"] is True
    assert frame["partner_reconciliation_partner_behaviour"] is False
    assert checks["validation/val_sales_reports"]["sales_reports_structure"] is True
    assert {"sales_reports_line_matching", "pos_reports_line_matching"} <= set(
        checks["validation/val_report_line_matching"]
    )
    assert nodes["validation/val_sales_reports"]["groupName"] == "validation"
    assert all("freshness_check" in checks[k] for k in nodes if k.split("/")[0] in ("crm", "erp"))
    assert "pos_files_accepted" in checks["portal/pos_reports"]
    assert any(name.startswith("unique") for name in checks["marts/fct_partner_months"])


def _sales_by_month(pipeline: Pipeline) -> dict[str, float]:
    rows = pipeline.sql(
        "select strftime(month_start, '%Y-%m-%d'), round(sum(sales_volume_usd), 2) "
        "from marts.fct_partner_months group by 1"
    )
    return dict(rows)


def _backfill_runs(webserver: DagsterDev, backfill_id: str) -> list[dict]:
    return webserver.query(
        """query($id: String!) {
            runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
                ... on Runs { results { status tags { key value } } } } }""",
        {"id": backfill_id},
    )["runsOrError"]["results"]


def _cancel_backfill(webserver: DagsterDev, backfill_id: str) -> None:
    webserver.query(
        """mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) { __typename } }""",
        {"id": backfill_id},
    )


def test_backfill_of_two_months_rebuilds_those_months_only(
    webserver: DagsterDev, pipeline: Pipeline
) -> None:
    # The ERP restates three months (straight in the raw layer, so no sync notices): the
    # backfill of two of them (and of an unrestated month) must pick up theirs and leave
    # the third as it was.
    before = _sales_by_month(pipeline)
    con = duckdb.connect(str(pipeline.warehouse))
    try:
        con.execute(
            "update raw_erp.transactionline set netamount = netamount * 10 where transaction in "
            "(select id from raw_erp.transaction where date_trunc('month', trandate) "
            f"in ('{RESTATED[0]}', '{RESTATED[1]}', '{UNTOUCHED}'))"
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
                "assetSelection": [{"path": list(k.path)} for k in MONTH_GRAINED_ASSET_KEYS],
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
        if time.monotonic() > deadline:
            # Its runs would otherwise go on writing the warehouse the next tests read.
            _cancel_backfill(webserver, backfill_id)
            pytest.fail(
                f"backfill not done in {BACKFILL_DEADLINE_S}s; its runs: "
                f"{_backfill_runs(webserver, backfill_id)}"
            )
        time.sleep(POLL_INTERVAL_S)
    assert status == "COMPLETED_SUCCESS"

    runs = _backfill_runs(webserver, backfill_id)
    # The unpartitioned month-grained models (the ERP sales fact) in a run of their own,
    # which rebuilds the backfill's months; then the adjacent months of the partitioned
    # marts in one run over the range (single-run backfill policy).
    assert [r["status"] for r in runs] == ["SUCCESS", "SUCCESS"]
    ranges = {
        (
            tags.get("dagster/asset_partition_range_start"),
            tags.get("dagster/asset_partition_range_end"),
        )
        for tags in ({t["key"]: t["value"] for t in r["tags"]} for r in runs)
    }
    assert ranges == {(None, None), (MONTHS[0], MONTHS[-1])}
    with dg.DagsterInstance.from_config(str(webserver.home)) as instance:
        for key in PARTITIONED_ASSET_KEYS:
            assert instance.get_materialized_partitions(key) == set(MONTHS), key

    after = _sales_by_month(pipeline)
    changed = {m for m in before if after.get(m) != before[m]}
    assert changed == set(RESTATED)
    for month in RESTATED:
        assert after[month] == pytest.approx(before[month] * 10, rel=1e-6)
    assert after[UNTOUCHED] == before[UNTOUCHED]


CHECKS_OF = """
query($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) { assetChecksOrError {
    ... on AssetChecks { checks {
        name
        partitionStatuses { __typename
            ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } }
        executionForLatestMaterialization { runId status evaluation {
            severity description
            metadataEntries { label ... on FloatMetadataEntry { floatValue } }
        } }
    } }
} } }
"""


def _checks_of(webserver: DagsterDev, key: dg.AssetKey) -> dict[str, dict]:
    (node,) = webserver.query(CHECKS_OF, {"path": list(key.path)})["assetNodes"]
    return {c["name"]: c for c in node["assetChecksOrError"]["checks"]}


def test_the_reconciliation_check_shows_per_month_which_months_hold_mis_reports(
    webserver: DagsterDev, pipeline: Pipeline
) -> None:
    """After the backfill above: the by-month check's partitions are failed exactly for the
    backfilled months whose reconciliation holds a mis-report, passed for the others, and
    not evaluated elsewhere (no run of this instance covered them)."""
    checks = _checks_of(webserver, RECONCILIATION_FRAME)
    statuses = checks["partner_reconciliation_by_month"]["partitionStatuses"]
    assert statuses["__typename"] == "AssetCheckTimePartitionStatuses"
    shown: dict[str, str] = {}
    keys = monthly_partitions.get_partition_keys()
    for r in statuses["ranges"]:
        for key in keys:
            if r["startKey"] <= key <= r["endKey"]:
                shown[key] = r["status"]
    rows = pipeline.sql(
        "select distinct strftime(month_start, '%Y-%m-%d') from marts.rpt_partner_reconciliation "
        f"where status in {MIS_REPORTS}"
    )
    mis_reported = {month for (month,) in rows}
    expected = {m: "FAILED" if m in mis_reported else "SUCCEEDED" for m in MONTHS}
    assert shown == expected
    assert set(RESTATED) <= mis_reported  # ten times the ERP sales: under-reported
    assert "SUCCEEDED" in shown.values()  # the unrestated month: the oracle can tell


def _launch(webserver: DagsterDev, keys: list[dg.AssetKey], partition: str) -> str:
    (repo,) = webserver.query(REPOSITORY)["repositoriesOrError"]["nodes"]
    launched = webserver.query(
        """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
        } }""",
        {
            "p": {
                "selector": {
                    "repositoryLocationName": repo["location"]["name"],
                    "repositoryName": repo["name"],
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [{"path": list(k.path)} for k in keys],
                },
                "mode": "default",
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _run_tags_once(webserver: DagsterDev, run_id: str, tag: str, deadline_s: float) -> dict:
    """The run's status and tags, polled until it is finished and carries `tag`."""
    deadline = time.monotonic() + deadline_s
    while True:
        run = webserver.query(
            """query($id: ID!) { runOrError(runId: $id) { ... on Run {
                status tags { key value } } } }""",
            {"id": run_id},
        )["runOrError"]
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if run["status"] in ("FAILURE", "CANCELED") or tag in tags:
            return {"status": run["status"], **tags}
        assert time.monotonic() < deadline, f"run {run_id} has no {tag} in {deadline_s}s"
        time.sleep(POLL_INTERVAL_S)


def _step_failures(webserver: DagsterDev, run_id: str) -> list[str]:
    """`step: error` of each failed step of the run (an assertion's explanation)."""
    events = webserver.query(
        """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
            ... on ExecutionStepFailureEvent { stepKey error { message } } } } } }""",
        {"id": run_id},
    )["logsForRun"]["events"]
    return [f"{e['stepKey']}: {e['error']['message']}" for e in events if e.get("stepKey")]


def test_a_run_says_how_many_warning_checks_failed_and_the_unmapped_erp_check_its_cost(
    webserver: DagsterDev, pipeline: Pipeline
) -> None:
    run_id = _launch(webserver, [FINDINGS], MONTHS[0])  # a month-grained mart
    tags = _run_tags_once(webserver, run_id, WARNINGS_TAG, RUN_DEADLINE_S + SUMMARY_DEADLINE_S)
    assert tags["status"] == "SUCCESS", _step_failures(webserver, run_id)
    # The run_summary sensor (the daemon's) tagged it with the warning checks that failed.
    with dg.DagsterInstance.from_config(str(webserver.home)) as instance:
        failed = failed_checks(instance, run_id, dg.AssetCheckSeverity.WARN)
    assert int(tags[WARNINGS_TAG]) == len(failed) > 0
    assert json.loads(tags[WARNING_NAMES_TAG]) == failed
    assert f"{FINDINGS.to_user_string()}:{UNMAPPED_CHECK}" in failed

    unmapped = _checks_of(webserver, FINDINGS)[UNMAPPED_CHECK]
    execution = unmapped["executionForLatestMaterialization"]
    assert execution["runId"] == run_id and execution["status"] == "FAILED"
    evaluation = execution["evaluation"]
    assert evaluation["severity"] == "WARN"
    ((amount,),) = pipeline.sql(
        "select sum(amount_usd) from marts.rpt_data_quality_findings "
        "where finding_type = 'erp_partner_unmapped'"
    )
    assert amount > 0  # the world plants ERP partners that map to no CRM partner
    assert usd(amount) in evaluation["description"]
    values = {e["label"]: e.get("floatValue") for e in evaluation["metadataEntries"]}
    assert values["amount_usd"] == pytest.approx(amount, abs=0.01)


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

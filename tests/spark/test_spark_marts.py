"""The dbt project on a local Spark session gives the marts DuckDB gives, after a first sync
and after a second one with changes (docs/scaling.md).

One small world goes through the pipeline on DuckDB; its raw tables are exported as Parquet
(connectors.spark_raw) and the same dbt project builds on Spark from them. Then the world
changes (a restated report, a late credit memo at the exact high-water mark, a
soft-deleted opportunity), the pipeline syncs again, and Spark builds again on top of what
it built: the ERP fact rebuilds its changed months, the tier snapshot rewrites its history.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from connectors import spark
from connectors.config import Settings
from connectors.spark_raw import export_raw_tables
from orchestration.project import DBT_PROJECT_DIR
from orchestration.resources import PipelineSettings, patched_environ
from tests.e2e.harness import pipeline_env, run_in_process
from tests.spark.compare import differences, duckdb_marts, spark_marts

# The shared fixture builds on Spark more than once (each dbt command starts a JVM): longer
# than the suite's 900 s per test when CI's other workers load the machine.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("spark_world"),
    pytest.mark.timeout(2700),
]


def _build_on_spark(env: dict[str, str], settings: Settings, target: Path) -> None:
    raw = export_raw_tables(settings.warehouse, settings.spark_path / "raw")
    with patched_environ(env):
        dbt_vars = PipelineSettings().dbt_vars_json()
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "build",
            "--exclude-resource-type",
            "unit_test",
            "--vars",
            dbt_vars,
            "--target-path",
            str(target),
            "--log-path",
            str(target),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **env, **spark.environment(settings, raw)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-5000:]


def _change_the_world(world: Path) -> dict[str, object]:
    """A restated report, a late credit memo stamped at the ERP's high-water mark and a
    soft-deleted won opportunity, each as the sources would show them."""
    con = duckdb.connect(str(world))
    try:
        report = con.execute(
            "select id from portal.sales_reports where status = 'submitted' order by id limit 1"
        ).fetchone()[0]
        con.execute(
            "insert into portal.sales_reports select * replace (id || '-R9' as id, "
            "revision + 1 as revision, (select max(updated_at) from portal.sales_reports) "
            "+ interval 1 minute as updated_at) from portal.sales_reports where id = ?",
            [report],
        )
        con.execute(
            "insert into portal.sales_report_lines select * replace (report_id || '-R9' as "
            "report_id, amount * 1.25 as amount) from portal.sales_report_lines "
            "where report_id = ?",
            [report],
        )
        # Stamped at the marks the first sync stored: only a `>=` read finds it.
        memo = con.execute(
            "select id from erp.transaction where type = 'CustCred' order by id limit 1"
        ).fetchone()[0]
        con.execute(
            "insert into erp.transaction select * replace ((select max(id) + 1 from "
            "erp.transaction) as id, 'CM-LATE' as tranid, (select max(lastmodifieddate) from "
            "erp.transaction) as lastmodifieddate) from erp.transaction where id = ?",
            [memo],
        )
        con.execute(
            "insert into erp.transactionline select * replace ((select max(id) from "
            "erp.transaction) as transaction, netamount * 3 as netamount, (select "
            "max(lastmodifieddate) from erp.transactionline) as lastmodifieddate) "
            "from erp.transactionline where transaction = ?",
            [memo],
        )
        opportunity = con.execute(
            "select Id from crm.opportunity where IsWon and not IsDeleted "
            "and PartnerAccountId is not null order by Id limit 1"
        ).fetchone()[0]
        con.execute(
            "update crm.opportunity set IsDeleted = true, SystemModstamp = "
            "(select max(SystemModstamp) from crm.opportunity) + interval 1 minute "
            "where Id = ?",
            [opportunity],
        )
        return {"report": report, "opportunity": opportunity}
    finally:
        con.close()


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    tmp = tmp_path_factory.mktemp("spark")
    env = pipeline_env(tmp)
    settings = Settings.from_env(env).replace(engine="spark")
    found = {}
    assert run_in_process(env).success
    _build_on_spark(env, settings, tmp / "dbt-first")
    first = duckdb_marts(settings.warehouse)
    found["first"] = differences(first, spark_marts(settings.spark_path / "warehouse"))
    (world,) = (tmp / "worlds").glob("*/world.duckdb")
    changed = _change_the_world(world)
    assert run_in_process(env).success
    _build_on_spark(env, settings, tmp / "dbt-second")
    second = duckdb_marts(settings.warehouse)
    found["second"] = differences(second, spark_marts(settings.spark_path / "warehouse"))
    found["changed"] = sorted({line.split(".")[0] for line in differences(first, second)})
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        found["landed"] = [
            con.execute(
                "select count(*) from raw_portal.sales_reports where id = ?",
                [f"{changed['report']}-R9"],
            ).fetchone()[0],
            con.execute(
                "select count(*) from raw_erp.transaction where tranid = 'CM-LATE'"
            ).fetchone()[0],
            con.execute(
                "select isdeleted from raw_crm.opportunity where id = ?",
                [changed["opportunity"]],
            ).fetchone()[0],
        ]
    finally:
        con.close()
    return found


def test_the_first_build_on_spark_gives_duckdbs_marts(builds: dict) -> None:
    assert builds["first"] == []


def test_after_a_second_sync_with_changes_spark_still_gives_duckdbs_marts(builds: dict) -> None:
    assert builds["landed"] == [1, 1, True]  # the second sync landed every change
    # ... and they changed the marts: reported sales, ERP sales, sourced revenue.
    assert {"fct_partner_months", "rpt_partner_reconciliation"} <= set(builds["changed"])
    assert builds["second"] == []

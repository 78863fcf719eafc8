"""The whole pipeline on a local Spark session gives the marts DuckDB gives, after a first
sync and after a second one with changes (docs/scaling.md).

One small world goes through the pipeline twice over, once per engine (`PARTNERPULSE_ENGINE`
duckdb and spark), each with a warehouse of its own. Then the world changes (a restated
report, a late credit memo at the exact high-water mark, a soft-deleted opportunity), and
both pipelines sync and build again: on Spark, on top of what it built (the ERP fact
rebuilds its changed months, the tier snapshot rewrites its history). After each round,
every mart (as the checks and BI read it: the warehouse file and the published Parquet)
and every check's outcome are compared, engine against engine.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from forecasts.schema import TABLES as FORECAST_TABLES
from tests.e2e.harness import pipeline_env, run_in_process
from tests.spark.compare import differences, duckdb_marts, published_marts

# The shared fixture builds on Spark more than once (each dbt command starts a JVM): longer
# than the suite's 900 s per test when CI's other workers load the machine.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("spark_world"),
    pytest.mark.timeout(2700),
]


def _outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    assert result.success
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


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
def rounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("engines")
    envs = {}
    for engine in ("duckdb", "spark"):
        (tmp / engine).mkdir()
        envs[engine] = {**pipeline_env(tmp / engine), "PARTNERPULSE_ENGINE": engine}
    # One world for both: generated once, changed once.
    envs["spark"]["PARTNERPULSE_STANDIN_CACHE_DIR"] = envs["duckdb"][
        "PARTNERPULSE_STANDIN_CACHE_DIR"
    ]
    warehouses = {engine: Path(env["PARTNERPULSE_WAREHOUSE"]) for engine, env in envs.items()}

    def one_round() -> dict:
        outcomes = {engine: _outcomes(run_in_process(env)) for engine, env in envs.items()}
        marts = {engine: duckdb_marts(path) for engine, path in warehouses.items()}
        published = {engine: published_marts(path.parent) for engine, path in warehouses.items()}
        return {
            "outcomes": outcomes,
            "marts": marts,
            "differences": differences(marts["duckdb"], marts["spark"]),
            "published": differences(published["duckdb"], published["spark"], types=True),
        }

    first = one_round()
    (world,) = Path(envs["duckdb"]["PARTNERPULSE_STANDIN_CACHE_DIR"]).glob("*/world.duckdb")
    changed = _change_the_world(world)
    second = one_round()
    con = duckdb.connect(str(warehouses["spark"]), read_only=True)
    try:
        second["landed"] = [
            con.execute(
                "select count(*) from raw_portal.sales_reports where id = ?",
                [f"{changed['report']}-R9"],
            ).fetchone()[0],
            con.execute(
                "select count(*) from raw_erp.transaction where tranid = 'CM-LATE'"
            ).fetchone()[0],
            con.execute(
                "select isdeleted from raw_crm.opportunity where id = ?", [changed["opportunity"]]
            ).fetchone()[0],
        ]
    finally:
        con.close()
    second["changed"] = sorted(
        {
            line.split(".")[0]
            for line in differences(first["marts"]["duckdb"], second["marts"]["duckdb"])
        }
    )
    spark_tables = Path(warehouses["spark"]).parent / "spark" / "warehouse" / "marts.db"
    return {"first": first, "second": second, "spark_tables": spark_tables}


def test_the_pipeline_on_spark_gives_duckdbs_marts_and_check_outcomes(rounds: dict) -> None:
    first = rounds["first"]
    # Spark built the dbt marts (its tables), and the warehouse file holds copies of them
    # beside the forecasts, which the forecasting step writes there on either engine.
    assert sorted(p.name for p in rounds["spark_tables"].iterdir()) == sorted(
        set(first["marts"]["spark"]) - set(FORECAST_TABLES)
    )
    assert first["differences"] == []
    assert first["published"] == []  # the same files, columns, types and rows for BI
    assert first["outcomes"]["spark"] == first["outcomes"]["duckdb"]
    assert not all(first["outcomes"]["duckdb"].values())  # the world's mis-reports are found


def test_after_a_second_sync_with_changes_spark_still_gives_duckdbs_marts(rounds: dict) -> None:
    second = rounds["second"]
    assert second["landed"] == [1, 1, True]  # the second sync landed every change
    # ... and they changed the marts: reported sales, ERP sales, sourced revenue.
    assert {"fct_partner_months", "rpt_partner_reconciliation"} <= set(second["changed"])
    assert second["differences"] == []
    assert second["published"] == []
    assert second["outcomes"]["spark"] == second["outcomes"]["duckdb"]

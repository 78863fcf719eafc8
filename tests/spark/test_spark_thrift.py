"""The whole pipeline building on a Spark Thrift Server (`PARTNERPULSE_SPARK_THRIFT`,
dbt-spark's `thrift` method) gives the marts and check outcomes DuckDB gives
(docs/scaling.md).

The server is the JVM that pyspark's own jars start (`HiveThriftServer2`, on loopback), as
a cluster serves HiveServer2's protocol to JDBC, ODBC and dbt: its own metastore, its own
session settings, the pipeline's Spark folder shared. One small world (the one
test_spark_marts.py uses) goes through the pipeline on DuckDB and on the server; every mart
(in the warehouse file and as published) and every check's outcome are compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from pyhive import hive

from connectors.config import Settings
from connectors.spark import RemoteSparkError, check_remote
from forecasts.schema import TABLES as FORECAST_TABLES
from tests.e2e.harness import pipeline_env, run_in_process
from tests.spark.compare import differences, duckdb_marts, published_marts
from tests.spark.spark_submit import free_port
from tests.spark.thrift_server import thrift_server

# A dbt build on Spark and a whole pipeline run on DuckDB beside it: longer than the suite's
# 900 s per test when CI's other workers load the machine.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("spark_thrift"),
    pytest.mark.timeout(2700),
]

HIDDEN = "pp-hidden-password"


def _outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    assert result.success
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _server_tables(port: int, schema: str) -> set[str]:
    """The tables the server's own metastore lists in `schema`."""
    connection = hive.connect(host="127.0.0.1", port=port, username="partnerpulse")
    try:
        cursor = connection.cursor()
        cursor.execute(f"show tables in {schema}")
        return {row[1] for row in cursor.fetchall()}
    finally:
        connection.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("thrift")
    envs = {}
    for engine in ("duckdb", "thrift"):
        (tmp / engine).mkdir()
        envs[engine] = pipeline_env(tmp / engine)
        envs[engine]["PARTNERPULSE_STANDIN_CACHE_DIR"] = str(tmp / "worlds")
    spark_dir = tmp / "thrift" / "spark"
    warehouses = {engine: Path(env["PARTNERPULSE_WAREHOUSE"]) for engine, env in envs.items()}
    result: dict = {"spark_dir": spark_dir}
    result["outcomes"] = {"duckdb": _outcomes(run_in_process(envs["duckdb"]))}
    with thrift_server(spark_dir) as port:
        # Logged in by LDAP with a password, which dbt must get and never show: a server
        # without authentication (this one) takes any user and password.
        envs["thrift"].update(
            {
                "PARTNERPULSE_ENGINE": "spark",
                "PARTNERPULSE_SPARK_DIR": str(spark_dir),
                "PARTNERPULSE_SPARK_THRIFT": f"127.0.0.1:{port}",
                "PARTNERPULSE_SPARK_THRIFT_AUTH": "ldap",
                "PARTNERPULSE_SPARK_THRIFT_PASSWORD": HIDDEN,
            }
        )
        run = run_in_process(envs["thrift"])
        result["outcomes"]["thrift"] = _outcomes(run)
        result["events"] = "\n".join(str(event) for event in run.all_events)
        result["server_marts"] = _server_tables(port, "marts")
        # The same server seen from a pipeline whose Spark folder is elsewhere.
        elsewhere = {
            **{k: v for k, v in envs["thrift"].items() if k.startswith("PARTNERPULSE_SPARK")},
            "PARTNERPULSE_SPARK_DIR": str(tmp / "elsewhere"),
        }
        with pytest.raises(RemoteSparkError) as refused:
            check_remote(Settings.from_env(elsewhere))
        result["refused"] = str(refused.value)
        closed = {**elsewhere, "PARTNERPULSE_SPARK_THRIFT": f"127.0.0.1:{free_port()}"}
        with pytest.raises(RemoteSparkError) as unreachable:
            check_remote(Settings.from_env(closed))
        result["unreachable"] = str(unreachable.value)
    marts = {engine: duckdb_marts(warehouses[engine]) for engine in envs}
    published = {engine: published_marts(warehouses[engine].parent) for engine in envs}
    result["marts"] = marts["thrift"]
    result["differences"] = differences(marts["duckdb"], marts["thrift"])
    result["published"] = differences(published["duckdb"], published["thrift"], types=True)
    # Every file this worker's tests left: dbt's logs and artifacts (in its target folder),
    # the server's log, the data.
    result["files_with_the_password"] = [
        str(path)
        for path in tmp_path_factory.getbasetemp().rglob("*")
        if path.is_file() and HIDDEN.encode() in path.read_bytes()
    ]
    yield result


def test_a_thrift_server_builds_the_marts_in_its_own_metastore(built: dict) -> None:
    dbt_marts = set(built["marts"]) - set(FORECAST_TABLES)
    assert built["server_marts"] == dbt_marts
    warehouse = built["spark_dir"] / "warehouse" / "marts.db"
    assert sorted(p.name for p in warehouse.iterdir()) == sorted(dbt_marts)
    # No Spark session ran in dbt's process: it would have made a metastore of its own.
    assert not (built["spark_dir"] / "metastore").exists()


def test_a_thrift_server_gives_duckdbs_marts_and_check_outcomes(built: dict) -> None:
    assert built["differences"] == []
    assert built["published"] == []  # the same files, columns, types and rows for BI
    assert built["outcomes"]["thrift"] == built["outcomes"]["duckdb"]
    assert not all(built["outcomes"]["duckdb"].values())  # the world's mis-reports are found


def test_a_thrift_server_on_another_folder_or_unreachable_is_refused_without_the_password(
    built: dict,
) -> None:
    refused, unreachable = built["refused"], built["unreachable"]
    assert "Thrift server at 127.0.0.1:" in refused
    assert "elsewhere" in refused and "thrift/spark/warehouse" in refused
    assert "cannot use the Thrift server at 127.0.0.1:" in unreachable
    assert HIDDEN not in refused + unreachable


def test_the_thrift_password_reaches_dbt_and_no_log_event_or_file(built: dict) -> None:
    assert built["outcomes"]["thrift"]  # dbt logged in with it: LDAP needs a password
    assert HIDDEN not in built["events"]
    assert built["files_with_the_password"] == []

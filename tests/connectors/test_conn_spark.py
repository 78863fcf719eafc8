"""The Spark engine's settings: chosen by name, and refused clearly without Java."""

import pytest

from connectors import spark
from connectors.config import Settings


def test_the_engine_is_duckdb_or_spark_and_spark_has_its_folder_beside_the_warehouse(tmp_path):
    assert Settings.from_env({}).engine == "duckdb"
    settings = Settings.from_env(
        {"PARTNERPULSE_ENGINE": "Spark", "PARTNERPULSE_WAREHOUSE": str(tmp_path / "w.duckdb")}
    )
    assert settings.engine == "spark"
    assert settings.spark_path == tmp_path / "spark"
    with pytest.raises(ValueError, match="^PARTNERPULSE_ENGINE must be one of: duckdb, spark"):
        Settings.from_env({"PARTNERPULSE_ENGINE": "oracle"})


def test_without_java_the_spark_engine_says_what_is_missing(tmp_path, monkeypatch):
    settings = Settings.from_env({"PARTNERPULSE_ENGINE": "spark"})
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(spark.JavaMissing, match=f"JAVA_HOME={tmp_path} has no bin/java"):
        spark.environment(settings)
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(spark.JavaMissing, match="no java on the PATH"):
        spark.environment(settings)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").write_text("")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    variables = spark.environment(settings, {"raw_crm.account": "/r/a.parquet"})
    assert variables["PARTNERPULSE_SPARK_RAW_TABLES"] == '{"raw_crm.account": "/r/a.parquet"}'


def test_the_raw_export_writes_a_new_version_of_a_changed_table_only(tmp_path):
    from connectors.spark_raw import KEEP_VERSIONS, export_raw_tables
    from connectors.warehouse import connect

    warehouse, raw = tmp_path / "w.duckdb", tmp_path / "raw"
    with connect(warehouse) as con:
        con.execute("insert into raw_erp.currency (id, symbol) values (1, 'USD')")
    first = export_raw_tables(warehouse, raw)
    assert first["raw_erp.currency"].startswith(str(raw / "raw_erp" / "currency"))
    assert len(first) == len(list(raw.glob("*/*/*.parquet")))  # every raw table, once
    assert export_raw_tables(warehouse, raw) == first  # nothing changed: nothing written

    versions = [first["raw_erp.currency"]]
    for n in range(2, 2 + KEEP_VERSIONS):
        with connect(warehouse) as con:
            con.execute(f"insert into raw_erp.currency (id, symbol) values ({n}, 'C{n}')")
        current = export_raw_tables(warehouse, raw)
        assert {k for k in current if current[k] != first[k]} == {"raw_erp.currency"}
        versions.append(current["raw_erp.currency"])
    with connect(warehouse) as con:
        rows = con.execute(f"select count(*) from read_parquet('{versions[-1]}')").fetchone()
    assert rows == (1 + KEEP_VERSIONS,)
    kept = sorted(str(p) for p in (raw / "raw_erp" / "currency").glob("*.parquet"))
    assert kept == sorted(versions[-KEEP_VERSIONS:])  # older versions removed


def test_copying_a_spark_table_back_replaces_the_warehouse_copy_or_names_what_is_missing(
    tmp_path,
):
    import duckdb

    from connectors.spark_models import SparkTableMissing, copy_models

    spark_tables, warehouse = tmp_path / "spark", tmp_path / "w.duckdb"
    folder = spark_tables / "marts.db" / "dim_x"
    folder.mkdir(parents=True)
    duckdb.sql(f"copy (select 1 as id, 'a' as name) to '{folder}/part-0.parquet'")
    with duckdb.connect(str(warehouse)) as con:  # as the DuckDB engine left it: a view
        con.execute("create schema marts; create view marts.dim_x as select 0 as id")
    for _ in range(2):  # over the view, then over the copy
        copied = copy_models(warehouse, spark_tables, [("marts", "dim_x"), ("staging", "y")])
        assert copied == {("marts", "dim_x"): 1}  # staging stays on Spark
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select * from marts.dim_x").fetchall() == [(1, "a")]
    with pytest.raises(SparkTableMissing, match=r"marts\.dim_z: no Parquet file under"):
        copy_models(warehouse, spark_tables, [("marts", "dim_z")])

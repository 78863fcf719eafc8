"""What dbt needs to build on Spark (docs/scaling.md): the variables its Spark profile
(dbt_project/profiles.yml) and the raw sources (macros/spark_raw.sql) read, beside the
engine's name (orchestration/resources.py, `dbt_environment`)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from connectors.config import Settings, reveal


def tables_dir(settings: Settings) -> Path:
    """Where Spark keeps its tables (the session's warehouse folder)."""
    return settings.spark_path / "warehouse"


def raw_dir(settings: Settings) -> Path:
    """Where the raw tables' Parquet versions go (connectors.spark_raw)."""
    return settings.spark_path / "raw"


class JavaMissing(RuntimeError):
    """Spark cannot start: no Java where it looks."""


class RemoteSparkError(RuntimeError):
    """The Spark server (Spark Connect or Thrift) cannot be used: unreachable, or not on the
    shared folder."""


def remote_address(settings: Settings) -> str:
    """host:port of the Spark Connect server, without the URL's parameters (a token)."""
    assert settings.spark_remote is not None
    return settings.spark_remote.reveal().removeprefix("sc://").split("/", 1)[0]


def thrift_address(settings: Settings) -> tuple[str, int]:
    """The Thrift server's host and port."""
    assert settings.spark_thrift is not None
    host, _, port = settings.spark_thrift.rpartition(":")
    return host, int(port)


def _connect_warehouse(settings: Settings) -> str:
    from pyspark.sql import SparkSession

    assert settings.spark_remote is not None
    spark = SparkSession.builder.remote(settings.spark_remote.reveal()).create()
    try:
        return spark.conf.get("spark.sql.warehouse.dir") or ""
    finally:
        spark.stop()


def _thrift_warehouse(settings: Settings) -> str:
    from pyhive import hive

    host, port = thrift_address(settings)
    connection = hive.connect(
        host=host,
        port=port,
        username=settings.spark_thrift_user,
        auth=settings.spark_thrift_auth.upper(),
        password=reveal(settings.spark_thrift_password) or None,
    )
    try:
        cursor = connection.cursor()
        cursor.execute("SET spark.sql.warehouse.dir")
        return dict(cursor.fetchall()).get("spark.sql.warehouse.dir", "")
    finally:
        connection.close()


def check_remote(settings: Settings) -> None:
    """The Spark server (Spark Connect or Thrift) must keep its tables in the folder the
    pipeline copies the marts from, and so read the raw layer where the pipeline exports
    it: one folder that both sides reach at the same path (docs/scaling.md). Raises
    RemoteSparkError, naming the server by host and port only."""
    if settings.spark_remote is not None:
        server = f"the Spark Connect server at {remote_address(settings)}"
        ask = _connect_warehouse
    else:
        server = "the Thrift server at {}:{}".format(*thrift_address(settings))
        ask = _thrift_warehouse
    try:
        theirs = ask(settings)
    except Exception as exc:  # the clients' errors may repeat a URL or a login: the type only
        raise RemoteSparkError(f"cannot use {server} ({type(exc).__name__})") from None
    ours = tables_dir(settings)
    if Path(theirs.removeprefix("file:")).resolve() != ours.resolve():
        raise RemoteSparkError(
            f"{server} keeps its tables in {theirs}, the pipeline reads them from {ours}: "
            f"start the server with --conf spark.sql.warehouse.dir={ours} on a folder both "
            "reach at that path, "
            "or set PARTNERPULSE_SPARK_DIR to the folder the server uses"
        )


LOG_CONFIG = Path(__file__).resolve().parents[1] / "dbt_project" / "spark-log4j2.properties"


def environment(settings: Settings, raw_tables: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables dbt's Spark profile and raw sources read, `raw_tables` being the current
    Parquet file of each raw table (connectors.spark_raw). With a Spark Connect server
    (`spark_remote`), dbt's session is that server's (SPARK_REMOTE); with a Thrift server
    (`spark_thrift`), dbt connects to it (profile target spark_thrift); either is checked
    first. Otherwise Spark starts in dbt's process and finds Java through JAVA_HOME, else `java`
    on the PATH: without either, raises JavaMissing."""
    remote: dict[str, str] = {}
    if settings.spark_remote is not None:
        check_remote(settings)
        remote = {
            "SPARK_REMOTE": settings.spark_remote.reveal(),
            "PARTNERPULSE_DBT_TARGET": "spark_connect",
        }
    elif settings.spark_thrift is not None:
        check_remote(settings)
        host, port = thrift_address(settings)
        remote = {
            "PARTNERPULSE_DBT_TARGET": "spark_thrift",
            "PARTNERPULSE_SPARK_THRIFT_HOST": host,
            "PARTNERPULSE_SPARK_THRIFT_PORT": str(port),
            "PARTNERPULSE_SPARK_THRIFT_USER": settings.spark_thrift_user,
            "PARTNERPULSE_SPARK_THRIFT_AUTH": settings.spark_thrift_auth.upper(),
        }
        if settings.spark_thrift_password is not None:
            # dbt masks a DBT_ENV_SECRET_ variable's value in its logs and allows it in
            # profiles.yml only. Set only with a password: dbt reads such a variable, even an
            # empty one, as a placeholder that is never blank (profiles.yml's `or none`).
            remote["DBT_ENV_SECRET_SPARK_THRIFT_PASSWORD"] = reveal(settings.spark_thrift_password)
    else:
        _require_java()
    return {
        **remote,
        "PARTNERPULSE_SPARK_MASTER": settings.spark_master,
        "PARTNERPULSE_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
        "PARTNERPULSE_SPARK_WAREHOUSE_DIR": str(tables_dir(settings)),
        "PARTNERPULSE_SPARK_METASTORE_DIR": str(settings.spark_path / "metastore"),
        "PARTNERPULSE_SPARK_LOG_CONFIG": str(LOG_CONFIG),
        "PARTNERPULSE_SPARK_RAW_TABLES": json.dumps(dict(raw_tables or {}), sort_keys=True),
    }


def _require_java() -> None:
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if not (Path(java_home, "bin", "java").is_file() if java_home else shutil.which("java")):
        raise JavaMissing(
            "PARTNERPULSE_ENGINE=spark needs Java 17: "
            + (f"JAVA_HOME={java_home} has no bin/java" if java_home else "no java on the PATH")
            + " (install a JDK, or set JAVA_HOME to one)"
        )

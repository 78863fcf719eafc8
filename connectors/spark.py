"""What dbt needs to build on Spark (docs/scaling.md): the variables its Spark profile
(dbt_project/profiles.yml) and the raw sources (macros/spark_raw.sql) read, beside the
engine's name (orchestration/resources.py, `dbt_environment`)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from connectors.config import Settings


def tables_dir(settings: Settings) -> Path:
    """Where Spark keeps its tables (the session's warehouse folder)."""
    return settings.spark_path / "warehouse"


def raw_dir(settings: Settings) -> Path:
    """Where the raw tables' Parquet versions go (connectors.spark_raw)."""
    return settings.spark_path / "raw"


class JavaMissing(RuntimeError):
    """Spark cannot start: no Java where it looks."""


class RemoteSparkError(RuntimeError):
    """The Spark Connect server cannot be used: unreachable, or not on the shared folder."""


def remote_address(settings: Settings) -> str:
    """host:port of the Spark Connect server, without the URL's parameters (a token)."""
    assert settings.spark_remote is not None
    return settings.spark_remote.reveal().removeprefix("sc://").split("/", 1)[0]


def check_remote(settings: Settings) -> None:
    """The Spark Connect server must keep its tables in the folder the pipeline copies the
    marts from, and so read the raw layer where the pipeline exports it: one folder that
    both sides reach at the same path (docs/scaling.md). Raises RemoteSparkError, naming
    the server by host and port only."""
    from pyspark.sql import SparkSession

    address = remote_address(settings)
    try:
        spark = SparkSession.builder.remote(settings.spark_remote.reveal()).create()
    except Exception as exc:  # pyspark's errors may repeat the URL: only the type goes on
        raise RemoteSparkError(
            f"cannot reach the Spark Connect server at {address} ({type(exc).__name__})"
        ) from None
    try:
        theirs = spark.conf.get("spark.sql.warehouse.dir") or ""
    except Exception as exc:
        raise RemoteSparkError(
            f"the Spark Connect server at {address} did not answer ({type(exc).__name__})"
        ) from None
    finally:
        spark.stop()
    ours = tables_dir(settings)
    if Path(theirs.removeprefix("file:")).resolve() != ours.resolve():
        raise RemoteSparkError(
            f"the Spark Connect server at {address} keeps its tables in {theirs}, the "
            f"pipeline reads them from {ours}: start the server with "
            f"--conf spark.sql.warehouse.dir={ours} on a folder both reach at that path, "
            "or set PARTNERPULSE_SPARK_DIR to the folder the server uses"
        )


LOG_CONFIG = Path(__file__).resolve().parents[1] / "dbt_project" / "spark-log4j2.properties"


def environment(settings: Settings, raw_tables: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables dbt's Spark profile and raw sources read, `raw_tables` being the current
    Parquet file of each raw table (connectors.spark_raw). With a Spark Connect server
    (`spark_remote`), dbt's session is that server's (SPARK_REMOTE), checked first;
    otherwise Spark starts in dbt's process and finds Java through JAVA_HOME, else `java`
    on the PATH: without either, raises JavaMissing."""
    remote = {}
    if settings.spark_remote is not None:
        check_remote(settings)
        remote = {
            "SPARK_REMOTE": settings.spark_remote.reveal(),
            "PARTNERPULSE_DBT_TARGET": "spark_connect",
        }
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

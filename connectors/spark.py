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


LOG_CONFIG = Path(__file__).resolve().parents[1] / "dbt_project" / "spark-log4j2.properties"


def environment(settings: Settings, raw_tables: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables dbt's Spark profile and raw sources read, `raw_tables` being the current
    Parquet file of each raw table (connectors.spark_raw). Spark finds Java through
    JAVA_HOME, else `java` on the PATH: without either, raises JavaMissing."""
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if not (Path(java_home, "bin", "java").is_file() if java_home else shutil.which("java")):
        raise JavaMissing(
            "PARTNERPULSE_ENGINE=spark needs Java 17: "
            + (f"JAVA_HOME={java_home} has no bin/java" if java_home else "no java on the PATH")
            + " (install a JDK, or set JAVA_HOME to one)"
        )
    return {
        "PARTNERPULSE_SPARK_MASTER": settings.spark_master,
        "PARTNERPULSE_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
        "PARTNERPULSE_SPARK_WAREHOUSE_DIR": str(tables_dir(settings)),
        "PARTNERPULSE_SPARK_METASTORE_DIR": str(settings.spark_path / "metastore"),
        "PARTNERPULSE_SPARK_LOG_CONFIG": str(LOG_CONFIG),
        "PARTNERPULSE_SPARK_RAW_TABLES": json.dumps(dict(raw_tables or {}), sort_keys=True),
    }

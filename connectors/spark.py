"""What dbt needs to build on Spark (docs/scaling.md): the variables its Spark profile
(dbt_project/profiles.yml) and the raw sources (macros/spark_raw.sql) read."""

from __future__ import annotations

import json
from collections.abc import Mapping

from connectors.config import Settings


def environment(settings: Settings, raw_tables: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables dbt's Spark profile and raw sources read, `raw_tables` being the current
    Parquet file of each raw table (connectors.spark_raw). Spark finds Java through
    JAVA_HOME, else `java` on the PATH."""
    spark = settings.spark_path
    return {
        "PARTNERPULSE_ENGINE": settings.engine,
        "PARTNERPULSE_SPARK_MASTER": settings.spark_master,
        "PARTNERPULSE_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
        "PARTNERPULSE_SPARK_WAREHOUSE_DIR": str(spark / "warehouse"),
        "PARTNERPULSE_SPARK_METASTORE_DIR": str(spark / "metastore"),
        "PARTNERPULSE_SPARK_RAW_TABLES": json.dumps(dict(raw_tables or {}), sort_keys=True),
    }

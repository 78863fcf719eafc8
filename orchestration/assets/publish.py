"""Publishing the marts for BI tools (docs/serving.md).

`serving/marts` is downstream of every mart, so it runs only after they were all built in
the run (or earlier) and after the blocking (ERROR) checks on them passed: a failed build
or check leaves the previous publication in place. The file writing is
`connectors.warehouse.publish_marts`: a new read-only DuckDB file swapped in with one
`os.replace`, and a new Parquet folder that the `current` symlink is switched to.
"""

import dagster as dg

from connectors.warehouse import publish_marts
from orchestration.assets.transform import MART_ASSET_KEYS
from orchestration.resources import PipelineSettings

SERVING_MARTS = dg.AssetKey(["serving", "marts"])


@dg.asset(
    key=SERVING_MARTS,
    deps=sorted(MART_ASSET_KEYS, key=lambda k: k.to_user_string()),
    group_name="serving",
    kinds={"duckdb", "parquet"},
    owners=["team:data-platform"],
    # Reads the warehouse: it waits for the writers like every other warehouse step.
    pool="warehouse",
    description=(
        "The marts as BI tools read them: a read-only DuckDB file "
        "(`PARTNERPULSE_SERVING_WAREHOUSE`, default `serving.duckdb` beside the warehouse) "
        "and Parquet files (`PARTNERPULSE_SERVING_PARQUET_DIR`, default `parquet/`, latest "
        "under `current/`), both replaced atomically after a successful build whose "
        "blocking checks passed. `_publication` names the run each copy came from."
    ),
)
def serving_marts(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """Publishes every mart to the serving DuckDB file and to Parquet, atomically."""
    config = settings.settings
    publication = publish_marts(
        config.warehouse,
        config.serving_warehouse_path,
        config.serving_parquet_path,
        run_id=context.run.run_id,
        keep=config.serving_keep_publications,
    )
    context.log.info(
        f"published {len(publication.row_counts)} marts to {publication.serving_path} and "
        f"{publication.parquet_dir}"
    )
    return dg.MaterializeResult(
        metadata={
            "publication_id": publication.publication_id,
            "serving_warehouse": dg.MetadataValue.path(str(publication.serving_path)),
            "parquet_dir": dg.MetadataValue.path(str(publication.parquet_dir)),
            "tables": dg.MetadataValue.json(publication.row_counts),
            "dagster/row_count": sum(publication.row_counts.values()),
        }
    )

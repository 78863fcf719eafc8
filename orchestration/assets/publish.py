"""Publishing the marts for BI tools (docs/serving.md).

`serving/marts` is downstream of every mart and of every validation frame (the dbt models
the Great Expectations checks read and sit on), so it runs only after they were all built in
the run (or earlier) and after the blocking (ERROR) checks on them passed: a failed build
or check leaves the previous publication in place. A frame feeds nothing else, so its
blocking check stops publication and nothing before it. The file writing is
`connectors.serving.publish_marts`: a new read-only DuckDB file swapped in with one
`os.replace`, and a new Parquet folder that the `current` symlink is switched to.
"""

from pathlib import Path

import dagster as dg

from connectors.serving import publish_marts
from orchestration.assets.forecast import FORECAST_ASSET_KEYS
from orchestration.assets.transform import MART_ASSET_KEYS, VALIDATION_ASSET_KEYS
from orchestration.progress import SUMMARY
from orchestration.reruns import record_if_complete
from orchestration.resources import PipelineSettings
from reports.serve import PORT as REPORTS_PORT

SERVING_MARTS = dg.AssetKey(["serving", "marts"])
SERVING_REPORTS = dg.AssetKey(["serving", "reports"])


@dg.asset(
    key=SERVING_MARTS,
    deps=sorted(
        MART_ASSET_KEYS | VALIDATION_ASSET_KEYS | FORECAST_ASSET_KEYS,
        key=lambda k: k.to_user_string(),
    ),
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
    summary = f"{len(publication.row_counts)} marts published"
    context.log.info(f"{summary} to {publication.serving_path} and {publication.parquet_dir}")
    return dg.MaterializeResult(
        metadata={
            SUMMARY: summary,
            "publication_id": publication.publication_id,
            "serving_warehouse": dg.MetadataValue.path(str(publication.serving_path)),
            "parquet_dir": dg.MetadataValue.path(str(publication.parquet_dir)),
            "tables": dg.MetadataValue.json(publication.row_counts),
            "dagster/row_count": sum(publication.row_counts.values()),
        }
    )


@dg.asset(
    key=SERVING_REPORTS,
    deps=[SERVING_MARTS],
    group_name="serving",
    kinds={"html", "pdf"},
    owners=["team:data-platform"],
    # One build at a time, after the publish it reads: builds switch and prune one folder.
    pool="warehouse",
    description=(
        "The scorecard pages people read, built from the marts just published: one page per "
        "active partner (`partners/<partner_id>.html`, and a PDF of it when Chromium is "
        "installed) showing that partner's figures only, and `index.html`, the channel "
        "team's view of the whole ecosystem. Only pages whose figures changed are rendered "
        "again; their PDFs are printed again once the one they have is "
        "`PARTNERPULSE_REPORTS_PDF_MAX_AGE_DAYS` old (7) or a month has closed, since "
        "printing is most of this step's time (`pdfs_older`: PDFs kept from earlier "
        "figures, dated in the index and in their footer). Published atomically under "
        "`PARTNERPULSE_REPORTS_DIR` (default `reports/` beside the warehouse); open "
        "`index.html` from the folder, or serve it with `partnerpulse reports serve`. "
        "docs/reports.md says what each page shows and what a partner never sees. The "
        "last step of a run: a complete run records here what it built the marts from, so "
        "that a rerun from the same inputs builds nothing."
    ),
)
def serving_reports(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """Builds every partner page and the ecosystem index from the published marts."""
    from reports.build import build_reports

    config = settings.settings
    built = build_reports(
        config.serving_warehouse_path,
        config.reports_path,
        min_cohort=config.benchmark_min_cohort,
        chromium=config.chromium,
        pdf=config.reports_pdf,
        pdf_max_age_days=config.reports_pdf_max_age_days,
        today=config.today,
        keep=config.serving_keep_publications,
    )
    pages = f"{built.partner_pages} partner pages ({built.pages_rendered} rendered)"
    # Why there are none, where the run's line shows it: "0 PDFs" alone reads as a fault.
    pdfs = (
        f"no PDFs: {built.pdf_skipped_reason}"
        if built.pdf_skipped_reason
        else f"{built.pdfs} PDFs ({built.pdfs_printed} printed"
        + (f", {built.pdfs_older} of earlier figures" if built.pdfs_older else "")
        + ")"
    )
    summary = f"{pages}, {pdfs}"
    context.log.info(
        f"{pages}, the others unchanged since the last build, and the index in "
        f"{built.seconds:.1f} s; {pdfs}: {built.index}"
    )
    record_if_complete(context, settings)
    index = Path(built.index).absolute()
    return dg.MaterializeResult(
        metadata={
            SUMMARY: summary,
            "index": dg.MetadataValue.url(index.as_uri()),
            "reports_dir": dg.MetadataValue.path(str(built.link)),
            "serve": dg.MetadataValue.md(
                f"`partnerpulse reports serve`, then http://127.0.0.1:{REPORTS_PORT}/ "
                "(a browser may refuse to open `file://` links from the UI)"
            ),
            "partner_pages": built.partner_pages,
            "pages_rendered": built.pages_rendered,
            "charts_rendered": built.charts_rendered,
            "pdfs": built.pdfs,
            "pdfs_printed": built.pdfs_printed,
            "pdfs_older": built.pdfs_older,
            "pdfs_skipped": built.pdf_skipped_reason or "",
            "build_seconds": round(built.seconds, 2),
            "publication_id": built.publication_id,
            "marts_publication_id": built.marts_publication_id,
        }
    )

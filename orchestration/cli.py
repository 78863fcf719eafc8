"""`partnerpulse`: run the pipeline, serve the stand-in sources, print the demo summary."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import click

from orchestration.checks.data_docs import DATA_DOCS_PORT
from reports.serve import PORT as REPORTS_PORT
from source_servers.cli import sources

# Dagster's console logger prints every engine event at DEBUG; operators want INFO.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@click.group()
def main() -> None:
    """PartnerPulse: channel-partner performance from CRM, ERP and partner portal."""


main.add_command(sources)


def _run_pipeline(selection: str | None, partition_key: str | None = None) -> bool:
    """Materialises the selected assets and runs their checks in-process; True on success.

    Without `partition_key`, the month-partitioned models run over the whole history; with
    one (`YYYY-MM-01`), the run is what the daily schedule runs: the `daily_refresh` job for
    that month's partition.
    """
    import dagster as dg

    from connectors.config import Settings
    from connectors.org import OrgConfigError

    try:
        Settings.from_env().org  # noqa: B018 (invalid settings or mapping fetch nothing)
    except (OrgConfigError, ValueError) as exc:
        click.echo(f"invalid configuration, nothing was run: {exc}", err=True)
        return False

    from orchestration.definitions import defs
    from orchestration.partitions import whole_history_tags

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    kwargs: dict = {}
    if partition_key:
        job = defs.resolve_job_def("daily_refresh")
        kwargs["partition_key"] = partition_key
    else:
        job = defs.resolve_implicit_global_asset_job_def()
        kwargs["tags"] = whole_history_tags()  # month-partitioned models run within a range
    if selection:  # e.g. "erp/transaction_lines+" (the selection syntax of `dagster asset`)
        keys = dg.AssetSelection.from_coercible(selection).resolve(defs.resolve_asset_graph())
        kwargs["asset_selection"] = sorted(keys, key=lambda k: k.to_user_string())
    with instance or dg.DagsterInstance.ephemeral() as inst:
        result = job.execute_in_process(
            instance=inst, raise_on_error=False, run_config=QUIET_CONSOLE, **kwargs
        )
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        failed_checks = [e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
        for e in failed_checks:
            click.echo(
                f"blocking check failed: {e.asset_key.to_user_string()} {e.check_name}"
                + (f": {e.description}" if e.description else ""),
                err=True,
            )
        warnings = [e for e in failed if e.severity == dg.AssetCheckSeverity.WARN]
        if warnings:
            # Not blocking, so the run still succeeds: said here, or nobody would know.
            click.echo(f"{len(warnings)} warning check(s) failed (they do not block publishing):")
            for e in sorted(warnings, key=lambda e: (e.asset_key.to_user_string(), e.check_name)):
                click.echo(
                    f"  {e.asset_key.to_user_string()} {e.check_name}"
                    + (f": {e.description}" if e.description else "")
                )
        click.echo(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
        published = result.success and not failed_checks
        if published:
            from orchestration.digest import summarise_run

            summary = summarise_run(inst, result.run_id, Settings.from_env())
            if summary.digest is not None and summary.digest.items:
                click.echo(f"{summary.digest.title}:")
                for item in summary.digest.items:
                    click.echo(f"  {item.line()}")
            elif summary.digest is not None:
                click.echo("nothing new since the previous publication")
        return published


@main.command()
@click.option("--select", "selection", default=None, help="Dagster asset selection (default: all).")
@click.option(
    "--month",
    default=None,
    metavar="YYYY-MM",
    help="Run the daily refresh for this month's partition only (default: the whole history).",
)
def run(selection: str | None, month: str | None) -> None:
    """Materialise every asset and run every check.

    Exits 1 when the run fails or a blocking (ERROR) check fails.
    """
    partition_key = None
    if month:
        from orchestration.partitions import month_partition_key

        try:
            partition_key = month_partition_key(month)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--month") from exc
    sys.exit(0 if _run_pipeline(selection, partition_key) else 1)


@main.command()
def demo() -> None:
    """Run the whole pipeline on the embedded stand-in sources and print a summary."""
    from orchestration.summary import print_summary

    ok = _run_pipeline(None)
    print_summary()
    sys.exit(0 if ok else 1)


@main.group()
def config() -> None:
    """Your org's mapping (PARTNERPULSE_CONFIG; docs/configuration.md)."""


@config.command("check")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The mapping file (default: PARTNERPULSE_CONFIG; none: the default org).",
)
@click.option("--offline", is_flag=True, help="Check the file alone, without asking the sources.")
def config_check(path: Path | None, offline: bool) -> None:
    """Check the mapping: the file against its schema, then every mapped object, field and
    picklist value against the sources' own metadata. Lists every problem; exits 1 if any."""
    from connectors.config import Settings
    from connectors.org import OrgConfigError

    environ = dict(os.environ)
    if path is not None:
        environ["PARTNERPULSE_CONFIG"] = str(path)
    try:
        # The file's settings: section and the variables, then the mapping.
        settings = Settings.from_env(environ)
        org = settings.org
    except (OrgConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    where = settings.config_path or "the default org"
    problems: list[str] = []
    if not offline:
        from connectors.describe import check_against_sources
        from orchestration.resources import resolved_settings

        # No source URL set: the embedded stand-ins are started, as a run would.
        with resolved_settings(environ) as live:
            problems = check_against_sources(live, org)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{where}: {len(problems)} problem(s)")
    checked = "the file alone (--offline)" if offline else "against the sources' metadata"
    click.echo(f"{where}: {len(org.crm) + len(org.erp)} objects mapped, no problems ({checked})")


@main.command("gx-docs")
@click.option("--port", default=DATA_DOCS_PORT, show_default=True)
def gx_docs(port: int) -> None:
    """Build the Great Expectations Data Docs index and serve the site on 127.0.0.1."""
    import functools
    import http.server

    from orchestration.checks.gx_context import build_data_docs_index, data_docs_dir

    docs = data_docs_dir()
    if not (docs / "validations").is_dir():
        raise click.ClickException(f"no Data Docs at {docs}: run the pipeline first")
    build_data_docs_index()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(docs))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"Data Docs on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


@main.group()
def reports() -> None:
    """The scorecard pages: one per active partner and the ecosystem index (docs/reports.md)."""


@reports.command("build")
@click.option("--no-pdf", is_flag=True, help="Leave out the PDFs (printed with Chromium).")
def reports_build(no_pdf: bool) -> None:
    """Build the pages from the published marts now (a run does so after publishing)."""
    from connectors.config import Settings
    from reports.build import ReportsDirError, build_reports

    settings = Settings.from_env()
    if not settings.serving_warehouse_path.exists():
        raise click.ClickException(
            f"no published marts at {settings.serving_warehouse_path}: run the pipeline first"
        )
    try:
        built = build_reports(
            settings.serving_warehouse_path,
            settings.reports_path,
            min_cohort=settings.benchmark_min_cohort,
            chromium=settings.chromium,
            pdf=settings.reports_pdf and not no_pdf,
        )
    except ReportsDirError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{built.partner_pages} partner pages ({built.pages_rendered} rendered, the others "
        f"unchanged) and the index in {built.seconds:.1f} s: "
        f"{built.index}" + (f" (no PDFs: {built.pdf_skipped_reason})" if not built.pdfs else "")
    )


@reports.command("serve")
@click.option("--port", default=REPORTS_PORT, show_default=True)
def reports_serve(port: int) -> None:
    """Serve the published pages on 127.0.0.1."""
    from connectors.config import Settings
    from reports.serve import reports_server

    folder = Settings.from_env().reports_path
    if not (folder / "index.html").exists():
        raise click.ClickException(f"no pages at {folder}: run the pipeline first")

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM stops it like Ctrl-C, even when started with SIGTERM ignored (as by a
    # supervisor or a test runner that ignores it).
    signal.signal(signal.SIGTERM, stop)
    with reports_server(folder, port) as server:
        host, bound = server.server_address[:2]
        # The first line names the address: scripts and tests wait for it.
        click.echo(f"scorecard pages on http://{host}:{bound}/ (Ctrl-C to stop)")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


if __name__ == "__main__":
    main()

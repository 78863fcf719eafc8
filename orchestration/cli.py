"""`partnerpulse`: run the pipeline, serve the stand-in sources, print the demo summary."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestration.checks.data_docs import DATA_DOCS_PORT
from reports.serve import PORT as REPORTS_PORT
from source_servers.cli import sources

if TYPE_CHECKING:
    import dagster as dg

# Dagster's console logger prints every engine event at DEBUG; the log file (or --verbose)
# gets INFO: what each step did, without the engine's bookkeeping.
ENGINE_LOG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


VERBOSE = click.option(
    "--verbose", is_flag=True, help="Print the engine's log here, not into the run's log file."
)


@click.group()
def main() -> None:
    """PartnerPulse: channel-partner performance from CRM, ERP and partner portal."""


main.add_command(sources)


def _run_pipeline(
    selection: str | None,
    partition_key: str | None = None,
    verbose: bool = False,
    rebuild: bool = False,
) -> bool:
    """Materialises the selected assets and runs their checks; True on success.

    The run is created in the Dagster instance (DAGSTER_HOME), so the UI lists it with its
    target, and executed in this process (`launch.py`), printing one line per step
    (`progress.py`); the engine's log goes to the run's log file, or with `verbose` here.
    Without `partition_key`, the month-partitioned models run over the whole history; with
    one (`YYYY-MM-01`), the run is what the daily schedule runs: the `daily_refresh` job for
    that month's partition.
    """
    started = time.monotonic()
    import dagster as dg

    from connectors.config import Settings
    from connectors.org import OrgConfigError

    try:
        settings = Settings.from_env()
        settings.org  # noqa: B018 (invalid settings or mapping fetch nothing)
    except (OrgConfigError, ValueError) as exc:
        click.echo(f"invalid configuration, nothing was run: {exc}", err=True)
        return False

    from orchestration.definitions import defs
    from orchestration.launch import create_run, run_events
    from orchestration.partitions import PARTITION_TAG, whole_history_tags
    from orchestration.progress import Progress
    from orchestration.reruns import REBUILD_TAG

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    kwargs: dict = {}
    if partition_key:
        job_name = "daily_refresh"
        kwargs["tags"] = {PARTITION_TAG: partition_key}
    else:
        job_name = defs.resolve_implicit_global_asset_job_def().name
        kwargs["tags"] = whole_history_tags()  # month-partitioned models run within a range
    if rebuild:
        kwargs["tags"][REBUILD_TAG] = "true"
    if selection:  # e.g. "erp/transaction_lines+" (the selection syntax of `dagster asset`)
        keys = dg.AssetSelection.from_coercible(selection).resolve(defs.resolve_asset_graph())
        kwargs["asset_selection"] = sorted(keys, key=lambda k: k.to_user_string())
    with instance or dg.DagsterInstance.ephemeral() as inst:
        job, run = create_run(inst, job_name, run_config=ENGINE_LOG, **kwargs)
        log_file = settings.warehouse.parent / "logs" / f"run-{run.run_id}.log"
        out = sys.stdout

        def echo(line: str) -> None:
            click.echo(line, file=out)

        progress = Progress(echo, started)
        click.echo(f"run {run.run_id} ({'the engine log follows' if verbose else log_file})")
        evaluations = []
        with _engine_output(None if verbose else log_file, echo):
            for event in run_events(inst, job, run):
                progress(event)
                if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                    evaluations.append(event.event_specific_data)
        success = inst.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS
        click.echo(progress.summary())
        failed = [e for e in evaluations if not e.passed]
        failed_checks = [e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
        for e in failed_checks:
            click.echo(
                f"blocking check failed: {e.asset_key.to_user_string()} {e.check_name}"
                + (f": {e.description}" if e.description else ""),
                err=True,
            )
        _echo_warnings([e for e in failed if e.severity == dg.AssetCheckSeverity.WARN])
        click.echo(f"run {run.run_id}: {'succeeded' if success else 'FAILED'}")
        published = success and not failed_checks
        if published:
            from orchestration.digest import summarise_run

            # Its log lines (the webhook's answer, or that none is set) go with the run's.
            with _engine_output(None if verbose else log_file, echo):
                summary = summarise_run(inst, run.run_id, settings)
            if summary.digest is not None and summary.digest.items:
                click.echo(f"{summary.digest.title}:")
                for item in summary.digest.items:
                    click.echo(f"  {item.line()}")
            elif summary.digest is not None:
                click.echo("nothing new since the previous publication")
        return published


@contextlib.contextmanager
def _engine_output(log_file: Path | None, echo: Callable[[str], None]) -> Iterator[None]:
    """The engine's output into `log_file`, appended, with dbt's progress said by `echo`
    (`progress.EngineLog`); None: left where it goes."""
    from orchestration.progress import EngineLog

    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a", buffering=1) as file:
        sink = EngineLog(file, echo)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield


def _echo_warnings(failed: Sequence[dg.AssetCheckEvaluation]) -> None:
    """The failed warning checks, one line each; a check evaluated per month partition
    lists its failed months. Not blocking, so the run still succeeds: said here, or nobody
    would know."""
    by_check: dict[tuple[str, str], list[dg.AssetCheckEvaluation]] = {}
    for e in failed:
        by_check.setdefault((e.asset_key.to_user_string(), e.check_name), []).append(e)
    if not by_check:
        return
    click.echo(f"{len(by_check)} warning check(s) failed (they do not block publishing):")
    for (asset, name), evaluations in sorted(by_check.items()):
        months = sorted(e.partition[:7] for e in evaluations if e.partition)
        if months:
            click.echo(f"  {asset} {name}: months {', '.join(months)}")
            continue
        (e,) = evaluations
        click.echo(f"  {asset} {name}" + (f": {e.description}" if e.description else ""))


@main.command()
@click.option("--select", "selection", default=None, help="Dagster asset selection (default: all).")
@click.option(
    "--month",
    default=None,
    metavar="YYYY-MM",
    help="Run the daily refresh for this month's partition only (default: the whole history).",
)
@VERBOSE
@click.option(
    "--rebuild",
    is_flag=True,
    help="Build, check and publish even when nothing changed since the last complete build.",
)
def run(selection: str | None, month: str | None, verbose: bool, rebuild: bool) -> None:
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
    sys.exit(0 if _run_pipeline(selection, partition_key, verbose, rebuild) else 1)


@main.command()
@VERBOSE
def demo(verbose: bool) -> None:
    """Run the whole pipeline on the embedded stand-in sources and print a summary."""
    from orchestration.summary import print_summary

    ok = _run_pipeline(None, verbose=verbose)
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
    """Check the mapping: the file against its schema, then each source's login, then every
    mapped object, field and picklist value against the sources' own metadata. Lists every
    failed login and problem; exits 1 if any."""
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
    failed = 0
    if not offline:
        from connectors.describe import check_against_sources
        from connectors.logins import check_logins
        from orchestration.resources import resolved_settings

        # No source URL set: the embedded stand-ins are started, as a run would.
        with resolved_settings(environ) as live:
            # Each login on its own first: a refused one is named by its method here,
            # rather than only as a source whose metadata cannot be read.
            for outcome in check_logins(live):
                click.echo(str(outcome), err=not outcome.ok)
                failed += not outcome.ok
            problems = check_against_sources(live, org)
    for problem in problems:
        click.echo(problem, err=True)
    if failed or problems:
        logins = f"{failed} failed login(s), " if failed else ""
        raise click.ClickException(f"{where}: {logins}{len(problems)} problem(s)")
    checked = "the file alone (--offline)" if offline else "against the sources' metadata"
    click.echo(f"{where}: {len(org.crm) + len(org.erp)} objects mapped, no problems ({checked})")


@main.command("gx-docs")
@click.option("--port", default=DATA_DOCS_PORT, show_default=True)
def gx_docs(port: int) -> None:
    """Serve the Great Expectations Data Docs of the warehouse on 127.0.0.1.

    The index is built at start, and again whenever it is opened after a new validation.
    """
    import functools

    from orchestration.checks.data_docs import DataDocsIndex, data_docs_server
    from orchestration.checks.gx_context import (
        build_data_docs_index,
        data_docs_dir,
        data_docs_stamp,
    )

    docs = data_docs_dir()
    index = DataDocsIndex(build_data_docs_index, functools.partial(data_docs_stamp, docs))

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM stops it like Ctrl-C (`make dev` stops it so), as `reports serve`.
    signal.signal(signal.SIGTERM, stop)
    try:
        server = data_docs_server(docs, index, port)
    except OSError as exc:  # the port taken, most often
        raise click.ClickException(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}") from None
    with server:
        host, bound = server.server_address[:2]
        # The first line names the address: scripts and tests wait for it.
        click.echo(f"Data Docs on http://{host}:{bound}/ (Ctrl-C to stop)")
        if not (docs / "validations").is_dir():
            click.echo(f"no validations in {docs} yet: the index lists them once checks run")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            index.refresh()
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
            pdf_max_age_days=settings.reports_pdf_max_age_days,
            today=settings.today,
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

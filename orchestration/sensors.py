"""Sensors, freshness checks and alerts (docs/operations.md).

- `pos_file_sensor`: new or changed CSVs in the POS landing folder start one run of the
  POS ingestion and everything downstream of it, for the month (or months) the files
  report on. A malformed file fails that run by name and is moved to `<landing>/rejected/`.
- `restated_months_sensor`: when a sync changed rows of a past month (a partner's restated
  report, a late or voided invoice), rebuilds that month alone, unless the run that
  synced it already rebuilt it.
- `source_freshness_sensor` evaluates the freshness checks: a source not synced within
  `SYNC_WINDOW` fails its check (severity ERROR, hence an alert).
- `run_failure_alert` and `error_check_alert` post to `PARTNERPULSE_ALERT_WEBHOOK_URL`;
  `run_summary` tags each successful run and posts the digest of what is new (digest.py).

Automation sensors are off until switched on; the alert sensors are on by default (without
a webhook URL they only log).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

from connectors.config import Settings
from connectors.pos_files import parse_file_name, scan_landing_dir
from connectors.sync import get_object
from orchestration import alerts, digest
from orchestration.assets.ingest import asset_key, ingest_assets
from orchestration.assets.transform import PARTITIONED_ASSET_KEYS
from orchestration.partitions import (
    MONTH_KEYED_OBJECTS,
    existing_partitions,
    latest_partition_at_or_before,
    partition_range_tags,
)
from orchestration.schedules import TRIGGER_TAG, month_rebuild_job

POS_REPORTS = dg.AssetKey(["portal", "pos_reports"])
SYNC_WINDOW = timedelta(hours=26)  # the daily sync, plus two hours of slack

pos_files_job = dg.define_asset_job(
    name="pos_files",
    selection=dg.AssetSelection.assets(POS_REPORTS).downstream(),
    description=(
        "Land the POS files of the landing folder and rebuild what depends on them; a "
        "rejected file fails the run (and is moved to `rejected/`)."
    ),
    config={"ops": {"ingest_pos": {"config": {"fail_on_rejected_files": True}}}},
)


# -- POS landing folder ----------------------------------------------------------------------


def _landing_snapshot(folder: Path) -> dict[str, str]:
    """`name -> size:mtime` of the files the POS sync reads."""
    snapshot = {}
    for path in scan_landing_dir(folder):
        stat = path.stat()
        snapshot[path.name] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return snapshot


def pos_file_month(name: str, default: str) -> str:
    """The partition a POS file reports on (the period of its name, read as the POS sync
    reads it), or `default` for a name that is not a POS file's (its run will reject it)."""
    parsed = parse_file_name(name)
    if parsed is None:
        return default
    keys = existing_partitions([f"{parsed.period}-01"])
    return keys[0] if keys else default


@dg.sensor(
    job=pos_files_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def pos_file_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """New or changed POS files: one run lands them all and rebuilds their month (or the
    range of their months). The first tick only notes the files already there (the daily
    sync lands those)."""
    settings = Settings.from_env()
    folder = settings.pos_landing_path
    now = _landing_snapshot(folder)
    if context.cursor is None:
        return dg.SensorResult(
            skip_reason=f"watching {folder}: {len(now)} file(s) already there",
            cursor=json.dumps(now),
        )
    seen: dict[str, str] = json.loads(context.cursor)
    changed = sorted(name for name, stamp in now.items() if seen.get(name) != stamp)
    if not changed:
        return dg.SensorResult(skip_reason=f"no new POS file in {folder}", cursor=json.dumps(now))
    default = latest_partition_at_or_before(settings.today)
    months = sorted({pos_file_month(name, default) for name in changed})
    digest = hashlib.sha256("\n".join(f"{n}={now[n]}" for n in changed).encode()).hexdigest()
    context.log.info(f"new POS files for {', '.join(months)}: {', '.join(changed)}")
    tags = {TRIGGER_TAG: "pos_file_sensor", "partnerpulse/pos_files": ",".join(changed)[:250]}
    if len(months) == 1:
        request = dg.RunRequest(run_key=f"pos:{digest[:16]}", partition_key=months[0], tags=tags)
    else:  # one run over the months the files report on
        request = dg.RunRequest(
            run_key=f"pos:{digest[:16]}",
            tags={**tags, **partition_range_tags(months[0], months[-1])},
        )
    return dg.SensorResult(run_requests=[request], cursor=json.dumps(now))


# -- restated months ---------------------------------------------------------------------------

MONTH_KEYED_ASSETS = tuple(
    asset_key(get_object(source, name)) for source, name in sorted(MONTH_KEYED_OBJECTS)
)


def months_rebuilt_by_run(instance: dg.DagsterInstance, run_id: str) -> set[str] | None:
    """Partitions of the month-grained models the run materialized (None: all months,
    for a run without partitions)."""
    months: set[str] = set()
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        event = record.event_log_entry.dagster_event
        if event is None or event.asset_key not in PARTITIONED_ASSET_KEYS:
            continue
        if event.partition is None:
            return None
        months.add(event.partition)
    return months


@dg.sensor(
    job=month_rebuild_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def restated_months_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Past months whose partner reports or ERP sales a sync changed: rebuild each."""
    instance = context.instance
    cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    to_rebuild: dict[str, set[str]] = {}  # month -> the ingestion assets that changed it
    for key in MONTH_KEYED_ASSETS:
        name = key.to_user_string()
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor.get(name)),
            limit=100,
            ascending=True,
        ).records
        for record in records:
            run = instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                break  # its run may still rebuild these months: look again next tick
            materialization = record.asset_materialization
            value = materialization.metadata.get("changed_months") if materialization else None
            changed = list(getattr(value, "value", None) or [])
            rebuilt = months_rebuilt_by_run(instance, record.run_id) if changed else set()
            if rebuilt is not None:
                for month in existing_partitions(changed):
                    if month not in rebuilt:
                        to_rebuild.setdefault(month, set()).add(name)
            cursor[name] = record.storage_id
    if not to_rebuild:
        return dg.SensorResult(skip_reason="no past month changed", cursor=json.dumps(cursor))
    marker = max(cursor.values())
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"restated:{month}:{marker}",
                partition_key=month,
                tags={
                    TRIGGER_TAG: "restated_months_sensor",
                    "partnerpulse/changed_by": ",".join(sorted(names)),
                },
            )
            for month, names in sorted(to_rebuild.items())
        ],
        cursor=json.dumps(cursor),
    )


# -- freshness ----------------------------------------------------------------------------------

# Checks, not `FreshnessPolicy` (which Dagster now prefers): a check is listed with the
# asset, has a severity and a result in the event log that `error_check_alert` can post.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    source_freshness_checks = dg.build_last_update_freshness_checks(
        assets=ingest_assets,
        lower_bound_delta=SYNC_WINDOW,
        severity=dg.AssetCheckSeverity.ERROR,
    )
    source_freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=source_freshness_checks,
        minimum_interval_seconds=600,
        name="source_freshness_sensor",
        default_status=dg.DefaultSensorStatus.STOPPED,
    )


# -- alerts --------------------------------------------------------------------------------------


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    """Every failed run: post the run, the failed steps' assets and their errors."""
    alert = alerts.alert_for_failed_run(
        context.instance,
        context.dagster_run,
        context.get_step_failure_events(),
        context.failure_event,
    )
    alerts.send_alert(alert, Settings.from_env())


@dg.run_status_sensor(
    name="error_check_alert",
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def error_check_alert(context: dg.RunStatusSensorContext) -> None:
    """A run that succeeded although an ERROR check failed in it (a non-blocking one, or
    a freshness check): post the checks."""
    checks = alerts.failed_checks(context.instance, context.dagster_run.run_id)
    if checks:
        alerts.send_alert(
            alerts.alert_for_failed_checks(context.dagster_run, checks), Settings.from_env()
        )


@dg.run_status_sensor(
    name="run_summary",
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_summary(context: dg.RunStatusSensorContext) -> None:
    """Every successful run: tag it with the warning checks that failed in it and what its
    publication holds that the previous one did not; post that digest when anything is new
    (new mis-reports, rejected POS files, data-quality findings, by partner)."""
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    if digest.DIGEST_TAG in run.tags:  # `partnerpulse run` summarised its own run
        return
    digest.summarise_run(context.instance, run.run_id, Settings.from_env())


sensors = [
    pos_file_sensor,
    restated_months_sensor,
    source_freshness_sensor,
    run_failure_alert,
    error_check_alert,
    run_summary,
]

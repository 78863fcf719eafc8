"""Jobs and schedules (docs/operations.md). Every schedule is off until switched on in the
UI (or `dagster schedule start`); times are UTC.

- `daily_refresh` (05:00 every day): syncs every source incrementally, rebuilds the
  unpartitioned models and the current month's partition, validates, publishes. Past
  months that the sync changed are rebuilt by `restated_months_sensor`.
- `month_close` (06:00 on the day after the report due day, `PARTNERPULSE_REPORT_DUE_DAY`
  + 1): the same job for the month just closed, once partners' reports for it are due.
"""

from datetime import UTC, date

import dagster as dg

from connectors.config import Settings
from orchestration.assets.transform import MONTH_GRAINED_ASSET_KEYS
from orchestration.partitions import (
    add_months,
    latest_partition_at_or_before,
    month_key,
    month_start,
    monthly_partitions,
)

TRIGGER_TAG = "partnerpulse/trigger"

daily_refresh_job = dg.define_asset_job(
    name="daily_refresh",
    selection=dg.AssetSelection.all(),
    description=(
        "Sync every source incrementally, rebuild the unpartitioned models and the run's "
        "month, run every check, publish the marts."
    ),
)

month_rebuild_job = dg.define_asset_job(
    name="month_rebuild",
    selection=dg.AssetSelection.assets(*MONTH_GRAINED_ASSET_KEYS).downstream(),
    description=(
        "Rebuild and validate one month's partition (or a range) of the month-grained "
        "models from what the warehouse holds, then publish the marts. No source is read."
    ),
)


def _scheduled_day(context: dg.ScheduleEvaluationContext) -> date:
    """The (UTC) date of the tick."""
    return context.scheduled_execution_time.astimezone(UTC).date()


@dg.schedule(
    job=daily_refresh_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def daily_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day: sync everything and rebuild the current month."""
    day = _scheduled_day(context)
    return dg.RunRequest(
        run_key=f"daily_refresh:{day.isoformat()}",
        partition_key=latest_partition_at_or_before(day),
        tags={TRIGGER_TAG: "daily_refresh_schedule"},
    )


def month_close_cron(report_due_day: int) -> str:
    """06:00 UTC on the day after partners' reports for the previous month are due."""
    return f"0 6 {report_due_day + 1} * *"


@dg.schedule(
    job=daily_refresh_job,
    cron_schedule=month_close_cron(Settings.from_env().report_due_day),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def month_close_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    """After the report due day: sync, rebuild and validate the month just closed."""
    closed = add_months(month_start(_scheduled_day(context)), -1)
    if month_key(closed) not in monthly_partitions.get_partition_keys():
        return dg.SkipReason(f"{month_key(closed)} is before the first partition")
    return dg.RunRequest(
        run_key=f"month_close:{month_key(closed)}",
        partition_key=month_key(closed),
        tags={TRIGGER_TAG: "month_close_schedule"},
    )


schedules = [daily_refresh_schedule, month_close_schedule]

"""Monthly partitions: the month is the unit of ERP sales lines, partner reports, the
partner-month facts and the reconciliation (docs/operations.md).

Ingestion stays unpartitioned (incremental by watermark); the month-grained dbt models are
one `@dbt_assets` selection partitioned by `monthly_partitions`, and each run passes its
months to dbt's `min_month` / `max_month` (through the environment: transform.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import dagster as dg
import duckdb

from connectors.config import Settings


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def add_months(month: date, months: int) -> date:
    """The first day of the month `months` after (or before, if negative) `month`."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_key(day: date) -> str:
    """The partition key of `day`'s month (`YYYY-MM-01`, as MonthlyPartitionsDefinition)."""
    return month_start(day).isoformat()


def first_month(settings: Settings) -> date:
    """The first partition: `PARTNERPULSE_FIRST_MONTH`, else the first month of the
    stand-in world (`PARTNERPULSE_STANDIN_MONTHS` months ending with today's month)."""
    if settings.first_month is not None:
        return settings.first_month
    return add_months(month_start(settings.today), -(settings.standin.months - 1))


def build_monthly_partitions(settings: Settings) -> dg.MonthlyPartitionsDefinition:
    """Month partitions from the first month up to and including the current month."""
    return dg.MonthlyPartitionsDefinition(
        start_date=first_month(settings).isoformat(), end_offset=1, timezone="UTC"
    )


# Read once, when the code location loads: every process of a deployment (webserver, daemon,
# run workers) has the same environment, hence the same partitions.
monthly_partitions = build_monthly_partitions(Settings.from_env())


def latest_partition_at_or_before(day: date) -> str:
    """The partition of `day`'s month, or the last existing one when that is later."""
    keys = monthly_partitions.get_partition_keys()
    wanted = month_key(day)
    earlier = [k for k in keys if k <= wanted]
    return earlier[-1] if earlier else keys[0]


def month_partition_key(month: str) -> str:
    """The partition key of `month` (`YYYY-MM` or `YYYY-MM-DD`); ValueError naming the
    partitions when it is not one of them."""
    try:
        day = date.fromisoformat(month if len(month) > 7 else f"{month}-01")
    except ValueError:
        raise ValueError(f"{month!r} is not a month (YYYY-MM)") from None
    keys = monthly_partitions.get_partition_keys()
    if month_key(day) not in keys:
        raise ValueError(
            f"{month!r} is not a partition: the months run from {keys[0][:7]} to {keys[-1][:7]}"
        )
    return month_key(day)


WHOLE_HISTORY_TAG = "partnerpulse/months"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
BACKFILL_TAG = "dagster/backfill"


def dbt_month_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """`min_month` / `max_month` (partition keys, `YYYY-MM-01`) of a partitioned run: one
    month, or the range of a single-run backfill. Empty for a whole-history run
    (`whole_history_tags`) and for an unpartitioned run: incremental models then rebuild
    the months whose data changed, by their own rule.

    Read from the run's tags, so that every dbt step of a run passes the same vars: dbt
    reuses its parse state only when the vars are unchanged (`transform._keep_parse_state`),
    and only the incremental models read these two. One exception: a backfill of months
    selected in the asset graph runs the unpartitioned models it includes (the ERP sales
    fact) in a run of their own, without partition tags; that run rebuilds the backfill's
    months, from the first to the last.
    """
    window = _month_window(context.run.tags) or _backfill_window(context)
    return {"min_month": window[0], "max_month": window[1]} if window else {}


def _backfill_window(context: dg.AssetExecutionContext) -> tuple[str, str] | None:
    """The first and last month partition targeted by the asset backfill the run belongs
    to, if any."""
    backfill_id = context.run.tags.get(BACKFILL_TAG)
    backfill = context.instance.get_backfill(backfill_id) if backfill_id else None
    if backfill is None or not backfill.is_asset_backfill:
        return None
    target = backfill.get_asset_backfill_data(context.repository_def.asset_graph).target_subset
    keys = {
        key
        for subset in target.partitions_subsets_by_asset_key.values()
        for key in subset.get_partition_keys()
    }
    return (min(keys), max(keys)) if keys else None


def is_partitioned(tags: Mapping[str, str]) -> bool:
    """Whether a run has a month partition or a range of them (a whole-history run has every
    month's): what the month-partitioned assets need."""
    return bool(tags.get(PARTITION_TAG) or (tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG)))


def _month_window(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The first and last partition of a run (one month, or a range), None for a
    whole-history run and a run without partitions."""
    if tags.get(WHOLE_HISTORY_TAG) == "all":
        return None
    first = tags.get(PARTITION_TAG) or tags.get(RANGE_START_TAG)
    last = tags.get(PARTITION_TAG) or tags.get(RANGE_END_TAG)
    return (first, last) if first and last else None


# -- months touched by a sync ----------------------------------------------------------------
# Which months' partitions a sync changed, from the rows it landed (`_sync_id`). Rows read
# again at the watermark (incremental reads use `>=`) were seen by the previous sync and
# are not changes: only rows modified after the previous watermark count.

_MONTHS_TOUCHED_SQL: Mapping[tuple[str, str], str] = {
    ("portal", "sales_reports"): """
        select distinct cast(period || '-01' as date)
        from raw_portal.sales_reports
        where _sync_id = $sync_id and ($since is null or updated_at > $since)
    """,
    ("pos", "pos_reports"): """
        select distinct cast(period || '-01' as date)
        from raw_portal.pos_files
        where _sync_id = $sync_id and regexp_matches(period, '^[0-9]{4}-[0-9]{2}$')
    """,
    ("erp", "transactions"): """
        select distinct date_trunc('month', trandate)
        from raw_erp.transaction
        where _sync_id = $sync_id and trandate is not null
            and ($since is null or lastmodifieddate > $since)
    """,
    ("erp", "transaction_lines"): """
        select distinct date_trunc('month', transactions.trandate)
        from raw_erp.transactionline as lines
        inner join raw_erp.transaction as transactions on transactions.id = lines.transaction
        where lines._sync_id = $sync_id and transactions.trandate is not null
            and ($since is null or lines.lastmodifieddate > $since)
    """,
}

MONTH_KEYED_OBJECTS = frozenset(_MONTHS_TOUCHED_SQL)


def months_touched(
    con: duckdb.DuckDBPyConnection,
    source: str,
    object_name: str,
    sync_id: str,
    watermark_before: object,
) -> list[str]:
    """Partition keys of the months whose rows the sync `sync_id` of `source/object_name`
    changed (empty for objects that are not month-keyed)."""
    sql = _MONTHS_TOUCHED_SQL.get((source, object_name))
    if sql is None:
        return []
    params = {"sync_id": sync_id, "since": watermark_before}
    rows = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchall()
    return sorted({month_key(day) for (day,) in rows if day is not None})


def existing_partitions(keys: Iterable[str]) -> list[str]:
    """Those of `keys` that are partitions, sorted (months before the first partition, or
    not yet begun, are dropped)."""
    existing = set(monthly_partitions.get_partition_keys())
    return sorted(k for k in set(keys) if k in existing)


def run_partitions(tags: Mapping[str, str]) -> list[str]:
    """The month partitions a run covers, from its tags: its partition, its range, or
    every partition (a whole-history run, or a run without partitions such as checks
    launched alone)."""
    every = monthly_partitions.get_partition_keys()
    window = _month_window(tags)
    return [k for k in every if window is None or window[0] <= k <= window[1]]


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags for one run over the partitions `first` to `last` (what a single-run
    backfill of that range does)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def whole_history_tags() -> dict[str, str]:
    """Run tags for a run of the whole graph (`partnerpulse run`): a single-run range over
    every partition, marked so that dbt gets no month window.

    Dagster runs month-partitioned assets only within a partition or a partition range (a
    run without one fails where a partitioned model depends on another). Without a window,
    incremental models rebuild only the months whose data changed; a backfill of every
    partition, by contrast, rebuilds them all.
    """
    keys = monthly_partitions.get_partition_keys()
    return {**partition_range_tags(keys[0], keys[-1]), WHOLE_HISTORY_TAG: "all"}

"""What a run changed that someone should look at: the run's summary tags, and the digest
alert of what is new since the previous publication (docs/operations.md, "After a run").

A run can succeed while warning checks failed and partners mis-reported: nothing blocks, so
nothing would be said. After each successful run that published, `summarise_run` tags the
run with how many warning checks failed and which (the Overview and run pages show tags),
and `digest` compares the new publication of the marts with the one before it: new
mis-reports, newly rejected POS files and new data-quality findings, by partner name and
id, month and amount. An empty digest is not sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from connectors.config import Settings
from connectors.redaction import redact
from orchestration import alerts
from orchestration.alerts import slack_escape
from reports.formatting import partner_label, usd

WARNINGS_TAG = "partnerpulse/warning_checks_failed"
WARNING_NAMES_TAG = "partnerpulse/warning_checks"
SUMMARY_TAG = "partnerpulse/summary"
DIGEST_TAG = "partnerpulse/digest_sent"
MAX_TAG_CHARS = 1000
MAX_ITEMS_SHOWN = 30
MIS_REPORTS = ("over_reported", "under_reported")


@dataclass(frozen=True)
class Item:
    """One new thing: a mis-reported month, a rejected file or another finding."""

    kind: str  # over_reported, under_reported, pos_file_rejected, erp_partner_unmapped, ...
    key: str
    partner_id: str | None
    partner_name: str | None
    month_start: date | None
    amount_usd: float | None
    detail: str

    @property
    def partner(self) -> str:
        return partner_label(self.partner_name, self.partner_id)

    def line(self) -> str:
        month = f" {self.month_start:%Y-%m}" if self.month_start else ""
        amount = f", {usd(self.amount_usd, plus=True)}" if self.amount_usd is not None else ""
        return f"{self.kind.replace('_', ' ')}: {self.partner}{month}{amount}: {self.detail}"


@dataclass(frozen=True)
class Digest:
    """What is new in `publication_id` against `previous_id` (None: the first publication)."""

    publication_id: str
    previous_id: str | None
    items: Sequence[Item] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        since = "the previous publication" if self.previous_id else "nothing (a first publication)"
        return f"PartnerPulse: {len(self.items)} new since {since}"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            group = (
                "mis-reports"
                if item.kind in MIS_REPORTS
                else "rejected files"
                if item.kind == "pos_file_rejected"
                else "findings"
            )
            counts[group] = counts.get(group, 0) + 1
        return counts

    def text(self, ui_url: str | None = None, secrets: Sequence[str] = ()) -> str:
        """The digest as Slack mrkdwn, each value redacted of `secrets` and escaped."""

        def show(value: str) -> str:
            return slack_escape(redact(value, secrets))

        since = f"publication {self.previous_id}" if self.previous_id else "the first publication"
        counts = ", ".join(f"{n} {group}" for group, n in self.counts().items())
        lines = [f":mag: *PartnerPulse: new since {show(since)}*: {show(counts)}"]
        lines += [f"• {show(item.line())}" for item in self.items[:MAX_ITEMS_SHOWN]]
        if len(self.items) > MAX_ITEMS_SHOWN:
            lines.append(f"…and {len(self.items) - MAX_ITEMS_SHOWN} more")
        if ui_url:
            lines.append(f"<{show(ui_url)}/assets/serving/marts|Open the marts in Dagster>")
        return "\n".join(lines)


def _publications(parquet_root: Path) -> list[str]:
    folder = parquet_root / "publications"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# The keys that make an item the same one in two publications, and how each reads.
_QUERIES = {
    "mis_reports": """
        select r.status as kind, r.partner_id || '|' || r.month_start as key, r.partner_id,
            p.partner_name, r.month_start, r.variance_usd as amount_usd,
            'reported ' || coalesce(printf('$%,.0f', r.reported_sales_usd), 'nothing')
                || ', invoiced ' || printf('$%,.0f', r.erp_sales_usd)
                || coalesce(' (' || printf('%+.1f', 100 * r.variance_pct) || '%)', '')
                as detail
        from read_parquet({rec}) as r
        left join read_parquet({partners}) as p using (partner_id)
        where r.status in ('over_reported', 'under_reported')
    """,
    "findings": """
        select f.finding_type as kind, f.finding_type || '|' || f.record_id as key,
            f.partner_id, p.partner_name, f.month_start, f.amount_usd, f.detail
        from read_parquet({findings}) as f
        left join read_parquet({partners}) as p using (partner_id)
    """,
}


def _items(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, Item]:
    files = {
        "rec": folder / "rpt_partner_reconciliation.parquet",
        "findings": folder / "rpt_data_quality_findings.parquet",
        "partners": folder / "dim_partners.parquet",
    }
    quoted = {name: "'" + str(path).replace("'", "''") + "'" for name, path in files.items()}
    items: dict[str, Item] = {}
    for sql in _QUERIES.values():
        cursor = con.execute(sql.format(**quoted))
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            item = Item(**dict(zip(names, values, strict=True)))
            items[f"{item.kind}|{item.key}"] = item
    return items


def digest(parquet_root: Path, publication_id: str) -> Digest:
    """What `publication_id` holds that the publication before it did not."""
    names = _publications(parquet_root)
    earlier = [n for n in names if n < publication_id]
    previous = earlier[-1] if earlier else None
    con = duckdb.connect()
    try:
        now = _items(con, parquet_root / "publications" / publication_id)
        before = _items(con, parquet_root / "publications" / previous) if previous else {}
    finally:
        con.close()
    order = {"over_reported": 0, "under_reported": 0, "pos_file_rejected": 1}
    new = sorted(
        (item for key, item in now.items() if key not in before),
        key=lambda i: (order.get(i.kind, 2), i.kind, i.partner_name or "", i.key),
    )
    return Digest(publication_id, previous, tuple(new))


def publication_of_run(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The marts publication the run made (its `serving/marts` materialization), if any."""
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        event = record.event_log_entry.dagster_event
        materialization = event.event_specific_data.materialization if event else None
        if materialization and materialization.asset_key == dg.AssetKey(["serving", "marts"]):
            value = materialization.metadata.get("publication_id")
            return str(value.value) if value is not None else None
    return None


def summary_tags(warnings: Sequence[str], new: Digest | None) -> dict[str, str]:
    """The run's tags: failed warning checks (count, names) and a one-line summary."""
    parts = [f"{len(warnings)} warning check(s) failed"]
    if new is not None:
        counts = new.counts()
        parts.append(
            "new: " + ", ".join(f"{n} {g}" for g, n in counts.items()) if counts else "nothing new"
        )
        named = sorted({i.partner for i in new.items if i.kind in MIS_REPORTS})
        if named:
            parts.append("mis-reported: " + "; ".join(named))
    return {
        WARNINGS_TAG: str(len(warnings)),
        WARNING_NAMES_TAG: json.dumps(warnings)[:MAX_TAG_CHARS],
        SUMMARY_TAG: ". ".join(parts)[:MAX_TAG_CHARS],
    }


@dataclass(frozen=True)
class RunSummary:
    warnings: list[str]
    digest: Digest | None
    sent: bool


def summarise_run(instance: dg.DagsterInstance, run_id: str, settings: Settings) -> RunSummary:
    """Tags the run with its failed warning checks and what is new; sends the digest when
    something is. Once per run: the CLI calls it after its own run, the sensor for others."""
    warnings = alerts.failed_checks(instance, run_id, dg.AssetCheckSeverity.WARN)
    publication = publication_of_run(instance, run_id)
    root = settings.serving_parquet_path
    new = None
    if publication and (root / "publications" / publication).is_dir():
        new = digest(root, publication)
    sent = bool(new and new.items) and alerts.send_alert(new, settings)
    instance.add_run_tags(
        run_id, {**summary_tags(warnings, new), DIGEST_TAG: "sent" if sent else "no"}
    )
    return RunSummary(warnings, new, sent)

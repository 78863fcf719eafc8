"""One asset check per kind of data-quality finding (`marts.rpt_data_quality_findings`), so
that what the models could not attribute is seen in the UI, by partner name, with what it
costs, rather than only as rows of a mart.

A kind's check fails (WARN) when the run has any finding of that kind. It blocks publishing
(ERROR) only above a threshold set in `PARTNERPULSE_BLOCKING_FINDINGS`, off by default: the
demo world plants an unmapped ERP partner on purpose and must still publish.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from connectors.config import BlockingFinding
from orchestration.resources import PipelineSettings
from reports.formatting import partner_label, usd

FINDINGS = dg.AssetKey(["marts", "rpt_data_quality_findings"])
PARTNERS = dg.AssetKey(["marts", "dim_partners"])
ROWS_SHOWN = 25


@dataclass(frozen=True)
class FindingKind:
    """A `finding_type` of the findings mart, and what one such finding costs, in words."""

    name: str
    what: str  # "ERP partners that map to no CRM partner", as it reads after a count
    cost: str  # "their sales count for no partner"


KINDS = [
    FindingKind(
        "erp_partner_unmapped",
        "ERP partners that map to no CRM partner",
        "their ERP sales and MDF payments count for no partner",
    ),
    FindingKind(
        "erp_partner_mapped_ambiguously",
        "ERP partners named by two or more CRM partners",
        "their sales are put to one of them arbitrarily",
    ),
    FindingKind(
        "erp_sales_outside_partnership",
        "ERP sales of a partner dated outside its partnership",
        "they count in no partner-month",
    ),
    FindingKind(
        "erp_partner_external_id_mismatch",
        "ERP partners whose external id disagrees with the CRM's mapping",
        "the mapping may be wrong; the CRM's is used",
    ),
    FindingKind(
        "crm_erp_partner_id_invalid",
        "CRM partners whose ERP partner id is not a number",
        "their ERP sales are not found",
    ),
    FindingKind(
        "crm_erp_partner_id_unknown",
        "CRM partners naming an ERP partner id the ERP does not have",
        "their ERP sales are not found",
    ),
    FindingKind(
        "partner_since_missing",
        "partners without a partnership start date",
        "they have no months: nothing of theirs is counted",
    ),
    FindingKind(
        "partner_terminated_without_date",
        "terminated partners without a termination date",
        "they are counted as active to this month",
    ),
    FindingKind(
        "report_invalid_header",
        "partner reports with an invalid header",
        "the report counts as not received",
    ),
    FindingKind(
        "report_api_csv_clash",
        "reports sent both through the API and as a POS file",
        "one of the two is used, by revision",
    ),
    FindingKind(
        "report_duplicate_revision",
        "reports sent twice with the same revision",
        "one of the two is used",
    ),
    FindingKind(
        "report_unknown_partner",
        "reports of a partner the CRM does not know",
        "their sales are reconciled against no one",
    ),
    FindingKind(
        "report_outside_partnership",
        "reports for a month outside the partner's partnership",
        "they are reconciled against nothing",
    ),
    FindingKind(
        "report_missing_currency_rate",
        "reports in a currency without a rate for their month",
        "their amounts cannot be converted to USD",
    ),
    FindingKind(
        "pos_file_rejected",
        "POS files rejected whole",
        "the partner's report for that month counts as not received",
    ),
    FindingKind(
        "report_line_unknown_sku",
        "reported lines naming a SKU the ERP does not have",
        "their amount cannot be matched to an item",
    ),
    FindingKind(
        "report_line_unknown_invoice_ref",
        "reported lines naming an invoice the ERP does not have",
        "their amount cannot be matched to an invoice",
    ),
    FindingKind(
        "portal_record_unknown_partner",
        "portal records (trainings, claims, asset usage, plans) of an unknown partner",
        "they count for no partner",
    ),
]

QUERY = """
    select f.finding_type, f.severity, f.record_id, f.partner_id, p.partner_name,
        f.erp_partner_id, f.month_start, f.amount_usd, f.detail
    from marts.rpt_data_quality_findings as f
    left join marts.dim_partners as p using (partner_id)
    order by f.finding_type, f.amount_usd desc nulls last, f.record_id
"""


def check_name(kind: FindingKind) -> str:
    return f"findings_{kind.name}"


def _table(rows: list[Mapping[str, Any]]) -> str:
    lines = [
        "| partner | ERP partner | month | amount | record | detail |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows[:ROWS_SHOWN]:
        cells = [
            partner_label(r["partner_name"], r["partner_id"]) if r["partner_id"] else "",
            str(r["erp_partner_id"] or ""),
            r["month_start"].strftime("%Y-%m") if r["month_start"] else "",
            usd(r["amount_usd"]) if r["amount_usd"] is not None else "",
            str(r["record_id"]),
            str(r["detail"] or ""),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if len(rows) > ROWS_SHOWN:
        lines.append(f"\n…and {len(rows) - ROWS_SHOWN} more in `marts.rpt_data_quality_findings`.")
    return "\n".join(lines)


def evaluate(
    kind: FindingKind, rows: list[Mapping[str, Any]], blocking: BlockingFinding | None
) -> dg.AssetCheckResult:
    """The check of one kind over the findings of that kind."""
    amount = float(sum(r["amount_usd"] or 0 for r in rows))
    has_amounts = any(r["amount_usd"] is not None for r in rows)
    blocks = blocking is not None and blocking.exceeded(len(rows), amount)
    if not rows:
        description = f"None: no {kind.what}."
    else:
        held = f", holding {usd(amount)}" if has_amounts else ""
        description = f"{len(rows)} {kind.what}{held}: {kind.cost}."
        if blocks:
            description += f" Above the threshold {blocking} (PARTNERPULSE_BLOCKING_FINDINGS)."
    metadata: dict[str, Any] = {
        "findings": dg.MetadataValue.int(len(rows)),
        "amount_usd": dg.MetadataValue.float(round(amount, 2)),
        "blocks_above": dg.MetadataValue.text(str(blocking) if blocking else "never"),
    }
    if rows:
        metadata["rows"] = dg.MetadataValue.md(_table(rows))
    return dg.AssetCheckResult(
        asset_key=FINDINGS,
        check_name=check_name(kind),
        passed=not rows,
        severity=dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


@dg.multi_asset_check(
    name="data_quality_findings",
    specs=[
        dg.AssetCheckSpec(
            check_name(kind),
            asset=FINDINGS,
            additional_deps=[PARTNERS],
            # Blocking only when its result is ERROR: above a configured threshold.
            blocking=True,
            description=f"{kind.what[:1].upper()}{kind.what[1:]}: {kind.cost}. Fails (WARN) "
            "on any; blocks publishing only above a threshold in "
            "PARTNERPULSE_BLOCKING_FINDINGS (default: never).",
        )
        for kind in KINDS
    ],
    pool="warehouse",
)
def findings_checks(
    context: dg.AssetCheckExecutionContext, settings: PipelineSettings
) -> Iterator[dg.AssetCheckResult]:
    """One result per kind of data-quality finding, naming the partners concerned."""
    thresholds = {b.kind: b for b in settings.settings.blocking_findings}
    unknown = sorted(set(thresholds) - {k.name for k in KINDS})
    if unknown:
        raise dg.Failure(
            f"PARTNERPULSE_BLOCKING_FINDINGS names no kind of finding: {', '.join(unknown)} "
            f"(the kinds: {', '.join(k.name for k in KINDS)})"
        )
    with settings.read_warehouse() as con:
        cursor = con.execute(QUERY)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(row["finding_type"], []).append(row)
    for kind in KINDS:
        yield evaluate(kind, by_kind.get(kind.name, []), thresholds.get(kind.name))

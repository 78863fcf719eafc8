"""Where each partner is strong, read from the published `rpt_partner_specialisation`
(docs/metrics.md, "Segments"; docs/models.md, decisions 51-55; docs/reports.md, "Where
you are strong").

A partner page gets that partner's rows only. Its rank in its tier is a benchmark like the
scorecard's percentile: shown only where at least `min_cohort` other partners of the tier
are ranked with it, since with two or three peers a rank tells a partner where a named
competitor stands. A publication without the mart builds its pages without the section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import duckdb

from reports.marts import Row, published, rows

MART = "rpt_partner_specialisation"
TOP_SHOWN = 5  # specialisations listed, highest quotient first
STRONGEST_SHOWN = 3  # segments listed instead when the partner is a specialist in none
SEGMENT_TYPES = {"product_line": "Product line", "industry": "Industry", "region": "Region"}


@dataclass
class Segment:
    """One of the partner's segments as its page shows it."""

    segment_type: str
    segment: str
    sales_volume_usd: float
    sales_share: float
    ecosystem_sales_share: float
    location_quotient: float
    prior_location_quotient: float | None
    location_quotient_change: float | None
    end_customers: int
    is_specialist: bool
    was_specialist: bool | None
    is_becoming_specialist: bool
    is_priority: bool
    tier_rank: int | None  # None where withheld
    tier_peers: int  # partners of its tier ranked with it, other than itself
    rank_shown: bool

    @property
    def kind(self) -> str:
        return SEGMENT_TYPES.get(self.segment_type, self.segment_type)

    @property
    def status(self) -> str:
        """A priority line's state: becoming, specialist, lapsed, growing, none (no sales in
        it), or not_growing."""
        if self.is_becoming_specialist:
            return "becoming"
        if self.is_specialist:
            return "specialist"
        if self.was_specialist:
            return "lapsed"
        if not self.sales_volume_usd:
            return "none"
        return "growing" if (self.location_quotient_change or 0) > 0 else "not_growing"


@dataclass
class PartnerSpecialisation:
    """A partner's specialisations over the mart's window, and its priority product lines."""

    window_start_month: date
    window_end_month: date
    has_sales: bool = True  # False: no sales in the window, so no row in the mart
    specialisms: list[Segment] = field(default_factory=list)  # highest quotient first
    strongest: list[Segment] = field(default_factory=list)  # without a specialism: its best
    priority: list[Segment] = field(default_factory=list)
    specialisms_not_shown: int = 0  # beyond TOP_SHOWN

    @property
    def priority_verdict(self) -> str | None:
        """What the page says of the priority lines as a whole (None: there are none)."""
        if not self.priority:
            return None
        statuses = {s.status for s in self.priority}
        for verdict in ("becoming", "specialist", "growing"):
            if verdict in statuses:
                return verdict
        return "not_yet"

    def priority_with(self, *statuses: str) -> list[Segment]:
        return [s for s in self.priority if s.status in statuses]


def _segment(row: Row, min_cohort: int) -> Segment:
    peers = max((row["tier_partners"] or 0) - 1, 0)
    shown = row["tier_rank"] is not None and peers >= min_cohort
    return Segment(
        segment_type=row["segment_type"],
        segment=row["segment"],
        sales_volume_usd=row["sales_volume_usd"],
        sales_share=row["sales_share"],
        ecosystem_sales_share=row["ecosystem_sales_share"],
        location_quotient=row["location_quotient"],
        prior_location_quotient=row["prior_location_quotient"],
        location_quotient_change=row["location_quotient_change"],
        end_customers=row["end_customers"],
        is_specialist=row["is_specialist"],
        was_specialist=row["was_specialist"],
        is_becoming_specialist=row["is_becoming_specialist"],
        is_priority=row["is_priority"],
        tier_rank=row["tier_rank"] if shown else None,
        tier_peers=peers,
        rank_shown=shown,
    )


def partner_specialisations(
    con: duckdb.DuckDBPyConnection, min_cohort: int, partner_ids: list[str]
) -> Mapping[str, PartnerSpecialisation]:
    """The specialisations of each of `partner_ids` ({} without the mart); one without
    sales in the window gets an empty one, so that its page can say so."""
    if MART not in published(con):
        return {}
    window = con.execute(
        f"select min(window_start_month), max(window_end_month) from marts.{MART}"
    ).fetchone()
    # 'Unknown' (items without a product line, customers matching no CRM Account) is never
    # a specialism, and says nothing a partner can act on.
    out: dict[str, PartnerSpecialisation] = {}
    for row in rows(
        con,
        f"select * from marts.{MART} where segment <> 'Unknown' "
        "order by partner_id, location_quotient desc, segment_type, segment",
    ):
        page = out.setdefault(
            row["partner_id"],
            PartnerSpecialisation(row["window_start_month"], row["window_end_month"]),
        )
        segment = _segment(row, min_cohort)
        if segment.is_specialist:
            if len(page.specialisms) < TOP_SHOWN:
                page.specialisms.append(segment)
            else:
                page.specialisms_not_shown += 1
        elif len(page.strongest) < STRONGEST_SHOWN and segment.location_quotient > 1:
            page.strongest.append(segment)
        if segment.is_priority:
            page.priority.append(segment)
    for page in out.values():
        if page.specialisms:
            page.strongest = []
        page.priority.sort(key=lambda s: s.segment)
    for pid in partner_ids:
        if pid not in out:
            out[pid] = PartnerSpecialisation(*window, has_sales=False)
    return out

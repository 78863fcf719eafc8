"""What the scorecard pages show, read from the published marts (docs/reports.md).

Only the serving copy is read (the DuckDB file BI tools read, opened read-only): a page
never shows a figure that was not published. Each section is one query over every partner,
grouped here by partner, so that building all pages costs a dozen queries, not a dozen per
partner.

Partner pages must never show another partner (docs/reports.md, "What a partner sees"):
free text from the marts (finding details, file names, campaign names) passes through
`Scrubber`, and a benchmark is shown only for a peer group of at least `min_cohort` other
partners.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from reports import formatting
from reports.forecast import EcosystemForecast, PartnerForecast, ecosystem_forecast
from reports.forecast import partner_forecasts as read_partner_forecasts
from reports.marts import Row
from reports.marts import rows as _rows
from reports.specialisation import PartnerSpecialisation, partner_specialisations

MONTHS_SHOWN = 24
# What the partner sent us: the findings a partner page lists as "lines at issue". The
# vendor's own mapping findings (erp_*, crm_*, portal_record_*) stay on the ecosystem page.
PARTNER_FINDING_PREFIXES = ("report_", "pos_")
OPEN_DISCREPANCIES = ("over_reported", "under_reported", "missing_report")
MOVERS_SHOWN = 5
# What a partner page shows of its scorecard row and of its campaigns (with the partner, to
# group them). A page holds only what it shows, and the figures that move below the digits
# they are shown with as it shows them (the campaigns' ROMI, the measures: `_measures`), so
# that its digest (reports.build) changes when what it shows does. Every day's invoices
# move the MDF return on investment in its sixth digit, through the product lines' ERP
# gross-margin ratios (docs/reports.md, "A page is rendered again when what it shows
# changes").
PAGE_SCORECARD_COLUMNS = (
    "partner_tier",
    "eligible_tier",
    "tier_eligibility",
    "next_tier",
    "next_tier_min_sales_usd",
    "next_tier_sales_gap_usd",
    "next_tier_min_active_certifications",
    "next_tier_certifications_gap",
    "capability_score",
    "active_certifications",
    "t12m_sales_volume_usd",
    "t12m_sales_yoy_growth",
    "t12m_revenue_attainment",
)
PAGE_CAMPAIGN_COLUMNS = (
    "partner_id",
    "campaign_name",
    "campaign_type",
    "start_date",
    "mdf_paid_usd",
    "opportunities_won",
    "attributed_revenue_usd",
    "romi",
)

MEASURES = {
    "sales_volume_usd": ("Sales volume", "usd"),
    "sales_yoy_growth": ("Sales growth, year on year", "pct"),
    "revenue_attainment": ("Revenue against plan", "pct"),
    "win_rate": ("Win rate", "pct"),
    "deal_reg_conversion_rate": ("Deal registrations won / approved", "pct"),
    "active_certifications": ("Active certifications (monthly mean)", "num1"),
    "mdf_romi": ("MDF return on investment", "ratio"),
    "reconciliation_accuracy": ("Reports that matched our invoices", "pct"),
    "engagement_events": ("Portal asset downloads, shares, co-brands", "num"),
}

# The business-plan quarters a page shows (the 8 ending with the scored month's), through
# the scored month like every other figure of the page: a quarter still running then counts
# its months up to the scored month. The mart counts the run's own month too (to date), so
# its running quarter changes with every day's invoices; the page, a statement of the
# scored month, changes when a month closes (docs/reports.md, decision). The attainment
# keeps the mart's rule for a target it cannot divide by (NULL where the mart's is NULL).
PLAN_QUARTERS = """
with running as (
    -- The quarter of the scored month when it ends later: its months up to the scored one.
    select
        plan.partner_id,
        plan.quarter_start_date,
        coalesce(sum(months.sales_volume_usd), 0) as revenue_usd,
        coalesce(sum(months.deal_reg_value_submitted_usd), 0) as deal_reg_value_usd
    from marts.rpt_partner_plan_attainment as plan
    left join marts.fct_partner_months as months
        on months.partner_id = plan.partner_id
        and months.month_start between plan.quarter_start_date and $scored
    where $scored between plan.quarter_start_date and plan.quarter_start_date + interval 1 month
    group by all
)
select
    plan.partner_id,
    plan.quarter_start_date,
    plan.quarter,
    running.partner_id is null as is_quarter_complete,
    coalesce(running.revenue_usd, plan.revenue_actual_usd) as revenue_actual_usd,
    plan.revenue_target_usd,
    if(running.partner_id is null or plan.revenue_attainment is null,
        plan.revenue_attainment,
        running.revenue_usd / plan.revenue_target_usd) as revenue_attainment,
    coalesce(running.deal_reg_value_usd, plan.deal_reg_value_actual_usd)
        as deal_reg_value_actual_usd,
    plan.deal_reg_value_target_usd
from marts.rpt_partner_plan_attainment as plan
left join running
    on running.partner_id = plan.partner_id
    and running.quarter_start_date = plan.quarter_start_date
where plan.quarter_start_date between $scored - interval 21 month and $scored
order by plan.partner_id, plan.quarter_start_date
"""


@dataclass(frozen=True)
class Publication:
    """The marts publication the pages were built from."""

    publication_id: str
    run_id: str
    published_at: datetime
    scored_month: date


@dataclass
class Measure:
    """One scorecard measure of one partner, with its benchmark or the reason it is withheld;
    its figures as the page shows them (in the measure's unit, the rank as a percentage)."""

    name: str
    label: str
    window_months: int
    value: str
    percentile_rank: str | None
    tier_average: str | None
    tier_top_decile: str | None
    peers: int  # partners of the tier, other than this one, with a value
    benchmark_shown: bool  # enough peers: the rank and the tier's figures are shown


@dataclass
class PartnerPage:
    """Everything one partner page shows: that partner's rows only."""

    partner: Row
    scorecard: Row | None
    months: list[Row] = field(default_factory=list)
    quarters: list[Row] = field(default_factory=list)
    reconciliation: list[Row] = field(default_factory=list)
    issues: list[Row] = field(default_factory=list)
    deal_registrations: list[Row] = field(default_factory=list)
    mdf_months: list[Row] = field(default_factory=list)
    campaigns: list[Row] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    forecast: PartnerForecast | None = None
    specialisation: PartnerSpecialisation | None = None

    @property
    def partner_id(self) -> str:
        return self.partner["partner_id"]

    @property
    def latest(self) -> Row | None:
        return self.months[-1] if self.months else None


@dataclass
class Ecosystem:
    """The channel team's view: every partner."""

    months: list[Row]
    regions: list[Row]
    partners: list[Row]
    movers_up: list[Row]
    movers_down: list[Row]
    reconciliation_counts: list[Row]
    discrepancies: list[Row]
    tier_changes: list[Row]
    findings: list[Row]
    sales_forecast: EcosystemForecast | None = None


@dataclass
class ReportData:
    publication: Publication
    ecosystem: Ecosystem
    pages: list[PartnerPage]
    min_cohort: int


class Scrubber:
    """Replaces every partner id and name but one's own in free text."""

    def __init__(self, partners: Iterable[Row]) -> None:
        self._owner: dict[str, str] = {}
        for p in partners:
            self._owner[p["partner_id"].lower()] = p["partner_id"]
            if p.get("partner_name"):
                self._owner[p["partner_name"].lower()] = p["partner_id"]
        self._pattern = re.compile(_longest_of(self._owner), re.IGNORECASE)

    def __call__(self, text: str | None, partner_id: str) -> str | None:
        if not text or not self._owner:
            return text

        def replace(match: re.Match[str]) -> str:
            owner = self._owner[match.group(0).lower()]
            return match.group(0) if owner == partner_id else "another partner"

        return self._pattern.sub(replace, text)


def _longest_of(words: Iterable[str]) -> str:
    """A regular expression that matches the longest of `words` starting where it matches
    ("Acme Holdings" whole before "Acme"), written as their trie.

    The same as the words joined by `|`, longest first, but Python tries such alternatives
    one by one at every position of the text: with 2,000 partners' ids and names, scrubbing
    a page's free text took 0.3 ms a field, 1 s of a 1,000-partner build.
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(rest) for char, rest in node.items() if char]
        if not branches:
            return ""
        ends = "" in node
        body = f"(?:{'|'.join(branches)})" if len(branches) > 1 or ends else branches[0]
        return body + "?" if ends else body  # greedy: the longer word first

    return pattern(trie) if trie else "(?!)"


def _by_partner(rows: list[Row]) -> Mapping[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["partner_id"]].append(row)
    return grouped


def load(serving_path: Path | str, *, min_cohort: int = 5) -> ReportData:
    """Reads every page's figures from the published marts at `serving_path`."""
    con = duckdb.connect(str(serving_path), read_only=True)
    try:
        return _load(con, min_cohort)
    finally:
        con.close()


def _load(con: duckdb.DuckDBPyConnection, min_cohort: int) -> ReportData:
    (pub,) = _rows(
        con,
        "select any_value(publication_id) as publication_id, any_value(run_id) as run_id, "
        "any_value(published_at) as published_at from main._publication",
    )
    scored = con.execute("select max(as_of_month) from marts.rpt_partner_scorecard").fetchone()
    scored_month = scored[0] if scored and scored[0] else date.today().replace(day=1)
    # The 24 months ending with the scored month (the latest closed month), and the year
    # before them for the year-on-year comparison.
    window = [scored_month, MONTHS_SHOWN - 1]
    first = "(?::date - to_months(?::int))"
    publication = Publication(
        publication_id=pub["publication_id"],
        run_id=pub["run_id"],
        published_at=pub["published_at"],
        scored_month=scored_month,
    )
    in_window = f"month_start between {first} and ?::date"
    window_params = [*window, scored_month]

    partners = _rows(con, "select * from marts.dim_partners order by partner_name, partner_id")
    scrub = Scrubber(partners)
    scorecards = {
        r["partner_id"]: r
        for r in _rows(
            con, "select * from marts.rpt_partner_scorecard where as_of_month = ?", [scored_month]
        )
    }
    months = _by_partner(
        _rows(
            con,
            f"""
            select m.*, prior.sales_volume_usd as prior_year_sales_usd
            from marts.fct_partner_months as m
            left join marts.fct_partner_months as prior
                on prior.partner_id = m.partner_id
                and prior.month_start = m.month_start - interval 12 month
            where m.{in_window}
            order by m.partner_id, m.month_start
            """,
            window_params,
        )
    )
    quarters = _by_partner(_rows(con, PLAN_QUARTERS, {"scored": scored_month}))
    reconciliation = _by_partner(
        _rows(
            con,
            f"select * from marts.rpt_partner_reconciliation where {in_window} "
            "order by partner_id, month_start",
            window_params,
        )
    )
    prefixes = " or ".join(f"finding_type like '{p}%'" for p in PARTNER_FINDING_PREFIXES)
    issues = _by_partner(
        _rows(
            con,
            f"select * from marts.rpt_data_quality_findings where partner_id is not null "
            f"and ({prefixes}) and (month_start is null or {in_window}) "
            "order by partner_id, month_start, finding_type, record_id",
            window_params,
        )
    )
    deal_regs = _by_partner(
        _rows(
            con,
            "select * from marts.rpt_deal_registration_funnel "
            "where month_start between ?::date - interval 11 month and ?::date "
            "order by partner_id, month_start",
            [scored_month, scored_month],
        )
    )
    campaigns = _by_partner(
        _rows(
            con,
            f"select {', '.join(PAGE_CAMPAIGN_COLUMNS)} from marts.rpt_campaign_romi "
            "where partner_id is not null "
            "and start_date <= ?::date + interval 1 month "
            "order by partner_id, start_date desc, campaign_id",
            [scored_month],
        )
    )
    measures = _by_partner(
        _rows(
            con,
            "select * from marts.rpt_partner_scorecard_measures where as_of_month = ? "
            "order by partner_id, window_months desc",
            [scored_month],
        )
    )
    forecasts = read_partner_forecasts(con)
    specialisations = partner_specialisations(
        con, min_cohort, [p["partner_id"] for p in partners if p["is_active"]]
    )

    pages = []
    for partner in partners:
        if not partner["is_active"]:
            continue
        pid = partner["partner_id"]
        page = PartnerPage(
            partner=partner,
            scorecard=_columns(scorecards.get(pid), PAGE_SCORECARD_COLUMNS),
            months=months.get(pid, []),
            quarters=quarters.get(pid, []),
            reconciliation=reconciliation.get(pid, []),
            deal_registrations=deal_regs.get(pid, []),
            mdf_months=months.get(pid, [])[-12:],
            measures=_measures(measures.get(pid, []), min_cohort),
            forecast=forecasts.get(pid),
            specialisation=specialisations.get(pid),
        )
        for issue in issues.get(pid, []):
            page.issues.append(
                {
                    **issue,
                    "detail": scrub(issue["detail"], pid),
                    "record_id": scrub(issue["record_id"], pid),
                }
            )
        for campaign in campaigns.get(pid, []):
            page.campaigns.append(
                {
                    **campaign,
                    "campaign_name": scrub(campaign["campaign_name"], pid),
                    "romi": formatting.pct(campaign["romi"]),
                }
            )
        pages.append(page)

    ecosystem = _ecosystem(con, partners, scorecards, window_params, in_window, scored_month)
    ecosystem.sales_forecast = ecosystem_forecast(con, forecasts, partners)
    return ReportData(
        publication=publication, ecosystem=ecosystem, pages=pages, min_cohort=min_cohort
    )


def _columns(row: Row | None, columns: Iterable[str]) -> Row | None:
    return None if row is None else {c: row[c] for c in columns}


def _measures(rows: list[Row], min_cohort: int) -> list[Measure]:
    """The partner's measures in the order of MEASURES, trailing 12 months first; the
    benchmark and the rank only where at least `min_cohort` other partners have a value."""
    out = []
    order = list(MEASURES)
    for row in sorted(rows, key=lambda r: (order.index(r["measure_name"]), -r["window_months"])):
        label, kind = MEASURES[row["measure_name"]]
        peers = (row["tier_partners_ranked"] or 0) - (row["measure_value"] is not None)
        shown = peers >= min_cohort
        out.append(
            Measure(
                name=row["measure_name"],
                label=label,
                window_months=row["window_months"],
                value=formatting.measure(row["measure_value"], kind),
                percentile_rank=formatting.pct(row["percentile_rank"], 0) if shown else None,
                tier_average=formatting.measure(row["tier_average"], kind) if shown else None,
                tier_top_decile=(
                    formatting.measure(row["tier_top_decile"], kind) if shown else None
                ),
                peers=peers,
                benchmark_shown=shown,
            )
        )
    return out


def _ecosystem(
    con: duckdb.DuckDBPyConnection,
    partners: list[Row],
    scorecards: Mapping[str, Row],
    window_params: list,
    in_window: str,
    scored_month: date,
) -> Ecosystem:
    last_12 = [scored_month, scored_month]
    movers = _rows(
        con,
        """
        with windows as (
            select
                partner_id,
                sum(sales_volume_usd) filter (
                    where month_start > ?::date - interval 3 month
                ) as t3m_sales_usd,
                sum(sales_volume_usd) filter (
                    where month_start > ?::date - interval 15 month
                    and month_start <= ?::date - interval 12 month
                ) as prior_t3m_sales_usd
            from marts.fct_partner_months
            where month_start <= ?::date
            group by partner_id
        )
        select w.*, p.partner_name, p.partner_tier, p.region,
            w.t3m_sales_usd - w.prior_t3m_sales_usd as change_usd,
            w.t3m_sales_usd / nullif(w.prior_t3m_sales_usd, 0) - 1 as change_pct
        from windows as w
        inner join marts.dim_partners as p using (partner_id)
        where p.is_active and w.prior_t3m_sales_usd is not null
        order by change_usd desc, partner_id
        """,
        [scored_month, scored_month, scored_month, scored_month],
    )
    return Ecosystem(
        months=_rows(
            con,
            f"select * from marts.rpt_ecosystem_months where {in_window} order by month_start",
            window_params,
        ),
        regions=_rows(
            con,
            f"select * from marts.rpt_ecosystem_region_months where {in_window} "
            "order by month_start, region",
            window_params,
        ),
        partners=[
            {**p, **{k: v for k, v in scorecards.get(p["partner_id"], {}).items() if k not in p}}
            for p in partners
            if p["is_active"]
        ],
        movers_up=[m for m in movers[:MOVERS_SHOWN] if (m["change_usd"] or 0) > 0],
        movers_down=[m for m in reversed(movers[-MOVERS_SHOWN:]) if (m["change_usd"] or 0) < 0],
        reconciliation_counts=_rows(
            con,
            f"select month_start, status, count(*) as partners "
            f"from marts.rpt_partner_reconciliation where {in_window} "
            "group by all order by month_start, status",
            window_params,
        ),
        discrepancies=_rows(
            con,
            f"""
            select r.partner_id, p.partner_name, p.partner_tier,
                count(*) as months,
                max(r.month_start) as latest_month,
                arg_max(r.status, r.month_start) as latest_status,
                sum(abs(r.variance_usd)) as absolute_variance_usd
            from marts.rpt_partner_reconciliation as r
            inner join marts.dim_partners as p using (partner_id)
            where r.status in ({", ".join(f"'{s}'" for s in OPEN_DISCREPANCIES)})
                and r.month_start between ?::date - interval 11 month and ?::date
            group by all
            order by absolute_variance_usd desc, r.partner_id
            """,
            last_12,
        ),
        tier_changes=sorted(
            (s for s in scorecards.values() if s["eligible_tier"] != s["partner_tier"]),
            key=lambda s: (s["tier_eligibility"], s["partner_name"] or "", s["partner_id"]),
        ),
        findings=_rows(
            con,
            "select finding_type, severity, count(*) as findings, "
            "sum(amount_usd) as amount_usd from marts.rpt_data_quality_findings "
            "group by all order by severity, finding_type",
        ),
    )

"""The scorecard pages of the default (demo) world, as the run published them: one per
active partner and the index, their figures against the published marts, and the rule that a
partner page shows nothing of another partner (docs/reports.md)."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest

from reports import formatting as fmt
from reports.data import MEASURES
from tests.reports.pages import facts, mart, row, soup, table, tiles
from tests.worlds import WorldRun

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("world_7")]

MEASURE_KINDS = {name: kind for name, (_, kind) in MEASURES.items()}


def fmt_label(measure_name: str) -> str:
    return MEASURES[measure_name][0]


@pytest.fixture(scope="module")
def serving(default_world: WorldRun) -> Path:
    return default_world.warehouse.parent / "serving.duckdb"


@pytest.fixture(scope="module")
def reports(default_world: WorldRun) -> Path:
    return default_world.warehouse.parent / "reports"


@pytest.fixture(scope="module")
def scored_month(serving: Path) -> date:
    return mart(serving, "select max(as_of_month) as m from marts.rpt_partner_scorecard")[0]["m"]


def test_the_run_publishes_a_page_and_a_pdf_per_active_partner_and_the_index_links_each(
    default_world: WorldRun, serving: Path, reports: Path
) -> None:
    active = {
        r["partner_id"]
        for r in mart(serving, "select partner_id from marts.dim_partners where is_active")
    }
    assert len(active) == 138
    pages = {p.stem for p in (reports / "partners").glob("*.html")}
    assert pages == active
    assert {p.stem for p in (reports / "partners").glob("*.pdf")} == active
    for pdf in list((reports / "partners").glob("*.pdf"))[:5]:
        assert pdf.read_bytes()[:5] == b"%PDF-"
    index = soup(reports / "index.html")
    links = {a["href"] for a in index.find_all("a", href=True)}
    assert {f"partners/{pid}.html" for pid in active} <= links
    # Published like the marts: a link switched to a sealed publication folder.
    assert reports.is_symlink()
    assert not os.access(reports / "index.html", os.W_OK) or os.geteuid() == 0
    assert oct((reports / "index.html").stat().st_mode & 0o777) == "0o444"
    (materialization,) = [
        m
        for m in default_world.result.get_asset_materialization_events()
        if m.asset_key.to_user_string() == "serving/reports"
    ]
    metadata = materialization.materialization.metadata
    assert metadata["partner_pages"].value == 138
    assert metadata["pdfs"].value == 138
    assert metadata["index"].value == (reports / "index.html").absolute().as_uri()


def _forbidden(serving: Path, warehouse: Path) -> tuple[list[dict], dict[str, set[str]]]:
    """Every partner (id, name) and the end customers of each partner's opportunities."""
    partners = mart(serving, "select partner_id, partner_name from marts.dim_partners")
    customers = mart(
        warehouse,
        "select distinct o.partner_id, a.account_name from staging.stg_crm__opportunities o "
        "join staging.stg_crm__accounts a on a.account_id = o.end_customer_account_id "
        "where o.partner_id is not null",
    )
    by_partner: dict[str, set[str]] = {}
    for c in customers:
        by_partner.setdefault(c["partner_id"], set()).add(c["account_name"].lower())
    return partners, by_partner


def test_no_partner_page_shows_another_partners_id_name_or_customer(
    default_world: WorldRun, serving: Path, reports: Path
) -> None:
    partners, customers = _forbidden(serving, default_world.warehouse)
    checked = 0
    for page in sorted((reports / "partners").glob("*.html")):
        own = page.stem
        markup = page.read_text(encoding="utf-8").lower()
        own_customers = customers.get(own, set())
        for other in partners:
            if other["partner_id"] == own:
                continue
            assert other["partner_id"].lower() not in markup, (own, other["partner_id"])
            assert other["partner_name"].lower() not in markup, (own, other["partner_name"])
            for customer in customers.get(other["partner_id"], set()) - own_customers:
                assert customer not in markup, (own, customer)
        checked += 1
    assert checked == 138
    # The scrubbing is what keeps a finding's detail from naming the partner it blames: one
    # rejected POS file of the demo world names another partner's id in its reason.
    scrubbed = [
        p for p in (reports / "partners").glob("*.html") if "another partner" in p.read_text()
    ]
    assert scrubbed


def test_a_benchmark_is_shown_only_for_a_tier_with_enough_other_partners(
    serving: Path, reports: Path, scored_month: date
) -> None:
    measures = mart(
        serving,
        "select * from marts.rpt_partner_scorecard_measures where as_of_month = ?",
        [scored_month],
    )
    shown = withheld = 0
    rows: dict[str, list[dict]] = {}
    for m in measures:
        if m["partner_id"] not in rows:
            page = soup(reports / "partners" / f"{m['partner_id']}.html")
            rows[m["partner_id"]] = table(page, "scorecard")
        label = fmt_label(m["measure_name"])
        (r,) = [
            r
            for r in rows[m["partner_id"]]
            if r["Measure"] == label and r["Months"] == str(m["window_months"])
        ]
        peers = m["tier_partners_ranked"] - (m["measure_value"] is not None)
        if peers >= 5:
            kind = MEASURE_KINDS[m["measure_name"]]
            assert r["Tier average"] == fmt.measure(m["tier_average"], kind)
            assert r["Top 10% reach"] == fmt.measure(m["tier_top_decile"], kind)
            shown += 1
        else:
            assert r["Your percentile"].startswith("benchmark withheld"), r
            assert "Tier average" not in r
            withheld += 1
    # The demo world's Platinum tier has 5 active partners: 4 others each, under 5.
    platinum = mart(
        serving,
        "select count(*) as n from marts.dim_partners "
        "where is_active and partner_tier = 'Platinum'",
    )[0]["n"]
    assert platinum == 5
    assert withheld >= platinum * 18 and shown > 1000


@pytest.fixture(scope="module")
def sample(serving: Path, scored_month: date) -> list[str]:
    """Three partners: the one with the most findings, a Platinum one, the best seller."""
    most_findings = mart(
        serving,
        "select f.partner_id from marts.rpt_data_quality_findings f join marts.dim_partners p "
        "using (partner_id) where p.is_active and (f.finding_type like 'report_%' or "
        "f.finding_type like 'pos_%') group by 1 order by count(*) desc, 1 limit 1",
    )[0]["partner_id"]
    platinum = mart(
        serving,
        "select partner_id from marts.dim_partners where is_active and partner_tier = 'Platinum' "
        "order by partner_id limit 1",
    )[0]["partner_id"]
    best = mart(
        serving,
        "select partner_id from marts.rpt_partner_scorecard "
        "order by t12m_sales_volume_usd desc nulls last limit 1",
    )[0]["partner_id"]
    return [most_findings, platinum, best]


def _months_back(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def test_partner_page_figures_equal_the_marts(
    serving: Path, reports: Path, scored_month: date, sample: list[str]
) -> None:
    last_12 = _months_back(scored_month, 11)
    for pid in sample:
        page = soup(reports / "partners" / f"{pid}.html")
        # Sales: three months, their year-on-year change and units.
        for back in (0, 1, 12):
            m = mart(
                serving,
                "select * from marts.fct_partner_months where partner_id = ? and month_start = ?",
                [pid, _months_back(scored_month, back)],
            )
            if not m:
                continue
            r = row(page, "sales", fmt.month(m[0]["month_start"]))
            assert r["Sales"] == fmt.usd(m[0]["sales_volume_usd"])
            assert r["Year on year"] == fmt.pct(m[0]["sales_volume_yoy_pct"], 1, True)
            assert r["Units"] == fmt.num(m[0]["units_sold"])
        # Plan: the three latest quarters, the one still running after the scored month
        # through the scored month (the mart's counts the run's month too).
        for q in mart(
            serving,
            "select * from marts.rpt_partner_plan_attainment where partner_id = ? "
            "and quarter_start_date <= ? order by quarter_start_date desc limit 3",
            [pid, scored_month],
        ):
            r = row(page, "plan", q["quarter"])
            actual, attainment, state = q["revenue_actual_usd"], q["revenue_attainment"], "complete"
            if _months_back(scored_month, 2) < q["quarter_start_date"]:
                (m,) = mart(
                    serving,
                    "select coalesce(sum(sales_volume_usd), 0) as usd, "
                    "coalesce(sum(deal_reg_value_submitted_usd), 0) as deal_regs "
                    "from marts.fct_partner_months where partner_id = ? "
                    "and month_start between ? and ?",
                    [pid, q["quarter_start_date"], scored_month],
                )
                actual = m["usd"]
                attainment = actual / q["revenue_target_usd"] if attainment is not None else None
                state = f"in progress, to {fmt.month(scored_month)}"
                assert r["Deal registrations"] == fmt.usd(m["deal_regs"])
            assert (r["Revenue"], r["Target"], r["Attainment"], r["Quarter 6"]) == (
                fmt.usd(actual),
                fmt.usd(q["revenue_target_usd"]),
                fmt.pct(attainment),
                state,
            )
        # Reconciliation: three months, and every line at issue of the 24 months.
        for back in (0, 2, 5):
            (rec,) = mart(
                serving,
                "select * from marts.rpt_partner_reconciliation where partner_id = ? "
                "and month_start = ?",
                [pid, _months_back(scored_month, back)],
            ) or [None]
            if rec is None:
                continue
            r = row(page, "reconciliation", fmt.month(rec["month_start"]))
            assert r["You reported"] == fmt.usd(rec["reported_sales_usd"])
            assert r["We invoiced"] == fmt.usd(rec["erp_sales_usd"])
            assert r["Status"] == fmt.label(rec["status"])
        findings = mart(
            serving,
            "select * from marts.rpt_data_quality_findings where partner_id = ? and "
            "(finding_type like 'report_%' or finding_type like 'pos_%') and "
            "(month_start is null or month_start >= ?)",
            [pid, _months_back(scored_month, 23)],
        )
        issues = table(page, "reconciliation", 1) if findings else []
        assert sorted((i["Issue"], i["Amount"]) for i in issues) == sorted(
            (fmt.label(f["finding_type"]), fmt.usd(f["amount_usd"], 2)) for f in findings
        )
        # Deal registrations, MDF and training over the last 12 months.
        (totals,) = mart(
            serving,
            "select sum(deal_regs_submitted) s, sum(deal_regs_approved) a, sum(deal_regs_won) w "
            "from marts.rpt_deal_registration_funnel where partner_id = ? "
            "and month_start between ? and ?",
            [pid, last_12, scored_month],
        )
        t = tiles(page, "deal-registrations")
        assert (t["submitted"], t["approved"], t["won"]) == tuple(
            fmt.num(totals[k] or 0) for k in "saw"
        )
        (mdf,) = mart(
            serving,
            "select sum(mdf_claims_submitted) s, sum(mdf_claims_approved) a, "
            "sum(mdf_claims_denied) d, sum(certifications_earned) e, "
            "arg_max(active_certifications, month_start) c, "
            "arg_max(overdue_trainings, month_start) o from marts.fct_partner_months "
            "where partner_id = ? and month_start between ? and ?",
            [pid, last_12, scored_month],
        )
        t = tiles(page, "mdf")
        assert (t["claims submitted"], t["claims accepted"], t["claims denied"]) == tuple(
            fmt.num(mdf[k]) for k in "sad"
        )
        t = tiles(page, "training")
        assert t[f"active certifications at {fmt.month(scored_month)}"] == fmt.num(mdf["c"])
        assert t["certifications earned, last 12 months"] == fmt.num(mdf["e"])
        assert t["trainings overdue"] == fmt.num(mdf["o"])
        # Tier: held, eligible and what the next one needs.
        (sc,) = mart(
            serving,
            "select * from marts.rpt_partner_scorecard where partner_id = ?",
            [pid],
        )
        tier = facts(page, "tier")
        assert tier["Tier held"] == sc["partner_tier"]
        assert tier["Tier your results qualify for"] == (
            f"{sc['eligible_tier']} {fmt.label(sc['tier_eligibility'])}"
        )
        if sc["next_tier"]:
            reach = tier[f"To reach {sc['next_tier']}"]
            assert f"sales of {fmt.usd(sc['next_tier_min_sales_usd'])} in 12 months" in reach
            gap = sc["next_tier_sales_gap_usd"]
            assert (f"{fmt.usd(gap)} to go" if gap else "met") in reach
        else:
            assert "highest tier" in tier["Next tier"]
        # Scorecard: the partner's own values of three measures.
        for name, window in (("sales_volume_usd", 12), ("win_rate", 12), ("engagement_events", 3)):
            (m,) = mart(
                serving,
                "select * from marts.rpt_partner_scorecard_measures where partner_id = ? "
                "and measure_name = ? and window_months = ?",
                [pid, name, window],
            )
            (r,) = [
                r
                for r in table(page, "scorecard")
                if r["Measure"] == fmt_label(name) and r["Months"] == str(window)
            ]
            assert r["You"] == fmt.measure(m["measure_value"], MEASURE_KINDS[name])


def test_index_figures_equal_the_marts(serving: Path, reports: Path, scored_month: date) -> None:
    page = soup(reports / "index.html")
    for back in (0, 1, 12):
        (m,) = mart(
            serving,
            "select * from marts.rpt_ecosystem_months where month_start = ?",
            [_months_back(scored_month, back)],
        )
        r = row(page, "partners-by-month", fmt.month(m["month_start"]))
        assert (r["Active"], r["New"], r["Churned"], r["Churn rate"]) == (
            fmt.num(m["active_partners"]),
            fmt.num(m["new_partners"]),
            fmt.num(m["churned_partners"]),
            fmt.pct(m["partner_churn_rate"]),
        )
        r = row(page, "sales", fmt.month(m["month_start"]))
        assert (r["Sales volume"], r["Partner-led share"]) == (
            fmt.usd(m["sales_volume_usd"]),
            fmt.pct(m["partner_led_share"]),
        )
    (latest,) = mart(
        serving, "select * from marts.rpt_ecosystem_months where month_start = ?", [scored_month]
    )
    concentration = page.find("section", id="concentration").get_text(" ", strip=True)
    assert f"Gini {fmt.num(latest['sales_volume_gini'], 3)}" in concentration
    assert fmt.pct(latest["top20_sales_share"]) in concentration
    # Reconciliation: status counts of the scored month, and the open discrepancies.
    counts = {
        r["status"]: r["n"]
        for r in mart(
            serving,
            "select status, count(*) n from marts.rpt_partner_reconciliation "
            "where month_start = ? group by 1",
            [scored_month],
        )
    }
    r = row(page, "reconciliation", fmt.month(scored_month))
    assert r["Matched"] == fmt.num(counts.get("matched", 0))
    assert r["Awaiting report"] == fmt.num(counts.get("awaiting_report", 0))
    open_ = mart(
        serving,
        "select distinct partner_id from marts.rpt_partner_reconciliation where status in "
        "('over_reported', 'under_reported', 'missing_report') and month_start between ? and ?",
        [_months_back(scored_month, 11), scored_month],
    )
    listed = table(page, "reconciliation", 1)
    assert len(listed) == len(open_) > 0
    assert {re.search(r"\w{18}$", r["Partner"]).group(0) for r in listed} == {
        o["partner_id"] for o in open_
    }
    # Tier changes due: every partner whose eligible tier is not the one it holds.
    due = mart(
        serving,
        "select partner_name from marts.rpt_partner_scorecard where eligible_tier <> partner_tier",
    )
    assert sorted(r["Partner"] for r in table(page, "tiers")) == sorted(
        d["partner_name"] for d in due
    )
    # Movers: the best one, computed here from the months.
    (best,) = mart(
        serving,
        """
        select p.partner_name,
            sum(m.sales_volume_usd) filter (where m.month_start > ? ) as now_,
            sum(m.sales_volume_usd) filter (where m.month_start > ? and m.month_start <= ?)
                as before_
        from marts.fct_partner_months m join marts.dim_partners p using (partner_id)
        where p.is_active and m.month_start <= ?
        group by all having before_ is not null order by now_ - before_ desc limit 1
        """,
        [
            _months_back(scored_month, 3),
            _months_back(scored_month, 15),
            _months_back(scored_month, 12),
            scored_month,
        ],
    )
    up = table(page, "movers", 0)[0]
    assert up["Partner"] == best["partner_name"]
    assert up["Last 3 months"] == fmt.usd(best["now_"])


VERDICTS = {
    "beats": "Better than repeating last year's month.",
    "no_better": "no better than repeating last year's month.",
    "untested": "Your history is too short to judge this forecast yet.",
    "none": "No forecast yet: a forecast needs at least 3 complete months of sales",
}


def test_every_partner_page_shows_its_own_forecast_and_the_verdict_of_its_backtest(
    serving: Path, reports: Path, sample: list[str]
) -> None:
    forecasts = mart(
        serving,
        "select * from marts.rpt_partner_sales_forecast order by partner_id, horizon",
    )
    by_partner: dict[str, list[dict]] = {}
    for f in forecasts:
        by_partner.setdefault(f["partner_id"], []).append(f)
    assert len(by_partner) == 138
    seen: dict[str, int] = {}
    for pid, rows in by_partner.items():
        first = rows[0]
        if first["forecast_model"] == "none":
            verdict = "none"
        elif first["backtest_origins"] is None:
            verdict = "untested"
        else:
            verdict = "beats" if first["beats_baseline"] else "no_better"
        seen[verdict] = seen.get(verdict, 0) + 1
        page = soup(reports / "partners" / f"{pid}.html")
        section = page.find("section", id="forecast")
        text = " ".join(section.get_text(" ", strip=True).split())
        assert VERDICTS[verdict] in text, (pid, verdict)
        for other, words in VERDICTS.items():
            if other != verdict:
                assert words not in text, (pid, verdict, other)
        charts_drawn = section.find_all("svg", role="img")
        assert len(charts_drawn) == (verdict != "none"), pid
        if verdict in ("beats", "no_better"):
            (counts,) = mart(
                serving,
                "select count(*) n, count_if(is_within_80) w80 from marts.rpt_forecast_backtest "
                "where partner_id = ?",
                [pid],
            )
            assert (
                f"fell inside the 80% range {fmt.num(counts['w80'])} times in "
                f"{fmt.num(counts['n'])} ({fmt.pct(first['backtest_coverage_80'], 0)})"
            ) in text, pid
            assert (
                f"typical error {fmt.pct(first['backtest_wape'], 0)} of sales, against "
                f"{fmt.pct(first['baseline_wape'], 0)} for repeating last year's month"
            ) in text, pid
        if pid in sample and verdict != "none":
            shown = table(page, "forecast")
            assert [(r["Month"], r["Forecast"], r["95% range"]) for r in shown] == [
                (
                    fmt.month(f["month_start"]),
                    fmt.usd(f["forecast_usd"]),
                    f"{fmt.usd(f['forecast_lo_95_usd'])} to {fmt.usd(f['forecast_hi_95_usd'])}",
                )
                for f in rows
            ]
    # The demo world has each case (docs/models.md F3: 81 of 113 regular partners beat it).
    assert set(seen) == set(VERDICTS), seen


def test_the_index_shows_the_ecosystem_forecast_and_the_partners_it_does_not_beat(
    serving: Path, reports: Path
) -> None:
    page = soup(reports / "index.html")
    ecosystem = mart(serving, "select * from marts.rpt_ecosystem_sales_forecast order by horizon")
    assert len(ecosystem) == 6
    assert [
        (r["Month"], r["Forecast"], r["80% range"], r["Partners' forecasts added up"])
        for r in table(page, "forecast")
    ] == [
        (
            fmt.month(e["month_start"]),
            fmt.usd(e["forecast_usd"]),
            f"{fmt.usd(e['forecast_lo_80_usd'])} to {fmt.usd(e['forecast_hi_80_usd'])}",
            fmt.usd(e["partner_forecast_sum_usd"]),
        )
        for e in ecosystem
    ]
    assert page.find("section", id="forecast").find("svg", role="img") is not None
    not_beating = mart(
        serving,
        "select partner_id from marts.rpt_partner_sales_forecast "
        "where horizon = 1 and backtest_origins > 0 and not beats_baseline",
    )
    listed = table(page, "forecast", 1)
    assert len(listed) == len(not_beating) > 0
    assert {re.search(r"\w{18}$", r["Partner"]).group(0) for r in listed} == {
        n["partner_id"] for n in not_beating
    }
    trust = page.find(id="forecast-trust").get_text(" ", strip=True)
    assert f"no better than repeating last year's month: {len(not_beating)} partners" in trust


def test_partner_pages_show_their_own_specialisations_with_the_rank_only_in_a_large_tier(
    serving: Path, reports: Path, sample: list[str]
) -> None:
    for pid in sample:
        rows = mart(
            serving,
            "select * from marts.rpt_partner_specialisation where partner_id = ? "
            "and segment <> 'Unknown' and is_specialist "
            "order by location_quotient desc, segment_type, segment limit 5",
            [pid],
        )
        page = soup(reports / "partners" / f"{pid}.html")
        if not rows:
            assert page.find(id="no-specialism") is not None, pid
            continue
        shown = table(page, "strengths")
        assert [(r["Segment"].removesuffix(" new this year"), r["Quotient"]) for r in shown] == [
            (r["segment"], fmt.multiple(r["location_quotient"])) for r in rows
        ], pid
        for r, s in zip(shown, rows, strict=True):
            if s["tier_partners"] - 1 >= 5:
                assert r["Rank in your tier"] == f"{s['tier_rank']} of {s['tier_partners']}"
            else:
                assert r["Rank in your tier"].startswith("withheld: "), (pid, r)
        assert page.find(id="priority-verdict") is not None
    # The sample's Platinum partner: 4 others in its tier, every rank withheld.
    platinum = sample[1]
    ranks = {
        r["Rank in your tier"]
        for r in table(soup(reports / "partners" / f"{platinum}.html"), "strengths")
    }
    assert ranks == {"withheld: 4 other partners of your tier (5 needed)"}

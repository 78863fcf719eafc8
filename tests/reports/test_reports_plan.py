"""A page's business plan stops at the scored month like the rest of the page
(docs/reports.md, "What a partner page shows"): built by the real build from a hand-made
serving file whose plan mart, as the pipeline's does, counts the run's own month in the
quarter still running."""

from __future__ import annotations

from pathlib import Path

import duckdb

from reports import formatting as fmt
from reports.build import build_reports
from tests.reports.pages import row, soup
from tests.reports.serving_file import SCORED, Partner, month, write

PARTNER = Partner("0018d000030FFF6FFF", "Fir Components BV", 12, 40_000, "regular", "none")
TARGET_USD = 150_000.0
# SCORED is the first month of its quarter: the run's month, the quarter's second, holds
# sales the page must not count yet.
RUNNING = month(0)
RUN_MONTH = month(-1)


def _serving(folder: Path, run_month_usd: float) -> Path:
    serving = write(folder / "serving.duckdb", [PARTNER], forecasts=False)
    _set_run_month(serving, run_month_usd)
    return serving


def _set_run_month(serving: Path, usd: float) -> None:
    """The run's month of sales, and the plan mart as the pipeline builds it: the complete
    quarter before, and the running one counting the run's month."""
    con = duckdb.connect(str(serving))
    try:
        con.execute("delete from marts.fct_partner_months where month_start = ?", [RUN_MONTH])
        con.execute("delete from marts.rpt_partner_plan_attainment")
        con.execute(
            "insert into marts.fct_partner_months (partner_id, month_start, "
            "sales_volume_usd, units_sold, gross_margin_usd, deal_reg_value_submitted_usd) "
            "values (?, ?, ?, 10, 0, 7000)",
            [PARTNER.partner_id, RUN_MONTH, usd],
        )
        quarters = [
            (month(3), "2026-Q3", True, 3 * PARTNER.level_usd, 0),
            (RUNNING, "2026-Q4", False, PARTNER.level_usd + usd, 7000),
        ]
        for start, name, complete, actual, deal_regs in quarters:
            con.execute(
                "insert into marts.rpt_partner_plan_attainment values "
                "(?, ?, ?, ?, ?, ?, ?, ?, 10000)",
                [PARTNER.partner_id, start, name, complete, actual, TARGET_USD]
                + [actual / TARGET_USD, deal_regs],
            )
    finally:
        con.close()


def test_the_quarter_still_running_counts_its_months_up_to_the_scored_month_only(
    tmp_path: Path,
) -> None:
    serving = _serving(tmp_path, run_month_usd=90_000)
    link = build_reports(serving, tmp_path / "reports", pdf=False).link
    page = soup(link / "partners" / f"{PARTNER.partner_id}.html")

    running = row(page, "plan", "2026-Q4")
    assert (running["Revenue"], running["Attainment"], running["Deal registrations"]) == (
        fmt.usd(PARTNER.level_usd),
        fmt.pct(PARTNER.level_usd / TARGET_USD),
        fmt.usd(0),
    )
    assert running["Quarter 6"] == f"in progress, to {fmt.month(SCORED)}"
    complete = row(page, "plan", "2026-Q3")
    assert (complete["Revenue"], complete["Quarter 6"]) == (
        fmt.usd(3 * PARTNER.level_usd),
        "complete",
    )


def test_sales_after_the_scored_month_render_no_page_and_draw_no_chart_again(
    tmp_path: Path,
) -> None:
    serving = _serving(tmp_path, run_month_usd=90_000)
    first = build_reports(serving, tmp_path / "reports", pdf=False)
    assert first.pages_rendered == 1

    _set_run_month(serving, 125_000)  # the next day's invoices
    again = build_reports(serving, tmp_path / "reports", pdf=False)

    assert (again.pages_rendered, again.charts_rendered) == (0, 0)

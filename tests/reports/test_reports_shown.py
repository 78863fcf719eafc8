"""A page is rendered again when what it shows changes, not when a figure moves below the
digits it is shown with (docs/reports.md, "A page is rendered again when what it shows
changes"): built by the real build from a hand-made serving file whose MDF return on
investment moves, as the marts' does with every day's invoices, in its sixth digit."""

from __future__ import annotations

from pathlib import Path

import duckdb

from reports import formatting as fmt
from reports.build import build_reports
from tests.reports.pages import row, soup
from tests.reports.serving_file import SCORED, Partner, write

OAK = Partner("0018d000030FFF7FFF", "Oak Distribution AG", 12, 40_000, "regular", "none")
ELM = Partner("0018d000030FFF8FFF", "Elm Systems Ltd", 12, 30_000, "regular", "none")
RANKED = 8  # tier partners with a value: enough for the benchmark to be shown


def _serving(folder: Path) -> Path:
    serving = write(folder / "serving.duckdb", [OAK, ELM], forecasts=False)
    con = duckdb.connect(str(serving))
    try:
        # A column of the real scorecard that no page shows.
        con.execute("alter table marts.rpt_partner_scorecard add column t12m_mdf_romi double")
        for p in (OAK, ELM):
            con.execute(
                "insert into marts.rpt_campaign_romi values "
                "(?, 'Spring launch', 'Webinar', ?, ?, 12000, 3, 90000, 0)",
                [f"701{p.partner_id[3:]}", p.partner_id, SCORED],
            )
            con.execute(
                "insert into marts.rpt_partner_scorecard_measures values "
                "(?, ?, 'mdf_romi', 12, 0, 0.5, 0, 0, ?)",
                [p.partner_id, SCORED, RANKED],
            )
    finally:
        con.close()
    _set_romi(serving, 3.837083, tier_average=2.916641)
    return serving


def _set_romi(serving: Path, romi: float, tier_average: float, partner: str | None = None) -> None:
    """The MDF return on investment of the partners' campaigns and measures (of `partner`
    only, when given), and the tier's average."""
    only = "" if partner is None else " where partner_id = ?"
    params = [] if partner is None else [partner]
    con = duckdb.connect(str(serving))
    try:
        con.execute(
            f"update marts.rpt_partner_scorecard set t12m_mdf_romi = ?{only}", [romi, *params]
        )
        con.execute(f"update marts.rpt_campaign_romi set romi = ?{only}", [romi, *params])
        con.execute(
            "update marts.rpt_partner_scorecard_measures "
            f"set measure_value = ?, tier_average = ?, tier_top_decile = ?{only}",
            [romi, tier_average, romi + 4, *params],
        )
    finally:
        con.close()


def test_a_figure_moving_below_its_shown_digits_renders_no_page_again(tmp_path: Path) -> None:
    serving = _serving(tmp_path)
    reports = tmp_path / "reports"
    assert build_reports(serving, reports, pdf=False).pages_rendered == 2
    oak = reports / "partners" / f"{OAK.partner_id}.html"
    before = oak.read_bytes()

    # The next day's invoices move every return on investment in its sixth digit.
    _set_romi(serving, 3.837007, tier_average=2.916602)
    again = build_reports(serving, reports, pdf=False)

    assert again.pages_rendered == 0
    assert oak.read_bytes() == before
    page = soup(oak)
    assert row(page, "mdf", "Spring launch")["ROMI"] == fmt.pct(3.837007) == "383.7%"
    measure = row(page, "scorecard", "MDF return on investment")
    assert (measure["You"], measure["Tier average"]) == ("383.7%", "291.7%")


def test_a_figure_whose_shown_digits_change_renders_its_page_again(tmp_path: Path) -> None:
    serving = _serving(tmp_path)
    reports = tmp_path / "reports"
    build_reports(serving, reports, pdf=False)
    elm = reports / "partners" / f"{ELM.partner_id}.html"
    elm_before = elm.read_bytes()

    # Oak's return crosses a tenth of a percent; Elm's stays as it was.
    _set_romi(serving, 3.838, tier_average=2.916641, partner=OAK.partner_id)
    again = build_reports(serving, reports, pdf=False)

    assert again.pages_rendered == 1
    assert elm.read_bytes() == elm_before
    page = soup(reports / "partners" / f"{OAK.partner_id}.html")
    assert row(page, "mdf", "Spring launch")["ROMI"] == "383.8%"
    measure = row(page, "scorecard", "MDF return on investment")
    assert (measure["You"], measure["Top 10% reach"]) == ("383.8%", "783.8%")

"""The sales forecast on the pages (docs/reports.md, "The sales forecast"), built by the real
build from a hand-made serving file whose partners each stand for one case: a forecast
better than last year's month, one no better, a history too short to judge, a new partner
carried forward, and one with no forecast yet."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from reports import charts
from reports import formatting as fmt
from reports.build import build_reports
from tests.reports.pages import soup, table
from tests.reports.serving_file import SCORED, Partner, month, write

BEATS = Partner(
    "0018d000030AAA1AAA", "Alder Trading GmbH", 36, 48_000, "regular", "AutoTheta",
    forecast_usd=50_111, origins=12, within_80=63, within_95=67, wape=0.18, baseline_wape=0.24,
)  # fmt: skip
NO_BETTER = Partner(
    "0018d000030BBB2BBB", "Birch Supplies Ltd", 30, 68_000, "regular", "AutoTheta",
    forecast_usd=70_333, origins=7, within_80=30, within_95=38, wape=0.30, baseline_wape=0.25,
)  # fmt: skip
SHORT = Partner(
    "0018d000030CCC3CCC", "Cedar Systems SA", 14, 19_000, "short", "AutoETS", forecast_usd=20_555
)
NEW = Partner("0018d000030DDD4DDD", "Dogwood Networks", 5, 9_000, "new", "Naive", 9_777)
TOO_NEW = Partner("0018d000030EEE5EEE", "Elm Analytics Inc.", 2, 4_000, "too_new", "none")
PARTNERS = [BEATS, NO_BETTER, SHORT, NEW, TOO_NEW]


def _text(node) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("forecast_pages")
    serving = write(folder / "serving.duckdb", PARTNERS)
    return build_reports(serving, folder / "reports", pdf=False).link


def _forecast(reports: Path, partner: Partner) -> BeautifulSoup:
    return soup(reports / "partners" / f"{partner.partner_id}.html").find("section", id="forecast")


def test_a_backtested_partner_sees_its_forecast_chart_table_and_how_reliable_it_has_been(
    reports: Path,
) -> None:
    section = _forecast(reports, BEATS)
    (svg,) = section.find_all("svg", role="img")
    assert svg["aria-label"].startswith("Monthly sales volume in USD: the last 12 months, then")
    markup = str(svg)
    # Both bands, the forecast line (vermilion) and the actual one (blue) are drawn.
    for colour in (charts.SKY_80, charts.SKY_95, charts.VERMILION, charts.BLUE):
        assert colour.lower() in markup.lower(), colour
    page = soup(reports / "partners" / f"{BEATS.partner_id}.html")
    rows = table(page, "forecast")
    assert [r["Month"] for r in rows] == [fmt.month(month(-h)) for h in range(1, 7)]
    point, spread = 50_111 + 1000, 0.30 * 50_111
    assert rows[0]["Forecast"] == fmt.usd(point)
    assert rows[0]["80% range"] == f"{fmt.usd(point - spread)} to {fmt.usd(point + spread)}"
    text = _text(section)
    assert f"from your sales up to {fmt.month(SCORED)}" in text
    assert "Method: the Theta method (trend and seasonality), the method that forecast" in text
    assert "Better than repeating last year's month." in text
    assert (
        "Over the last 12 backtests (forecasts made as if we stood at the end of a past month, "
        "each checked against what you then sold: 72 months forecast), actual sales fell "
        "inside the 80% range 63 times in 72 (88%) and inside the 95% range 67 times in 72 "
        "(93%); typical error 18% of sales, against 24% for repeating last year's month."
    ) in text
    assert "no better" not in text and "too short" not in text


def test_a_partner_whose_forecast_does_not_beat_last_years_month_is_told_so(
    reports: Path,
) -> None:
    text = _text(_forecast(reports, NO_BETTER))
    assert (
        "For you, this forecast has so far been no better than repeating last year's month."
    ) in text
    assert (
        "Over the last 7 backtests (forecasts made as if we stood at the end of a past month, "
        "each checked against what you then sold: 42 months forecast), actual sales fell "
        "inside the 80% range 30 times in 42 (71%) and inside the 95% range 38 times in 42 "
        "(90%); typical error 30% of sales, against 25% for repeating last year's month."
    ) in text
    assert "Plan with last year's figures for the same months" in text
    assert "Better than repeating" not in text


@pytest.mark.parametrize(
    ("partner", "method"),
    [
        (
            SHORT,
            "Method: exponential smoothing without seasonality: a seasonal pattern needs 24 "
            "months of history, and you have 14.",
        ),
        (
            NEW,
            "Method: the last month carried forward: with 5 months of history there is too "
            "little to estimate a trend.",
        ),
    ],
)
def test_a_partner_with_a_short_history_gets_a_forecast_too_short_to_judge(
    reports: Path, partner: Partner, method: str
) -> None:
    section = _forecast(reports, partner)
    assert len(section.find_all("svg", role="img")) == 1
    text = _text(section)
    assert method in text
    assert "Your history is too short to judge this forecast yet." in text
    assert (
        "A forecast is tested against your own past sales once you have 24 months of them, "
        f"and you have {partner.months}."
    ) in text
    assert "backtests" not in text and "typical error" not in text


def test_a_partner_without_three_months_has_no_forecast_yet_and_is_told_why(
    reports: Path,
) -> None:
    section = _forecast(reports, TOO_NEW)
    assert section.find("svg") is None and section.find("table") is None
    assert _text(section).endswith(
        "No forecast yet: a forecast needs at least 3 complete months of sales, "
        "and you have 2 so far."
    )


def _figures(partner: Partner) -> set[str]:
    """What only that partner's forecast section shows: its point forecasts."""
    if partner.forecast_model == "none":
        return set()
    return {fmt.usd(partner.forecast_usd + 1000 * h) for h in range(1, 7)}


def test_a_partner_page_shows_no_other_partners_forecast_nor_the_ecosystems(
    reports: Path,
) -> None:
    ecosystem = table(soup(reports / "index.html"), "forecast")
    assert len(ecosystem) == 6
    for partner in PARTNERS:
        markup = (reports / "partners" / f"{partner.partner_id}.html").read_text()
        # Its own figures are there: the search below would find the others'.
        assert all(figure in markup for figure in _figures(partner)), partner.partner_name
        for other in PARTNERS:
            if other is partner:
                continue
            assert other.partner_id not in markup and other.partner_name not in markup
            for figure in _figures(other):
                assert figure not in markup, (partner.partner_name, other.partner_name, figure)
        for row in ecosystem:
            assert row["Forecast"] not in markup
        assert "Where not to trust" not in markup


def test_the_index_shows_the_ecosystem_forecast_and_where_not_to_trust_a_partners(
    reports: Path,
) -> None:
    page = soup(reports / "index.html")
    section = page.find("section", id="forecast")
    (svg,) = section.find_all("svg", role="img")
    assert svg["aria-label"].startswith("The ecosystem's monthly sales volume in USD")
    total = sum(p.level_usd for p in PARTNERS)
    rows = table(page, "forecast")
    assert [(r["Month"], r["Forecast"]) for r in rows] == [
        (fmt.month(month(-h)), fmt.usd(total + 500 * h)) for h in range(1, 7)
    ]
    summed = sum(p.forecast_usd for p in PARTNERS if p.forecast_usd)
    assert {r["Partners' forecasts added up"] for r in rows} == {fmt.usd(summed)}
    assert {r["Partners forecast"] for r in rows} == {"4"}
    trust = [_text(li) for li in section.find(id="forecast-trust").find_all("li")]
    assert trust == [
        "better than repeating last year's month: 1 partner",
        "no better than repeating last year's month: 1 partner , listed below",
        "history too short to judge: 2 partners",
        "no forecast yet (fewer than 3 months of sales): 1 partner",
    ]
    (listed,) = table(page, "forecast", 1)
    assert listed["Partner"] == f"{NO_BETTER.partner_name} {NO_BETTER.partner_id}"
    assert (listed["Backtests"], listed["Typical error"], listed["Last year's month's error"]) == (
        "7",
        "30%",
        "25%",
    )
    link = section.find("a", href=f"partners/{NO_BETTER.partner_id}.html#forecast")
    assert link is not None


def test_a_publication_without_the_forecast_marts_still_builds_its_pages(
    tmp_path: Path,
) -> None:
    serving = write(tmp_path / "serving.duckdb", [BEATS, TOO_NEW], forecasts=False)
    link = build_reports(serving, tmp_path / "reports", pdf=False).link
    for page in (link / "index.html", link / "partners" / f"{BEATS.partner_id}.html"):
        section = soup(page).find("section", id="forecast")
        assert _text(section).endswith("No forecast was published with these figures.")
        assert section.find("svg") is None


def test_the_method_line_says_why_an_intermittent_partner_gets_crostons_method() -> None:
    from reports.build import _ENV
    from reports.forecast import PartnerForecast

    forecast = PartnerForecast(SCORED, "intermittent", "CrostonSBA", 30)
    line = str(_ENV.get_template("_forecast.html.j2").module.method(forecast))
    assert _text(BeautifulSoup(line, "html.parser")) == (
        "Method: Croston's method, made for sales that come in some months and not in others."
    )

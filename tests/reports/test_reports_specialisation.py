"""Where a partner is strong (docs/reports.md, "Where you are strong"), built by the real
build from a hand-made serving file: a partner becoming a specialist in a priority line, one
specialist in nothing, in a tier too small for its rank to be shown, and one without sales
in the window."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.build import build_reports
from tests.reports.pages import soup, table
from tests.reports.serving_file import Partner, segment, write

ALDER = Partner("0018d000030AAA1AAA", "Alder Trading GmbH", 36, 48_000, "regular", "AutoTheta")
BIRCH = Partner("0018d000030BBB2BBB", "Birch Supplies Ltd", 30, 68_000, "regular", "AutoTheta")
CEDAR = Partner("0018d000030CCC3CCC", "Cedar Systems SA", 14, 19_000, "short", "AutoETS")
PARTNERS = [ALDER, BIRCH, CEDAR]

SPECIALIST = {"is_specialist": True, "was_specialist": True}
ROWS = [
    # Alder: a specialist in three segments, becoming one in Security (a priority line) and
    # growing in Analytics (the other); 'Unknown' is never shown, however high.
    segment(ALDER, "industry", "Retail", share=0.54, ecosystem=0.15, prior=3.2, **SPECIALIST),
    segment(ALDER, "region", "EMEA", share=0.98, ecosystem=0.35, prior=2.8, **SPECIALIST),
    segment(
        ALDER,
        "product_line",
        "Security",
        share=0.36,
        ecosystem=0.15,
        prior=1.1,
        is_specialist=True,
        is_becoming_specialist=True,
        is_priority=True,
        tier_rank=2,
    ),  # fmt: skip
    segment(
        ALDER,
        "product_line",
        "Analytics",
        share=0.09,
        ecosystem=0.10,
        prior=0.7,
        is_priority=True,
        tier_rank=4,
    ),  # fmt: skip
    segment(ALDER, "industry", "Unknown", share=0.02, ecosystem=0.002, tier_rank=None),
    # Birch: no specialism, 2 other partners in its tier, neither priority line growing.
    segment(
        BIRCH,
        "product_line",
        "Core Platform",
        share=0.548,
        ecosystem=0.40,
        prior=1.5,
        tier_partners=3,
    ),  # fmt: skip
    segment(
        BIRCH,
        "product_line",
        "Security",
        share=0.075,
        ecosystem=0.15,
        prior=0.8,
        is_priority=True,
        tier_partners=3,
    ),  # fmt: skip
    segment(
        BIRCH,
        "product_line",
        "Analytics",
        share=0.0,
        ecosystem=0.10,
        prior=0.0,
        is_priority=True,
        tier_partners=3,
    ),  # fmt: skip
]


def _text(node) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("specialisation_pages")
    serving = write(folder / "serving.duckdb", PARTNERS, forecasts=False, specialisation=ROWS)
    return build_reports(serving, folder / "reports", pdf=False, min_cohort=5).link


def _page(reports: Path, partner: Partner):
    return soup(reports / "partners" / f"{partner.partner_id}.html")


def test_a_partner_sees_its_top_specialisations_and_that_it_is_becoming_one_in_a_priority(
    reports: Path,
) -> None:
    page = _page(reports, ALDER)
    rows = table(page, "strengths")
    assert [(r["Kind"], r["Segment"], r["Quotient"], r["A year earlier"]) for r in rows] == [
        ("Industry", "Retail", "3.6×", "3.2×"),
        ("Region", "EMEA", "2.8×", "2.8×"),
        ("Product line", "Security new this year", "2.4×", "1.1×"),
    ]
    assert (rows[2]["Your share of sales"], rows[2]["Channel's share"]) == ("36.0%", "15.0%")
    assert rows[2]["Rank in your tier"] == "2 of 7"
    section = page.find("section", id="strengths")
    assert "Unknown" not in _text(section)
    assert _text(section.find(id="priority-verdict")) == (
        "You are becoming a specialist in Security: a specialist in the last 12 months, "
        "and not in the 12 before."
    )
    priority = table(page, "strengths", 1)
    assert [(r["Product line"], r["Status"]) for r in priority] == [
        ("Analytics", "growing, not yet a specialist"),
        ("Security", "becoming a specialist (new this year)"),
    ]


def test_a_partner_without_a_specialism_sees_its_strongest_segments_and_no_small_tier_rank(
    reports: Path,
) -> None:
    page = _page(reports, BIRCH)
    section = page.find("section", id="strengths")
    assert _text(section.find(id="no-specialism")).startswith("None yet: no segment where")
    (strongest,) = table(page, "strengths")
    assert (strongest["Segment"], strongest["Quotient"]) == ("Core Platform", "1.4×")
    # Two peers: a rank would tell it where a named competitor stands.
    assert strongest["Rank in your tier"] == ("withheld: 2 other partners of your tier (5 needed)")
    assert _text(section.find(id="priority-verdict")) == (
        "Not yet a specialist in our priority product lines."
    )
    assert [(r["Product line"], r["Status"]) for r in table(page, "strengths", 1)] == [
        ("Analytics", "no sales"),
        ("Security", "not a specialist"),
    ]


def test_a_partner_without_sales_in_the_window_is_told_so_and_shows_no_one_elses(
    reports: Path,
) -> None:
    section = _page(reports, CEDAR).find("section", id="strengths")
    assert _text(section) == (
        "Where you are strong No sales from Nov 2025 to Oct 2026 to compare with the channel's."
    )
    for partner in PARTNERS:
        markup = (reports / "partners" / f"{partner.partner_id}.html").read_text()
        for other in PARTNERS:
            if other is not partner:
                assert other.partner_id not in markup and other.partner_name not in markup
    # Alder's figures are not on Birch's page, nor Birch's on Alder's.
    alder = _text(_page(reports, ALDER).find("section", id="strengths"))
    birch = _text(_page(reports, BIRCH).find("section", id="strengths"))
    assert "Core Platform" not in alder and "1.4×" not in alder
    assert "Retail" not in birch and "3.6×" not in birch and "EMEA" not in birch


def test_a_publication_without_the_mart_builds_its_pages_without_the_section(
    tmp_path: Path,
) -> None:
    serving = write(tmp_path / "serving.duckdb", [ALDER], forecasts=False)
    link = build_reports(serving, tmp_path / "reports", pdf=False).link
    section = _page(link, ALDER).find("section", id="strengths")
    assert _text(section).endswith("Not published with these figures.")

"""The scorecard pages on the small end-to-end world, whose tiers are all small (16
partners: 1 Platinum, 4 Gold, 4 Silver active): benchmarks withheld, no other partner on
any page; and the atomic publish of the pages (reports/build.py)."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from reports import data
from reports.build import MANIFEST, ReportsDirError, build_reports, render_partner

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e_world")]


def _serving(run: dict) -> Path:
    return Path(run["env"]["PARTNERPULSE_WAREHOUSE"]).parent / "serving.duckdb"


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def test_in_a_tier_of_fewer_than_six_no_benchmark_is_shown(run: dict) -> None:
    reports = Path(run["env"]["PARTNERPULSE_WAREHOUSE"]).parent / "reports"
    tiers = dict(
        _rows(
            _serving(run),
            "select partner_tier, count(*) from marts.dim_partners where is_active group by 1",
        )
    )
    assert tiers == {"Platinum": 1, "Gold": 4, "Silver": 4, "Registered": 6}
    small = _rows(
        _serving(run),
        "select partner_id from marts.dim_partners where is_active "
        "and partner_tier in ('Platinum', 'Gold', 'Silver')",
    )
    partners = _rows(_serving(run), "select partner_id, partner_name from marts.dim_partners")
    for (pid,) in small:
        html = (reports / "partners" / f"{pid}.html").read_text(encoding="utf-8")
        # 18 measure rows (9 measures x 2 windows), every one withheld.
        assert html.count("benchmark withheld") == 18, pid
        for other_id, other_name in partners:
            if other_id != pid:
                assert other_id not in html and other_name not in html, (pid, other_id)
    # The 6 Registered partners: 5 others each, enough wherever all six have a value.
    (registered,) = _rows(
        _serving(run),
        "select partner_id from marts.dim_partners where is_active "
        "and partner_tier = 'Registered' limit 1",
    )
    html = (reports / "partners" / f"{registered[0]}.html").read_text(encoding="utf-8")
    assert html.count("benchmark withheld") < 18


def test_a_rebuild_switches_the_link_keeps_three_and_leaves_readers_whole_pages(
    run: dict, tmp_path: Path
) -> None:
    link = tmp_path / "out" / "reports"
    builds = [build_reports(_serving(run), link, min_cohort=5, keep=3) for _ in range(2)]
    # Nothing changed between the two: the second build's pages and PDFs are the first's,
    # and the index's charts come from the chart cache.
    assert (builds[0].pages_rendered, builds[0].pdfs, builds[0].pdfs_printed) == (15, 15, 15)
    assert (builds[1].pages_rendered, builds[1].pdfs, builds[1].pdfs_printed) == (0, 15, 0)
    assert builds[0].charts_rendered >= 15 * 3 and builds[1].charts_rendered == 0
    for page in (builds[1].path / "partners").iterdir():
        assert page.stat().st_ino == (builds[0].path / "partners" / page.name).stat().st_ino
    assert len(list((builds[1].path / "partners").iterdir())) == 30
    builds += [build_reports(_serving(run), link, pdf=False, keep=3) for _ in range(2)]
    assert link.is_symlink() and link.resolve() == builds[-1].path.resolve()
    publications = tmp_path / "out" / "reports-publications"
    kept = sorted(p.name for p in publications.iterdir() if p.name != ".charts")
    assert kept == [b.publication_id for b in builds[-3:]]
    manifest = (link / MANIFEST).read_text()
    assert '"partner_pages": 15' in manifest and '"pdfs": 0' in manifest
    assert builds[-1].pdf_skipped_reason == "PDFs not asked for"
    for path in [link / "index.html", *(link / "partners").iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o444
    assert not os.access(link / "partners", os.W_OK) or os.geteuid() == 0


def _footer(pdf: Path) -> str:
    return PdfReader(pdf).pages[0].extract_text().splitlines()[-1]


def _add_scored_month_sales(serving: Path, partner_id: str) -> None:
    """$1,000 more sales for the partner in the scored month: its page changes."""
    con = duckdb.connect(str(serving))
    con.execute(
        "update marts.fct_partner_months set sales_volume_usd = sales_volume_usd + 1000 "
        "where partner_id = ? and month_start = "
        "(select max(as_of_month) from marts.rpt_partner_scorecard)",
        [partner_id],
    )
    con.close()


def test_a_changed_page_keeps_its_dated_pdf_for_a_week_and_a_closed_month_prints_all(
    run: dict, tmp_path: Path
) -> None:
    serving = tmp_path / "serving.duckdb"
    shutil.copyfile(_serving(run), serving)
    link = tmp_path / "reports"
    day = date(2026, 12, 4)

    def build(on: date):
        return build_reports(serving, link, pdf_max_age_days=7, today=on)

    def pdf_row(partner_id: str) -> str:
        (row,) = [
            line
            for line in (link / "index.html").read_text(encoding="utf-8").splitlines()
            if f"partners/{partner_id}.pdf" in line
        ]
        return row

    first = build(day)
    assert (first.pages_rendered, first.pdfs_printed, first.pdfs_older) == (15, 15, 0)
    ((partner_id,),) = _rows(
        serving, "select min(partner_id) from marts.dim_partners where is_active"
    )
    pdf = link / "partners" / f"{partner_id}.pdf"
    printed = pdf.stat().st_ino
    assert _footer(pdf) == "Printed 2026-12-04 1 / " + str(len(PdfReader(pdf).pages))
    _add_scored_month_sales(serving, partner_id)

    # Six days on, the changed page is rendered (its charts of the changed sales alone); its
    # PDF is the one printed on the 4th.
    second = build(day + timedelta(days=6))
    assert (second.pages_rendered, second.pdfs_printed, second.pdfs_older) == (1, 0, 1)
    assert 1 <= second.charts_rendered < first.charts_rendered / 15
    # The charts it took from the cache are those a render without the cache draws.
    report = data.load(serving, min_cohort=5)
    (page,) = [p for p in report.pages if p.partner_id == partner_id]
    published = (link / "partners" / f"{partner_id}.html").read_text(encoding="utf-8")
    assert published == render_partner(page, report)
    assert pdf.stat().st_ino == printed
    assert '<span class="note">of 2026-12-04</span>' in pdf_row(partner_id)
    assert sum("of 2026-12-04" in line for line in (link / "index.html").open()) == 1

    # A week on, it is printed again, with the page's figures and that day's date.
    third = build(day + timedelta(days=7))
    assert (third.pages_rendered, third.pdfs_printed, third.pdfs_older) == (0, 1, 0)
    assert pdf.stat().st_ino != printed
    assert _footer(pdf).startswith("Printed 2026-12-11 ")
    assert "of 2026-" not in pdf_row(partner_id)

    # The next day a month closes: every page is of the new scored month, every PDF printed.
    con = duckdb.connect(str(serving))
    con.execute(
        "update marts.rpt_partner_scorecard set as_of_month = as_of_month + interval 1 month"
    )
    con.close()
    fourth = build(day + timedelta(days=8))
    assert (fourth.pages_rendered, fourth.pdfs_printed, fourth.pdfs_older) == (15, 15, 0)


def test_a_build_that_changed_no_page_keeps_their_charts_for_the_day_one_changes(
    run: dict, tmp_path: Path
) -> None:
    serving = tmp_path / "serving.duckdb"
    shutil.copyfile(_serving(run), serving)
    linked, fresh = tmp_path / "linked" / "reports", tmp_path / "fresh" / "reports"
    charts = tmp_path / "linked" / "reports-publications" / ".charts"
    first = build_reports(serving, linked, pdf=False)
    cached = sorted(path.name for path in charts.iterdir())
    unchanged = build_reports(serving, linked, pdf=False)
    assert (first.pages_rendered, unchanged.pages_rendered, unchanged.charts_rendered) == (15, 0, 0)
    assert sorted(path.name for path in charts.iterdir()) == cached
    build_reports(serving, fresh, pdf=False)  # the same pages, with no build between

    ((partner_id,),) = _rows(
        serving, "select min(partner_id) from marts.dim_partners where is_active"
    )
    _add_scored_month_sales(serving, partner_id)
    # The changed page draws the charts whose figures changed, as many after the build that
    # changed nothing as right after the build that drew them all.
    after_unchanged = build_reports(serving, linked, pdf=False)
    after_drawing = build_reports(serving, fresh, pdf=False)
    assert after_unchanged.pages_rendered == after_drawing.pages_rendered == 1
    assert 1 <= after_unchanged.charts_rendered == after_drawing.charts_rendered


def test_a_folder_that_is_not_the_link_stops_the_build_and_is_left_alone(
    run: dict, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep me")
    with pytest.raises(ReportsDirError, match="is not the link"):
        build_reports(_serving(run), folder, pdf=False)
    assert (folder / "mine.txt").read_text() == "keep me"
    # An empty folder made beforehand is taken over.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build_reports(_serving(run), empty, pdf=False).link.is_symlink()

"""The scorecard pages on the small end-to-end world, whose tiers are all small (16
partners: 1 Platinum, 4 Gold, 4 Silver active): benchmarks withheld, no other partner on
any page; and the atomic publish of the pages (reports/build.py)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from reports.build import MANIFEST, ReportsDirError, build_reports

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
    # Nothing changed between the two: the second build's pages and PDFs are the first's.
    assert (builds[0].pages_rendered, builds[0].pdfs, builds[0].pdfs_printed) == (15, 15, 15)
    assert (builds[1].pages_rendered, builds[1].pdfs, builds[1].pdfs_printed) == (0, 15, 0)
    for page in (builds[1].path / "partners").iterdir():
        assert page.stat().st_ino == (builds[0].path / "partners" / page.name).stat().st_ino
    assert len(list((builds[1].path / "partners").iterdir())) == 30
    builds += [build_reports(_serving(run), link, pdf=False, keep=3) for _ in range(2)]
    assert link.is_symlink() and link.resolve() == builds[-1].path.resolve()
    kept = sorted(p.name for p in (tmp_path / "out" / "reports-publications").iterdir())
    assert kept == [b.publication_id for b in builds[-3:]]
    manifest = (link / MANIFEST).read_text()
    assert '"partner_pages": 15' in manifest and '"pdfs": 0' in manifest
    assert builds[-1].pdf_skipped_reason == "PDFs not asked for"
    for path in [link / "index.html", *(link / "partners").iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o444
    assert not os.access(link / "partners", os.W_OK) or os.geteuid() == 0


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

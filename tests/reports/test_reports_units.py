"""The parts of the pages that need no pipeline run: number formats, the scrubbing of other
partners from free text, the benchmark rule, the server, and the charts' cache and drawing."""

from __future__ import annotations

import math
import threading
import urllib.error
import urllib.request
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from reports import formatting as fmt
from reports.data import Scrubber, _measures
from reports.serve import reports_server


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234567.891, "$1,234,568"),
        (-12.4, "−$12"),
        (-0.4, "$0"),  # never "−$0"
        (Decimal("99.5"), "$100"),
        (None, "—"),
    ],
)
def test_usd(value, expected) -> None:
    assert fmt.usd(value) == expected


def test_other_formats() -> None:
    assert fmt.usd(1500, plus=True) == "+$1,500"
    assert fmt.usd(12.345, 2) == "$12.35"
    assert fmt.usd_short(2_345_678) == "$2.3M"
    assert fmt.usd_short(-950_000) == "−$950.0K"
    assert fmt.usd_short(None) == "—"
    assert fmt.pct(0.1234) == "12.3%"
    assert fmt.pct(-0.5, 0, True) == "−50%"
    assert fmt.pct(0.25, 1, True) == "+25.0%"
    assert fmt.pct(None) == "—"
    assert fmt.num(12345) == "12,345"
    assert fmt.num(2.25, 1) == "2.2"  # round half to even, as Python formats
    assert fmt.measure(0.5, "pct") == "50.0%"
    assert fmt.measure(4.25, "num1") == "4.2"
    assert fmt.label("over_reported") == "Over reported"
    with pytest.raises(TypeError, match="not a number"):
        fmt.usd("12")


PARTNERS = [
    {"partner_id": "0018d000030DJXTAA4", "partner_name": "Granite Services"},
    {"partner_id": "0018d000030DJYqAAO", "partner_name": "Granite Services Pty Ltd"},
    {"partner_id": "0018d000030DJZ4AAO", "partner_name": "Acme"},
]


def test_the_scrubber_replaces_every_other_partner_and_keeps_the_page_owner() -> None:
    scrub = Scrubber(PARTNERS)
    own = "0018d000030DJXTAA4"
    text = (
        "row 5 partner_id '0018d000030djyqaao' disagrees with the file name (0018d000030DJXTAA4); "
        "GRANITE SERVICES PTY LTD and Acme, not Granite Services"
    )
    assert scrub(text, own) == (
        "row 5 partner_id 'another partner' disagrees with the file name (0018d000030DJXTAA4); "
        "another partner and another partner, not Granite Services"
    )
    # A name that begins a longer one the text does not hold whole is replaced alone.
    assert scrub("Granite Services Pty", own) == "Granite Services Pty"
    assert scrub("granite services pty", "0018d000030DJZ4AAO") == "another partner pty"
    assert scrub(None, own) is None
    assert Scrubber([])("anything", own) == "anything"


def _measure_row(value, ranked, **more) -> dict:
    return {
        "measure_name": "win_rate",
        "window_months": 12,
        "measure_value": value,
        "percentile_rank": 0.5,
        "tier_average": 0.3,
        "tier_top_decile": 0.6,
        "tier_partners_ranked": ranked,
        **more,
    }


def test_a_benchmark_needs_min_cohort_partners_other_than_this_one() -> None:
    (shown,) = _measures([_measure_row(0.4, ranked=6)], min_cohort=5)
    # As the page shows them: a win rate as a percentage, the rank to the whole percent.
    assert (shown.peers, shown.value, shown.tier_average, shown.percentile_rank) == (
        5,
        "40.0%",
        "30.0%",
        "50%",
    )
    assert shown.benchmark_shown
    (withheld,) = _measures([_measure_row(0.4, ranked=5)], min_cohort=5)
    assert withheld.peers == 4 and not withheld.benchmark_shown
    assert (withheld.tier_average, withheld.tier_top_decile, withheld.percentile_rank) == (
        None,
        None,
        None,
    )
    # A partner without a value is not one of the partners ranked: all five are others.
    (no_value,) = _measures([_measure_row(None, ranked=5)], min_cohort=5)
    assert no_value.peers == 5 and no_value.tier_average == "30.0%"
    assert no_value.value == fmt.MISSING


def test_the_server_serves_pages_on_loopback_follows_the_link_and_lists_nothing(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, text in ((first, "first"), (second, "second")):
        (folder / "partners").mkdir(parents=True)
        (folder / "index.html").write_text(f"<p>{text}</p>")
    link = tmp_path / "reports"
    link.symlink_to(first)
    server = reports_server(link, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/index.html") as response:
            assert response.read() == b"<p>first</p>"
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        link.unlink()
        link.symlink_to(second)
        with urllib.request.urlopen(f"{base}/index.html") as response:
            assert response.read() == b"<p>second</p>"
        with pytest.raises(urllib.error.HTTPError) as listing:
            urllib.request.urlopen(f"{base}/partners/")
        assert listing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _read(value: float) -> float:
    """`value` as a page reads a figure from the published marts."""
    from reports import marts

    with duckdb.connect() as con:
        return marts.rows(con, "select ?::double as figure", [value])[0]["figure"]


def _digest(average: float, sales: float) -> str:
    from reports import build, data

    page = data.PartnerPage(partner={"partner_id": "P1"}, scorecard={"tier_average": average})
    page.months.append({"sales_volume_usd": sales})
    publication = data.Publication("pub", "run", datetime(2026, 12, 1), date(2026, 11, 1))
    report = data.ReportData(publication, ecosystem=None, pages=[page], min_cohort=5)
    return build._page_digest(page, report)


def _read_digest(average: float, sales: float) -> str:
    return _digest(_read(average), _read(sales))


def test_a_page_is_unchanged_when_only_the_last_digits_of_a_sum_differ() -> None:
    # DuckDB sums in parallel: the same average differs in its 16th digit run to run, and
    # a difference of two equal sums is 0 or a few 1e-11.
    same = _read_digest(1045012.2881943242, 10.5)
    assert same == _read_digest(1045012.2881943244, 10.5)
    assert _read_digest(123456789012.34567, 10.5) == _read_digest(123456789012.34569, 10.5)
    zero = _read_digest(0.0, 0.0)
    assert zero == _read_digest(0.0, 2.910383046e-11) == _read_digest(0.0, -1.455191523e-11)
    assert _read_digest(-0.0, 0.0) == zero
    assert same != _read_digest(1045012.2881943242, 10.51)
    assert _read_digest(1045012.29, 10.5) != _read_digest(1045012.28, 10.5)
    assert _read_digest(0.1234564, 10.5) != _read_digest(0.1234566, 10.5)


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        1e-12,
        -3.5e-7,
        0.12345649,
        2.5,
        -9999.9999999,
        10000.0000001,
        1045012.2881943242,
        -123456789012.34567,
        9.87654321e15,
        float("inf"),
        float("-inf"),
        None,
    ],
)
def test_a_figure_is_read_rounded_to_6_decimals_and_10_significant_digits(value) -> None:
    expected = None if value is None else float(f"{round(value, 6) + 0.0:.10g}")
    assert _read(value) == expected


def test_a_figure_that_is_not_a_number_is_read_as_such() -> None:
    assert math.isnan(_read(float("nan")))


def test_rows_read_rounded_keep_the_order_of_the_query() -> None:
    from reports import marts

    with duckdb.connect() as con:
        con.execute("create table t as select i, random() * 1e6 as x from range(300000) r(i)")
        rows = marts.rows(con, "select i, x from t order by x desc, i")
    figures = [row["x"] for row in rows]
    assert len(figures) == 300000
    assert figures == sorted(figures, reverse=True)


def _months(last: float) -> list[dict]:
    return [{"month_start": date(2026, m, 1), "sales_volume_usd": 1000.0 * m} for m in (1, 2)] + [
        {"month_start": date(2026, 3, 1), "sales_volume_usd": _read(last)}
    ]


def test_a_chart_is_drawn_again_only_when_a_figure_it_can_show_changed(tmp_path: Path) -> None:
    from reports import charts

    drawn, svgs = [], []
    for last in (3000.1, 3000.1 + 1e-11, 3000.1, 3100.0):  # the second: a parallel sum's noise
        with charts.cached_in(tmp_path / "charts") as cache:
            svgs.append(charts.monthly_sales(_months(last)))
        drawn.append(cache.rendered)
    assert drawn == [1, 0, 0, 1]
    assert svgs[0] == svgs[1] == svgs[2] == charts.monthly_sales(_months(3000.1))
    assert svgs[3] == charts.monthly_sales(_months(3100.0)) != svgs[0]
    assert len(list((tmp_path / "charts").iterdir())) == 2


@pytest.fixture
def drawers(monkeypatch: pytest.MonkeyPatch) -> list:
    """The drawing processes started (reports.draw), on a machine of two cores."""
    from reports import draw

    monkeypatch.setattr(draw.os, "cpu_count", lambda: 2)
    started = []
    popen = draw.subprocess.Popen
    monkeypatch.setattr(
        draw.subprocess, "Popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1]
    )
    return started


def test_charts_planned_together_are_drawn_on_two_cores_and_filled_in_as_one_draws_them(
    tmp_path: Path, drawers: list
) -> None:
    from reports import charts, draw

    lasts = [3000.0 + n for n in range(2 * draw.CHARTS_PER_PROCESS)]
    with charts.cached_in(tmp_path / "charts") as cache:
        with cache.planning():
            placeholders = [charts.monthly_sales(_months(last)) for last in lasts]
        assert len(drawers) == 2  # drawing while the caller goes on
        assert all(p.startswith("<!--") for p in placeholders)
        filled = [cache.fill(f"<div>{p}</div>") for p in placeholders]
        assert cache.rendered == len(lasts)
        assert len(list((tmp_path / "charts").iterdir())) == len(lasts)
        again = [charts.monthly_sales(_months(last)) for last in lasts]
        assert cache.rendered == len(lasts)  # taken from the cache
    assert filled == [f"<div>{c}</div>" for c in again]
    assert again == [charts.monthly_sales(_months(last)) for last in lasts]  # no cache: here


def test_a_build_that_fails_while_its_charts_are_drawn_stops_the_drawing(
    tmp_path: Path, drawers: list
) -> None:
    from reports import charts, draw

    lasts = [3000.0 + n for n in range(2 * draw.CHARTS_PER_PROCESS)]
    with pytest.raises(KeyError), charts.cached_in(tmp_path / "charts") as cache:
        with cache.planning():
            for last in lasts:
                charts.monthly_sales(_months(last))
        raise KeyError("a page's template failed")
    assert len(drawers) == 2
    assert all(p.poll() is not None for p in drawers)  # stopped on leaving the block


def test_a_chart_that_cannot_be_drawn_fails_the_drawing_with_vl_convert_s_reason(
    tmp_path: Path,
) -> None:
    from reports import draw

    specs = {f"k{n}": {"marks": [{"type": "no-such-mark"}]} for n in range(100)}
    reason = r"failed: chart k\d+: Vega to SVG conversion failed: TypeError: Cannot read"
    with pytest.raises(RuntimeError, match=r"drawing charts \(python -m reports.draw\) " + reason):
        drawing = draw.start(tmp_path, specs, cores=2)
        assert drawing is not None
        drawing.wait()

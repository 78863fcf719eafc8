"""The pages' charts: Vega-Lite specs written with Altair, rendered to static SVG by
vl-convert, so that a page needs no JavaScript and no network to show them.

Colours are the Okabe-Ito palette (told apart by colour-blind readers) and every series
that a colour tells apart is told apart in print too: lines by their dash, bars by their
position or an outline.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert as vlc

from reports import draw, shown

BLUE, ORANGE, GREEN, PINK = "#0072B2", "#E69F00", "#009E73", "#CC79A7"
SKY, VERMILION, YELLOW, GREY = "#56B4E9", "#D55E00", "#F0E442", "#6B6B6B"
PALETTE = [BLUE, ORANGE, GREEN, PINK, SKY, VERMILION, YELLOW, GREY]
WIDTH = 860
HEIGHT = 170

# One config for every chart: the page's font, no border, axes labelled in grey.
_CONFIG: dict[str, Any] = {
    "font": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "view": {"stroke": None},
    "axis": {"labelColor": "#333", "titleColor": "#333", "gridColor": "#e5e5e5"},
    "legend": {"orient": "top", "title": None, "labelColor": "#333"},
}


class SvgCache:
    """Rendered charts kept in `folder` between builds, by a digest of their Vega spec with
    its data and of the renderer's version: rendering is most of a page's time (about 20 ms
    a chart, four a page), and a day's new invoices leave most charts as they were (the 24
    closed months, the forecast, the reconciliation), so a build renders only the charts
    whose data changed, to the digits a chart can show (reports.shown). A build that plans
    its charts first (`planning`) draws those it lacks on every core while it renders its
    pages around placeholders, then `fill`s them in. `prune` keeps what the last build
    used: the charts it drew or took, and those it `keep`s (the charts of the pages it took
    unchanged from the build before)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.used: set[str] = set()
        self.rendered = 0
        self._recording: list[str] | None = None
        self._planned: dict[str, dict[str, Any]] | None = None
        self._labels: dict[str, str] = {}  # the description of each chart planned, by key
        self._drawing: draw.Drawing | None = None

    def chart(self, key: str, vega: dict[str, Any], description: str) -> str:
        """The SVG element of `vega`, whose figures as shown digest to `key` (while
        `planning`, its placeholder)."""
        self.used.add(key)
        if self._recording is not None:
            self._recording.append(key)
        path = self.folder / f"{key}.svg"
        if self._planned is not None:
            if not path.exists():
                self._planned[key] = vega
            self._labels[key] = description
            return _PLACEHOLDER.format(key=key)
        try:
            return _inline(path.read_text(encoding="utf-8"), description)
        except FileNotFoundError:
            pass
        rendered = vlc.vega_to_svg(vega)
        self.rendered += 1
        draw.store(self.folder, key, rendered)
        return _inline(rendered, description)

    @contextmanager
    def planning(self) -> Iterator[None]:
        """The charts asked for inside the block are placeholders, for `fill`; on leaving
        it, those not cached start drawing on every core (reports.draw)."""
        self._planned = planned = {}
        try:
            yield
        finally:
            self._planned = None
        self._drawing = draw.start(self.folder, planned)
        self.rendered += len(planned)

    def fill(self, html: str) -> str:
        """`html` with each chart placeholder replaced by its chart, once they are drawn."""
        if self._drawing is not None:
            self._drawing, drawing = None, self._drawing
            drawing.wait()

        def chart(match: re.Match[str]) -> str:
            key = match["key"]
            return _inline(
                (self.folder / f"{key}.svg").read_text(encoding="utf-8"), self._labels[key]
            )

        return _PLACEHOLDERS.sub(chart, html)

    def stop(self) -> None:
        """Stops drawing what no page will be filled with (a build that failed)."""
        if self._drawing is not None:
            self._drawing.stop()
            self._drawing = None

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        """The keys of the charts drawn or taken inside the block (a page's charts)."""
        self._recording = keys = []
        try:
            yield keys
        finally:
            self._recording = None

    def keep(self, keys: Iterable[str]) -> None:
        """Keeps the charts `keys` through `prune`, though this build did not use them."""
        self.used.update(keys)

    def prune(self) -> None:
        for path in self.folder.iterdir():
            if path.stem not in self.used:
                path.unlink(missing_ok=True)


# Where a planned chart goes in a page until `SvgCache.fill`: an HTML comment, so that a
# page written without it shows nothing stray.
_PLACEHOLDER = "<!--partnerpulse chart {key}-->"
_PLACEHOLDERS = re.compile(r"<!--partnerpulse chart (?P<key>[0-9a-f]+)-->")


_cache: SvgCache | None = None


@contextmanager
def cached_in(folder: Path) -> Iterator[SvgCache]:
    """Charts rendered inside the block are taken from, and added to, the cache in
    `folder` (module state rather than an argument of every chart: one build at a time
    renders, in one thread)."""
    global _cache
    _cache = cache = SvgCache(folder)
    try:
        yield cache
    finally:
        _cache = None
        cache.stop()


class Chart:
    """A chart kind: its Vega-Lite spec, written with Altair over named datasets, compiled
    to Vega once; each page then only fills in its data. (Building and compiling the spec
    per page cost about as much again as rendering it.)"""

    def __init__(self, description: str, build: Callable[..., alt.TopLevelMixin]) -> None:
        self.description = description
        self._build = build
        self._names = list(inspect.signature(build).parameters)
        self._vega: dict[str, Any] | None = None
        self._vega_digest = ""  # of the compiled spec without its data: the cache key's part

    def __call__(self, **datasets: Sequence[dict]) -> str:
        """The chart over `datasets` (one list of records per argument of the builder) as
        an SVG element to inline, with its description for screen readers."""
        if self._vega is None:
            chart = self._build(*(alt.Data(name=name) for name in self._names))
            spec = chart.properties(description=self.description).to_dict(validate=False)
            spec["config"] = _CONFIG
            self._vega = vlc.vegalite_to_vega(spec)
            self._vega_digest = shown.digest(
                vlc.__version__, json.dumps(self._vega, sort_keys=True)
            )
        values = {name: list(rows) for name, rows in datasets.items()}
        vega = dict(self._vega)
        vega["data"] = [
            {**d, "values": values[d["name"]]} if d["name"] in values else d
            for d in self._vega["data"]
        ]
        if _cache:
            return _cache.chart(shown.digest(self._vega_digest, values), vega, self.description)
        return _inline(vlc.vega_to_svg(vega), self.description)


def _inline(svg: str, description: str) -> str:
    """An SVG to inline in HTML: the XML prologue goes, the root gets a role and its
    description."""
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(description)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _month_axis() -> alt.X:
    return alt.X("month:T", title=None, axis=alt.Axis(format="%b %y", labelAngle=0, tickCount=12))


def _usd_axis(title: str | None = None) -> alt.Axis:
    return alt.Axis(format="$~s", title=title)


def _iso(row: dict, column: str = "month_start") -> str:
    return row[column].isoformat()


def _sales_chart(sales: alt.Data) -> alt.LayerChart:
    base = alt.Chart(sales)
    color = alt.Color(
        "series:N", scale=alt.Scale(domain=["This year", "A year earlier"], range=[BLUE, ORANGE])
    )
    bars = (
        base.transform_filter("datum.series == 'This year'")
        .mark_bar(width={"band": 0.8})
        .encode(x=_month_axis(), y=alt.Y("usd:Q", axis=_usd_axis()), color=color)
    )
    line = (
        base.transform_filter("datum.series == 'A year earlier'")
        .mark_line(strokeDash=[5, 3], point=True, strokeWidth=2)
        .encode(x=_month_axis(), y="usd:Q", color=color)
    )
    return alt.layer(bars, line).properties(width=WIDTH, height=HEIGHT)


_SALES = Chart("Monthly sales volume in USD, with the same month a year earlier", _sales_chart)


def monthly_sales(rows: Sequence[dict]) -> str:
    """Bars of the month's sales; a dashed line of the same month a year earlier."""
    sales = []
    for r in rows:
        sales.append({"month": _iso(r), "series": "This year", "usd": r["sales_volume_usd"]})
        if r.get("prior_year_sales_usd") is not None:
            sales.append(
                {"month": _iso(r), "series": "A year earlier", "usd": r["prior_year_sales_usd"]}
            )
    return _SALES(sales=sales)


def _plan_chart(plan: alt.Data) -> alt.Chart:
    return (
        alt.Chart(plan)
        .mark_bar(stroke="#333", strokeWidth=0.6)
        .encode(
            x=alt.X("quarter:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("series:N", sort=["Revenue", "Target"]),
            y=alt.Y("usd:Q", axis=_usd_axis()),
            color=alt.Color(
                "series:N", scale=alt.Scale(domain=["Revenue", "Target"], range=[BLUE, "#d9d9d9"])
            ),
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


_PLAN = Chart("Revenue against the business-plan target by quarter, in USD", _plan_chart)


def plan_against_target(rows: Sequence[dict]) -> str:
    """Revenue against the business plan's target, quarter by quarter (side by side bars)."""
    plan = []
    for r in rows:
        plan.append({"quarter": r["quarter"], "series": "Revenue", "usd": r["revenue_actual_usd"]})
        plan.append({"quarter": r["quarter"], "series": "Target", "usd": r["revenue_target_usd"]})
    return _PLAN(plan=plan)


def _reconciliation_chart(months: alt.Data) -> alt.LayerChart:
    base = alt.Chart(months)
    color = alt.Color(
        "series:N",
        scale=alt.Scale(domain=["We invoiced", "You reported"], range=[GREY, VERMILION]),
    )
    bars = (
        base.transform_filter("datum.series == 'We invoiced'")
        .mark_bar(width={"band": 0.8}, opacity=0.55)
        .encode(x=_month_axis(), y=alt.Y("usd:Q", axis=_usd_axis()), color=color)
    )
    line = (
        base.transform_filter("datum.series == 'You reported'")
        .mark_line(strokeDash=[4, 2], point=alt.OverlayMarkDef(shape="diamond", size=40))
        .encode(x=_month_axis(), y="usd:Q", color=color)
    )
    return alt.layer(bars, line).properties(width=WIDTH, height=HEIGHT)


_RECONCILIATION = Chart(
    "What the partner reported against what was invoiced, by month, in USD",
    _reconciliation_chart,
)


def reported_against_invoiced(rows: Sequence[dict]) -> str:
    """Bars of what we invoiced; a dashed line with points of what the partner reported."""
    months = []
    for r in rows:
        months.append({"month": _iso(r), "series": "We invoiced", "usd": r["erp_sales_usd"]})
        if r["reported_sales_usd"] is not None:
            months.append(
                {"month": _iso(r), "series": "You reported", "usd": r["reported_sales_usd"]}
            )
    return _RECONCILIATION(months=months)


def _partners_chart(changes: alt.Data, active: alt.Data) -> alt.LayerChart:
    bars = (
        alt.Chart(changes)
        .mark_bar(width={"band": 0.7})
        .encode(
            x=_month_axis(),
            y=alt.Y("partners:Q", title="new (up) / churned (down)"),
            color=alt.Color(
                "series:N", scale=alt.Scale(domain=["New", "Churned"], range=[GREEN, VERMILION])
            ),
        )
    )
    line = (
        alt.Chart(active)
        .mark_line(color=BLUE, strokeWidth=2)
        .encode(x=_month_axis(), y=alt.Y("active:Q", title="active partners"))
    )
    return (
        alt.layer(bars, line).resolve_scale(y="independent").properties(width=WIDTH, height=HEIGHT)
    )


_PARTNERS = Chart(
    "Active partners (line), new and churned partners (bars) by month", _partners_chart
)


def partners_by_month(rows: Sequence[dict]) -> str:
    """Active partners (line), new and churned partners (bars) by month."""
    changes = []
    for r in rows:
        changes.append({"month": _iso(r), "series": "New", "partners": r["new_partners"]})
        changes.append({"month": _iso(r), "series": "Churned", "partners": -r["churned_partners"]})
    active = [{"month": _iso(r), "active": r["active_partners"]} for r in rows]
    return _PARTNERS(changes=changes, active=active)


def _regions_chart(sales: alt.Data) -> alt.Chart:
    return (
        alt.Chart(sales)
        .mark_bar(width={"band": 0.8}, stroke="white", strokeWidth=0.5)
        .encode(
            x=_month_axis(),
            y=alt.Y("usd:Q", axis=_usd_axis(), stack=True),
            color=alt.Color("region:N", scale=alt.Scale(range=PALETTE), sort="ascending"),
            order=alt.Order("region:N"),
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


_REGIONS = Chart("Sales volume in USD by month, stacked by region", _regions_chart)


def sales_by_region(rows: Sequence[dict]) -> str:
    """Stacked bars of the month's sales by region."""
    return _REGIONS(
        sales=[
            {"month": _iso(r), "region": r["region"], "usd": r["sales_volume_usd"]} for r in rows
        ]
    )


def _shares_chart(shares: alt.Data) -> alt.Chart:
    return (
        alt.Chart(shares)
        .mark_line(strokeWidth=2, point=alt.OverlayMarkDef(size=18))
        .encode(
            x=_month_axis(),
            y=alt.Y("value:Q", axis=alt.Axis(format="%", title=None)),
            color=alt.Color("series:N", scale=alt.Scale(range=PALETTE), sort=None),
            strokeDash=alt.StrokeDash(
                "series:N", scale=alt.Scale(range=[[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]]), sort=None
            ),
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


_PARTNER_LED = Chart("Partner-led share of closed-won revenue by month", _shares_chart)
_CONCENTRATION = Chart(
    "Concentration of sales by month: the Gini coefficient and the top 20% partners' share",
    _shares_chart,
)


def _shares(rows: Sequence[dict], series: dict[str, str]) -> list[dict]:
    return [
        {"month": _iso(r), "series": label, "value": r[column]}
        for column, label in series.items()
        for r in rows
        if r[column] is not None
    ]


def partner_led_share(rows: Sequence[dict]) -> str:
    """A line: the partner-led share of closed-won revenue, by month."""
    return _PARTNER_LED(
        shares=_shares(rows, {"partner_led_share": "Partner-led share of closed-won revenue"})
    )


def concentration(rows: Sequence[dict]) -> str:
    """Lines: the Gini coefficient of partner sales and the top 20%'s share, by month."""
    return _CONCENTRATION(
        shares=_shares(
            rows, {"sales_volume_gini": "Gini coefficient", "top20_sales_share": "Top 20% share"}
        )
    )


RECONCILIATION_STATUSES = [
    "matched",
    "timing_difference",
    "no_activity",
    "awaiting_report",
    "missing_report",
    "no_erp_sales",
    "over_reported",
    "under_reported",
]
# no_activity (most partner-months) is left out of the chart: it would dwarf the rest.
_CHARTED_STATUSES = [s for s in RECONCILIATION_STATUSES if s != "no_activity"]


def _statuses_chart(counts: alt.Data) -> alt.Chart:
    colours = [GREEN, SKY, YELLOW, "#999999", VERMILION, PINK, BLUE]
    return (
        alt.Chart(counts)
        .mark_bar(width={"band": 0.8}, stroke="white", strokeWidth=0.5)
        .encode(
            x=_month_axis(),
            y=alt.Y("partners:Q", title="partners", stack=True),
            color=alt.Color("status:N", scale=alt.Scale(domain=_CHARTED_STATUSES, range=colours)),
            order=alt.Order("status:N"),
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


_STATUSES = Chart(
    "Partners by reconciliation status and month (months without activity left out)",
    _statuses_chart,
)


def reconciliation_counts(rows: Sequence[dict]) -> str:
    """Stacked bars: partners by reconciliation status, by month."""
    return _STATUSES(
        counts=[
            {"month": _iso(r), "status": r["status"], "partners": r["partners"]}
            for r in rows
            if r["status"] in _CHARTED_STATUSES
        ]
    )


FORECAST_ACTUAL, FORECAST_LINE = "Actual sales", "Forecast"
FORECAST_80, FORECAST_95 = "80% range", "95% range"
SKY_80, SKY_95 = "#9fd2f1", "#d9eefa"  # tints of SKY: 55% and 20%


def _forecast_chart(bands: alt.Data, lines: alt.Data) -> alt.LayerChart:
    # The bands are nested tints of one hue (lighter is wider), so that they read in grey
    # too; actual and forecast differ by dash and point shape as well as colour. Sky blue
    # keeps the vermilion forecast line legible on top of them.
    # Flush labels would crowd the first and last month's into their neighbours.
    x = alt.X(
        "month:T",
        title=None,
        axis=alt.Axis(format="%b %y", labelAngle=0, tickCount="month", labelFlush=False),
    )
    band_colour = alt.Color(
        "series:N",
        scale=alt.Scale(domain=[FORECAST_95, FORECAST_80], range=[SKY_95, SKY_80]),
        legend=alt.Legend(symbolType="square", symbolOpacity=1),
    )
    area = (
        alt.Chart(bands)
        .mark_area(opacity=1, interpolate="linear")
        .encode(
            x=x,
            y=alt.Y("lo:Q", axis=_usd_axis()),
            y2="hi:Q",
            color=band_colour,
            order=alt.Order("order:Q"),
        )
    )
    line_colour = alt.Color(
        "series:N",
        scale=alt.Scale(domain=[FORECAST_ACTUAL, FORECAST_LINE], range=[BLUE, VERMILION]),
    )
    line = (
        alt.Chart(lines)
        .mark_line(strokeWidth=2, point=alt.OverlayMarkDef(filled=True, size=28))
        .encode(
            x=x,
            y="usd:Q",
            color=line_colour,
            strokeDash=alt.StrokeDash(
                "series:N",
                scale=alt.Scale(domain=[FORECAST_ACTUAL, FORECAST_LINE], range=[[1, 0], [6, 3]]),
            ),
            shape=alt.Shape(
                "series:N",
                scale=alt.Scale(
                    domain=[FORECAST_ACTUAL, FORECAST_LINE], range=["circle", "diamond"]
                ),
            ),
        )
    )
    return (
        alt.layer(area, line)
        .resolve_scale(color="independent", shape="independent", strokeDash="independent")
        .properties(width=WIDTH, height=HEIGHT)
    )


_PARTNER_FORECAST = Chart(
    "Monthly sales volume in USD: the last 12 months, then the forecast of the next 6 "
    "months (dashed) with its 80% and 95% ranges (shaded)",
    _forecast_chart,
)
_ECOSYSTEM_FORECAST = Chart(
    "The ecosystem's monthly sales volume in USD: the last 12 months, then the forecast of "
    "the next 6 months (dashed) with its 80% and 95% ranges (shaded)",
    _forecast_chart,
)
FORECAST_ACTUAL_MONTHS = 12


def _forecast_data(
    actual: Sequence[dict], forecast: Sequence[dict], actual_column: str
) -> dict[str, list[dict]]:
    """The last months of `actual` up to the forecast's origin, and the forecast from there:
    the forecast line and its bands start at the origin's actual, so the two lines join."""
    origin = forecast[0]["origin_month"]
    shown = [r for r in actual if r["month_start"] <= origin][-FORECAST_ACTUAL_MONTHS:]
    lines = [
        {"month": _iso(r), "series": FORECAST_ACTUAL, "usd": r[actual_column]}
        for r in shown
        if r[actual_column] is not None
    ]
    bands = []
    joined = shown and shown[-1]["month_start"] == origin and shown[-1][actual_column] is not None
    if joined:
        start = {"month": _iso(shown[-1]), "usd": shown[-1][actual_column]}
        lines.append({**start, "series": FORECAST_LINE})
        for order, series in enumerate((FORECAST_95, FORECAST_80)):
            bands.append(
                {
                    "month": start["month"],
                    "series": series,
                    "order": order,
                    "lo": start["usd"],
                    "hi": start["usd"],
                }
            )
    for r in forecast:
        lines.append({"month": _iso(r), "series": FORECAST_LINE, "usd": r["forecast_usd"]})
        for order, (series, level) in enumerate(((FORECAST_95, 95), (FORECAST_80, 80))):
            bands.append(
                {
                    "month": _iso(r),
                    "series": series,
                    "order": order,
                    "lo": r[f"forecast_lo_{level}_usd"],
                    "hi": r[f"forecast_hi_{level}_usd"],
                }
            )
    return {"bands": bands, "lines": lines}


def partner_forecast(actual: Sequence[dict], forecast: Sequence[dict]) -> str:
    """A partner's last 12 months of sales, continued by its forecast and the two ranges."""
    return _PARTNER_FORECAST(**_forecast_data(actual, forecast, "sales_volume_usd"))


def ecosystem_forecast(actual: Sequence[dict], forecast: Sequence[dict]) -> str:
    """The ecosystem's last 12 months of sales, continued by its forecast and the ranges."""
    return _ECOSYSTEM_FORECAST(**_forecast_data(actual, forecast, "sales_volume_usd"))

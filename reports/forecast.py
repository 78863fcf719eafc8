"""The sales forecasts the pages show, read from the published forecast marts
(docs/models.md, "Forecasts"; docs/reports.md, "The sales forecast").

A partner page gets that partner's rows of `rpt_partner_sales_forecast` and its counts in
`rpt_forecast_backtest`, nothing else: the ecosystem's forecast and the list of partners
whose forecast does not beat the baseline are the index's.

A publication made before the forecasts existed has no forecast marts: the pages are then
built without the section rather than not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import duckdb

from forecasts.series import INTERMITTENT, MIN_HISTORY, NEW, SEASONAL_HISTORY, SHORT
from reports.marts import Row, published, rows

PARTNER_MART = "rpt_partner_sales_forecast"
BACKTEST_MART = "rpt_forecast_backtest"
ECOSYSTEM_MART = "rpt_ecosystem_sales_forecast"

# What each of the marts' `forecast_model` values is called on a page. A model not listed
# shows under its own name rather than failing the build.
MODEL_NAMES = {
    "AutoTheta": "the Theta method (trend and seasonality)",
    "AutoETS": "exponential smoothing",
    "CrostonSBA": "Croston's method",
    "Naive": "the last month carried forward",
    "SeasonalNaive": "the same month a year earlier",
}


@dataclass
class PartnerForecast:
    """One partner's forecast and how it fared in its backtest (None where not tested)."""

    origin_month: date
    series_class: str
    forecast_model: str
    history_months: int
    months: list[Row] = field(default_factory=list)  # horizon 1 first; empty without a model
    backtest_origins: int | None = None
    backtest_forecasts: int | None = None  # months forecast in the backtest, all origins
    within_80: int | None = None  # of them, actuals inside the 80% range
    within_95: int | None = None
    backtest_wape: float | None = None
    baseline_wape: float | None = None
    backtest_coverage_80: float | None = None
    backtest_coverage_95: float | None = None
    beats_baseline: bool | None = None
    # The forecasts' thresholds, held here so that a page's digest changes with them.
    min_history: int = MIN_HISTORY
    tested_history: int = SEASONAL_HISTORY

    @property
    def verdict(self) -> str:
        """none: no forecast yet; untested: too short a history to judge; beats: better than
        last year's month in the backtest; no_better: not better than it."""
        if self.forecast_model == "none" or not self.months:
            return "none"
        if not self.backtest_origins:
            return "untested"
        return "beats" if self.beats_baseline else "no_better"

    @property
    def model_name(self) -> str:
        name = MODEL_NAMES.get(self.forecast_model, self.forecast_model)
        # The short histories' ETS has no season: saying so is the point of the method line.
        return f"{name} without seasonality" if self.series_class == SHORT else name

    @property
    def is_short(self) -> bool:
        return self.series_class == SHORT

    @property
    def is_new(self) -> bool:
        return self.series_class == NEW

    @property
    def is_intermittent(self) -> bool:
        return self.series_class == INTERMITTENT

    @property
    def below_zero(self) -> bool:
        """A lower bound under $0: the page says what a negative month would be."""
        return any((m["forecast_lo_95_usd"] or 0) < 0 for m in self.months)


@dataclass
class EcosystemForecast:
    """The index's forecast: the ecosystem's total and how far the partners' can be trusted."""

    months: list[Row]  # rpt_ecosystem_sales_forecast, horizon 1 first
    beating: int  # partners whose forecast beat the baseline in the backtest
    not_beating: list[Row]  # the partners whose forecast was no better than the baseline
    untested: int  # forecast, but too short a history to backtest
    without_forecast: int
    min_history: int = MIN_HISTORY

    @property
    def origin_month(self) -> date | None:
        return self.months[0]["origin_month"] if self.months else None

    @property
    def model_name(self) -> str | None:
        if not self.months:
            return None
        model = self.months[0]["forecast_model"]
        return MODEL_NAMES.get(model, model)


def partner_forecasts(con: duckdb.DuckDBPyConnection) -> Mapping[str, PartnerForecast]:
    """Every forecast partner's forecast, by partner id ({} without the forecast marts)."""
    marts = published(con)
    if PARTNER_MART not in marts:
        return {}
    counts: dict[str, Row] = {}
    if BACKTEST_MART in marts:
        for row in rows(
            con,
            f"select partner_id, count(*) as forecasts, count_if(is_within_80) as within_80, "
            f"count_if(is_within_95) as within_95 from marts.{BACKTEST_MART} group by all",
        ):
            counts[row["partner_id"]] = row
    out: dict[str, PartnerForecast] = {}
    for row in rows(con, f"select * from marts.{PARTNER_MART} order by partner_id, horizon"):
        pid = row["partner_id"]
        if pid not in out:
            tested = counts.get(pid, {})
            out[pid] = PartnerForecast(
                origin_month=row["origin_month"],
                series_class=row["series_class"],
                forecast_model=row["forecast_model"],
                history_months=row["history_months"],
                backtest_origins=row["backtest_origins"],
                backtest_forecasts=tested.get("forecasts"),
                within_80=tested.get("within_80"),
                within_95=tested.get("within_95"),
                backtest_wape=row["backtest_wape"],
                baseline_wape=row["baseline_wape"],
                backtest_coverage_80=row["backtest_coverage_80"],
                backtest_coverage_95=row["backtest_coverage_95"],
                beats_baseline=row["beats_baseline"],
            )
        if row["forecast_model"] != "none":
            out[pid].months.append(row)
    return out


def ecosystem_forecast(
    con: duckdb.DuckDBPyConnection,
    forecasts: Mapping[str, PartnerForecast],
    partners: list[Row],
) -> EcosystemForecast | None:
    """The ecosystem's forecast and the partners' verdicts (None without the marts)."""
    if ECOSYSTEM_MART not in published(con):
        return None
    months = rows(con, f"select * from marts.{ECOSYSTEM_MART} order by horizon")
    names = {p["partner_id"]: p for p in partners}
    verdicts = {pid: f.verdict for pid, f in forecasts.items()}
    not_beating = [
        {
            "partner_id": pid,
            "partner_name": names.get(pid, {}).get("partner_name"),
            "partner_tier": names.get(pid, {}).get("partner_tier"),
            "backtest_origins": f.backtest_origins,
            "backtest_wape": f.backtest_wape,
            "baseline_wape": f.baseline_wape,
            "backtest_coverage_80": f.backtest_coverage_80,
        }
        for pid, f in forecasts.items()
        if f.verdict == "no_better"
    ]
    # The worst first: where trusting the forecast over last year's month costs the most.
    not_beating.sort(
        key=lambda r: (-((r["backtest_wape"] or 0) - (r["baseline_wape"] or 0)), r["partner_id"])
    )
    tally = list(verdicts.values())
    return EcosystemForecast(
        months=months,
        beating=tally.count("beats"),
        not_beating=not_beating,
        untested=tally.count("untested"),
        without_forecast=tally.count("none"),
    )

"""The forecast marts, computed from the series (docs/metrics.md):

- `rpt_partner_sales_forecast` (partner_id x month_start): the next HORIZON months of every
  active partner, with 80% and 95% intervals, its method, and how reliable the method has
  been for that partner in the backtest;
- `rpt_forecast_backtest` (partner_id x origin_month x horizon): every backtest forecast
  beside the actual and the baseline's, with the partner's accuracy;
- `rpt_ecosystem_sales_forecast` (month_start): the ecosystem's total, forecast as a series
  of its own, beside the sum of the partners' forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import pyarrow as pa

from forecasts import accuracy, methods
from forecasts.schema import BACKTEST_SCHEMA, ECOSYSTEM_SCHEMA, FORECAST_SCHEMA, TABLES
from forecasts.series import (
    HORIZON,
    INTERMITTENT,
    NEW,
    REGULAR,
    SHORT,
    TOO_NEW,
    Series,
    classify,
)

_BOUNDS = {
    "y_hat": "forecast_usd",
    "lo_80": "forecast_lo_80_usd",
    "hi_80": "forecast_hi_80_usd",
    "lo_95": "forecast_lo_95_usd",
    "hi_95": "forecast_hi_95_usd",
}


@dataclass(frozen=True)
class ForecastMarts:
    """The three marts as Arrow tables, and what the run chose and measured."""

    forecast: pa.Table
    backtest: pa.Table
    ecosystem: pa.Table
    chosen: str
    pooled_wape: dict[str, float] = field(default_factory=dict)

    def tables(self) -> dict[str, pa.Table]:
        return dict(zip(TABLES, (self.forecast, self.backtest, self.ecosystem), strict=True))


def _months_after(origin: date, ds: pd.Series) -> pd.Series:
    start = pd.Timestamp(origin)
    return (ds.dt.year - start.year) * 12 + (ds.dt.month - start.month)


def _table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    frame = frame.copy()
    for name in schema.names:
        if name not in frame:
            frame[name] = None
        elif pa.types.is_float64(schema.field(name).type):
            frame[name] = frame[name].astype("float64").round(2 if name.endswith("_usd") else 6)
        elif pa.types.is_date32(schema.field(name).type):
            frame[name] = pd.to_datetime(frame[name]).dt.date
    frame = frame[schema.names].astype(object).where(frame[schema.names].notna(), None)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def build(series: Series) -> ForecastMarts:
    """Backtests, chooses, forecasts, and assembles the marts."""
    regular = series.of_class(REGULAR)
    intermittent = series.of_class(INTERMITTENT)
    names = [m.alias for m in methods.candidates()]
    regular_cv = methods.backtest(regular, methods.candidates())
    chosen = accuracy.choose(regular_cv, names)
    intermittent_model = methods.model_for(INTERMITTENT, chosen)
    intermittent_cv = methods.backtest(intermittent, [intermittent_model])

    alias = {
        cls: methods.model_for(cls, chosen).alias for cls in (REGULAR, INTERMITTENT, SHORT, NEW)
    }
    model_of = {pid: alias[cls] for pid, cls in series.classes.items() if cls != TOO_NEW}
    cv = pd.concat([regular_cv, intermittent_cv], ignore_index=True)
    scored = accuracy.partner_accuracy(cv, model_of, series.frame) if not cv.empty else None

    forecasts = pd.concat(
        [
            methods.forecast(series.of_class(cls), methods.model_for(cls, chosen))
            for cls in (REGULAR, INTERMITTENT, SHORT, NEW)
        ],
        ignore_index=True,
    )
    forecast = _forecast_rows(series, forecasts, scored)
    backtest = _backtest_rows(series, cv, model_of, scored)
    ecosystem = _ecosystem_rows(series, chosen, forecasts)
    return ForecastMarts(
        forecast=_table(forecast, FORECAST_SCHEMA),
        backtest=_table(backtest, BACKTEST_SCHEMA),
        ecosystem=_table(ecosystem, ECOSYSTEM_SCHEMA),
        chosen=chosen,
        pooled_wape=accuracy.pooled_wape(regular_cv) if not regular_cv.empty else {},
    )


def _forecast_rows(series: Series, forecasts: pd.DataFrame, scored) -> pd.DataFrame:
    months = pd.date_range(
        pd.Timestamp(series.origin) + pd.DateOffset(months=1), periods=HORIZON, freq="MS"
    )
    grid = pd.DataFrame(
        [(pid, ds) for pid in series.classes for ds in months], columns=["unique_id", "ds"]
    )
    if not forecasts.empty:
        grid = grid.merge(forecasts, on=["unique_id", "ds"], how="left")
    else:
        grid["model"] = None
    if scored is not None:
        grid = grid.merge(scored, on="unique_id", how="left")
    grid["horizon"] = _months_after(series.origin, grid["ds"])
    grid["origin_month"] = series.origin
    grid["series_class"] = grid["unique_id"].map(series.classes)
    grid["history_months"] = grid["unique_id"].map(series.history)
    grid["forecast_model"] = grid["model"].fillna("none")
    return grid.rename(columns={"unique_id": "partner_id", "ds": "month_start", **_BOUNDS})


def _backtest_rows(series: Series, cv: pd.DataFrame, model_of, scored) -> pd.DataFrame:
    if cv.empty:
        return pd.DataFrame(columns=["partner_id"])
    ours = cv[cv["model"] == cv["unique_id"].map(model_of)]
    base = cv[cv["model"] == methods.BASELINE][["unique_id", "ds", "cutoff", "y_hat"]]
    rows = ours.merge(
        base.rename(columns={"y_hat": "baseline_forecast_usd"}),
        on=["unique_id", "ds", "cutoff"],
    ).merge(scored, on="unique_id", how="left")
    rows["horizon"] = (rows["ds"].dt.year - rows["cutoff"].dt.year) * 12 + (
        rows["ds"].dt.month - rows["cutoff"].dt.month
    )
    rows["is_within_80"] = (rows["y"] >= rows["lo_80"]) & (rows["y"] <= rows["hi_80"])
    rows["is_within_95"] = (rows["y"] >= rows["lo_95"]) & (rows["y"] <= rows["hi_95"])
    rows["series_class"] = rows["unique_id"].map(series.classes)
    return rows.rename(
        columns={
            "unique_id": "partner_id",
            "cutoff": "origin_month",
            "ds": "month_start",
            "model": "forecast_model",
            "y": "actual_usd",
            **_BOUNDS,
        }
    )


def _ecosystem_rows(series: Series, chosen: str, forecasts: pd.DataFrame) -> pd.DataFrame:
    cls = classify(series.ecosystem["y"].to_numpy())
    if cls == TOO_NEW:
        return pd.DataFrame(columns=["month_start"])
    rows = methods.forecast(series.ecosystem, methods.model_for(cls, chosen))
    if rows.empty:
        return pd.DataFrame(columns=["month_start"])
    if not forecasts.empty:
        partners = forecasts.groupby("ds").agg(
            partner_forecast_sum_usd=("y_hat", "sum"), partners_forecast=("unique_id", "nunique")
        )
        rows = rows.merge(partners, left_on="ds", right_index=True, how="left")
    rows["horizon"] = _months_after(series.origin, rows["ds"])
    rows["origin_month"] = series.origin
    return rows.rename(columns={"ds": "month_start", "model": "forecast_model", **_BOUNDS})

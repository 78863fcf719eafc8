"""The forecast marts' names and columns (docs/metrics.md). Light to import: the Dagster
definitions read it without loading statsforecast."""

from __future__ import annotations

import pyarrow as pa

# In the order forecasts.marts.ForecastMarts holds them.
TABLES = ("rpt_partner_sales_forecast", "rpt_forecast_backtest", "rpt_ecosystem_sales_forecast")

# The point forecast and its bounds, lowest first.
BOUNDS = (
    "forecast_lo_95_usd",
    "forecast_lo_80_usd",
    "forecast_usd",
    "forecast_hi_80_usd",
    "forecast_hi_95_usd",
)
MONEY = (BOUNDS[2], BOUNDS[1], BOUNDS[3], BOUNDS[0], BOUNDS[4])
ACCURACY = (
    "backtest_wape",
    "baseline_wape",
    "backtest_mase",
    "baseline_mase",
    "backtest_coverage_80",
    "backtest_coverage_95",
)

FORECAST_SCHEMA = pa.schema(
    [
        ("partner_id", pa.string()),
        ("month_start", pa.date32()),
        ("horizon", pa.int32()),
        ("origin_month", pa.date32()),
        ("series_class", pa.string()),
        ("forecast_model", pa.string()),
        ("history_months", pa.int32()),
        *[(name, pa.float64()) for name in MONEY],
        ("backtest_origins", pa.int32()),
        *[(name, pa.float64()) for name in ACCURACY],
        ("beats_baseline", pa.bool_()),
    ]
)
BACKTEST_SCHEMA = pa.schema(
    [
        ("partner_id", pa.string()),
        ("origin_month", pa.date32()),
        ("horizon", pa.int32()),
        ("month_start", pa.date32()),
        ("series_class", pa.string()),
        ("forecast_model", pa.string()),
        *[(name, pa.float64()) for name in MONEY],
        ("actual_usd", pa.float64()),
        ("baseline_forecast_usd", pa.float64()),
        ("is_within_80", pa.bool_()),
        ("is_within_95", pa.bool_()),
        ("backtest_origins", pa.int32()),
        *[(name, pa.float64()) for name in ACCURACY],
        ("beats_baseline", pa.bool_()),
    ]
)
ECOSYSTEM_SCHEMA = pa.schema(
    [
        ("month_start", pa.date32()),
        ("horizon", pa.int32()),
        ("origin_month", pa.date32()),
        ("forecast_model", pa.string()),
        *[(name, pa.float64()) for name in MONEY],
        ("partner_forecast_sum_usd", pa.float64()),
        ("partners_forecast", pa.int32()),
    ]
)

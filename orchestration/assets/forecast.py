"""Per-partner sales forecasts and their backtest (docs/models.md, "Forecasts").

One step after the partner-month facts: it reads `marts.fct_partner_months` and
`marts.dim_partners` from the warehouse (on either engine the marts are there), fits
statsforecast's models (`forecasts/`), and writes three marts to schema `marts` in one
transaction (`connectors.model_outputs`). `serving/marts` publishes them with the others.
Its checks run on what was written and block publication when they fail, as the dbt tests
of the other marts do.
"""

import itertools
from dataclasses import dataclass

import dagster as dg

from connectors.model_outputs import made_from, replace_tables
from forecasts import schema as forecast_schema
from orchestration.progress import SUMMARY
from orchestration.resources import PipelineSettings

FORECAST = dg.AssetKey(["marts", "rpt_partner_sales_forecast"])
BACKTEST = dg.AssetKey(["marts", "rpt_forecast_backtest"])
ECOSYSTEM = dg.AssetKey(["marts", "rpt_ecosystem_sales_forecast"])
FORECAST_ASSET_KEYS = frozenset({FORECAST, BACKTEST, ECOSYSTEM})
FACTS = [dg.AssetKey(["marts", "fct_partner_months"]), dg.AssetKey(["marts", "dim_partners"])]

TABLES = dict(zip((FORECAST, BACKTEST, ECOSYSTEM), forecast_schema.TABLES, strict=True))
BOUNDS = list(forecast_schema.BOUNDS)


def _any_null(columns: list[str]) -> str:
    return "(" + " or ".join(f"{column} is null" for column in columns) + ")"


# Each bound at most the next one; a cent or a millionth apart is float32 rounding
# (AutoTheta's intervals are single precision).
_UNORDERED = (
    "not ("
    + " and ".join(
        f"{low} <= {high} + 0.01 + 1e-6 * abs({high})" for low, high in itertools.pairwise(BOUNDS)
    )
    + ")"
)
_ORDER = "95% lower <= 80% lower <= forecast <= 80% upper <= 95% upper"
_HAS_MODEL = "forecast_model <> 'none'"


@dataclass(frozen=True)
class Check:
    """A blocking check on a forecast mart: `broken` counts the rows that break it."""

    asset: dg.AssetKey
    name: str
    description: str
    broken: str  # SQL

    @property
    def sql(self) -> str:
        return self.broken.format(table=f"marts.{TABLES[self.asset]}")


CHECKS = (
    Check(
        FORECAST,
        "one_row_per_partner_month",
        "one row per partner_id and month_start",
        "select count(*) - count(distinct (partner_id, month_start)) from {table}",
    ),
    Check(
        FORECAST,
        "forecast_where_due",
        "a forecast and its four bounds on every row of a partner with a model (3 complete "
        "months of history or more)",
        f"select count(*) from {{table}} where {_HAS_MODEL} and {_any_null(BOUNDS)}",
    ),
    Check(
        FORECAST,
        "intervals_contain_the_forecast",
        _ORDER,
        f"select count(*) from {{table}} where {_HAS_MODEL} and {_UNORDERED}",
    ),
    Check(
        BACKTEST,
        "one_row_per_partner_origin_horizon",
        "one row per partner_id, origin_month and horizon",
        "select count(*) - count(distinct (partner_id, origin_month, horizon)) from {table}",
    ),
    Check(
        BACKTEST,
        "backtest_values_present",
        "a forecast, its bounds, the actual and the baseline's forecast on every row",
        "select count(*) from {table} where "
        + _any_null([*BOUNDS, "actual_usd", "baseline_forecast_usd"]),
    ),
    Check(
        BACKTEST,
        "backtest_intervals_contain_the_forecast",
        _ORDER,
        f"select count(*) from {{table}} where {_UNORDERED}",
    ),
    Check(
        ECOSYSTEM,
        "one_forecast_per_month",
        "one row per month_start, each with its forecast and four bounds",
        "select count(*) - count(distinct month_start) + count(*) filter (where "
        f"{_any_null(BOUNDS)}) from {{table}}",
    ),
)


def _spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        deps=FACTS,
        description=description,
        group_name="forecasts",
        kinds={"python", "duckdb"},
        owners=["team:analytics-engineering"],
    )


@dg.multi_asset(
    name="forecasts",
    specs=[
        _spec(
            FORECAST,
            (
                "The next 6 months of sales volume (ERP sell-in, USD) of every active partner, "
                "with 80% and 95% prediction intervals, the model that produced it and the "
                "origin month (the last complete month). Each row also says how reliable the "
                "model has been for that partner: its backtest WAPE and MASE against the "
                "seasonal naive baseline, the coverage of its 80% interval, and "
                "`beats_baseline` (false: the model was no better than last year's month). "
                "Partners with fewer than 3 complete months have rows without a forecast "
                "(`forecast_model` 'none')."
            ),
        ),
        _spec(
            BACKTEST,
            (
                "Every rolling-origin backtest forecast (up to 12 origins per partner, horizons "
                "1-6) beside the actual, the seasonal naive baseline's forecast and the "
                "partner's accuracy: how the model chosen for each partner did on its history."
            ),
        ),
        _spec(
            ECOSYSTEM,
            (
                "The ecosystem's total sales volume for the next 6 months, forecast as a series "
                "of its own (its intervals are the total's), beside the sum of the partners' "
                "forecasts."
            ),
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(c.name, asset=c.asset, description=c.description, blocking=True)
        for c in CHECKS
    ],
    pool="warehouse",
)
def forecasts(context: dg.AssetExecutionContext, settings: PipelineSettings):
    """Fits, backtests and writes the forecast marts, unless their series are those they
    were last made from."""
    from forecasts.series import TOO_NEW, read_series

    config = settings.settings
    with settings.read_warehouse() as con:
        series = read_series(con, config.today)
        digest = series.digest()
        unchanged = made_from(con, TABLES.values()) == digest
        if unchanged:
            counts = {
                t: con.execute(f"select count(*) from marts.{t}").fetchone()[0]
                for t in TABLES.values()
            }
    forecast = sum(cls != TOO_NEW for cls in series.classes.values())
    if unchanged:
        # A fit is most of this step (statsforecast's import and compilation alone are ~6 s)
        # and gives the same forecasts again: the series end with the last complete month.
        summary = (
            f"{forecast} partners' series from {series.origin:%Y-%m} as when last forecast: "
            "not fit again"
        )
        model = {"fit": False}
    else:
        from forecasts.marts import build  # statsforecast (numba) loads only here

        marts = build(series)
        counts = replace_tables(config.warehouse, marts.tables(), made_from=digest)
        wape = ", ".join(f"{name} {value:.3f}" for name, value in sorted(marts.pooled_wape.items()))
        summary = (
            f"{forecast} partners forecast from "
            f"{series.origin:%Y-%m} with {marts.chosen} (backtest WAPE: {wape or 'no backtest'})"
        )
        model = {"fit": True, "chosen_model": marts.chosen}
    context.log.info(summary)
    for key, table in TABLES.items():
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": counts[table],
                **model,
                "origin_month": series.origin.isoformat(),
                **({SUMMARY: summary} if key == FORECAST else {}),
            },
        )
    with settings.read_warehouse() as con:
        for check in CHECKS:
            broken = int(con.execute(check.sql).fetchone()[0])
            yield dg.AssetCheckResult(
                asset_key=check.asset,
                check_name=check.name,
                passed=broken == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                description=check.description
                if broken == 0
                else f"{broken} rows break it: {check.description}",
                metadata={"rows_breaking_it": broken},
            )

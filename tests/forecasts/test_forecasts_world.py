"""The forecasts of the default world (seed 7, 150 partners x 36 months: every partner has
a trend of its own and the world's seasonality), judged by the pipeline's own backtest mart,
and what the run wrote and published."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.worlds import WorldRun

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("world_7")]


def _rows(world: WorldRun, sql: str) -> list[tuple]:
    con = duckdb.connect(str(world.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_chosen_model_beats_the_seasonal_naive_baseline_for_most_partners(
    default_world: WorldRun,
) -> None:
    ((partners, beating, models),) = _rows(
        default_world,
        """
        select count(*), count(*) filter (where beats_baseline), list(distinct forecast_model)
        from (
            select distinct partner_id, beats_baseline, forecast_model
            from marts.rpt_forecast_backtest
            where series_class = 'regular'
        )
        """,
    )
    assert partners >= 100, "most of the world's 150 partners have two years of history"
    assert beating / partners > 0.5, f"{beating} of {partners} beat the baseline"
    assert len(models) == 1 and models[0] in ("AutoETS", "AutoTheta")


def test_the_80_percent_interval_covers_70_to_90_percent_of_held_out_actuals(
    default_world: WorldRun,
) -> None:
    ((coverage_80, coverage_95, origins),) = _rows(
        default_world,
        """
        select avg(case when is_within_80 then 1.0 else 0.0 end),
               avg(case when is_within_95 then 1.0 else 0.0 end),
               max(backtest_origins)
        from marts.rpt_forecast_backtest
        """,
    )
    assert 0.70 <= coverage_80 <= 0.90
    assert coverage_95 > coverage_80
    assert origins == 12, "36 months of history allow 12 origins with all 6 horizons known"


def test_every_active_partner_has_six_months_and_the_checks_passed(default_world: WorldRun) -> None:
    ((missing, rows, without),) = _rows(
        default_world,
        """
        select
            (select count(*) from marts.dim_partners d where d.is_active and not exists (
                select 1 from marts.rpt_partner_sales_forecast f where f.partner_id = d.partner_id
            )),
            (select count(*) from marts.rpt_partner_sales_forecast),
            (select count(*) from marts.rpt_partner_sales_forecast where forecast_model = 'none')
        """,
    )
    ((active,),) = _rows(default_world, "select count(*) from marts.dim_partners where is_active")
    assert missing == 0 and rows == 6 * active
    assert without < active / 10, "only partners with fewer than 3 complete months"
    evaluations = default_world.evaluations()
    forecast_checks = [
        e
        for e in evaluations.values()
        if e.asset_key.path[-1].startswith("rpt_") and "forecast" in e.asset_key.path[-1]
    ]
    assert len(forecast_checks) == 7 and all(e.passed for e in forecast_checks)


def test_the_forecast_marts_are_published_with_the_others(default_world: WorldRun) -> None:
    current = default_world.warehouse.parent / "parquet" / "current"
    for name in (
        "rpt_partner_sales_forecast",
        "rpt_forecast_backtest",
        "rpt_ecosystem_sales_forecast",
    ):
        table = pq.read_table(current / f"{name}.parquet")
        assert table.num_rows > 0, name
    ecosystem = pq.read_table(current / "rpt_ecosystem_sales_forecast.parquet").to_pylist()
    assert [row["horizon"] for row in ecosystem] == [1, 2, 3, 4, 5, 6]
    assert all(
        row["forecast_lo_80_usd"] <= row["forecast_usd"] <= row["forecast_hi_80_usd"]
        for row in ecosystem
    )

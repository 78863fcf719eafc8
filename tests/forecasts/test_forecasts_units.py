"""The forecasting package on small hand-made inputs: which method each history gets, the
accuracy measures against hand computation, the series read from a real warehouse file, the
marts built from generated series, and the checks that guard them."""

from __future__ import annotations

import datetime as dt
import operator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from statsforecast.models import AutoETS

from connectors.model_outputs import replace_tables
from forecasts import accuracy, methods
from forecasts.marts import build
from forecasts.series import (
    ECOSYSTEM_ID,
    INTERMITTENT,
    NEW,
    REGULAR,
    SHORT,
    TOO_NEW,
    classify,
    origin_month,
    read_series,
)
from orchestration.assets.forecast import CHECKS


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], TOO_NEW),
        ([5.0, 6.0], TOO_NEW),
        ([5.0, 6.0, 7.0], NEW),
        ([5.0] * 6, NEW),
        ([5.0] * 7, SHORT),
        ([5.0] * 23, SHORT),
        ([5.0] * 24, REGULAR),
        ([5.0] * 20 + [0.0] * 3 + [5.0], REGULAR),  # 3 of the last 12 without sales: 25%
        ([5.0] * 20 + [0.0] * 4 + [5.0], INTERMITTENT),  # 4 of the last 12: 33%
    ],
)
def test_each_history_gets_its_class(values: list[float], expected: str) -> None:
    assert classify(np.array(values)) == expected


def test_the_origin_is_the_last_complete_month() -> None:
    assert origin_month(dt.date(2026, 12, 4)) == dt.date(2026, 11, 1)
    assert origin_month(dt.date(2027, 1, 1)) == dt.date(2026, 12, 1)


def _cv(actual: list[float], ours: list[float], base: list[float]) -> pd.DataFrame:
    months = pd.date_range("2025-01-01", periods=len(actual), freq="MS")
    rows = []
    for model, predicted in (("Mine", ours), ("SeasonalNaive", base)):
        for ds, y, y_hat in zip(months, actual, predicted, strict=True):
            rows.append(
                {"unique_id": "p", "ds": ds, "cutoff": pd.Timestamp("2024-12-01"), "model": model,
                 "y": y, "y_hat": y_hat, "lo_80": y_hat - 10, "hi_80": y_hat + 10,
                 "lo_95": y_hat - 20, "hi_95": y_hat + 20}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_wape_mase_and_coverage_match_a_hand_computation() -> None:
    cv = _cv(actual=[100, 200, 100], ours=[110, 170, 100], base=[150, 150, 150])
    # 14 months of history before the origin: the seasonal scale is |y_t - y_t-12| on 2.
    history = pd.DataFrame(
        {
            "unique_id": "p",
            "ds": pd.date_range("2023-11-01", periods=14, freq="MS"),
            "y": [100.0, 120.0] + [0.0] * 10 + [130.0, 100.0],
        }
    )
    (row,) = accuracy.partner_accuracy(cv, {"p": "Mine"}, history).to_dict("records")
    assert row["backtest_wape"] == pytest.approx((10 + 30 + 0) / 400)
    assert row["baseline_wape"] == pytest.approx((50 + 50 + 50) / 400)
    scale = (30 + 20) / 2
    assert row["backtest_mase"] == pytest.approx((40 / 3) / scale)
    assert row["baseline_mase"] == pytest.approx(50 / scale)
    assert row["backtest_coverage_80"] == pytest.approx(2 / 3)  # 30 off is outside +-10
    assert row["backtest_coverage_95"] == pytest.approx(2 / 3)
    assert row["beats_baseline"] is True
    assert row["backtest_origins"] == 1


def test_the_candidate_with_the_lowest_pooled_wape_is_chosen() -> None:
    cv = pd.concat(
        [
            _cv([100, 100], [90, 90], [0, 0]).replace({"Mine": "A"}),
            _cv([100, 100], [95, 105], [0, 0]).replace({"Mine": "B"}),
        ]
    )
    assert accuracy.choose(cv, ["A", "B"]) == "B"
    assert accuracy.choose(cv.iloc[0:0], ["A", "B"]) == "A", "no backtest: the first listed"


def _warehouse(path: Path, months: int, today: dt.date) -> None:
    """fct_partner_months and dim_partners of three partners: a long one whose spine starts
    before the ERP holds any sale, a terminated one, and one that joined last month."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_partners (partner_id varchar, is_active boolean);"
        "insert into marts.dim_partners values ('long', true), ('gone', false), ('new', true)"
    )
    first = pd.Timestamp(today.replace(day=1)) - pd.DateOffset(months=months)
    rows = [("long", (first - pd.DateOffset(months=k)).date(), 0.0) for k in range(1, 4)]
    for k in range(months + 1):  # the month of today included: it is still filling up
        month = (first + pd.DateOffset(months=k)).date()
        rows += [("long", month, 1000.004 + k), ("gone", month, 50.0)]
    rows.append(("new", (pd.Timestamp(today.replace(day=1)) - pd.DateOffset(months=1)).date(), 7.0))
    con.execute(
        "create table marts.fct_partner_months "
        "(partner_id varchar, month_start date, sales_volume_usd double)"
    )
    con.executemany("insert into marts.fct_partner_months values (?, ?, ?)", rows)
    con.close()


def test_the_series_start_with_the_erp_data_and_end_with_the_last_complete_month(
    tmp_path: Path,
) -> None:
    today = dt.date(2026, 12, 4)
    _warehouse(tmp_path / "w.duckdb", 30, today)
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    series = read_series(con, today)
    con.close()
    assert series.origin == dt.date(2026, 11, 1)
    assert series.classes == {"long": REGULAR, "new": TOO_NEW}, "the terminated one is not forecast"
    assert series.history == {"long": 30, "new": 1}
    long = series.frame[series.frame["unique_id"] == "long"]
    assert long["ds"].min() == pd.Timestamp("2024-06-01"), "the spine's zeros before the data go"
    assert long["ds"].max() == pd.Timestamp("2026-11-01")
    assert long["y"].iloc[0] == 1000.0, "rounded to the cent"
    assert set(series.ecosystem["unique_id"]) == {ECOSYSTEM_ID}
    assert series.ecosystem["y"].iloc[0] == 1050.0, "the ecosystem counts terminated partners"


def _generated(partners: int, months: int, seed: int = 3) -> pd.DataFrame:
    """Series with a trend of their own, a shared seasonality and noise."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=months, freq="MS")
    season = 1 + 0.25 * np.sin(2 * np.pi * ds.month.to_numpy() / 12)
    frames = []
    for p in range(partners):
        level = rng.uniform(5_000, 50_000) * (1 + rng.normal(0.08, 0.1)) ** (np.arange(months) / 12)
        y = level * season * rng.lognormal(0, 0.1, months)
        frames.append(pd.DataFrame({"unique_id": f"p{p:02d}", "ds": ds, "y": y.round(2)}))
    return pd.concat(frames, ignore_index=True)


def test_a_backtest_and_a_forecast_split_in_two_processes_have_one_processs_rows_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Series of 35 and 32 months: two numbers of windows, each in both halves.
    longer = _generated(4, 35)
    shorter = _generated(4, 32, seed=5)
    shorter["unique_id"] = shorter["unique_id"].str.replace("p", "q")
    frame = pd.concat([longer, shorter], ignore_index=True)
    (theta,) = [m for m in methods.candidates() if m.alias == "AutoTheta"]
    one = methods.backtest(frame, methods.candidates()), methods.forecast(frame, theta)

    monkeypatch.setattr(methods, "BACKTEST_SPLIT_MIN_SERIES", 2)
    monkeypatch.setattr(methods, "FORECAST_SPLIT_MIN_SERIES", 2)
    monkeypatch.setattr(methods.os, "cpu_count", lambda: 2)  # split on any machine
    split = methods.backtest(frame, methods.candidates()), methods.forecast(frame, theta)

    pd.testing.assert_frame_equal(split[0], one[0])
    pd.testing.assert_frame_equal(split[1], one[1])
    assert one[0].groupby("unique_id")["cutoff"].nunique().to_dict() == {
        **{f"p{p:02d}": 12 for p in range(4)},
        **{f"q{p:02d}": 9 for p in range(4)},
    }
    assert len(one[1]) == 8 * 6


class _FailsInTheOtherProcess(AutoETS):
    """AutoETS here; unpickled (in the backtest's other process), a division by zero."""

    def __reduce__(self):
        return operator.truediv, (1, 0)


def test_a_failed_backtest_process_fails_the_backtest_with_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(methods, "BACKTEST_SPLIT_MIN_SERIES", 2)
    monkeypatch.setattr(methods.os, "cpu_count", lambda: 2)
    model = _FailsInTheOtherProcess(season_length=12, alias="AutoETS")

    failed = r"forecasting \(python -m forecasts.methods\) failed: .*division by zero"
    with pytest.raises(RuntimeError, match=failed):
        methods.backtest(_generated(4, 35), [model])


def test_the_marts_of_generated_series_have_their_grain_and_ordered_intervals() -> None:
    from forecasts.series import Series

    frame = _generated(12, 35)
    short = _generated(1, 10, seed=9).assign(unique_id="short")
    short["ds"] = short["ds"] + pd.DateOffset(months=25)
    frame = pd.concat([frame, short], ignore_index=True)
    ecosystem = frame.groupby("ds", as_index=False)["y"].sum().assign(unique_id=ECOSYSTEM_ID)
    classes = {pid: classify(g["y"].to_numpy()) for pid, g in frame.groupby("unique_id")}
    history = frame.groupby("unique_id").size().to_dict()
    marts = build(
        Series(
            dt.date(2025, 11, 1),
            frame,
            ecosystem,
            classes | {"none": TOO_NEW},
            history | {"none": 0},
        )
    )

    forecast = marts.forecast.to_pandas()
    assert len(forecast) == 14 * 6
    assert (
        forecast.groupby("partner_id")["horizon"]
        .apply(list)
        .map(lambda h: h == [1, 2, 3, 4, 5, 6])
        .all()
    )
    assert forecast["month_start"].min() == dt.date(2025, 12, 1)
    assert set(forecast.loc[forecast["partner_id"] == "short", "forecast_model"]) == {"AutoETS"}
    assert forecast.loc[forecast["partner_id"] == "none", "forecast_usd"].isna().all()
    has = forecast[forecast["forecast_model"] != "none"]
    assert (has["forecast_lo_95_usd"] <= has["forecast_lo_80_usd"]).all()
    assert (has["forecast_lo_80_usd"] <= has["forecast_usd"]).all()
    assert (has["forecast_usd"] <= has["forecast_hi_80_usd"]).all()
    assert (has["forecast_hi_80_usd"] <= has["forecast_hi_95_usd"]).all()
    assert marts.chosen in ("AutoETS", "AutoTheta")
    backtest = marts.backtest.to_pandas()
    assert set(backtest["partner_id"]) == {f"p{p:02d}" for p in range(12)}, (
        "short series are not backtested"
    )
    assert backtest.groupby("partner_id")["origin_month"].nunique().eq(12).all()
    assert backtest["actual_usd"].notna().all() and backtest["baseline_forecast_usd"].notna().all()
    assert marts.ecosystem.num_rows == 6


def test_the_checks_count_the_rows_that_break_them(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    bounds = {
        "forecast_lo_95_usd": 1.0,
        "forecast_lo_80_usd": 2.0,
        "forecast_usd": 3.0,
        "forecast_hi_80_usd": 4.0,
        "forecast_hi_95_usd": 5.0,
    }
    good = {
        "partner_id": "a",
        "month_start": dt.date(2026, 1, 1),
        "forecast_model": "AutoETS",
        "history_months": 30,
        **bounds,
    }
    rows = [
        good,
        good,  # twice: breaks the grain
        {**good, "month_start": dt.date(2026, 2, 1), "forecast_usd": 4.5},  # above its 80% bound
        {**good, "month_start": dt.date(2026, 3, 1), "forecast_hi_95_usd": None},
        {
            **good,
            "month_start": dt.date(2026, 4, 1),
            "forecast_model": "none",
            "forecast_usd": None,
        },
    ]
    replace_tables(warehouse, {"rpt_partner_sales_forecast": pa.Table.from_pylist(rows)})
    con = duckdb.connect(str(warehouse), read_only=True)
    broken = {
        c.name: con.execute(c.sql).fetchone()[0]
        for c in CHECKS
        if c.asset.path[-1] == "rpt_partner_sales_forecast"
    }
    con.close()
    assert broken == {
        "one_row_per_partner_month": 1,
        "forecast_where_due": 1,
        "intervals_contain_the_forecast": 1,
    }


def test_the_marts_are_replaced_together_or_not_at_all(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    replace_tables(warehouse, {"a": pa.table({"x": [1]}), "b": pa.table({"x": [1]})})
    with pytest.raises(Exception):  # noqa: B017 (whatever fails, the first table stays)
        replace_tables(warehouse, {"a": pa.table({"x": [2]}), "b": "not a table"})
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select x from marts.a").fetchall() == [(1,)]
    con.close()


def test_the_step_fits_again_only_when_the_complete_months_changed(tmp_path: Path) -> None:
    import dagster as dg

    from orchestration.assets.forecast import forecasts
    from orchestration.resources import PipelineSettings, patched_environ

    today = dt.date(2026, 12, 4)
    warehouse = tmp_path / "w.duckdb"
    _warehouse(warehouse, 30, today)

    def run() -> bool:
        env = {"PARTNERPULSE_WAREHOUSE": str(warehouse), "PARTNERPULSE_AS_OF": today.isoformat()}
        with patched_environ(env):
            result = dg.materialize([forecasts], resources={"settings": PipelineSettings()})
        assert result.success
        (fit,) = {
            m.metadata["fit"].value for m in result.asset_materializations_for_node("forecasts")
        }
        return fit

    def forecast_rows() -> list[tuple]:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return con.execute(
                "select * from marts.rpt_partner_sales_forecast order by all"
            ).fetchall()
        finally:
            con.close()

    def change(sql: str) -> None:
        con = duckdb.connect(str(warehouse))
        con.execute(sql)
        con.close()

    assert run() is True
    first = forecast_rows()
    assert run() is False  # nothing changed: the forecasts stay as written
    assert forecast_rows() == first
    change(
        "update marts.fct_partner_months set sales_volume_usd = sales_volume_usd + 500 "
        "where month_start = '2026-12-01'"
    )  # today's month is not part of any series
    assert run() is False
    change(
        "update marts.fct_partner_months set sales_volume_usd = sales_volume_usd + 500 "
        "where partner_id = 'long' and month_start = '2026-10-01'"
    )  # a restated month
    assert run() is True
    assert forecast_rows() != first
    change("drop table marts.rpt_forecast_backtest")
    assert run() is True

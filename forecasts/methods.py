"""Fitting and backtesting with Nixtla's statsforecast: one vectorised call per class of
series (docs/models.md, "Forecasts").

- regular series (two years or more): the candidates are fit in a rolling-origin backtest
  and the one with the lowest pooled WAPE over all regular partners forecasts them all;
- intermittent series (three of the last twelve months or more without sales): Croston's
  method with the Syntetos-Boylan correction, with conformal intervals (Croston's method
  has no error model of its own);
- short series (7 to 23 months): ETS without seasonality (two seasons are needed to
  estimate one);
- new partners (3 to 6 months): the naive forecast (the last month carried forward).

The baseline of every backtest is the seasonal naive forecast (the same month a year
earlier).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, AutoTheta, CrostonSBA, Naive, SeasonalNaive
from statsforecast.utils import ConformalIntervals

from forecasts.series import HORIZON, INTERMITTENT, NEW, REGULAR, SEASON, SHORT

LEVELS = (80, 95)
BACKTEST_ORIGINS = 12  # origins per partner where the history allows
BACKTEST_MIN_TRAIN = 18  # complete months before the first origin
BASELINE = "SeasonalNaive"
# The backtest re-estimates a model's parameters at every third origin and only updates its
# state at the others (statsforecast's `refit`): on the demo world its pooled WAPE is within
# 0.002 of refitting at every origin, at a third of the cost. The baseline has no
# parameters.
REFIT_EVERY = 3
# One process: with two workers the bench's forecasting stage hung in CI
# (BENCHMARKS.md, 2026-12-05), although the fits were the same row for row and faster (the
# demo world's 14.7-15.9 s -> 10.8-12.1 s). statsforecast forks its workers from a process
# that runs threads (DuckDB's, tqdm's monitor), the likely cause; not reproduced here.
N_JOBS = 1


def candidates() -> list:
    """The models the backtest chooses between for regular series."""
    return [AutoETS(season_length=SEASON, alias="AutoETS"), AutoTheta(season_length=SEASON)]


def model_for(series_class: str, chosen: str):
    """The model that forecasts series of `series_class` (`chosen`: the regular one)."""
    if series_class == REGULAR:
        return next(m for m in candidates() if m.alias == chosen)
    if series_class == INTERMITTENT:
        conformal = ConformalIntervals(h=HORIZON, n_windows=2)
        return CrostonSBA(prediction_intervals=conformal)
    if series_class == SHORT:
        return AutoETS(season_length=1, alias="AutoETS")
    if series_class == NEW:
        return Naive()
    raise ValueError(f"no model forecasts series of class {series_class!r}")


def _long(wide: pd.DataFrame, names: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    """statsforecast's one-column-per-model frame, one row per model instead."""
    parts = []
    for name in names:
        part = wide[list(keys)].copy()
        part["model"] = name
        part["y_hat"] = wide[name].astype("float64")
        for level in LEVELS:
            for side in ("lo", "hi"):
                column = f"{name}-{side}-{level}"
                part[f"{side}_{level}"] = (
                    wide[column].astype("float64") if column in wide else float("nan")
                )
        if "y" in wide:
            part["y"] = wide["y"].astype("float64")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """statsforecast's fits warn about every degenerate candidate they try and drop (a
    division by zero in ETS's variance, for one): noise in the step's log, not a problem."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def forecast(frame: pd.DataFrame, model) -> pd.DataFrame:
    """The next HORIZON months of every series in `frame` with one model, long format."""
    if frame.empty:
        return pd.DataFrame()
    sf = StatsForecast(models=[model], freq="MS", n_jobs=N_JOBS)
    with _quiet():
        wide = sf.forecast(df=frame, h=HORIZON, level=list(LEVELS))
    return _long(wide, [model.alias], ["unique_id", "ds"])


def backtest(frame: pd.DataFrame, models: Sequence) -> pd.DataFrame:
    """Rolling-origin forecasts of every series in `frame`: up to BACKTEST_ORIGINS origins a
    series (one a month, each with at least BACKTEST_MIN_TRAIN months behind it and all
    HORIZON months after it known), by each of `models` and by the seasonal naive baseline.
    Long format with `cutoff` (the origin) and the actual `y`."""
    lengths = frame.groupby("unique_id")["ds"].transform("size")
    windows = (lengths - BACKTEST_MIN_TRAIN - HORIZON + 1).clip(upper=BACKTEST_ORIGINS)
    baseline = SeasonalNaive(season_length=SEASON)
    parts = []
    # statsforecast takes one number of windows per call: series are grouped by theirs.
    for n_windows, group in frame[windows >= 1].groupby(windows[windows >= 1]):
        for fitted in (models, [baseline]):
            # Models that cannot update their state (Croston's, the baseline) refit each time.
            refit = REFIT_EVERY if all(hasattr(m, "forward") for m in fitted) else True
            sf = StatsForecast(models=list(fitted), freq="MS", n_jobs=N_JOBS)
            with _quiet():
                wide = sf.cross_validation(
                    df=group,
                    h=HORIZON,
                    n_windows=int(n_windows),
                    step_size=1,
                    level=list(LEVELS),
                    refit=refit,
                )
            parts.append(_long(wide, [m.alias for m in fitted], ["unique_id", "ds", "cutoff"]))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)

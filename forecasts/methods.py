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
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, AutoTheta, CrostonSBA, Naive, SeasonalNaive
from statsforecast.utils import ConformalIntervals

from forecasts.series import HORIZON, INTERMITTENT, NEW, REGULAR, SEASON, SHORT
from reports.workers import relay

LEVELS = (80, 95)
BACKTEST_ORIGINS = 12  # origins per partner where the history allows
BACKTEST_MIN_TRAIN = 18  # complete months before the first origin
BASELINE = "SeasonalNaive"
# The backtest re-estimates a model's parameters at every third origin and only updates its
# state at the others (statsforecast's `refit`): on the demo world its pooled WAPE is within
# 0.002 of refitting at every origin, at a third of the cost. The baseline has no
# parameters.
REFIT_EVERY = 3
# statsforecast's own workers (`n_jobs`) stay off: with two, the bench's forecasting stage
# hung in CI (BENCHMARKS.md, 2026-12-05), although the fits were the same row for row.
# statsforecast forks them from a process that runs threads (DuckDB's, tqdm's monitor),
# the likely cause. Many series are split in halves instead (`_in_halves`).
N_JOBS = 1
# Series a backtest or a forecast needs before half of them go to a second process:
# starting one costs about 1.7 s (importing statsforecast and pandas), a regular
# partner's backtest about 0.1 s and its forecast about 0.01 s, so with fewer series the
# split would save under a second.
BACKTEST_SPLIT_MIN_SERIES = 50
FORECAST_SPLIT_MIN_SERIES = 500

T = TypeVar("T")


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
    halves = _in_halves(FORECAST_SPLIT_MIN_SERIES, _forecast_wide, frame, model)
    wide = pd.concat(halves, ignore_index=True)
    return _long(wide, [model.alias], ["unique_id", "ds"])


def _forecast_wide(frame: pd.DataFrame, model) -> pd.DataFrame:
    sf = StatsForecast(models=[model], freq="MS", n_jobs=N_JOBS)
    with _quiet():
        return sf.forecast(df=frame, h=HORIZON, level=list(LEVELS))


def backtest(frame: pd.DataFrame, models: Sequence) -> pd.DataFrame:
    """Rolling-origin forecasts of every series in `frame`: up to BACKTEST_ORIGINS origins a
    series (one a month, each with at least BACKTEST_MIN_TRAIN months behind it and all
    HORIZON months after it known), by each of `models` and by the seasonal naive baseline.
    Long format with `cutoff` (the origin) and the actual `y`."""
    parts: dict[tuple[int, int, tuple[str, ...]], list[pd.DataFrame]] = {}
    for half in _in_halves(BACKTEST_SPLIT_MIN_SERIES, _backtest_parts, frame, list(models)):
        for key, wide in half.items():
            parts.setdefault(key, []).append(wide)
    if not parts:
        return pd.DataFrame()
    keys = ["unique_id", "ds", "cutoff"]
    return pd.concat(
        [
            _long(pd.concat(parts[(n, i, names)], ignore_index=True), list(names), keys)
            for n, i, names in sorted(parts)
        ],
        ignore_index=True,
    )


def _backtest_parts(
    frame: pd.DataFrame, models: Sequence
) -> dict[tuple[int, int, tuple[str, ...]], pd.DataFrame]:
    """statsforecast's frames of `backtest`, one row per series, origin and month, by
    (number of windows, 0 for `models` or 1 for the baseline, the models' names)."""
    lengths = frame.groupby("unique_id")["ds"].transform("size")
    windows = (lengths - BACKTEST_MIN_TRAIN - HORIZON + 1).clip(upper=BACKTEST_ORIGINS)
    baseline = SeasonalNaive(season_length=SEASON)
    parts = {}
    # statsforecast takes one number of windows per call: series are grouped by theirs.
    for n_windows, group in frame[windows >= 1].groupby(windows[windows >= 1]):
        for i, fitted in enumerate((models, [baseline])):
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
            parts[(int(n_windows), i, tuple(m.alias for m in fitted))] = wide
    return parts


def _in_halves(min_series: int, work: Callable[..., T], frame: pd.DataFrame, *args: Any) -> list[T]:
    """`[work(frame, *args)]`; with `min_series` series or more and a second core,
    `work` of the first half of the series (by id) here and of the second half in another
    process (`python -m forecasts.methods`), at the same time. statsforecast fits each
    series on its own and returns them in the order of their ids, so the halves' frames,
    one after the other, are the rows one process makes. Started with `python -m` rather
    than by multiprocessing, which would fork this process and its threads, or import its
    main module again (reports.draw)."""
    ids = sorted(frame["unique_id"].unique())
    if len(ids) < min_series or (os.cpu_count() or 1) < 2:
        return [work(frame, *args)]
    second = frame["unique_id"].isin(ids[len(ids) // 2 :])
    with tempfile.TemporaryDirectory(prefix="partnerpulse-forecasts-") as scratch:
        job, out = Path(scratch) / "job.pickle", Path(scratch) / "out.pickle"
        job.write_bytes(pickle.dumps((work, frame[second], args)))
        with (Path(scratch) / "stderr").open("w+", encoding="utf-8") as errors:
            command = [sys.executable, "-m", __name__, str(job), str(out)]
            worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                first = work(frame[~second], *args)
            except BaseException:
                worker.terminate()
                worker.wait()
                raise
            relay("forecasting", __name__, worker.wait(), errors)
        return [first, pickle.loads(out.read_bytes())]


def _main(argv: Sequence[str]) -> int:
    """The other process of `_in_halves`: `python -m forecasts.methods JOB OUT` runs the
    `(work, frame, args)` pickled in JOB and pickles what it returns to OUT."""
    work, frame, args = pickle.loads(Path(argv[0]).read_bytes())
    Path(argv[1]).write_bytes(pickle.dumps(work(frame, *args)))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

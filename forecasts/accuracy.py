"""How good the forecasts have been: per partner, over its backtest (docs/metrics.md).

- WAPE: the sum of absolute errors over the sum of absolute actuals (NULL when every
  actual is zero);
- MASE: the mean absolute error over the in-sample mean absolute error of the seasonal
  naive forecast on the history before the first origin (lag 12; lag 1 when that history
  is shorter than 13 months; NULL when that error is zero);
- coverage: the share of actuals inside the interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasts.methods import BASELINE
from forecasts.series import SEASON


def pooled_wape(cv: pd.DataFrame) -> dict[str, float]:
    """Each model's WAPE over every backtest forecast in `cv` (all partners together)."""
    out = {}
    for model, rows in cv.groupby("model"):
        actual = rows["y"].abs().sum()
        out[str(model)] = (
            float((rows["y"] - rows["y_hat"]).abs().sum() / actual) if actual else np.nan
        )
    return out


def choose(cv: pd.DataFrame, names: Sequence[str]) -> str:
    """The candidate with the lowest pooled WAPE (the first listed on a tie or without a
    backtest)."""
    wape = pooled_wape(cv) if not cv.empty else {}
    scored = [(wape.get(name, np.nan), i, name) for i, name in enumerate(names)]
    return min((np.inf if np.isnan(w) else w, i, name) for w, i, name in scored)[2]


def _scale(history: np.ndarray) -> float:
    lag = SEASON if len(history) > SEASON else 1
    if len(history) <= lag:
        return np.nan
    scale = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    return scale if scale > 0 else np.nan


def _wape(actual: pd.Series, predicted: pd.Series) -> float:
    total = actual.abs().sum()
    return float((actual - predicted).abs().sum() / total) if total else np.nan


def _coverage(rows: pd.DataFrame, level: int) -> float:
    low, high = rows[f"lo_{level}"], rows[f"hi_{level}"]
    if low.isna().any() or high.isna().any():
        return np.nan
    return float(((rows["y"] >= low) & (rows["y"] <= high)).mean())


def partner_accuracy(
    cv: pd.DataFrame, model_of: dict[str, str], frame: pd.DataFrame
) -> pd.DataFrame:
    """One row per backtested partner: origins, WAPE and MASE of its model and of the
    baseline, coverage of its 80% and 95% intervals, and whether it beats the baseline."""
    rows = []
    histories = {pid: group for pid, group in frame.groupby("unique_id")}
    for pid, bt in cv.groupby("unique_id"):
        ours = bt[bt["model"] == model_of[pid]]
        base = bt[bt["model"] == BASELINE]
        history = histories[pid]
        before = history.loc[history["ds"] <= bt["cutoff"].min(), "y"].to_numpy()
        scale = _scale(before)
        wape, base_wape = _wape(ours["y"], ours["y_hat"]), _wape(base["y"], base["y_hat"])
        rows.append(
            {
                "unique_id": pid,
                "backtest_origins": int(bt["cutoff"].nunique()),
                "backtest_wape": wape,
                "baseline_wape": base_wape,
                "backtest_mase": float((ours["y"] - ours["y_hat"]).abs().mean() / scale),
                "baseline_mase": float((base["y"] - base["y_hat"]).abs().mean() / scale),
                "backtest_coverage_80": _coverage(ours, 80),
                "backtest_coverage_95": _coverage(ours, 95),
                "beats_baseline": None
                if np.isnan(wape) or np.isnan(base_wape)
                else bool(wape < base_wape),
            }
        )
    return pd.DataFrame(rows)

"""Forecasting every active partner (`forecasts/`), as the pipeline's `forecasts` step does:
the child's work (`measure`), its figure from the samples (`figure`) and its section of the
Markdown file (`section`).

The step reads the series from the warehouse dbt built, backtests and fits statsforecast's
models (`forecasts.marts.build`) and writes the three forecast marts
(`connectors.model_outputs.replace_tables`). statsforecast compiles its numba functions
the first time each is called, in every new process (its on-disk cache is off unless
NIXTLA_NUMBA_CACHE is set), so a pipeline run pays that compilation on top of the fits.
The stage pays it first, on a small synthetic panel that takes every method's path, so
that the build's time is the data's. The panel is built twice: the first time less the
second is the compilation, which counts in the stage's seconds; the panel's own work does
not (the pipeline does not do it).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from benchmarks.report import stat

SAMPLE = "forecast"


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Read the series as of `spec["as_of"]` from `spec["warehouse"]`, build the forecast
    marts and write them back; each phase timed, and what the run chose and measured."""
    import datetime as dt

    from benchmarks.stages import cpu_seconds

    t0 = time.perf_counter()
    import statsforecast  # noqa: F401 - numba and statsforecast's import, timed apart

    from forecasts import methods

    import_s = time.perf_counter() - t0
    import duckdb

    from connectors.config import Settings
    from connectors.model_outputs import replace_tables
    from forecasts.marts import build
    from forecasts.series import TOO_NEW, read_series

    cpu0 = cpu_seconds()
    warm_up_s = []
    for _ in range(2):
        t = time.perf_counter()
        _warm_up(build)
        warm_up_s.append(time.perf_counter() - t)
    jit_s = max(0.0, warm_up_s[0] - warm_up_s[1])

    t = time.perf_counter()
    # As the step reads: read-only, with the product's default memory limit.
    limit = Settings.from_env().warehouse_memory_limit
    config = {"memory_limit": limit} if limit else {}
    con = duckdb.connect(spec["warehouse"], read_only=True, config=config)
    try:
        series = read_series(con, dt.date.fromisoformat(spec["as_of"]))
    finally:
        con.close()
    read_s = time.perf_counter() - t

    t = time.perf_counter()
    with _timing(methods, ("backtest", "forecast")) as inside:
        marts = build(series)
    build_s = time.perf_counter() - t

    t = time.perf_counter()
    rows = replace_tables(spec["warehouse"], marts.tables())
    write_s = time.perf_counter() - t

    classes = Counter(series.classes.values())
    return {
        "seconds": jit_s + read_s + build_s + write_s,
        "cpu_s": cpu_seconds() - cpu0,
        "statsforecast_import_s": import_s,
        "jit_s": jit_s,
        "warm_up_s": warm_up_s,
        "read_s": read_s,
        "build_s": build_s,
        "backtest_s": inside["backtest"],
        "final_forecast_s": inside["forecast"],
        "write_s": write_s,
        "origin_month": series.origin.isoformat(),
        "series_rows": len(series.frame),
        "partners_active": len(series.classes),
        "partners_forecast": sum(n for cls, n in classes.items() if cls != TOO_NEW),
        "partners_by_class": dict(sorted(classes.items())),
        "chosen_model": marts.chosen,
        "pooled_wape": marts.pooled_wape,
        "baseline": methods.BASELINE,
        **_accuracy(marts.backtest),
        "rows_written": rows,
    }


@contextlib.contextmanager
def _timing(module: Any, names: tuple[str, ...]) -> Iterator[dict[str, float]]:
    """Seconds spent inside each of `module`'s functions `names` while the block runs.

    `build` does the backtest, the final fits and the assembling of the marts in one call;
    wrapping the module's functions it calls is the only way to split its time without
    changing the product's code."""
    spent = dict.fromkeys(names, 0.0)
    originals = {name: getattr(module, name) for name in names}

    def timed(name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t

        return call

    for name in names:
        setattr(module, name, timed(name))
    try:
        yield spent
    finally:
        for name, original in originals.items():
            setattr(module, name, original)


def _warm_up(build: Any) -> None:
    """Build the marts of four synthetic partners, one of each class that has a method
    (regular, intermittent, short, new), so that every numba function the real build
    calls is compiled before it is timed."""
    import numpy as np
    import pandas as pd

    from forecasts.series import ECOSYSTEM_ID, Series, classify

    months = pd.date_range("2020-01-01", periods=36, freq="MS")
    steps = np.arange(len(months))
    noise = np.random.default_rng(7).normal(0.0, 30.0, len(months))
    regular = 1000.0 * (1 + 0.2 * np.sin(2 * np.pi * steps / 12)) * (1 + 0.01 * steps) + noise
    histories = {
        "regular": regular,
        "intermittent": np.where(steps % 3 == 0, 500.0, 0.0),
        "short": regular[-12:],
        "new": regular[-5:],
    }
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": pid, "ds": months[-len(y) :], "y": y})
            for pid, y in histories.items()
        ],
        ignore_index=True,
    )
    total = frame.groupby("ds", as_index=False)["y"].sum()
    ecosystem = pd.DataFrame({"unique_id": ECOSYSTEM_ID, "ds": total["ds"], "y": total["y"]})
    series = Series(
        origin=months[-1].date(),
        frame=frame,
        ecosystem=ecosystem,
        classes={pid: classify(y) for pid, y in histories.items()},
        history={pid: len(y) for pid, y in histories.items()},
    )
    build(series)


def _accuracy(backtest: Any) -> dict[str, Any]:
    """Per-partner accuracy over the backtest mart: how many partners beat the baseline,
    and the share of held-out actuals inside the 80% interval."""
    df = backtest.to_pandas()
    if df.empty:
        return {"partners_backtested": 0, "partners_beating_baseline": 0, "coverage_80": None}
    per_partner = df.drop_duplicates("partner_id")
    return {
        "partners_backtested": len(per_partner),
        "partners_beating_baseline": int(per_partner["beats_baseline"].eq(True).sum()),
        "coverage_80": float(df["is_within_80"].mean()),
    }


# -- the figure and its section -----------------------------------------------------------------


def figure(samples: dict[str, list]) -> dict[str, Any]:
    """Times (the phases), peak RSS, and what the first run forecast and chose."""
    runs = samples.get(SAMPLE, [])

    def col(key: str) -> dict[str, Any]:
        return stat([s.get(key) for s in runs])

    first = runs[0] if runs else {}
    keys = (
        "origin_month",
        "series_rows",
        "partners_active",
        "partners_forecast",
        "partners_by_class",
        "chosen_model",
        "pooled_wape",
        "baseline",
        "partners_backtested",
        "partners_beating_baseline",
        "coverage_80",
        "rows_written",
    )
    return {
        "measured": bool(runs),
        "wall_s": col("wall_s"),
        "seconds": col("seconds"),
        "statsforecast_import_s": col("statsforecast_import_s"),
        "jit_s": col("jit_s"),
        "read_s": col("read_s"),
        "build_s": col("build_s"),
        "backtest_s": col("backtest_s"),
        "final_forecast_s": col("final_forecast_s"),
        "write_s": col("write_s"),
        "cpu_s": col("cpu_s"),
        "peak_rss_mb": col("max_rss_mb"),
        **{k: first.get(k) for k in keys},
    }


def section(f: dict[str, Any]) -> list[str]:
    """`## 7. Forecasting`: where the step's time goes, its memory, and what it chose."""
    from benchmarks.markdown import _num, _table, fmt

    fc = f.get("forecasting") or {}
    if not fc.get("measured"):
        return []
    build_rest = _minus(fc["build_s"], fc["backtest_s"], fc["final_forecast_s"])
    rows = [
        ["the process, start to exit", fmt(fc["wall_s"], " s")],
        ["  importing statsforecast (numba)", fmt(fc["statsforecast_import_s"], " s")],
        [
            "  compiling its numba functions (first fits of a synthetic panel less the second)",
            fmt(fc["jit_s"], " s"),
        ],
        ["  reading the series", fmt(fc["read_s"], " s")],
        ["  backtest and fit (`build`)", fmt(fc["build_s"], " s")],
        ["    of which the backtests", fmt(fc["backtest_s"], " s")],
        ["    of which the final forecasts", fmt(fc["final_forecast_s"], " s")],
        ["    of which accuracy and assembling the marts", fmt(build_rest, " s")],
        ["  writing the three marts", fmt(fc["write_s"], " s")],
        ["**compilation, reading, build and writing**", f"**{fmt(fc['seconds'], ' s')}**"],
        ["CPU time after the imports (the synthetic panel's included)", fmt(fc["cpu_s"], " s")],
        ["**peak RSS**", f"**{fmt(fc['peak_rss_mb'], ' MB', 0)}**"],
    ]
    classes = fc.get("partners_by_class") or {}
    wape = fc.get("pooled_wape") or {}
    chosen, baseline = fc.get("chosen_model"), fc.get("baseline")
    candidates = ", ".join(
        f"{'**' if m == chosen else ''}{m} {_num(v, 3)}{'**' if m == chosen else ''}"
        for m, v in sorted(wape.items())
        if m != baseline
    )
    accuracy = (
        f"Pooled backtest WAPE of the regular partners: {candidates}, against the baseline "
        f"({baseline}) {_num(wape.get(baseline), 3)}; chosen: **{chosen}**."
        if wape
        else f"No partner has the history for a backtest; {chosen} is chosen by default."
    )
    rows_written = fc.get("rows_written") or {}
    lines = [
        "## 7. Forecasting",
        "",
        f"Every active partner's next 6 months from the warehouse dbt built (origin "
        f"{fc.get('origin_month')}): {fc.get('partners_forecast')} of "
        f"{fc.get('partners_active')} active partners forecast ("
        + ", ".join(f"{cls} {n}" for cls, n in classes.items())
        + f"), {fc.get('series_rows') or 0:,} partner-months read.",
        "",
        _table(["phase", "time"], rows),
        accuracy,
    ]
    if fc.get("partners_backtested"):
        lines.append(
            f"{fc['partners_beating_baseline']} of {fc['partners_backtested']} backtested "
            "partners beat the baseline on their own WAPE; the 80% interval held "
            f"{_num((fc.get('coverage_80') or 0) * 100, 1)}% of the held-out actuals."
        )
    lines += [
        "Rows written: " + ", ".join(f"`{t}` {n:,}" for t, n in rows_written.items()) + ".",
        "",
    ]
    return lines


def _minus(total: dict[str, Any], *parts: dict[str, Any]) -> dict[str, Any]:
    """The stat of `total` minus `parts`, run by run."""
    runs = zip(total["values"], *(p["values"] for p in parts), strict=False)
    return stat([whole - sum(rest) for whole, *rest in runs])

"""Smoke test of the benchmark harness: a tiny world, one run of every measurement.

It checks that `python -m benchmarks` completes and writes both result files with every
figure measured. It asserts nothing about speed: timings at this scale mean nothing.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARTS = sorted(p.stem for p in (REPO / "dbt_project" / "models" / "marts").glob("*.sql"))

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench")]

FLOOR_ROWS = [
    "ingestion",
    "pos",
    "transformation",
    "checks",
    "publishing",
    "pages",
    "other_steps",
    "orchestration",
    "startup",
]
FIGURE_HEADINGS = (
    "## Goals",
    "## 1. Ingestion",
    "## 2. Transformation",
    "## 3. Incremental",
    "## 4. Validation",
    "## 5. Peak memory and end to end",
    "## 7. Forecasting",
    "## 8. Salesforce: REST against Bulk API 2.0",
)
CANDIDATES = {"AutoETS", "AutoTheta"}
BASELINE = "SeasonalNaive"


def _median(figure: dict, *path: str):
    node = figure
    for key in path:
        node = node[key]
    return node["median"]


def test_bench_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [
        sys.executable,
        "-m",
        "benchmarks",
        "--scale",
        "tiny",
        "--reps",
        "1",
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "work"),
        "--no-profile",
        "--parallel-e2e",
    ]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    (md,) = out.glob("*-tiny.md")
    (js,) = out.glob("*-tiny.json")
    text = md.read_text()
    for heading in FIGURE_HEADINGS:
        assert heading in text
    results = json.loads(js.read_text())
    assert results["machine"]["load_average_start"] and results["commands"]
    f = results["figures"]
    for lat in ("0ms", "100ms"):
        for reader in ("ours_crm_portal", "dlt_crm_portal", "ours_erp"):
            assert _median(f["ingestion"][lat], reader, "rows_per_s") > 0
            assert f["ingestion"][lat][reader]["rows"] > 0
        assert _median(f["ingestion"][lat], "ours_vs_dlt") > 0
        assert _median(f["ingestion"][lat], "ours_crm_portal", "server_handler_s") > 0
        assert _median(f["ingestion"][lat], "ours_erp", "server_cpu_s") > 0
    assert _median(f["ingestion"]["0ms"], "limit_erp", "rows_per_s") > 0
    assert _median(f["ingestion"]["0ms"], "limit_vs_ours") > 0
    assert _median(f["ingestion"]["0ms"], "ours_cpu_vs_limit_cpu") > 0
    assert _median(f["transformation"], "dbt_build_s") > 0
    assert _median(f["transformation"], "handwritten_s") > 0
    assert _median(f["transformation"], "dbt_vs_handwritten") > 0
    assert _median(f["transformation"]["breakdown"], "setup_parse_s") is not None
    # Every mart of the dbt project, hand-written, holds what dbt built.
    equal = f["transformation"]["handwritten_equal_to_dbt"]
    assert sorted(equal) == MARTS and len(MARTS) == 18
    assert all(e["equal"] for e in equal.values()), {
        t: e for t, e in equal.items() if not e["equal"]
    }
    assert all(e["rows_dbt"] > 0 for e in equal.values())
    assert _median(f["incremental"], "daily_vs_full_pct") > 0
    assert f["incremental"]["daily_steps"]
    # Nothing changed: the rerun builds nothing, so its steps stop after the syncs' checks.
    assert 0 < _median(f["incremental"], "unchanged_vs_full_pct") < 100
    unchanged_steps = {s["step"] for s in f["incremental"]["unchanged_steps"]}
    assert "serving__marts" not in unchanged_steps and "ingest_erp" in unchanged_steps
    assert _median(f["validation"], "gx_s") > 0
    assert _median(f["validation"], "naive_s") > 0
    assert _median(f["validation"], "gx_vs_naive") > 0
    assert f["validation"]["agreement"]["naive_vs_gx"]["agree"] > 0
    # Six months of history: every partner is new (a naive forecast) or too new, so no backtest.
    fc = f["forecasting"]
    assert fc["measured"] and fc["partners_forecast"] > 0
    for phase in ("statsforecast_import_s", "read_s", "build_s", "write_s", "seconds"):
        assert _median(fc, phase) > 0, phase
    assert sum(fc["partners_by_class"].values()) == fc["partners_active"]
    assert fc["rows_written"]["rpt_partner_sales_forecast"] == 6 * fc["partners_active"]
    assert fc["chosen_model"] in CANDIDATES and fc["pooled_wape"] == {}
    assert "chosen by default" in text
    for stage in ("ingest.ours.all.0ms", "dbt.build", "forecast", "checks.gx", "e2e.full"):
        assert f["memory"][stage]["peak_rss_mb"]["median"] > 0
    assert _median(f["end_to_end"], "partnerpulse_run_s") > 0
    assert_bulk_figure(f["bulk"])
    assert _median(f["end_to_end"], "world_generation_s") > 0
    # The full run against the data floor: every row of the run's split, the three floor
    # stages, and rows that add up to the run's wall time.
    fl = f["floor"]
    assert fl["complete"] and fl["run_measured"] and fl["status"] in ("met", "missed")
    assert [r["stage"] for r in fl["rows"]] == FLOOR_ROWS
    rows = {r["stage"]: r for r in fl["rows"]}
    for stage in ("ingestion", "transformation", "checks"):
        assert rows[stage]["floor_s"]["median"] > 0 and rows[stage]["ratio"]["median"] > 0
    assert all(rows[s]["run_s"]["n"] == 1 for s in FLOOR_ROWS)
    run_split = sum(rows[s]["run_s"]["values"][0] for s in FLOOR_ROWS)
    assert run_split == pytest.approx(fl["run_s"]["values"][0])
    assert fl["ratio"]["median"] > 0 and fl["bounded_by"]
    assert "## 6. The full run against the data floor" in text
    assert "Goal: the full run within 3x of the data floor" in text
    statuses = {g["goal"]: g["status"] for g in results["goals"]}
    assert len(statuses) == 9 and "not measured" not in statuses.values()


def test_bench_measures_only_the_stages_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "benchmarks", "--scale", "tiny", "--reps", "1"]
    argv += ["--latencies", "0", "--no-dlt", "--no-profile", "--out", str(out)]
    done = subprocess.run(
        [*argv, "--stages", "ingestion"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    (js,) = out.glob("*-tiny-ingestion.json")
    results = json.loads(js.read_text())
    assert results["stages"] == ["ingestion"]
    f = results["figures"]
    assert _median(f["ingestion"]["0ms"], "ours_cpu_vs_limit_cpu") > 0
    assert f["transformation"]["dbt_build_s"]["median"] is None
    statuses = {g["goal"]: g["status"] for g in results["goals"]}
    assert statuses["dbt build within 3x of the hand-written SQL"] == "not measured"
    # The floor needs the hand-written SQL, the SQL checks and the full run: not made up.
    assert not f["floor"]["complete"] and f["floor"]["floor_missing"] == [
        "transformation",
        "validation",
    ]
    assert f["floor"]["ratio"]["median"] is None and f["floor"]["status"] == "not measured"
    assert [g for g in statuses if "data floor" in g and statuses[g] == "not measured"]
    md = js.with_suffix(".md").read_text()
    assert "Only these stages were measured: ingestion." in md
    assert "## 1. Ingestion" in md and "## 5. Peak memory and end to end" in md
    assert "**The floor is incomplete**" in md
    assert not any(h in md for h in ("## 2. Transformation", "## 3. Incremental", "## 4. Val"))
    assert not f["forecasting"]["measured"] and "## 7. Forecasting" not in md

    refused = subprocess.run(
        [*argv, "--stages", "validation"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2
    assert "the validation stage starts from transformation's warehouse" in refused.stderr
    assert not list(out.glob("*-tiny-validation.*"))
    refused = subprocess.run(
        [*argv, "--stages", "ingestion,forecasting"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "the forecasting stage starts from transformation's warehouse" in refused.stderr


def assert_bulk_figure(bulk: dict) -> None:
    """Both paths read every CRM row; Bulk in fewer calls a row only past a job's fixed
    cost, so no ratio is asserted at this scale."""
    assert bulk["measured"]
    assert _median(bulk, "rest", "rows") == _median(bulk, "bulk", "rows") > 0
    for path in ("rest", "bulk"):
        assert _median(bulk[path], "rows_per_s") > 0 and _median(bulk[path], "max_rss_mb") > 0
        assert _median(bulk[path], "api_calls_per_m_rows") > 0
    objects = {o["object"] for o in bulk["bulk"]["objects"]}
    assert objects == {"accounts", "opportunities", "leads", "deal_registrations", "campaigns"}
    # A job: create, two polls (the stand-in's default), a results page, delete, and the
    # token: six requests at least per object.
    assert all(o["requests"] >= 6 for o in bulk["bulk"]["objects"])


def test_bench_compares_salesforce_rest_and_bulk(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "benchmarks", "--scale", "tiny", "--reps", "1"]
    argv += ["--no-dlt", "--no-profile", "--out", str(out), "--stages", "bulk"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (js,) = out.glob("*-tiny-bulk.json")
    assert_bulk_figure(json.loads(js.read_text())["figures"]["bulk"])
    md = js.with_suffix(".md").read_text()
    assert "## 8. Salesforce: REST against Bulk API 2.0" in md and "## 1. Ingestion" not in md


def test_bench_backtests_partners_with_two_years_of_history(tmp_path: Path) -> None:
    """27 months of history: the partners that joined early are backtested, the candidates
    compared with the baseline on pooled WAPE, and the best one chosen."""
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "benchmarks", "--scale", "tiny", "--months", "27"]
    argv += ["--reps", "1", "--latencies", "0", "--no-dlt", "--no-profile", "--out", str(out)]
    argv += ["--stages", "ingestion,transformation,forecasting"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    (js,) = out.glob("*-tiny-p8-m27-ingestion-transformation-forecasting.json")
    fc = json.loads(js.read_text())["figures"]["forecasting"]
    assert fc["partners_by_class"].get("regular", 0) > 0
    assert set(fc["pooled_wape"]) == CANDIDATES | {BASELINE}
    assert all(0 < wape < 10 for wape in fc["pooled_wape"].values())
    candidates = {m: w for m, w in fc["pooled_wape"].items() if m in CANDIDATES}
    assert fc["chosen_model"] == min(candidates, key=candidates.get)
    assert fc["partners_backtested"] >= fc["partners_by_class"]["regular"]
    assert fc["rows_written"]["rpt_forecast_backtest"] > 0
    assert _median(fc, "backtest_s") > 0 and _median(fc, "final_forecast_s") > 0
    md = js.with_suffix(".md").read_text()
    assert "## 7. Forecasting" in md and f"chosen: **{fc['chosen_model']}**" in md

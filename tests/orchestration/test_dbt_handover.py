"""What the unpartitioned dbt step hands over to the monthly one when one dbt invocation
builds both (orchestration/assets/dbt_handover.py): which failures stay the monthly
step's, and finding the run's handover. A whole run through it: tests/e2e/test_pipeline.py
and tests/orchestration/test_ops_automation.py."""

from __future__ import annotations

import shutil

from orchestration.assets.dbt_handover import failed_only_on, load, save
from orchestration.project import dbt_target_dir

MONTHLY = frozenset({"model.partnerpulse.fct_partner_months", "test.partnerpulse.unique_x"})


def test_a_failure_stays_the_monthly_steps_only_when_every_failed_node_is_its_own() -> None:
    assert failed_only_on({"model.partnerpulse.fct_partner_months": "error"}, MONTHLY)
    assert failed_only_on(
        {"test.partnerpulse.unique_x": "fail", "model.partnerpulse.stg_a": "success"}, MONTHLY
    )
    # A node of the step that ran dbt failed too: that step fails.
    assert not failed_only_on(
        {"model.partnerpulse.fct_partner_months": "error", "model.partnerpulse.stg_a": "error"},
        MONTHLY,
    )
    # dbt failed before any node (a compile error): the step that ran dbt fails.
    assert not failed_only_on({}, MONTHLY)
    assert not failed_only_on({"model.partnerpulse.fct_partner_months": "skipped"}, MONTHLY)
    # Warnings and passes fail nothing.
    assert not failed_only_on({"test.partnerpulse.unique_x": "warn"}, MONTHLY)


def test_the_monthly_step_finds_its_own_runs_handover_and_no_other() -> None:
    run_id = "0f1e2d3c-0000-4000-8000-000000000001"
    other = "0f1e2d3c-0000-4000-8000-000000000002"  # the same folder prefix
    folder = dbt_target_dir() / f"partnerpulse_dbt_models-{run_id[:7]}-aaaaaaa"
    folder.mkdir()
    try:
        assert load(run_id) is None
        events = [{"info": {"name": "LogModelResult"}, "data": {"node_info": {"unique_id": "m"}}}]
        save(folder, run_id, events)
        assert load(run_id) == (folder, events)
        assert load(other) is None
        assert [p.name for p in folder.iterdir()] == ["handed_over.json"]  # no partial file
    finally:
        shutil.rmtree(folder)

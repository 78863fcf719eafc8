"""Which dbt tests a run leaves out (orchestration/passed_tests.py), on the project's own
manifest: a test is left out only when it passed on the very raw tables, project and vars it
has now, and only when nothing else (today, a run's months, a snapshot's or an incremental
model's history) decides its result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.passed_tests import Lineage, Plan, outcomes, plan
from orchestration.project import dbt_project

ACCOUNTS = "raw_crm.account"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(Path(dbt_project.manifest_path).read_text())


def _test_on(manifest: dict, name: str) -> str:
    """The id of the test named `name` (without its hash)."""
    (unique_id,) = [
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and node["name"] == name
    ]
    return unique_id


def _names(planned: Plan) -> set[str]:
    """The names of the tests a plan leaves out."""
    return {selector.rsplit(".", 1)[-1] for selector in planned.exclude}


def _contents(manifest: dict) -> dict[str, str]:
    """A content digest for every raw table the project reads."""
    return {
        f"{source['schema']}.{source['identifier']}": "100:42"
        for source in manifest["sources"].values()
    }


@pytest.mark.parametrize(
    ("test", "tables"),
    [
        ("source_unique_crm_account_id", {ACCOUNTS}),
        ("unique_stg_crm__accounts_account_id", {ACCOUNTS}),  # a view over the raw table
        ("unique_snp_crm__partner_tiers_dbt_scd_id", None),  # a snapshot: its history
        ("not_null_columns_rpt_partner_scorecard", None),  # reads today
    ],
)
def test_a_test_is_decided_by_raw_tables_only_when_nothing_else_decides_it(
    manifest: dict, test: str, tables: set[str] | None
) -> None:
    found = Lineage(manifest).raw_tables(_test_on(manifest, test))
    assert (None if found is None else set(found)) == tables


def test_models_reading_the_run_or_built_incrementally_are_not_decided_by_raw_tables(
    manifest: dict,
) -> None:
    lineage = Lineage(manifest)
    macros = lineage.run_macros
    assert {"macro.partnerpulse.as_of_date", "macro.partnerpulse.month_var_literal"} <= macros
    # Where Spark reads a raw table is not what it reads: the raw table's rows are digested.
    assert "macro.partnerpulse.spark__raw_relation" not in macros
    assert "macro.partnerpulse.source" not in macros
    incremental = [
        uid
        for uid, node in manifest["nodes"].items()
        if node["config"].get("materialized") == "incremental"
    ]
    assert incremental and all(lineage.raw_tables(uid) is None for uid in incremental)


def test_a_test_is_left_out_once_it_passed_on_the_inputs_it_has_now(manifest: dict) -> None:
    contents, project = _contents(manifest), "project"
    first = plan(manifest, contents, project, passed={})
    assert first.left_out == {} and first.exclude == []  # nothing passed yet
    source_test = _test_on(manifest, "source_unique_crm_account_id")
    staging_test = _test_on(manifest, "unique_stg_crm__accounts_account_id")
    other = _test_on(manifest, "source_unique_erp_item_id")
    assert {source_test, staging_test, other} <= first.digests.keys()
    passed = {test: (digest, "run-1") for test, digest in first.digests.items()}

    again = plan(manifest, contents, project, passed)
    assert again.left_out == {test: "run-1" for test in passed}
    assert "fqn:partnerpulse.staging.crm.source_unique_crm_account_id" in again.exclude

    # A day changed the accounts: their tests run, the items' are left out still.
    left = _names(plan(manifest, {**contents, ACCOUNTS: "101:43"}, project, passed))
    assert "source_unique_crm_account_id" not in left
    assert "unique_stg_crm__accounts_account_id" not in left
    assert "source_unique_erp_item_id" in left
    # Another project, other vars or another engine: every test runs.
    assert plan(manifest, contents, "another project", passed).left_out == {}
    # A raw table not there (not landed yet): its tests run.
    missing = {table: content for table, content in contents.items() if table != ACCOUNTS}
    assert "source_unique_crm_account_id" not in _names(plan(manifest, missing, project, passed))


def test_only_the_tests_that_passed_are_recorded_and_the_others_forgotten() -> None:
    digests = {f"test.p.{name}": f"d-{name}" for name in ("ok", "warned", "failed", "errored")}
    results = {
        "results": [
            {"unique_id": "model.p.stg", "status": "success"},
            {"unique_id": "test.p.ok", "status": "pass"},
            {"unique_id": "test.p.warned", "status": "warn"},
            {"unique_id": "test.p.failed", "status": "fail"},
            {"unique_id": "test.p.errored", "status": "error"},
            {"unique_id": "test.p.after_a_failure", "status": "skipped"},
            {"unique_id": "test.p.today", "status": "pass"},  # no digest: reads today
        ]
    }
    passed, others = outcomes(results, digests)
    assert passed == {"test.p.ok": "d-ok"}
    assert set(others) == {
        "test.p.warned",
        "test.p.failed",
        "test.p.errored",
        "test.p.after_a_failure",
        "test.p.today",
    }

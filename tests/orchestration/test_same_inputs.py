"""Which dbt tests and models a run leaves out (orchestration/same_inputs.py), on the
project's own manifest: a test is left out only when it passed, and a model only when it
was built, on the very raw tables, project and vars it has now, and only when nothing else
(today, a run's months, a snapshot's or an incremental model's history) decides its
result; a model only when the step's tests on it are left out too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.project import dbt_project
from orchestration.same_inputs import Lineage, Plan, outcomes, plan

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


def _every_node(manifest: dict) -> set[str]:
    return set(manifest["nodes"])


def _model(manifest: dict, name: str) -> str:
    return f"model.partnerpulse.{name}"


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
    step = _every_node(manifest)
    first = plan(manifest, contents, project, passed={}, built={}, step=step)
    assert first.left_out == {} and first.exclude == []  # nothing passed yet
    source_test = _test_on(manifest, "source_unique_crm_account_id")
    staging_test = _test_on(manifest, "unique_stg_crm__accounts_account_id")
    other = _test_on(manifest, "source_unique_erp_item_id")
    assert {source_test, staging_test, other} <= first.digests.keys()
    passed = {t: (digest, "run-1") for t, digest in first.digests.items() if t.startswith("test.")}

    again = plan(manifest, contents, project, passed, {}, step)
    assert again.left_out == {test: "run-1" for test in passed}
    assert "fqn:partnerpulse.staging.crm.source_unique_crm_account_id" in again.exclude

    # A day changed the accounts: their tests run, the items' are left out still.
    left = _names(plan(manifest, {**contents, ACCOUNTS: "101:43"}, project, passed, {}, step))
    assert "source_unique_crm_account_id" not in left
    assert "unique_stg_crm__accounts_account_id" not in left
    assert "source_unique_erp_item_id" in left
    # Another project, other vars or another engine: every test runs.
    assert plan(manifest, contents, "another project", passed, {}, step).left_out == {}
    # A raw table not there (not landed yet): its tests run.
    missing = {table: content for table, content in contents.items() if table != ACCOUNTS}
    assert "source_unique_crm_account_id" not in _names(
        plan(manifest, missing, project, passed, {}, step)
    )


def test_a_model_is_kept_once_built_from_the_inputs_it_has_now_with_its_tests_left_out(
    manifest: dict,
) -> None:
    contents, project, step = _contents(manifest), "project", _every_node(manifest)
    first = plan(manifest, contents, project, passed={}, built={}, step=step)
    assert first.kept == {}  # nothing built yet
    accounts = _model(manifest, "stg_crm__accounts")  # a view with tests
    unioned = _model(manifest, "int_partner_reports_unioned")  # a table
    scorecard = _model(manifest, "rpt_partner_scorecard")  # reads today
    assert {accounts, unioned} <= first.digests.keys() and scorecard not in first.digests
    models = {uid for uid in first.digests if uid.startswith("model.")}
    assert not any(
        manifest["nodes"][uid]["config"]["materialized"] not in ("view", "table") for uid in models
    )
    passed = {uid: (d, "run-1") for uid, d in first.digests.items() if uid.startswith("test.")}
    built = {uid: (d, "run-1") for uid, d in first.digests.items() if uid in models}

    again = plan(manifest, contents, project, passed, built, step)
    # Every model but those that a test of the step reads along with a model that reads
    # today (relationships tests, which a pipeline run leaves to CI): that test runs on it.
    read_with_today = {
        _model(manifest, "dim_product_lines"),
        _model(manifest, "int_erp_partners_mapped"),
    }
    assert again.kept == {uid: "run-1" for uid in models - read_with_today}
    relationships = {
        uid for uid in step if manifest["nodes"][uid]["name"].startswith("relationships_")
    }
    as_in_a_run = plan(manifest, contents, project, passed, built, step - relationships)
    assert as_in_a_run.kept == {uid: "run-1" for uid in models}
    assert "fqn:partnerpulse.staging.crm.stg_crm__accounts" in again.exclude
    # A test on the model that did not pass (it warned): the model is built again, for the
    # test to run on it (dbt leaves out the tests of a model it leaves out).
    (accounts_test,) = [
        uid
        for uid in passed
        if manifest["nodes"][uid]["name"] == "unique_stg_crm__accounts_account_id"
    ]
    warned = {uid: made for uid, made in passed.items() if uid != accounts_test}
    assert accounts not in plan(manifest, contents, project, warned, built, step).kept
    # ... unless that test is not one of the step's: it is left to its own step.
    other_step = step - {accounts_test}
    assert accounts in plan(manifest, contents, project, warned, built, other_step).kept
    # A model of another step is never left out here.
    assert unioned not in plan(manifest, contents, project, passed, built, step - {unioned}).kept
    # A day changed the accounts: what reads them is built, the reports are not.
    changed = plan(manifest, {**contents, ACCOUNTS: "101:43"}, project, passed, built, step)
    assert accounts not in changed.kept and unioned in changed.kept
    # Another project, other vars or another engine: every model is built.
    assert plan(manifest, contents, "another project", passed, built, step).kept == {}


def test_only_the_tests_that_passed_and_the_models_built_are_recorded() -> None:
    digests = {f"test.p.{name}": f"d-{name}" for name in ("ok", "warned", "failed", "errored")}
    digests |= {"model.p.stg": "d-stg", "model.p.broken": "d-broken"}
    statuses = {
        "model.p.stg": "success",
        "model.p.broken": "error",
        "model.p.after_it": "skipped",
        "model.p.mart": "success",  # no digest: reads today
        "snapshot.p.tiers": "success",
        "test.p.ok": "pass",
        "test.p.warned": "warn",
        "test.p.failed": "fail",
        "test.p.errored": "error",
        "test.p.after_a_failure": "skipped",
        "test.p.today": "pass",  # no digest: reads today
    }
    passed, built, others = outcomes(statuses, digests)
    assert passed == {"test.p.ok": "d-ok"}
    assert built == {"model.p.stg": "d-stg"}
    assert set(others) == {
        "model.p.broken",
        "model.p.after_it",
        "model.p.mart",
        "test.p.warned",
        "test.p.failed",
        "test.p.errored",
        "test.p.after_a_failure",
        "test.p.today",
    }

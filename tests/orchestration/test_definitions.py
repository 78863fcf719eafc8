"""The Dagster definitions load, and the asset graph is the one reviewed (snapshot)."""

import os
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs

SNAPSHOT = Path(__file__).with_name("asset_graph.snapshot")


def render_graph() -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ", ".join(sorted(p.to_user_string() for p in node.parent_keys))
        lines.append(f"asset {key.to_user_string()} [{node.group_name}] <- {deps}")
    for check in sorted(graph.asset_check_keys, key=lambda c: c.to_user_string()):
        lines.append(f"check {check.to_user_string()}")
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_the_reviewed_snapshot() -> None:
    rendered = render_graph()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(rendered)
    assert rendered == SNAPSHOT.read_text(), (
        "the asset graph changed: review it, then run `UPDATE_SNAPSHOTS=1 make test`"
    )


def test_every_asset_has_a_description_and_an_owner_or_group() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        spec = graph.get(key)
        assert spec.description, f"{key.to_user_string()} has no description"
        assert spec.group_name, f"{key.to_user_string()} has no group"


def test_raw_to_marts_lineage_is_wired_through_dbt_sources() -> None:
    graph = defs.resolve_asset_graph()
    staging = graph.get(dg.AssetKey(["staging", "stg_erp__transaction_lines"]))
    assert dg.AssetKey(["erp", "transaction_lines"]) in staging.parent_keys
    recon = dg.AssetKey(["marts", "rpt_partner_reconciliation"])
    seen, todo = set(), [recon]
    while todo:
        key = todo.pop()
        for parent in graph.get(key).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    assert {
        dg.AssetKey(["erp", "transaction_lines"]),
        dg.AssetKey(["portal", "sales_reports"]),
        dg.AssetKey(["portal", "pos_reports"]),
        dg.AssetKey(["crm", "accounts"]),
    } <= seen


def test_warehouse_writers_share_one_pool() -> None:
    for assets_def in defs.assets:
        if isinstance(assets_def, dg.AssetsDefinition):
            pools = {op.pool for op in assets_def.node_def.iterate_op_defs()}
            assert pools == {"warehouse"}, assets_def.node_def.name


def test_dbt_steps_skip_dbt_version_and_the_adapter(monkeypatch) -> None:
    """`DbtCli` overrides two private methods of dagster-dbt; if an upgrade renames them,
    this fails instead of the saving silently disappearing."""
    import importlib.metadata

    import dagster_dbt.core.resource as dbt_resource

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"dagster-dbt ran {args}")

    handed_over: dict = {}
    monkeypatch.setattr(dbt_resource, "check_output", no_subprocess)
    monkeypatch.setattr(
        dbt_resource.DbtCliInvocation, "run", staticmethod(lambda **kw: handed_over.update(kw))
    )
    resource = defs.resources["dbt"]
    resource.cli(["parse"], raise_on_error=False)
    assert handed_over["adapter"] is None
    assert str(handed_over["cli_version"]) == importlib.metadata.version("dbt-core")


def test_the_launchpad_names_the_org_mapping_for_one_run(tmp_path, monkeypatch) -> None:
    """`settings.config.org_config_file` (resource configuration the launchpad shows)
    reaches the syncs: a bad file named there stops the ingest step before anything is
    fetched, naming its line."""
    from orchestration.definitions import defs

    bad = tmp_path / "partnerpulse.yml"
    bad.write_text("crm:\n  accounts:\n    fields: {regoin: Sales_Region__c}\n")
    for name, value in {
        "PARTNERPULSE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "PARTNERPULSE_STANDIN_CACHE_DIR": str(tmp_path / "worlds"),
        "PARTNERPULSE_LANDING_DIR": str(tmp_path / "landing"),
        "PARTNERPULSE_STANDIN_PARTNERS": "6",
        "PARTNERPULSE_STANDIN_MONTHS": "6",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PARTNERPULSE_CONFIG", raising=False)
    job = defs.resolve_implicit_global_asset_job_def()
    config = {"resources": {"settings": {"config": {"org_config_file": str(bad)}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config=config,
            asset_selection=[dg.AssetKey(["crm", "accounts"])],
            raise_on_error=False,
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "line 3: unknown field 'regoin' of accounts" in str(failure.step_failure_data.error)
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_a_runs_months_come_from_its_partition_its_range_or_the_whole_history() -> None:
    from orchestration.partitions import (
        PARTITION_TAG,
        monthly_partitions,
        partition_range_tags,
        run_partitions,
        whole_history_tags,
    )

    every = monthly_partitions.get_partition_keys()
    assert run_partitions({PARTITION_TAG: "2026-03-01"}) == ["2026-03-01"]
    assert run_partitions(partition_range_tags("2026-03-01", "2026-05-01")) == [
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]
    assert run_partitions(whole_history_tags()) == every  # tagged as a range, and "all"
    assert run_partitions({}) == every  # checks launched alone

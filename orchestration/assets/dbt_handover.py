"""A run's two dbt steps in one dbt invocation.

A run of the unpartitioned dbt models and the whole of the month-partitioned ones (every
run `partnerpulse run`, the schedules and `make demo` start) would start dbt twice, and each
`dbt build` pays dbt's start, its parse and the warehouse's set-up before its first node:
4-5 s of a small day's run (BENCHMARKS.md). Instead the unpartitioned step's `dbt
build` selects the monthly step's nodes too and hands over what dbt logged as it finished
each of them: a file in that invocation's folder, which the monthly step reads and turns
into its own events (materializations, check results) as if it had run dbt itself. The UI
still shows two steps, each with its own assets, checks and failure: a monthly model or
test that failed fails the monthly step, not the first one.
"""

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.dependency import NodeHandle
from dagster_dbt import DbtCliInvocation
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from orchestration.partitions import is_partitioned
from orchestration.project import dbt_target_dir

HANDOVER_FILE = "handed_over.json"
# The events dbt logs as it finishes a node, with the node's status: its result, or its
# skipping after a failure upstream (what dbt's run_results.json lists).
NODE_FINISHED = frozenset(
    {"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult", "SkippingDetails"}
)
# dbt's node statuses that make `dbt build` fail (its exit code 1).
FAILED = frozenset({"error", "fail", "runtime error"})


def runs_whole(
    context: dg.AssetExecutionContext, own: dg.AssetsDefinition, monthly: dg.AssetsDefinition
) -> bool:
    """Whether the run executes the step of `own` whole and, after it, the monthly step
    whole (what `partnerpulse run` and the schedules start); a run of some of their assets
    or checks, or re-executing one step alone, leaves each step to dbt alone."""
    run = context.run
    if not is_partitioned(run.tags):  # the monthly step would refuse the run
        return False
    if run.step_keys_to_execute is not None and monthly.op.name not in run.step_keys_to_execute:
        return False
    # The step's own `assets_def` is the run's subset of it, hence `own`.
    selected = context.selected_asset_keys | context.selected_asset_check_keys
    in_run = context.job_def.asset_layer.get_selected_entity_keys_for_node(
        NodeHandle(monthly.op.name, None)
    )
    return selected == own.asset_and_check_keys and in_run == monthly.asset_and_check_keys


def stream(
    context: dg.AssetExecutionContext,
    invocation: DbtCliInvocation,
    statuses: dict[str, str],
    monthly_nodes: frozenset[str],
    handover: list[Mapping[str, Any]],
) -> Iterator[Any]:
    """The invocation's Dagster events, as its `stream()` yields them, noting in `statuses`
    the status of each node dbt finished (unique id -> `success`, `pass`, `fail`, ...). The
    events of `monthly_nodes` are not the step's: those the monthly step needs (each node's
    finish, and dbt's errors) go to `handover` instead (empty: the step's dbt alone)."""
    for event in invocation.stream_raw_events():
        raw = event.raw_event
        unique_id = (raw["data"].get("node_info") or {}).get("unique_id")
        finished = raw["info"]["name"] in NODE_FINISHED and unique_id
        if finished:
            statuses[unique_id] = raw["data"]["node_info"]["node_status"]
        if unique_id in monthly_nodes:
            if finished or raw["info"]["level"] == "error":
                handover.append(raw)
            continue
        yield from event.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=context,
            target_path=invocation.target_path,
            project=invocation.project,
        )


def failed_only_on(statuses: Mapping[str, str], nodes: frozenset[str]) -> bool:
    """Whether dbt failed on some node, and on nodes of `nodes` alone: not when it failed
    before running any (a compile error, say), which fails the step that started it."""
    failed = _failed(statuses)
    return bool(failed) and set(failed) <= nodes


def _failed(statuses: Mapping[str, str]) -> list[str]:
    """The nodes whose status makes `dbt build` fail, sorted."""
    return sorted(uid for uid, status in statuses.items() if status in FAILED)


def save(target_path: Path, run_id: str, raw_events: list[Mapping[str, Any]]) -> None:
    """Writes the handed-over events into the invocation's folder, whole or not at all."""
    partial = target_path / f"{HANDOVER_FILE}.tmp"
    partial.write_text(json.dumps({"run_id": run_id, "events": raw_events}))
    os.replace(partial, target_path / HANDOVER_FILE)


def load(run_id: str) -> tuple[Path, list[dict[str, Any]]] | None:
    """The folder of the run's invocation that built the monthly step's nodes, and the events
    it handed over; None when no invocation of the run did (the monthly step runs dbt)."""
    # dagster-dbt names an invocation's folder `<step>-<run id[:7]>-<uuid[:7]>`
    # (transform._invoke too).
    for path in dbt_target_dir().glob(f"*-{run_id[:7]}-*/{HANDOVER_FILE}"):
        handover = json.loads(path.read_text())
        if handover["run_id"] == run_id:
            return path.parent, handover["events"]
    return None


def replay(
    context: dg.AssetExecutionContext, raw_events: list[dict[str, Any]]
) -> tuple[list[Any], dict[str, str], list[str]]:
    """The step's Dagster events from the handed-over ones, as if its own `dbt build` had
    logged them; each node's status (unique id -> dbt's status); dbt's error messages."""
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    events: list[Any] = []
    statuses: dict[str, str] = {}
    errors: list[str] = []
    for raw_event in raw_events:
        info = raw_event["data"]["node_info"]
        if raw_event["info"]["name"] in NODE_FINISHED:
            statuses[info["unique_id"]] = info["node_status"]
        if raw_event["info"]["level"] == "error":
            errors.append(raw_event["info"]["msg"])
        message = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
        events.extend(message.to_default_asset_events(manifest, translator, context, None, project))
    return events, statuses, errors


def failure(folder: Path, statuses: Mapping[str, str], errors: list[str]) -> dg.Failure | None:
    """The monthly step's failure when dbt failed on any of its nodes, with dbt's messages."""
    failed = _failed(statuses)
    if not failed:
        return None
    return dg.Failure(
        description=f"dbt failed on {len(failed)} of this step's nodes, in the dbt invocation "
        f"that built them ({folder.name}): {', '.join(failed)}\n\n" + "\n\n".join(errors),
        metadata={"dbt debug log": str(folder / "dbt.log")},
    )

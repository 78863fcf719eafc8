"""What `partnerpulse run` and `make demo` print while a run goes: one line per step as it
finishes, with its time and what it did (rows synced per source object, dbt models built
and tests passed, checks passed or failed, marts published), then where the time went.

It reads the run's Dagster events as they happen (`launch.run_events`); the engine's own
log goes to the run's log file instead (`--verbose` prints it), and dbt's lines of nodes
done are counted on the way (`EngineLog`).
"""

from __future__ import annotations

import io
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg

from orchestration.same_inputs import BUILT_IN_RUN, PASSED_IN_RUN

# Materialization metadata in which an asset says in a few words what it made ("18 marts
# published"): a run's line for the step shows it.
SUMMARY = "summary"

# Steps by stage, from the step key's start (the key is the op's name).
STAGES = (
    ("ingest_", "ingestion"),
    ("partnerpulse_", "dbt"),
    ("gx_", "checks"),
    ("data_quality_findings", "checks"),
    ("freshness_check", "checks"),
    ("forecasts", "forecasts"),
    ("serving__marts", "publishing"),
    ("serving__reports", "pages"),
)


def stage_of(step_key: str) -> str:
    return next((stage for start, stage in STAGES if step_key.startswith(start)), "other")


@dataclass
class _Step:
    started: float
    rows: dict[str, int] = field(default_factory=dict)  # source object -> rows merged
    materialized: set = field(default_factory=set)  # asset keys (a range: one per month)
    kept: set = field(default_factory=set)  # those of them not built again (same inputs)
    checks: Counter = field(default_factory=Counter)  # passed / failed / warned / before
    published: list[str] = field(default_factory=list)  # the assets' own SUMMARY lines


@dataclass
class Progress:
    """Turns a run's events into lines for `echo`; `summary()` at the end."""

    echo: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    steps: dict[str, _Step] = field(default_factory=dict)
    seconds: Counter = field(default_factory=Counter)  # stage -> step seconds

    def __call__(self, event: dg.DagsterEvent) -> None:
        key = event.step_key
        if key is None:
            return
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_SKIPPED:
            self.echo(f"{key:<44}   skipped: a step it depends on built nothing")
            return
        if kind == dg.DagsterEventType.STEP_START:
            self.steps[key] = _Step(time.monotonic())
            return
        step = self.steps.get(key)
        if step is None:
            return
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            step.materialized.add(materialization.asset_key)
            metadata = materialization.metadata
            if BUILT_IN_RUN in metadata:
                step.kept.add(materialization.asset_key)
            rows = metadata.get("rows_merged")
            if rows is not None:
                step.rows[materialization.asset_key.to_user_string()] = rows.value
            if SUMMARY in metadata:
                step.published.append(str(metadata[SUMMARY].value))
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if PASSED_IN_RUN in evaluation.metadata:
                step.checks["passed before on the same inputs"] += 1
            elif evaluation.passed:
                step.checks["passed"] += 1
            elif evaluation.severity == dg.AssetCheckSeverity.ERROR:
                step.checks["failed"] += 1
            else:
                step.checks["warned"] += 1
        elif kind == dg.DagsterEventType.STEP_UP_FOR_RETRY:
            self.echo(f"{key:<44} retried: {event.message}")
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            seconds = time.monotonic() - step.started
            self.seconds[stage_of(key)] += seconds
            failed = kind == dg.DagsterEventType.STEP_FAILURE
            self.echo(f"{'FAILED ' if failed else ''}{key:<44} {seconds:6.1f} s  {_what(step)}")
            for name, rows in step.rows.items():
                self.echo(f"    {name:<40} {rows:>10,} rows")
            if failed:
                self.echo(f"    {_failure(event)}")

    def summary(self) -> str:
        """Where the time went: each stage's step time, and what the engine took besides."""
        total = time.monotonic() - self.started
        parts = [f"{stage} {s:.1f} s" for stage, s in self.seconds.most_common()]
        parts.append(f"engine and start-up {total - sum(self.seconds.values()):.1f} s")
        return f"{total:.1f} s in all: " + ", ".join(parts)


def _failure(event: dg.DagsterEvent) -> str:
    """The step's failure as said by the step (a `Failure`'s description), else the error."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.message.strip() if data.error else "failed"


def _what(step: _Step) -> str:
    said = []
    if step.published:
        said.extend(step.published)
    elif step.rows:
        said.append(f"{sum(step.rows.values()):,} rows synced")
    elif step.materialized:
        kept = f" ({len(step.kept)} as built before from the same inputs)" if step.kept else ""
        said.append(f"{len(step.materialized)} asset(s) materialized{kept}")
    elif not step.checks:
        said.append("nothing materialized")
    if step.checks:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(step.checks.items()))
        said.append(f"{sum(step.checks.values())} check result(s): {counts}")
    return "; ".join(said)


class EngineLog(io.TextIOBase):
    """The engine's output (Dagster's log, dbt's lines, the connectors' warnings) written to
    `sink`; dbt's lines of finished nodes (`157 of 250 OK created ...`) are also counted, and
    each quarter of a dbt invocation's nodes done is said with `echo`."""

    # dbt's line of a node done; its number is the node's, not how many are done.
    DBT_NODE_DONE = re.compile(r"^\d+ of (\d+) (?:OK|PASS|WARN|ERROR|FAIL|SKIP)\b")

    def __init__(self, sink: TextIO, echo: Callable[[str], None]) -> None:
        self.sink = sink
        self.echo = echo
        self.done = 0
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.sink.write(text)
        for line in text.splitlines():
            match = self.DBT_NODE_DONE.match(line)
            if not match:
                continue
            total = int(match[1])
            if total != self.total or self.done >= self.total:  # the next dbt invocation
                self.total, self.done = total, 0
            self.done += 1
            if self.done * 4 // total > (self.done - 1) * 4 // total:
                self.echo(f"    dbt: {self.done} of {total} nodes done")
        return len(text)

    def flush(self) -> None:
        self.sink.flush()

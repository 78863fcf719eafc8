"""dbt nodes a run leaves out: the tests that passed, and the models built, on exactly the
inputs they have now.

The unpartitioned dbt step builds and tests the landed tables and what is built on them in
every run, and a day's sync changes a few of the raw tables: the nodes fed only by the
others would compute what they computed the day before (on the medium world's day in
BENCHMARKS.md, 72 of the step's 138 tests and 26 of its 72 models, the partner reports'
tables among them: left out, the step took 14.2-14.6 s instead of 16.5-17.2 s). A node's
result is decided by its inputs alone when everything it reads, all the way up, is a raw
table, a seed, or a view, table or ephemeral model of the dbt project that reads neither
the run (today, a run's months, the clock) nor a snapshot or an incremental model (whose
rows are the history of earlier runs).

- Such a test that passed on the same inputs (the content of each raw table it reads, as
  `connectors.builds` digests it, the dbt project, the dbt vars and the engine) would pass
  again: the step leaves it out of `dbt build`, and its check's result is that pass
  again, naming the run it passed in (`PASSED_IN_RUN`). A test that warned or failed runs
  again in every run, so that each run reports its finding.
- Such a model (a view or a table) built from the same inputs, whose relation is still in
  the warehouse, holds the rows a build would write again: the step leaves it out when
  every test of the step on it is left out too (dbt leaves out the tests of a model it
  leaves out), and its materialization says so, naming the run that built it
  (`BUILT_IN_RUN`), so that the steps after it run as after a build.

A run tagged `partnerpulse/rebuild=true` builds and runs everything.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# The metadata keys of what a left-out node keeps: the run a test passed in, the run that
# built a model.
PASSED_IN_RUN = "passed_in_run"
BUILT_IN_RUN = "built_in_run"
# What in dbt's Jinja reads the run rather than the project: the environment (today and a
# run's months come as environment variables: `PipelineSettings.dbt_environment`), the clock.
READS_THE_RUN = re.compile(r"env_var\(|run_started_at|invocation_id|modules\.datetime")
# A macro that reads the environment but not what a model computes: where Spark reads a raw
# table's current Parquet version (macros/spark_raw.sql), whose rows are the raw table's.
WHERE_NOT_WHAT = frozenset({"macro.partnerpulse.spark__raw_relation"})
# Models whose rows follow from their inputs as they are now (not incremental ones).
REBUILT_WHOLE = frozenset({"view", "table", "ephemeral"})
# Those of them with a relation of their own in the warehouse, which a run can leave there.
STORED = frozenset({"view", "table"})


class Lineage:
    """The raw tables that decide each node of a dbt manifest, where nothing else does."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self._nodes = {**manifest["nodes"], **manifest["sources"]}
        self._macros = manifest["macros"]
        self._raw: dict[str, frozenset[str] | None] = {}

    @cached_property
    def run_macros(self) -> frozenset[str]:
        """The macros whose output depends on the run (`READS_THE_RUN`), directly or through
        the macros they call."""
        reading = {
            uid
            for uid, macro in self._macros.items()
            if READS_THE_RUN.search(macro.get("macro_sql", "")) and uid not in WHERE_NOT_WHAT
        }
        while True:
            callers = {
                uid
                for uid, macro in self._macros.items()
                if uid not in reading and reading & set(macro["depends_on"]["macros"])
            }
            if not callers:
                return frozenset(reading)
            reading |= callers

    def raw_tables(self, unique_id: str) -> frozenset[str] | None:
        """The raw tables (`schema.table`) whose rows decide the node's, with the project
        and its vars; None when something else does too."""
        if unique_id not in self._raw:
            self._raw[unique_id] = self._find_raw_tables(unique_id)
        return self._raw[unique_id]

    def _find_raw_tables(self, unique_id: str) -> frozenset[str] | None:
        node = self._nodes.get(unique_id)
        if node is None:
            return None
        kind = node["resource_type"]
        if kind == "source":
            return frozenset({f"{node['schema']}.{node['identifier']}"})
        if kind == "seed":  # its rows are in the project (the manifest's checksum)
            return frozenset()
        if kind not in ("model", "test"):
            return None
        if kind == "model" and node["config"].get("materialized") not in REBUILT_WHOLE:
            return None
        if READS_THE_RUN.search(node.get("raw_code", "")) or self.run_macros & set(
            node["depends_on"]["macros"]
        ):
            return None
        tables: set[str] = set()
        for parent in node["depends_on"]["nodes"]:
            found = self.raw_tables(parent)
            if found is None:
                return None
            tables |= found
        return frozenset(tables)

    def digest(self, unique_id: str, contents: Mapping[str, str], project: str) -> str | None:
        """The digest of what decides the node's result (a test's outcome, a model's rows):
        `project` (the project, its vars, the engine) and the content of each raw table it
        reads; None if not only those."""
        tables = self.raw_tables(unique_id)
        if tables is None or not tables <= contents.keys():
            return None
        digest = hashlib.sha256(project.encode())
        for table in sorted(tables):
            digest.update(f"\0{table}:{contents[table]}".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class Plan:
    """What a `dbt build` leaves out, and what to record of the nodes it runs."""

    left_out: dict[str, str]  # test id -> the run it passed in, on the inputs it has now
    kept: dict[str, str]  # model id -> the run that built it from the inputs it has now
    exclude: list[str]  # the `--exclude` selectors of both
    digests: dict[str, str]  # test or model id -> its inputs' digest, for those that have one


def plan(
    manifest: Mapping[str, Any],
    contents: Mapping[str, str],
    project: str,
    passed: Mapping[str, tuple[str, str]],
    built: Mapping[str, tuple[str, str]],
    step: Collection[str],
) -> Plan:
    """Leaves out the `step`'s tests (ids) whose inputs (the raw tables' `contents` and
    `project`) are those they `passed` on, and its models whose inputs are those they were
    `built` from, when every one of the step's tests on them is left out too.

    `passed` and `built` map a test or model id to the digest of those inputs and the run
    (`connectors.builds.passed_tests` and `built_models`); `built` holds only models whose
    relation is still in the warehouse."""
    lineage = Lineage(manifest)
    nodes = manifest["nodes"]
    digests: dict[str, str] = {}
    tests_on: dict[str, list[str]] = {}  # model id -> the step's tests that read it
    for unique_id, node in nodes.items():
        kind = node["resource_type"]
        if kind == "test" and unique_id in step:
            for parent in node["depends_on"]["nodes"]:
                tests_on.setdefault(parent, []).append(unique_id)
        elif kind != "model" or node["config"].get("materialized") not in STORED:
            continue  # nothing a build could leave out
        digest = lineage.digest(unique_id, contents, project)
        if digest is not None:
            digests[unique_id] = digest
    left_out = {
        uid: passed[uid][1]
        for uid, digest in digests.items()
        if nodes[uid]["resource_type"] == "test" and uid in passed and passed[uid][0] == digest
    }
    kept = {
        uid: built[uid][1]
        for uid, digest in digests.items()
        if nodes[uid]["resource_type"] == "model"
        and uid in step
        and uid in built
        and built[uid][0] == digest
        and all(test in left_out for test in tests_on.get(uid, []))
    }
    exclude = sorted("fqn:" + ".".join(nodes[uid]["fqn"]) for uid in [*left_out, *kept])
    return Plan(left_out, kept, exclude, digests)


def outcomes(
    statuses: Mapping[str, str], digests: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """From the status of each node a `dbt build` finished (unique id -> dbt's status): the
    digests of the tests that passed and of the models built, and the ids of the other
    tests and models it ran (warned, failed, errored, skipped after a failure upstream, or
    with no digest to record)."""
    passed: dict[str, str] = {}
    built: dict[str, str] = {}
    others: list[str] = []
    for unique_id, status in statuses.items():
        if unique_id.startswith("test.") and status == "pass" and unique_id in digests:
            passed[unique_id] = digests[unique_id]
        elif unique_id.startswith("model.") and status == "success" and unique_id in digests:
            built[unique_id] = digests[unique_id]
        elif unique_id.startswith(("test.", "model.")):
            others.append(unique_id)
    return passed, built, others

"""Runs started by `partnerpulse run` and `make demo`, recorded as the UI records its own.

A run made with `execute_in_process` belongs to no code location: the UI shows it without a
target, leaves it off the Overview timeline and warns on re-execute that its code may have
changed. Here the run is created in the instance with the origin of the code location that
`make dev` loads (`-m orchestration.definitions`), then executed in this process (the
project's executor is in-process anyway), so no second process pays the import of the
pipeline again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

# The code location `dagster dev -m orchestration.definitions` loads, named after its module.
LOCATION_NAME = "orchestration.definitions"
DEFINITIONS_ATTRIBUTE = "defs"
REPOSITORY_NAME = "__repository__"  # what Dagster names the repository of a `Definitions`
WORKING_DIRECTORY = Path(__file__).resolve().parents[1]


def create_run(
    instance: dg.DagsterInstance,
    job_name: str,
    *,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, object] | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
) -> tuple[ReconstructableJob, dg.DagsterRun]:
    """Creates the run of `job_name` (the implicit `__ASSET_JOB` for a selection of assets)
    in `instance`, with the `make dev` code location as its origin; `run_events` runs it."""
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    repository = ReconstructableRepository.for_module(
        LOCATION_NAME, DEFINITIONS_ATTRIBUTE, str(WORKING_DIRECTORY)
    )
    job = repository.get_reconstructable_job(job_name)
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=LOCATION_NAME,
            working_directory=str(WORKING_DIRECTORY),
        ),
        LOCATION_NAME,
    )
    run = instance.create_run_for_job(
        job_def=job.get_definition(),
        run_config=run_config,
        tags=tags,
        asset_selection=set(asset_selection) if asset_selection else None,
        remote_job_origin=RemoteRepositoryOrigin(location, REPOSITORY_NAME).get_job_origin(
            job_name
        ),
        job_code_origin=job.get_python_origin(),
    )
    return job, run


def run_events(
    instance: dg.DagsterInstance, job: ReconstructableJob, run: dg.DagsterRun
) -> Iterator[dg.DagsterEvent]:
    """Executes the run in this process, yielding its events as they happen."""
    from dagster._core.execution.api import execute_run_iterator

    yield from execute_run_iterator(job, run, instance)

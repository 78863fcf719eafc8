"""The whole pipeline on generated worlds of the default size, shared by the test folders
that read them (checks, reports): each world runs once per session, on the worker its tests
are grouped on (`xdist_group("world_7")`, `xdist_group("world_11")`)."""

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest


@dataclass
class WorldRun:
    """One pipeline run over a generated world, and what the tests read from it."""

    name: str
    env: dict[str, str]
    result: dg.ExecuteInProcessResult
    world_dir: Path
    seconds: float

    @property
    def warehouse(self) -> Path:
        return Path(self.env["PARTNERPULSE_WAREHOUSE"])

    @property
    def truth(self) -> dict:
        return json.loads((self.world_dir / "truth.json").read_text())

    def evaluations(self) -> dict[str, dg.AssetCheckEvaluation]:
        """The run's asset check evaluations by check name."""
        return {e.check_name: e for e in self.result.get_asset_check_evaluations()}


def _run_world(tmp: Path, name: str, **world: str) -> WorldRun:
    import time

    from tests.e2e.harness import pipeline_env, run_in_process

    env = pipeline_env(tmp)
    env.update(world)
    started = time.monotonic()
    result = run_in_process(env)
    seconds = time.monotonic() - started
    (world_dir,) = (tmp / "worlds").iterdir()
    return WorldRun(name, env, result, world_dir, seconds)


@pytest.fixture(scope="session")
def default_world(tmp_path_factory: pytest.TempPathFactory, gx_project: Path) -> WorldRun:
    """The default world (seed 7, 150 partners x 36 months) through the whole pipeline."""
    return _run_world(
        tmp_path_factory.mktemp("world_default"),
        "default",
        PARTNERPULSE_STANDIN_SEED="7",
        PARTNERPULSE_STANDIN_PARTNERS="150",
        PARTNERPULSE_STANDIN_MONTHS="36",
    )


@pytest.fixture(scope="session")
def second_seed_world(tmp_path_factory: pytest.TempPathFactory, gx_project: Path) -> WorldRun:
    """Another seed of the default-sized world through the whole pipeline."""
    return _run_world(
        tmp_path_factory.mktemp("world_seed11"),
        "seed11",
        PARTNERPULSE_STANDIN_SEED="11",
        PARTNERPULSE_STANDIN_PARTNERS="150",
        PARTNERPULSE_STANDIN_MONTHS="36",
        # Its tests read the checks: the pages are tested on the default world.
        PARTNERPULSE_REPORTS_PDF="false",
    )

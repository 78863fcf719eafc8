"""The shared end-to-end run: a small generated world through the whole pipeline, twice.

Tests in this folder read the marts it leaves (`run` fixture, once per session, on the
worker of the `e2e_world` group) and compare them with values computed independently from
the generator's data (oracle.py).
"""

from pathlib import Path

import pytest

from tests.e2e.harness import AS_OF, pipeline_env, run_in_process, table_counts
from tests.e2e.oracle import WorldOracle


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("e2e")
    env = pipeline_env(tmp)
    first = run_in_process(env)
    counts_first = table_counts(Path(env["PARTNERPULSE_WAREHOUSE"]))
    second = run_in_process(env)  # the same data again: builds nothing, changes nothing
    (world_dir,) = (tmp / "worlds").iterdir()
    return {
        "env": env,
        "first": first,
        "second": second,
        "counts_first": counts_first,
        "oracle": WorldOracle(world_dir, tmp / "landing", AS_OF),
    }

"""What every test folder shares.

`make test` runs the suite in parallel (pytest-xdist, `--dist loadgroup`): each worker is a
process of its own, with its own temporary folder (warehouses, landing folders, Dagster
homes), ephemeral loopback ports and, below, its own copy of the GX project and its own
dbt target folder. Tests that read one session-scoped pipeline run carry the same
`xdist_group` mark, so that each world is built once, on one worker. `make test-fast`
leaves out the tests marked `slow` (whole pipeline runs, dbt builds, `dagster dev`, the
benchmarks).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.project import dbt_target_dir
from orchestration.resources import patched_environ
from tests.worlds import default_world, second_seed_world  # noqa: F401 (shared fixtures)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def gx_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This worker's copy of the GX project (suites, checkpoints).

    `PARTNERPULSE_GX_PROJECT_DIR` points the checks at it, in this process and in every
    process a test starts; a temporary `PARTNERPULSE_WAREHOUSE` (which tests that build one
    replace) keeps validation results and Data Docs, written beside the warehouse, out of
    the checkout, and two workers never write into one site.
    """
    root = tmp_path_factory.mktemp("gx") / "expectations"
    shutil.copytree(REPO / "expectations", root, ignore=shutil.ignore_patterns("uncommitted"))
    # Validation results and Data Docs go beside the warehouse: by default, a temporary one.
    warehouse = root.parent / "warehouse.duckdb"
    with patched_environ(
        {"PARTNERPULSE_GX_PROJECT_DIR": str(root), "PARTNERPULSE_WAREHOUSE": str(warehouse)}
    ):
        yield root


@pytest.fixture(scope="session", autouse=True)
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This worker's dbt target folder (`DBT_TARGET_PATH`), seeded with the manifest and
    parse state `make install` left in the project's `target/`.

    Every process a test starts reads the manifest from there (orchestration/project.py),
    and every dbt invocation of the pipeline runs in a folder below it and keeps its parse
    state there (orchestration/assets/transform.py): a worker's runs never start from the
    parse state of another worker's runs (other vars, another warehouse: a full parse), and
    `dagster dev`, which parses the project again as it starts, never rewrites the manifest
    other workers are reading.
    """
    target = tmp_path_factory.mktemp("dbt_target")
    seed_dbt_target(target)
    with patched_environ({"DBT_TARGET_PATH": str(target)}):
        yield target


def dagster_home(folder: Path) -> Path:
    """`folder` (created) as a Dagster home with the repository's dagster.yaml: the instance
    the pipeline runs on, its storage, pools and retries."""
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", folder / "dagster.yaml")
    return folder


def seed_dbt_target(target: Path) -> None:
    """Copies the manifest and the parse state of the current dbt target folder to `target`."""
    for name in ("manifest.json", "partial_parse.msgpack"):
        if (dbt_target_dir() / name).exists():
            shutil.copy(dbt_target_dir() / name, target / name)


# The groups of tests that share one long pipeline run, longest first: xdist hands work out
# in collection order (`--no-loadscope-reorder` in the Makefile), so the longest chains start
# at once and the many short tests fill the workers' gaps at the end.
LONGEST_FIRST = (
    "spark_world",
    "spark_thrift",
    "ops_pipeline",
    "e2e_world",
    "bench",
    "world_7",
    "world_11",
    "dbt_build",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        mark = item.get_closest_marker("xdist_group")
        group = mark.args[0] if mark else None
        return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a group is kept

"""The dbt project, in a module of its own so its manifest can be built before the assets
that need it are imported (`dagster-dbt project prepare-and-package --file` this file)."""

import os
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def dbt_target_dir() -> Path:
    """Where dbt writes (the manifest, each invocation's folder, the parse state): dbt's own
    `DBT_TARGET_PATH` (relative to the dbt project, or absolute) when set, else `target/`.
    Read when called, so that a process that sets it later (a test worker) is followed."""
    return DBT_PROJECT_DIR / (os.environ.get("DBT_TARGET_PATH") or "target")


dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=dbt_target_dir()
)
# Under `dagster dev` the manifest is rebuilt when models change; elsewhere `make install`
# builds it.
dbt_project.prepare_if_dev()

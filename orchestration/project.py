"""The dbt project, in a module of its own so its manifest can be built before the assets
that need it are imported (`dagster-dbt project prepare-and-package --file` this file)."""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` the manifest is rebuilt when models change; elsewhere `make install`
# builds it.
dbt_project.prepare_if_dev()

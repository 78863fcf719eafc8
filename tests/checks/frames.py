"""The validation frames in a hand-made warehouse: the real dbt models, created as views.

A check reads its frame from the view `validation.val_<name>` (dbt_project/models/
validation/). The tests that make a small warehouse by hand (raw rows, or a mart's table)
create the frames on it from the SQL dbt compiles for those models, as `dbt build` creates
them, without building the rest of the project. dbt compiles once per process.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

from connectors.warehouse import ensure_warehouse
from orchestration.project import DBT_PROJECT_DIR

AS_OF = "2026-11-22"  # the tests' today, compiled into the frames (months_after_as_of)
# The compiled SQL names the warehouse's catalog, its file name without `.duckdb`: the
# warehouses given to `create_frames` must bear the same name.
WAREHOUSE_NAME = "warehouse.duckdb"
VIEWS = "path:models/staging path:models/validation"  # what can be created from raw tables


@functools.cache
def _compiled() -> dict[str, dict]:
    """Every staging and validation model by name: its schema, compiled SQL and parents."""
    with tempfile.TemporaryDirectory(prefix="frames-") as name:
        folder = Path(name)
        warehouse = folder / WAREHOUSE_NAME
        ensure_warehouse(warehouse)
        env = {
            **os.environ,
            "PARTNERPULSE_WAREHOUSE": str(warehouse),
            "PARTNERPULSE_AS_OF": AS_OF,
            "DBT_TARGET_PATH": str(folder / "target"),
        }
        dbt = Path(sys.executable).with_name("dbt")
        argv = [str(dbt), "compile", "--quiet", "--select", *VIEWS.split()]
        argv += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        manifest = json.loads((folder / "target" / "manifest.json").read_text())
    nodes = manifest["nodes"].values()
    return {
        n["name"]: {
            "schema": n["schema"],
            "sql": n["compiled_code"],
            "parents": [p.split(".")[-1] for p in n["depends_on"]["nodes"]],
        }
        for n in nodes
        if n["resource_type"] == "model" and n.get("compiled_code")
    }


def create_frames(warehouse: Path, *models: str) -> None:
    """Creates `models` (and the staging views they read) as views in `warehouse`; the
    marts they read must be there already."""
    assert warehouse.name == WAREHOUSE_NAME, warehouse
    compiled = _compiled()
    ordered: list[str] = []

    def add(name: str) -> None:
        if name in compiled and name not in ordered:
            for parent in compiled[name]["parents"]:
                add(parent)
            ordered.append(name)

    for model in models:
        assert model in compiled, f"{model} is no staging or validation model"
        add(model)
    con = duckdb.connect(str(warehouse))
    try:
        for name in ordered:
            schema = compiled[name]["schema"]
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create or replace view {schema}.{name} as {compiled[name]['sql']}")
    finally:
        con.close()

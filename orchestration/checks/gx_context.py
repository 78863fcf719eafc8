"""Running Great Expectations: the file context in `expectations/gx/`, its checkpoints, the
frames they validate (dbt models in the schema `validation`), and the Data Docs site.

The project (suites, checkpoints) is shared by every warehouse run from it; the
validation results and the Data Docs site are the warehouse's own, in `gx/` beside it
(`warehouse_gx_dir`), so each warehouse's Data Docs list its validations only.

Plain Python, without Dagster: `gx.py` turns what this module returns into asset checks.
Great Expectations takes seconds to import, so it is imported inside the functions only,
or ahead of time by `importing_in_background`.
"""

import contextlib
import importlib
import json
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from connectors.config import Settings
from orchestration.checks.data_docs import make_offline

GX_PROJECT_ROOT = Path(__file__).resolve().parents[2] / "expectations"


def gx_root() -> Path:
    """The GX project folder in use: `PARTNERPULSE_GX_PROJECT_DIR`, else `expectations/`."""
    return Settings.from_env().gx_project_dir or GX_PROJECT_ROOT


def warehouse_gx_dir() -> Path:
    """The validation results (`validations/`) and Data Docs site (`data_docs/`) of the
    warehouse in use: `gx/` beside `PARTNERPULSE_WAREHOUSE` (default `.partnerpulse/gx/`)."""
    return Settings.from_env().warehouse.parent / "gx"


def data_docs_dir() -> Path:
    """The Data Docs site of the warehouse in use (`partnerpulse gx-docs` serves it)."""
    return warehouse_gx_dir() / "data_docs"


@contextlib.contextmanager
def importing_in_background() -> Iterator[None]:
    """Imports Great Expectations in a thread while the block runs (a step waiting on a
    subprocess), and waits for the import to end when the block does.

    The dbt steps use it: while dbt runs, the run's own process only reads dbt's output,
    so the 3-5 s import (GX, and scipy and pyspark with it) takes a core that would idle,
    and the checks after dbt find it done. The wait matters when dbt ends first: the step
    then stores its events, and storing them during the import is not safe (an experiment
    that stored them while dbt ran failed once on a module the import had half loaded,
    `sqlalchemy.orm.exc`: "partially initialized module"). A failed import is left to the
    check, which imports again and reports the error as its own.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module("great_expectations")

    thread = threading.Thread(target=load, name="import great_expectations", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _file_context() -> Any:
    """The GX file context of `gx_root()`, its results and Data Docs in `warehouse_gx_dir()`.

    great_expectations.yml names that folder `${warehouse_gx_dir}`; the value is given here,
    as a runtime variable (GX's highest-precedence source), so no environment is changed.
    """
    import great_expectations as gx

    return gx.get_context(
        mode="file",
        project_root_dir=gx_root(),
        runtime_environment={"warehouse_gx_dir": str(warehouse_gx_dir())},
    )


def build_data_docs_index() -> Path:
    """Rebuilds the Data Docs index and every suite's page; returns the index's path.

    The validation pages are written by the runs (`run_checkpoint`); the index lists the
    latest of them (`validation_results_limit`).
    """
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    docs = data_docs_dir()
    context = _file_context()
    suites = sorted((gx_root() / "gx" / "expectations").glob("*.json"))
    identifiers = [ExpectationSuiteIdentifier(path.stem) for path in suites]
    context.build_data_docs(resource_identifiers=identifiers, build_index=True)
    make_offline(docs, [docs / "index.html", *(docs / "expectations").rglob("*.html")])
    return docs / "index.html"


def data_docs_stamp(site: Path) -> int:
    """The newest modification time (ns) of the validation pages of the Data Docs `site` and
    of the suites, 0 without any: an index built when it was lower is out of date."""
    files = [
        *(site / "validations").rglob("*.html"),
        *(gx_root() / "gx" / "expectations").glob("*.json"),
    ]
    stamps = []
    for file in files:
        with contextlib.suppress(FileNotFoundError):  # a page replaced as it is read
            stamps.append(file.stat().st_mtime_ns)
    return max(stamps, default=0)


# -- suites ----------------------------------------------------------------------------------


def load_suite(name: str, root: Path | None = None) -> dict[str, Any]:
    """The suite's JSON as stored in `expectations/gx/expectations/<name>.json`."""
    path = (root or gx_root()) / "gx" / "expectations" / f"{name}.json"
    return json.loads(path.read_text())


def rule_of(config: Mapping[str, Any]) -> str:
    """An expectation's stable short name: `meta.rule`, else its type and column."""
    meta = config.get("meta") or {}
    if meta.get("rule"):
        return str(meta["rule"])
    kwargs = config.get("kwargs") or {}
    column = kwargs.get("column") or "+".join(kwargs.get("column_list") or [])
    return f"{config['type']}:{column}" if column else str(config["type"])


# -- running a checkpoint --------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, reduced to what an operator needs to read."""

    rule: str
    expectation: str
    column: str | None
    severity: str  # GX severity: critical, warning or info
    finding: str
    success: bool
    element_count: int | None
    unexpected_count: int
    unexpected_percent: float | None = None
    mostly: float | None = None
    observed_value: Any = None
    exception: str | None = None
    show: tuple[str, ...] = ()
    unexpected_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_share_rule(self) -> bool:
        """A rule on a share of rows (`mostly` < 1): it names no single row."""
        return self.mostly is not None and self.mostly < 1


@dataclass(frozen=True)
class CheckpointRun:
    outcomes: list[ExpectationOutcome]
    index_columns: tuple[str, ...]
    data_docs_pages: list[Path]


def run_checkpoint(
    name: str,
    dataframe: Any,
    *,
    suite_parameters: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    run_time: datetime | None = None,
) -> CheckpointRun:
    """Runs the GX checkpoint `name` on `dataframe` and writes its Data Docs page.

    Only this validation's page is rendered: the site's index reads every listed result,
    and rebuilding it after each of a run's checkpoints cost most of the checks' time. The
    index is built when someone opens the docs (`build_data_docs_index`).
    """
    from great_expectations.core.run_identifier import RunIdentifier

    docs = data_docs_dir()
    context = _file_context()
    checkpoint = context.checkpoints.get(name)
    result = checkpoint.run(
        batch_parameters={"dataframe": dataframe},
        expectation_parameters=dict(suite_parameters or {}),
        run_id=RunIdentifier(run_name=run_name, run_time=run_time or datetime.now(UTC)),
    )
    result_format = checkpoint.result_format
    index_columns = (
        tuple(result_format.get("unexpected_index_column_names") or ())
        if isinstance(result_format, Mapping)
        else ()
    )
    context.build_data_docs(resource_identifiers=list(result.run_results), build_index=False)
    outcomes, pages = [], []
    for identifier, validation in result.run_results.items():
        pages.append(docs / "validations" / Path(*identifier.to_tuple()))
        for r in validation.results:
            config = r.expectation_config
            meta = config.meta or {}
            res = r.result or {}
            error = _exception_message(r.exception_info)
            outcomes.append(
                ExpectationOutcome(
                    rule=rule_of({"type": config.type, "kwargs": config.kwargs, "meta": meta}),
                    expectation=config.type,
                    column=config.kwargs.get("column"),
                    severity=str(getattr(config.severity, "value", config.severity)),
                    finding=meta.get("finding", config.type),
                    success=bool(r.success),
                    element_count=res.get("element_count"),
                    unexpected_count=int(res.get("unexpected_count") or 0),
                    unexpected_percent=res.get("unexpected_percent"),
                    mostly=config.kwargs.get("mostly"),
                    observed_value=res.get("observed_value"),
                    exception=error,
                    show=tuple(meta.get("show") or ()),
                    unexpected_rows=list(res.get("unexpected_index_list") or []),
                )
            )
    pages = [p.with_suffix(".html") for p in pages]
    make_offline(docs, pages)
    return CheckpointRun(outcomes, index_columns, pages)


def _exception_message(info: Any) -> str | None:
    """The message of an expectation that raised (GX nests it per metric), else None."""
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    for nested in info.values():
        message = _exception_message(nested)
        if message:
            return message
    return None


# -- reading the frame -----------------------------------------------------------------------

# The frames are dbt models (`dbt_project/models/validation/`), views in this schema.
VALIDATION_SCHEMA = "validation"
SUITE_PARAMETERS_MODEL = "val_suite_parameters"


def frame_sql(model: str, filters: Mapping[str, Any] | None = None) -> str:
    """The query of a frame: its model's rows, those equal to `filters` only (bound by name,
    `$column`)."""
    where = " and ".join(f"{column} = ${column}" for column in filters or {})
    return f"select * from {VALIDATION_SCHEMA}.{model}" + (f" where {where}" if where else "")


def read_frame(
    con: duckdb.DuckDBPyConnection,
    model: str,
    filters: Mapping[str, Any] | None = None,
    order_by: Sequence[str] = (),
) -> Any:
    """The frame as a pandas DataFrame, its rows in the order of `order_by` (the columns of
    them it has: a frame that lacks one is for its suite to report, not for the read)."""
    sql = frame_sql(model, filters)
    frame = con.execute(sql, dict(filters)).df() if filters else con.execute(sql).df()
    keys = [c for c in order_by if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame


def index_columns(checkpoint: str) -> tuple[str, ...]:
    """The columns the checkpoint names a failing row by (`unexpected_index_column_names`)."""
    path = gx_root() / "gx" / "checkpoints" / f"{checkpoint}.json"
    result_format = json.loads(path.read_text()).get("result_format") or {}
    return tuple(result_format.get("unexpected_index_column_names") or ())


def suite_parameters(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Values that suites name as `{"$PARAMETER": ...}`: the one row of the model
    `val_suite_parameters`, one column per parameter."""
    cursor = con.execute(frame_sql(SUITE_PARAMETERS_MODEL))
    row = cursor.fetchall()[0]
    return {d[0]: plain(v) for d, v in zip(cursor.description, row, strict=True)}


def plain(value: Any) -> Any:
    """A JSON-friendly value: NaN/NaT/NA -> None, numpy scalars -> Python, dates -> ISO."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        midnight = value.hour == value.minute == value.second == value.microsecond == 0
        return value.date().isoformat() if midnight else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value

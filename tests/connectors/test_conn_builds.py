"""The fingerprint of a build's inputs: what a sync stamps on the rows it lands does not
count; any landed value, a table's row count and the caller's extras do. A dropped relation
is found missing. The dbt tests that passed are recorded with their inputs' digest."""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors import builds
from connectors.warehouse import connect


def _warehouse(path: Path) -> Path:
    with connect(path) as con:
        con.execute("create schema if not exists raw_erp")
        con.execute("create schema if not exists marts")
        con.execute(
            "create table raw_erp.sample (id varchar, price double, _sync_id varchar, "
            "_loaded_at timestamp)"
        )
        con.execute(
            "insert into raw_erp.sample values ('A', 1.5, 's1', '2026-12-01'), "
            "('B', 2.0, 's1', '2026-12-01')"
        )
        con.execute("create table marts.dim_products as select 1 as id")
    return path


def _inputs(path: Path, vars: str = "vars") -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return builds.inputs(builds.table_contents(con), {"the dbt vars": vars})
    finally:
        con.close()


def _fingerprint(path: Path, vars: str = "vars") -> str:
    return builds.fingerprint(_inputs(path, vars))


def _change(path: Path, sql: str) -> None:
    with connect(path) as con:
        con.execute(sql)


def test_a_sync_landing_the_same_rows_again_changes_nothing(tmp_path: Path) -> None:
    path = _warehouse(tmp_path / "w.duckdb")
    before = _fingerprint(path)
    _change(path, "update raw_erp.sample set _sync_id = 's2', _loaded_at = '2026-12-02'")
    assert _fingerprint(path) == before


def test_a_landed_value_a_row_a_relation_or_an_extra_changes_it(tmp_path: Path) -> None:
    path = _warehouse(tmp_path / "w.duckdb")
    seen = {_fingerprint(path)}
    _change(path, "update raw_erp.sample set price = 1.75 where id = 'A'")
    seen.add(_fingerprint(path))
    _change(path, "insert into raw_erp.sample values ('C', 3.0, 's3', '2026-12-03')")
    seen.add(_fingerprint(path))
    seen.add(_fingerprint(path, "other vars"))
    assert len(seen) == 4


def test_what_changed_is_named() -> None:
    before = {"the dbt vars": "v1", "raw_erp.sample": "2:17", "raw_crm.gone": "1:5"}
    after = {"the dbt vars": "v1", "raw_erp.sample": "3:42", "raw_crm.new": "1:9"}
    assert builds.changed(before, after) == ["raw_crm.gone", "raw_crm.new", "raw_erp.sample"]
    assert builds.changed(before, dict(reversed(before.items()))) == []
    assert builds.fingerprint(before) == builds.fingerprint(dict(reversed(before.items())))


def test_the_relations_a_build_left_are_checked(tmp_path: Path) -> None:
    path = _warehouse(tmp_path / "w.duckdb")
    expected = [("marts", "dim_products"), ("raw_erp", "sample")]
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert builds.missing_relations(con, expected) == []
    finally:
        con.close()
    _change(path, "drop table marts.dim_products")  # a mart dropped: built again
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert builds.missing_relations(con, expected) == ["marts.dim_products"]
    finally:
        con.close()


def test_a_build_counts_once_complete_and_keeps_its_inputs(tmp_path: Path) -> None:
    path = _warehouse(tmp_path / "w.duckdb")

    def last() -> builds.CompleteBuild | None:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return builds.last_complete_build(con)
        finally:
            con.close()

    assert last() is None
    first, second = _inputs(path), _inputs(path, "other vars")
    builds.record_inputs(str(path), "run-1", first)
    assert last() is None  # its build has not finished
    builds.record_complete_build(str(path), "run-1")
    builds.record_inputs(str(path), "run-2", second)  # failed before its end
    assert last() == (builds.fingerprint(first), "run-1", first)
    builds.record_complete_build(str(path), "run-2")
    assert last() == (builds.fingerprint(second), "run-2", second)
    # Runs that never complete leave one row at most: the last one's.
    for run in ("run-3", "run-4"):
        builds.record_inputs(str(path), run, second)
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("select run_id from ops.complete_builds order by run_id").fetchall()
    finally:
        con.close()
    assert rows == [("run-1",), ("run-2",), ("run-4",)]


def test_the_tests_passed_and_models_built_are_recorded_and_the_others_forgotten(
    tmp_path: Path,
) -> None:
    path = _warehouse(tmp_path / "w.duckdb")

    def recorded() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return builds.passed_tests(con), builds.built_models(con)
        finally:
            con.close()

    builds.record_dbt_outcomes(
        str(path),
        "run-1",
        passed={"test.a": "d1", "test.b": "d1"},
        built={"model.m": "d1"},
        others=[],
    )
    assert recorded() == (
        {"test.a": ("d1", "run-1"), "test.b": ("d1", "run-1")},
        {"model.m": ("d1", "run-1")},
    )
    # The next run: a passed again on other inputs, b warned, c never passed, m failed.
    builds.record_dbt_outcomes(
        str(path),
        "run-2",
        passed={"test.a": "d2"},
        built={},
        others=["test.b", "test.c", "model.m"],
    )
    assert recorded() == ({"test.a": ("d2", "run-2")}, {})
    builds.record_dbt_outcomes(str(path), "run-3", passed={}, built={"model.m": "d3"}, others=[])
    assert recorded() == ({"test.a": ("d2", "run-2")}, {"model.m": ("d3", "run-3")})

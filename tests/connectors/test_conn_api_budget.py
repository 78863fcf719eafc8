"""The share of Salesforce's daily API allowance kept for other integrations.

A stand-in org whose allowance runs out in the middle of an object's pages: the sync of
that object stops before entering the reserve and commits nothing, the objects before it
keep what they landed, and the next run (a new day) finishes the work without duplicates.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest
from conn_world import AS_OF, differences

from connectors.api_budget import API_BUDGET, ApiBudget, ApiBudgetExhausted
from connectors.config import Settings
from connectors.schema import ALL_TABLES
from connectors.sync import objects, sync_objects
from orchestration.assets.ingest import is_transient
from source_servers.runtime import RunningSources

RESERVE = 0.2


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A world whose opportunities take several pages of 200 records."""
    from source_servers.generator import generate_world

    out = tmp_path_factory.mktemp("budget_world")
    generate_world(out, seed=7, partners=60, months=12, as_of=AS_OF)
    return out


def test_the_budget_keeps_the_reserve_and_says_what_is_left():
    budget = ApiBudget("crm", RESERVE)
    budget.check("GET /limits")  # usage unknown: the first call is what reports it
    budget.observe(used=799, limit=1000)
    assert budget.left() == 1
    budget.check("GET /queryAll")  # the 800th call is the last of ours
    budget.observe(used=800, limit=1000)
    assert budget.left() == 0
    with pytest.raises(ApiBudgetExhausted) as stopped:
        budget.check("GET /queryAll")
    text = str(stopped.value)
    assert text.startswith("crm: stopped before spending API calls kept for other integrations")
    assert "used 800 of its 1,000 daily calls, 200 remain and 200 (20%) are kept" in text
    assert stopped.value.code == API_BUDGET
    assert not is_transient(stopped.value)  # a step retry would only spend more
    assert budget.summary() == {
        "api_used": 800,
        "api_limit": 1000,
        "api_reserve": RESERVE,
        "api_calls_left": 0,
    }


def _limit_for(allowed: int) -> int:
    """The smallest daily limit of which the pipeline may spend exactly `allowed` calls."""
    limit = math.ceil(allowed / (1 - RESERVE))
    while math.floor(limit * (1 - RESERVE)) < allowed:
        limit += 1
    assert math.floor(limit * (1 - RESERVE)) == allowed
    return limit


def _raw_rows(path: Path, table: str) -> list[tuple]:
    columns = ", ".join(f'"{c}"' for c in ALL_TABLES[table].columns)
    with duckdb.connect(str(path), read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            table.split("."),
        ).fetchall()[0][0]
        if not exists:
            return []
        return con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()


def test_an_allowance_that_runs_out_mid_sync_stops_cleanly_and_the_next_run_finishes(
    sources: RunningSources, settings: Settings, world_dir: Path, tmp_path: Path
):
    crm = objects("crm")
    names = [o.object for o in crm]
    # One object at a time, so that where the allowance runs out is known exactly.
    budgeted = settings.replace(object_workers=1, crm_api_reserve=RESERVE)

    # What a whole first sync spends, object by object (the org's usage after each).
    probe = tmp_path / "probe.duckdb"
    measured = sync_objects(budgeted, probe, "crm", names)
    assert not [r for r in measured if isinstance(r, Exception)]
    used_after = [r.details["api_used"] for r in measured]
    biggest = max(range(1, len(crm)), key=lambda i: measured[i].pages)
    assert measured[biggest].pages >= 4, "the world must give the object several pages"
    # The allowance runs out half-way through the pages of the biggest object.
    allowed = used_after[biggest - 1] + measured[biggest].pages // 2
    sources.set_faults("crm", daily_limit=_limit_for(allowed))  # a new day: usage 0

    warehouse = settings.warehouse
    first = sync_objects(budgeted, warehouse, "crm", names)
    assert all(not isinstance(r, Exception) for r in first[:biggest])
    stopped = [(n, r) for n, r in zip(names, first, strict=True) if isinstance(r, Exception)]
    assert [n for n, _ in stopped] == names[biggest:]
    for _, exc in stopped:
        assert isinstance(exc, ApiBudgetExhausted), exc
        assert str(exc).startswith("crm: stopped before spending API calls kept for other")
        for secret in (settings.crm_client_secret.reveal(), sources.admin_token):
            assert secret not in str(exc)
    # The pipeline never entered the reserve: the org's usage is what it was allowed.
    assert sources.states["crm"].api_usage == allowed

    # Nothing of a stopped object was committed: no rows, no watermark; its run says why.
    big = crm[biggest]
    assert _raw_rows(warehouse, big.raw_tables[0]) == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute(
            "SELECT object, status, error FROM ops.sync_runs ORDER BY started_at"
        ).fetchall()
        marks = dict(con.execute("SELECT object, watermark FROM ops.watermarks").fetchall())
    assert [(o, s) for o, s, _ in runs] == [
        (n, "succeeded" if i < biggest else "stopped") for i, n in enumerate(names)
    ]
    assert all("kept for other integrations" in e for _, s, e in runs if s == "stopped")
    assert all(n not in marks for n in names[biggest:])

    # The next day: the run resumes where it stopped and lands every row exactly once.
    sources.set_faults("crm")
    second = sync_objects(budgeted, warehouse, "crm", names)
    assert not [r for r in second if isinstance(r, Exception)]
    for obj in crm:
        table = obj.raw_tables[0]
        assert differences(warehouse, world_dir, table) == (0, 0), table
        assert _raw_rows(warehouse, table) == _raw_rows(probe, table), table

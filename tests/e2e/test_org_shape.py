"""The same world served in another org's shape, read through that org's configuration file,
gives the same marts as the default shape, partner-month by partner-month.

The data-quality checks too: their frames read the models, which apply the org's mapping.

"Northwind" (docs/examples/northwind.partnerpulse.yml; source_servers/shapes.py) renames the
custom fields, uses other picklist values, keeps deal registrations as Leads of a record
type, pays MDF through a custom record of its own and receives POS files in a distributor's
semicolon / decimal-comma layout.
"""

import math

import dagster as dg
import duckdb
import pytest

from orchestration.checks import gx
from tests.e2e.harness import REPO, pipeline_env, run_in_process

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e_world")]

# Columns that differ between any two runs: when a snapshot saw a tier (the run's clock).
RUN_TIME = {
    "dim_partners": {"tier_observed_since"},
    "dim_partner_tier_history": {"valid_from", "valid_to", "tier_version_id"},
}
# A rejected file's reason quotes the header it found: Northwind's is its own.
OWN_WORDS = {
    "rpt_data_quality_findings": (
        "detail",
        "case when finding_type = 'pos_file_rejected' then null else detail end",
    )
}


@pytest.fixture(scope="session")
def northwind(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("northwind")
    env = {
        **pipeline_env(tmp),
        "PARTNERPULSE_STANDIN_ORG_SHAPE": "northwind",
        "PARTNERPULSE_CONFIG": str(REPO / "docs" / "examples" / "northwind.partnerpulse.yml"),
    }
    return {"env": env, "result": run_in_process(env)}


def _rows(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[tuple]:
    """The mart's rows without the run's own times, in one order: the other columns first,
    doubles last (sums of the same values in another order differ in the 16th digit)."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns where table_catalog = "
        "'d' and table_schema = 'marts' and table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    own = OWN_WORDS.get(table)
    exact, doubles = [], []
    for name, data_type in columns:
        if name in RUN_TIME.get(table, set()):
            continue
        if own and own[0] == name:
            exact.append(own[1])
        elif data_type == "DOUBLE":
            doubles.append(f'"{name}"')
        else:
            exact.append(f'"{name}"::varchar')
    rows = con.execute(f"select {', '.join(exact + doubles)} from {catalog}.marts.{table}")
    return sorted(rows.fetchall(), key=lambda r: tuple(str(v) for v in r[: len(exact)]))


def _same(a: tuple, b: tuple) -> bool:
    return all(
        x == y
        or (
            isinstance(x, float)
            and isinstance(y, float)
            and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6)
        )
        for x, y in zip(a, b, strict=True)
    )


def test_the_northwind_org_gives_the_default_orgs_marts(run: dict, northwind: dict) -> None:
    assert northwind["result"].success
    con = duckdb.connect()
    con.execute(f"attach '{run['env']['PARTNERPULSE_WAREHOUSE']}' as d (read_only)")
    con.execute(f"attach '{northwind['env']['PARTNERPULSE_WAREHOUSE']}' as n (read_only)")
    marts = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'd' and table_schema = 'marts' order by 1"
        ).fetchall()
    ]
    assert len(marts) >= 18
    rows_compared = 0
    for table in marts:
        default, shaped = _rows(con, "d", table), _rows(con, "n", table)
        assert len(default) == len(shaped), table
        differ = [(a, b) for a, b in zip(default, shaped, strict=True) if not _same(a, b)]
        assert not differ, f"{table}: {len(differ)} rows differ, e.g. {differ[0]}"
        rows_compared += len(shaped)
    assert rows_compared > 1000

    # The raw layer shows Northwind's own names; staging the logical ones.
    raw = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'n' "
            "and table_schema = 'raw_crm' and table_name = 'account'"
        ).fetchall()
    }
    assert {"program_level__c", "sales_region__c", "netsuite_id__c"} <= raw
    assert "partner_tier__c" not in raw
    tiers = con.execute("select distinct partner_tier from n.staging.stg_crm__accounts").fetchall()
    assert {t for (t,) in tiers} <= {"Platinum", "Gold", "Silver", "Registered", None}
    layouts = con.execute("select count(*) from n.raw_portal.pos_report_lines").fetchone()[0]
    assert (
        layouts == con.execute("select count(*) from d.raw_portal.pos_report_lines").fetchone()[0]
    )


def _gx_findings(result: dg.ExecuteInProcessResult) -> dict[str, tuple]:
    """Each GX check's verdict and the partner-months it names, by check name."""
    names = {name for v in gx.VALIDATIONS for name, _severities in v.check_levels()}
    return {
        e.check_name: (
            e.passed,
            e.metadata["partner_months"].value if "partner_months" in e.metadata else None,
            e.metadata["query_error"].value if "query_error" in e.metadata else None,
        )
        for e in result.get_asset_check_evaluations()
        if e.check_name in names
    }


def test_the_northwind_org_gets_the_default_orgs_data_quality_findings(
    run: dict, northwind: dict
) -> None:
    """The frames read the models, not raw columns by the default org's names (the line
    matching once read `raw_crm.account.erp_partner_id__c`, which Northwind calls
    `NetSuite_Id__c`, and failed there): the same world gives the same findings."""
    default, shaped = _gx_findings(run["first"]), _gx_findings(northwind["result"])
    assert set(default) == {name for v in gx.VALIDATIONS for name, _ in v.check_levels()}
    assert shaped == default
    assert all(error is None for _passed, _named, error in shaped.values())

"""The segment marts of the default world's run (seed 7, 150 partners x 36 months; the
`default_world` fixture the checks and report tests share) against what the generator
planted (truth.json; source_servers/world/segments.py and plan.py):

- every partner specialises in the product lines of its `Specialization__c`, and in its
  own region (it sells only to end customers there);
- a few partners sell mostly to one industry (`industry_specialist`);
- a few partners never sell one or two product lines (`product_line_gap`).

Specialisation must name those and no others; cross-sell exactly the gaps.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pytest

from source_servers.world import names as N
from tests.worlds import WorldRun

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("world_7")]


def _rows(path, sql: str) -> list[dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def specialisation(default_world: WorldRun) -> list[dict]:
    return _rows(default_world.warehouse, "select * from marts.rpt_partner_specialisation")


@pytest.fixture(scope="module")
def planted(default_world: WorldRun) -> dict[str, set]:
    """The planted segments as (partner_id, segment_type, segment) and the gaps as
    (partner_id, product_line_id)."""
    accounts = _rows(
        default_world.world_dir / "world.duckdb",
        'select "Id" as id, "Specialization__c" as spec, "Region__c" as region '
        'from crm.account where "IsPartner" and not "IsDeleted"',
    )
    lines_of = dict(N.SPECIALIZATIONS)
    cases = default_world.truth["cases"]
    return {
        "product_line": {
            (a["id"], "product_line", line) for a in accounts for line in lines_of[a["spec"]]
        },
        "region": {(a["id"], "region", a["region"]) for a in accounts},
        "industry": {
            (c["partner_id"], "industry", c["detail"]["industry"])
            for c in cases
            if c["case"] == "industry_specialist"
        },
        "gaps": {
            (c["partner_id"], line_id)
            for c in cases
            if c["case"] == "product_line_gap"
            for line_id in c["detail"]["product_line_ids"]
        },
    }


def test_specialisation_names_no_segment_the_generator_did_not_plant(
    specialisation: list[dict], planted: dict[str, set]
) -> None:
    found = {
        (r["partner_id"], r["segment_type"], r["segment"])
        for r in specialisation
        if r["is_specialist"]
    }
    expected = planted["product_line"] | planted["region"] | planted["industry"]
    assert found - expected == set()
    by_type = defaultdict(int)
    for _, segment_type, _ in found:
        by_type[segment_type] += 1
    assert by_type["product_line"] >= 200 and by_type["region"] >= 130


def test_specialisation_finds_the_planted_specialists(
    specialisation: list[dict], planted: dict[str, set]
) -> None:
    rows = {(r["partner_id"], r["segment_type"], r["segment"]): r for r in specialisation}
    judged = {pid for pid, _, _ in rows}
    # Every planted industry specialist is found.
    assert {k for k in planted["industry"] if not rows[k]["is_specialist"]} == set()
    # Every partner is a specialist in its own region, given the rule's 5 end customers.
    home = {k for k in planted["region"] if k[0] in judged}
    missed = {k for k in home if not rows[k]["is_specialist"]}
    assert all(rows[k]["partner_end_customers"] < 5 for k in missed), missed
    assert len(missed) <= 3
    # Product lines: a year of a small partner's sales can hide a mild specialisation (a
    # second line of a two-line one); the misses are few, and each is short of evidence.
    lines = {k for k in planted["product_line"] if k[0] in judged}
    missed = {k for k in lines if not rows[k]["is_specialist"]}
    assert len(missed) <= 0.03 * len(lines), sorted(missed)
    for k in missed:
        assert rows[k]["location_quotient_lower_bound"] < 1.25 <= rows[k]["location_quotient"] or (
            rows[k]["end_customers"] < 5
        ), rows[k]


def test_cross_sell_finds_exactly_the_planted_gaps(
    default_world: WorldRun, planted: dict[str, set]
) -> None:
    rows = _rows(default_world.warehouse, "select * from marts.rpt_partner_cross_sell")
    assert {(r["partner_id"], r["product_line_id"]) for r in rows} == planted["gaps"]
    for r in rows:
        assert r["peers_selling"] == r["peer_count"] == 10
        assert r["expected_monthly_sales_usd"] > 0 and r["opportunity_rank"] >= 1
    # The generator's gap partners sell none of those lines in any month.
    sold = _rows(
        default_world.warehouse,
        "select partner_id, product_line_id from marts.fct_partner_product_months "
        "group by all having sum(units_sold) <> 0",
    )
    assert not planted["gaps"] & {(r["partner_id"], r["product_line_id"]) for r in sold}


def test_market_penetration_holds_every_sale_and_shows_the_gaps(
    default_world: WorldRun,
) -> None:
    (totals,) = _rows(
        default_world.warehouse,
        """select
            (select sum(sales_volume_usd) from marts.rpt_market_penetration) as markets,
            (select sum(sales_volume_usd) from marts.fct_partner_product_months) as lines,
            (select count(*) from marts.rpt_market_penetration) as market_rows,
            (select count(distinct region || '|' || country) * count(distinct product_line_id)
                * count(distinct month_start) from marts.rpt_market_penetration) as grid,
            (select count(*) from marts.rpt_market_penetration where active_partners = 0)
                as uncovered""",
    )
    assert totals["markets"] == pytest.approx(totals["lines"], rel=1e-9)
    assert totals["market_rows"] == totals["grid"]
    assert totals["uncovered"] > 0
    # Partners sell only in their own region: a market's partners are of its region.
    crossing = _rows(
        default_world.warehouse,
        """select count(*) as n
           from intermediate.int_erp_sales_aggregated_to_partner_customer_months as s
           inner join marts.dim_partners as p on s.partner_id = p.partner_id
           where s.region <> p.region""",
    )
    assert crossing == [{"n": 0}]

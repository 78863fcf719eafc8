"""The segment patterns the generator plants (source_servers/world/segments.py): product-line
gaps and industry specialists, recorded in truth.json, drawn from a stream of their own.

A small world (16 partners x 14 months, as the end-to-end tests use) is generated once per
module; the plan-level test builds the plan twice, with and without the plants.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from source_servers.generator import generate_world
from source_servers.world import names as N
from source_servers.world.common import Window
from source_servers.world.plan import build_plan, case_count
from source_servers.world.segments import INDUSTRY_SPECIALIST_SHARE, plant_segments

PARAMS = {"seed": 7, "partners": 16, "months": 14, "scale": 1.0, "as_of": dt.date(2026, 11, 22)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    generate_world(out, **PARAMS)
    return out


@pytest.fixture(scope="module")
def con(world: Path):
    c = duckdb.connect(str(world / "world.duckdb"), read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def planted(world: Path) -> dict[str, list[dict]]:
    cases = json.loads((world / "truth.json").read_text())["cases"]
    return {
        kind: [c for c in cases if c["case"] == kind]
        for kind in ("product_line_gap", "industry_specialist")
    }


def test_every_pattern_is_planted_on_its_own_long_standing_active_partner(
    con, planted: dict[str, list[dict]]
) -> None:
    partners = [c["partner_id"] for cases in planted.values() for c in cases]
    assert len(planted["product_line_gap"]) == 2 and len(planted["industry_specialist"]) == 2
    assert len(set(partners)) == len(partners)
    rows = con.execute(
        'select "Id", "Partner_Status__c", "Partner_Since__c" from crm.account '
        'where "Id" in (select unnest(?))',
        [partners],
    ).fetchall()
    assert len(rows) == len(partners)
    for _id, status, since in rows:
        # A partner for the window's last 13 months at least (of 14: since 2025-11).
        assert status == "Active" and since < dt.date(2025, 12, 1)
    for c in [*planted["product_line_gap"], *planted["industry_specialist"]]:
        assert c["month"] is None


def test_a_gap_partner_never_sells_its_gap_lines_which_are_not_its_specialisation(
    con, planted: dict[str, list[dict]]
) -> None:
    lines_of = dict(N.SPECIALIZATIONS)
    for case in planted["product_line_gap"]:
        pid, gaps = case["partner_id"], case["detail"]["product_lines"]
        assert 1 <= len(gaps) <= 2
        assert not set(gaps) & set(lines_of[case["detail"]["specialization"]])
        sold = dict(
            con.execute(
                """select c.name, count(*) from erp.transactionline l
                   join erp."transaction" t on t.id = l."transaction"
                   join erp.item i on i.id = l.item
                   join erp.classification c on c.id = i.class
                   join crm.account a on a."ERP_Partner_Id__c" = cast(t.partner as varchar)
                   where a."Id" = ? and l.mainline = 'F' and l.taxline = 'F'
                   group by c.name""",
                [pid],
            ).fetchall()
        )
        assert not set(gaps) & set(sold), (pid, gaps, sold)
        assert len(sold) == len(N.PRODUCT_LINES) - len(gaps)  # it sells every other line
        deals = {
            r[0]
            for r in con.execute(
                'select distinct "Product_Line__c" from crm.opportunity '
                'where "PartnerAccountId" = ?',
                [pid],
            ).fetchall()
        }
        assert not set(gaps) & deals


def test_an_industry_specialist_sells_mostly_to_its_industry(
    con, planted: dict[str, list[dict]]
) -> None:
    for case in planted["industry_specialist"]:
        pid, industry = case["partner_id"], case["detail"]["industry"]
        assert (
            case["detail"]["industry_customers"]
            >= INDUSTRY_SPECIALIST_SHARE * (case["detail"]["customers"])
        )
        customers, in_industry, share = con.execute(
            """select count(distinct t.entity),
                      count(distinct t.entity) filter (where c."Industry" = ?),
                      sum(l.netamount * t.exchangerate) filter (where c."Industry" = ?)
                        / sum(l.netamount * t.exchangerate)
               from erp."transaction" t
               join erp.transactionline l on l."transaction" = t.id
               join erp.customer e on e.id = t.entity
               join crm.account c on c."Name" = e.companyname and c."Type" = 'Customer'
                   and not c."IsDeleted"
               join crm.account a on a."ERP_Partner_Id__c" = cast(t.partner as varchar)
               where a."Id" = ? and l.mainline = 'F' and l.taxline = 'F'
                 and t.type = 'CustInvc'""",
            [industry, industry, pid],
        ).fetchone()
        assert customers <= case["detail"]["customers"]
        others = case["detail"]["customers"] - case["detail"]["industry_customers"]
        assert in_industry >= customers - others, (pid, customers, in_industry)
        assert share > 0.8, (pid, share)


def test_the_plants_move_no_other_draw_of_the_plan() -> None:
    window = Window.build(PARAMS["as_of"], 36)
    plain = build_plan(7, 150, window, 1.0, n_unmapped=case_count(150))
    planted = build_plan(7, 150, window, 1.0, n_unmapped=case_count(150))
    cases = plant_segments(planted, 150)
    index = {pid: p for p, pid in enumerate(planted.sf_id.tolist())}
    gaps = {index[c["partner_id"]] for c in cases if c["case"] == "product_line_gap"}
    specialists = {index[c["partner_id"]] for c in cases if c["case"] == "industry_specialist"}
    assert len(gaps) == len(specialists) == 5
    for name, value in vars(plain).items():
        other = getattr(planted, name)
        if name == "item_cdf":
            changed = {int(p) for p in np.nonzero((value != other).any(axis=1))[0]}
            assert changed == gaps
        elif name in ("cust_mat", "cust_n"):
            rows = (value != other) if value.ndim == 1 else (value != other).any(axis=1)
            assert {int(p) for p in np.nonzero(rows)[0]} <= specialists
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, other), name
        else:
            assert value == other, name

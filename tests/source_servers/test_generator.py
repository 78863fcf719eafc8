"""Tests of the deterministic world generator (source_servers/generator.py).

The world is a small one (12 partners x 12 months) generated once per module into a
temporary folder; determinism generates a second copy. The reconciliation check below is
an independent implementation of docs/metrics.md's status rules over the raw world,
API reports and CSV files together.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from connectors.schema import ALL_TABLES
from source_servers import generator
from source_servers.generator import ensure_world, generate_world
from source_servers.world.ids import checksum_ok

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2025, 6, 15)
AS_OF_END = dt.datetime(2025, 6, 15, 23, 59, 59)
PARAMS = {"seed": 11, "partners": 12, "months": 12, "scale": 1.0, "as_of": AS_OF}
POS_HEADER = [
    "partner_id", "period", "sku", "quantity", "amount", "currency", "end_customer",
    "invoice_ref", "sold_on",
]  # fmt: skip
ALL_CASES = {
    "over_reported", "under_reported", "missing_report", "timing_difference", "restated",
    "withdrawn_latest", "all_withdrawn", "unknown_sku", "unknown_invoice_ref", "no_erp_sales",
    "pos_bad_row", "pos_bad_header", "api_csv_clash", "unmapped_erp_partner",
    "erp_crm_id_mismatch", "voided_invoice", "credit_memo_only_month",
    "soft_deleted_opportunity", "terminated_partner", "product_line_gap", "industry_specialist",
}  # fmt: skip
TOL_PCT, TOL_USD = 0.02, 50.0


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    manifest = generate_world(out, **PARAMS)
    assert manifest == json.loads((out / "world.json").read_text())
    return out


@pytest.fixture(scope="module")
def con(world):
    c = duckdb.connect(str(world / "world.duckdb"), read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def truth(world) -> dict:
    return json.loads((world / "truth.json").read_text())


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def month_label(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def add_months(label: str, n: int) -> str:
    y, m = map(int, label.split("-"))
    idx = y * 12 + m - 1 + n
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def is_due(period: str) -> bool:
    y, m = map(int, add_months(period, 1).split("-"))
    return dt.date(y, m, 10) < AS_OF


# ---------------------------------------------------------------------- determinism


def table_digest(con, table: str) -> tuple:
    schema, name = table.split(".")
    cols = [r[0] for r in q(con, f'DESCRIBE {schema}."{name}"')]
    body = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)
    rows = q(
        con,
        f"""SELECT count(*), md5(string_agg(concat_ws('|', {body}), '\n'
                ORDER BY {", ".join(f'"{c}"' for c in cols)}))
            FROM {schema}."{name}" """,
    )
    return rows[0]


def test_same_parameters_give_identical_worlds(world, tmp_path):
    other = tmp_path / "again"
    generate_world(other, **PARAMS)
    a = duckdb.connect(str(world / "world.duckdb"), read_only=True)
    b = duckdb.connect(str(other / "world.duckdb"), read_only=True)
    try:
        for table in generator.WORLD_TABLES:
            assert table_digest(a, table) == table_digest(b, table), table
    finally:
        a.close()
        b.close()
    for name in ("truth.json", "world.json"):
        assert (world / name).read_bytes() == (other / name).read_bytes()
    files_a = sorted(p.name for p in (world / "pos").iterdir())
    assert files_a == sorted(p.name for p in (other / "pos").iterdir())
    for f in files_a:
        a_file, b_file = world / "pos" / f, other / "pos" / f
        assert a_file.read_bytes() == b_file.read_bytes()
        assert a_file.stat().st_mtime_ns == b_file.stat().st_mtime_ns


def test_another_seed_gives_another_world(world, tmp_path):
    other = tmp_path / "seed12"
    generate_world(other, **{**PARAMS, "seed": 12})
    a = duckdb.connect(str(world / "world.duckdb"), read_only=True)
    b = duckdb.connect(str(other / "world.duckdb"), read_only=True)
    try:
        assert table_digest(a, "erp.transactionline") != table_digest(b, "erp.transactionline")
    finally:
        a.close()
        b.close()


def test_ensure_world_caches_by_parameters(tmp_path, monkeypatch):
    params = {**PARAMS, "partners": 5, "months": 6}
    path = ensure_world(tmp_path, **params)
    assert path == tmp_path / f"world-v{generator.GENERATOR_VERSION}-s11-p5-m6-x1.0-2025-06-15"
    assert (path / "world.json").is_file() and (path / "world.duckdb").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers

    def boom(*a, **k):
        raise AssertionError("regenerated a cached world")

    monkeypatch.setattr(generator, "_generate_into", boom)
    assert ensure_world(tmp_path, **params) == path


def test_generate_world_replaces_an_existing_world(tmp_path):
    out = tmp_path / "w"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    manifest = generate_world(out, **{**PARAMS, "partners": 5, "months": 6})
    assert not (out / "stale.txt").exists()
    assert manifest["partners"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


# ---------------------------------------------------------------------- schema


def contract_fields() -> dict[str, list[str]]:
    """Field lists of every source object, parsed from the source contract tables."""
    text = (REPO / "docs" / "sources.md").read_text()
    names = {
        "Account": "crm.account", "Opportunity": "crm.opportunity", "Lead": "crm.lead",
        "Deal_Registration__c": "crm.deal_registration__c", "Campaign": "crm.campaign",
        "sales-reports": "portal.sales_reports", "trainings": "portal.trainings",
        "mdf-claims": "portal.mdf_claims", "asset-usage": "portal.asset_usage",
        "business-plans": "portal.business_plans",
    }  # fmt: skip
    for t in ("partner", "customer", "classification", "item", "currency", "currencyrate",
              "transaction", "transactionline", "customrecord_mdf_payment"):  # fmt: skip
        names[t] = f"erp.{t}"
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if not m or m.group(1) not in names:
            continue
        cell = m.group(2)
        while re.search(r"\([^()]*\)", cell):  # drop (remarks), innermost first
            cell = re.sub(r"\([^()]*\)", "", cell)
        fields: list[str] = []
        for span in re.findall(r"`([^`]*)`", cell):
            if "lines:" in span:
                before, _, lines = span.partition("lines:")
                out["portal.sales_report_lines"] = ["report_id"] + [
                    f.strip(" [{}]") for f in lines.split(",")
                ]
                span = before
            fields += [f.strip() for f in span.split(",") if f.strip()]
        out[names[m.group(1)]] = list(dict.fromkeys(fields))  # prose may repeat a name
    return out


def test_every_table_has_exactly_the_contract_fields(con):
    fields = contract_fields()
    assert set(fields) == set(generator.WORLD_TABLES)
    for table, expected in fields.items():
        schema, name = table.split(".")
        got = [r[0] for r in q(con, f'DESCRIBE {schema}."{name}"')]
        assert got == expected, table


def test_types_agree_with_the_raw_layer(con):
    raw_name = {"crm.deal_registration__c": "raw_crm.deal_registration"}
    for table in generator.WORLD_TABLES:
        schema, name = table.split(".")
        raw = ALL_TABLES[raw_name.get(table, f"raw_{schema}.{name}")]
        got = {r[0].lower(): r[1] for r in q(con, f'DESCRIBE {schema}."{name}"')}
        assert sorted(got) == sorted(raw.columns), table
        for col, typ in raw.columns.items():
            if schema == "erp" and col in ("isinactive", "mainline", "taxline"):
                assert got[col] == "VARCHAR"  # NetSuite 'T'/'F' flags
            else:
                assert got[col] == typ, (table, col)


# ---------------------------------------------------------------------- invariants


def test_primary_keys_are_unique(con):
    for table in generator.WORLD_TABLES:
        schema, name = table.split(".")
        cols = [r[0] for r in q(con, f'DESCRIBE {schema}."{name}"')]
        if table == "erp.transactionline":
            key = '"transaction", id'
        elif table == "portal.sales_report_lines":
            key = "report_id, line_no"
        else:
            key = '"Id"' if "Id" in cols else "id"
        dupes = q(
            con,
            f"SELECT count(*) - count(DISTINCT ({key})), count(*) FILTER (WHERE ({key}) IS NULL) "
            f'FROM {schema}."{name}"',
        )
        assert dupes == [(0, 0)], table


def test_every_timestamp_is_at_or_before_as_of(con):
    rows = q(
        con,
        """SELECT table_schema, table_name, column_name FROM information_schema.columns
           WHERE data_type = 'TIMESTAMP'""",
    )
    assert len(rows) > 15
    for schema, name, col in rows:
        top = q(con, f'SELECT max("{col}") FROM {schema}."{name}"')[0][0]
        assert top is not None and top <= AS_OF_END, (name, col, top)


def test_erp_modification_times_are_minute_truncated(con):
    for t in ("partner", "customer", "item", "transaction", "transactionline",
              "customrecord_mdf_payment"):  # fmt: skip
        n = q(con, f'SELECT count(*) FROM erp."{t}" WHERE second(lastmodifieddate) <> 0')
        assert n == [(0,)], t
    assert q(con, 'SELECT count(*) FROM erp."transaction" WHERE lastmodifieddate < trandate') == [
        (0,)
    ]


def test_salesforce_ids_are_18_characters_with_a_valid_checksum(con):
    prefixes = {"account": "001", "opportunity": "006", "lead": "00Q", "campaign": "701"}
    for obj, prefix in prefixes.items():
        ids = [r[0] for r in q(con, f'SELECT "Id" FROM crm.{obj}')]
        assert ids and all(i.startswith(prefix) and checksum_ok(i) for i in ids), obj
    ids = [r[0] for r in q(con, 'SELECT "Id" FROM crm.deal_registration__c')]
    assert ids and all(checksum_ok(i) for i in ids)


def test_exchange_rates_are_the_monthly_rates(con):
    assert q(
        con,
        """SELECT count(*) FROM erp.currencyrate r
           JOIN erp.currency c ON c.id = r.transactioncurrency
           WHERE c.symbol = 'USD' OR r.basecurrency <> 1 OR day(r.effectivedate) <> 1""",
    ) == [(0,)]
    bad = q(
        con,
        """SELECT count(*) FROM erp."transaction" t
           JOIN erp.currency c ON c.id = t.currency
           LEFT JOIN erp.currencyrate r ON r.transactioncurrency = t.currency
                AND r.effectivedate = date_trunc('month', t.trandate)
           WHERE t.exchangerate IS DISTINCT FROM
                 CASE WHEN c.symbol = 'USD' THEN 1.0 ELSE r.exchangerate END""",
    )
    assert bad == [(0,)]
    # one rate per non-USD currency per window month
    assert q(con, "SELECT count(DISTINCT effectivedate) FROM erp.currencyrate") == [(12,)]


def test_transaction_lines_are_consistent(con):
    sales = "l.mainline = 'F' AND l.taxline = 'F'"
    assert q(
        con,
        f"""SELECT count(*) FROM erp.transactionline l WHERE {sales}
            AND (l.quantity <= 0 OR l.rate <= 0 OR abs(l.netamount - l.quantity * l.rate) > 1e-6
                 OR l.item IS NULL)""",
    ) == [(0,)]
    # one mainline per transaction, carrying the total of its other lines
    assert q(
        con,
        """SELECT count(*) FROM (
             SELECT l."transaction",
                    count(*) FILTER (WHERE mainline = 'T') AS mains,
                    sum(netamount) FILTER (WHERE mainline = 'T') AS total,
                    sum(netamount) FILTER (WHERE mainline = 'F') AS parts
             FROM erp.transactionline l GROUP BY 1)
           WHERE mains <> 1 OR abs(total - parts) > 0.005""",
    ) == [(0,)]
    assert q(con, "SELECT count(*) FROM erp.transactionline WHERE taxline = 'T'")[0][0] > 0
    # standard cost below the price actually charged (in USD)
    assert q(
        con,
        f"""SELECT count(*) FROM erp.transactionline l JOIN erp."transaction" t
              ON t.id = l."transaction" JOIN erp.item i ON i.id = l.item
            WHERE {sales} AND i.cost >= l.rate * t.exchangerate""",
    ) == [(0,)]
    types = dict(q(con, 'SELECT type, count(*) FROM erp."transaction" GROUP BY 1'))
    assert set(types) == {"CustInvc", "CustCred"} and types["CustInvc"] > 10 * types["CustCred"]
    assert q(
        con,
        r"""SELECT count(*) FROM erp."transaction"
            WHERE NOT regexp_full_match(tranid, CASE type WHEN 'CustInvc' THEN 'INV-\d{6,}'
                                                          ELSE 'CM-\d{6,}' END)""",
    ) == [(0,)]


def test_crm_mapping_and_partner_attributes(con):
    rows = q(
        con,
        """SELECT a."Id", a."ERP_Partner_Id__c", p.id FROM crm.account a
           LEFT JOIN erp.partner p ON CAST(p.id AS VARCHAR) = a."ERP_Partner_Id__c"
           WHERE a."IsPartner" """,
    )
    assert len(rows) == 12 and all(r[2] is not None for r in rows)
    assert q(
        con,
        """SELECT count(*) FROM crm.account WHERE "IsPartner" AND NOT (
             "Type" = 'Partner'
             AND "Partner_Tier__c" IN ('Platinum', 'Gold', 'Silver', 'Registered')
             AND "Region__c" IN ('NA', 'EMEA', 'APAC', 'LATAM')
             AND "Partner_Since__c" <= DATE '2025-06-15'
             AND ("Partner_Status__c" = 'Terminated') = ("Terminated_On__c" IS NOT NULL)
             AND "Recruitment_Cost__c" > 0 AND NOT "IsDeleted")""",
    ) == [(0,)]
    assert q(
        con,
        """SELECT count(*) FROM crm.account
           WHERE "Type" = 'Customer' AND ("IsPartner" OR "ERP_Partner_Id__c" IS NOT NULL)""",
    ) == [(0,)]


def test_opportunities_are_consistent(con):
    assert q(
        con,
        """SELECT count(*) FROM crm.opportunity WHERE NOT (
             (NOT "IsWon" OR "IsClosed")
             AND ("StageName" = 'Closed Won') = ("IsClosed" AND "IsWon")
             AND ("StageName" = 'Closed Lost') = ("IsClosed" AND NOT "IsWon")
             AND (NOT "IsClosed" OR "CloseDate" <= DATE '2025-06-15')
             AND "CloseDate" >= CAST("CreatedDate" AS DATE)
             AND ("PartnerAccountId" IS NOT NULL OR "Partner_Role__c" IS NULL)
             AND "Amount" > 0)""",
    ) == [(0,)]
    roles = dict(
        q(
            con,
            "SELECT coalesce(\"Partner_Role__c\", '-'), count(*) FROM crm.opportunity GROUP BY 1",
        )
    )
    assert set(roles) == {"Sourced", "Influenced", "-"}
    assert q(con, 'SELECT count(*) FROM crm.opportunity WHERE "PartnerAccountId" IS NULL')[0][0] > 0
    for obj in ("opportunity", "lead", "deal_registration__c", "campaign", "account"):
        deleted, total = q(
            con, f'SELECT count(*) FILTER (WHERE "IsDeleted"), count(*) FROM crm.{obj}'
        )[0]
        assert total > 0 and deleted < 0.1 * total, obj


def test_portal_records(con):
    assert q(
        con,
        """SELECT count(*) FROM portal.sales_reports r
           JOIN crm.account a ON a."Id" = r.partner_id
           WHERE NOT (a."IsPartner" AND r.status IN ('submitted', 'restated', 'withdrawn')
                      AND r.updated_at >= r.submitted_at
                      AND date_trunc('month', r.submitted_at) =
                          strptime(r.period, '%Y-%m') + INTERVAL 1 MONTH)""",
    ) == [(0,)]
    assert q(
        con,
        """SELECT count(*) FROM portal.sales_reports
           WHERE revision = 1 AND day(submitted_at) > 9""",
    ) == [(0,)]
    assert q(con, "SELECT count(*) FROM portal.sales_reports WHERE period = '2025-06'") == [(0,)]
    assert q(
        con,
        """SELECT count(*) FROM portal.trainings WHERE NOT (
             (completed_on IS NULL) = (passed IS NULL)
             AND (expires_on IS NOT NULL) = (is_certification AND coalesce(passed, false)))""",
    ) == [(0,)]
    assert (
        q(
            con,
            """SELECT count(*) FROM portal.trainings
           WHERE completed_on IS NULL AND due_on < DATE '2025-06-15'""",
        )[0][0]
        > 0
    )
    assert q(
        con,
        """SELECT count(*) FROM portal.mdf_claims c
           LEFT JOIN crm.campaign k ON k."Id" = c.campaign_id
           WHERE k."Id" IS NULL OR k."Partner_Account__c" <> c.partner_id
              OR (c.status IN ('approved', 'paid')) <> (c.approved_amount IS NOT NULL)""",
    ) == [(0,)]
    assert q(
        con,
        """SELECT count(*) FROM portal.mdf_claims c
           FULL JOIN erp.customrecord_mdf_payment p ON p.custrecord_mdf_claim = c.id
           WHERE (c.status = 'paid') IS DISTINCT FROM (p.id IS NOT NULL)
              OR p.custrecord_mdf_amount <> c.approved_amount""",
    ) == [(0,)]
    assert q(
        con,
        r"""SELECT count(*) FROM portal.business_plans
            WHERE NOT regexp_full_match(period, '\d{4}-Q[1-4]') OR revenue_target <= 0""",
    ) == [(0,)]


# ---------------------------------------------------------------------- POS CSV files


def read_pos(world: Path) -> dict[str, tuple[list[str], list[list[str]], bool]]:
    out = {}
    for path in sorted((world / "pos").iterdir()):
        raw = path.read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
        out[path.name] = (rows[0], rows[1:], bom)
    return out


def test_pos_files_parse_and_have_the_header(world, truth):
    files = read_pos(world)
    assert files
    bad_headers = {c["detail"]["file"] for c in truth["cases"] if c["case"] == "pos_bad_header"}
    assert any(bom for _h, _r, bom in files.values())
    assert any(not bom for _h, _r, bom in files.values())
    pattern = re.compile(r"^pos_(\w{18})_(\d{4}-\d{2})(?:_r(\d+))?\.csv$")
    for name, (header, rows, _bom) in files.items():
        assert pattern.match(name), name
        assert rows, name
        if name in bad_headers:
            assert header != POS_HEADER
        else:
            assert header == POS_HEADER, name
            assert all(len(r) == len(POS_HEADER) for r in rows), name
    # end customers with commas are quoted, not split
    assert any("," in r[6] for _h, rows, _b in files.values() for r in rows if len(r) == 9)


def test_plain_pos_files_list_exactly_the_erp_lines(con, world, truth):
    """A CSV file outside the injected months carries the month's ERP lines to the cent."""
    injected = {(c["partner_id"], c["month"]) for c in truth["cases"] if c["month"]}
    erp_lines = defaultdict(list)
    for pid, period, sku, qty, amount, cust, tranid, sold_on in q(
        con,
        """SELECT a."Id", strftime(t.trandate, '%Y-%m'), i.itemid,
                  CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END * l.quantity,
                  CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END * l.netamount,
                  c.companyname, t.tranid, t.trandate
           FROM erp.transactionline l JOIN erp."transaction" t ON t.id = l."transaction"
           JOIN erp.item i ON i.id = l.item JOIN erp.customer c ON c.id = t.entity
           JOIN crm.account a ON a."ERP_Partner_Id__c" = CAST(t.partner AS VARCHAR)
           WHERE l.mainline = 'F' AND l.taxline = 'F' AND t.status <> 'Voided'""",
    ):
        erp_lines[(pid, period)].append((sku, qty, amount, cust, tranid, sold_on.isoformat()))
    checked = 0
    for name, (header, rows, _bom) in read_pos(world).items():
        pid, period = name.split("_")[1], name.split("_")[2][:7]
        if (pid, period) in injected:
            continue
        assert header == POS_HEADER
        got = sorted((r[2], float(r[3]), float(r[4]), r[6], r[7], r[8]) for r in rows)
        want = sorted(erp_lines[(pid, period)])
        assert len(got) == len(want), name
        for g, e in zip(got, want, strict=True):
            assert g[:4] == e[:4] and g[5] == e[5], name
            assert g[4] in ("", e[4]), name
        assert {r[5] for r in rows} == {rows[0][5]} and {r[0] for r in rows} == {pid}
        checked += 1
    assert checked >= 10


# ---------------------------------------------------------------------- reconciliation


def parse_file(name: str, header: list[str], rows: list[list[str]]):
    """The file's rows if it is acceptable under the contract, else None."""
    m = re.match(r"^pos_(\w{18})_(\d{4}-\d{2})(?:_r(\d+))?\.csv$", name)
    pid, period, rev = m.group(1), m.group(2), int(m.group(3) or 1)
    if header != POS_HEADER:
        return None
    out = []
    for r in rows:
        try:
            if r[0] != pid or r[1] != period:
                return None
            qty, amount = float(r[3]), float(r[4])
            dt.date.fromisoformat(r[8])
        except (ValueError, IndexError):
            return None
        out.append((qty, amount))
    return pid, period, rev, out


def reconcile(con, world: Path) -> dict[tuple[str, str], dict]:
    """Status of every partner-month on the spine, per docs/metrics.md."""
    rates = {
        (sym, month_label(d)): r
        for sym, d, r in q(
            con,
            """SELECT c.symbol, r.effectivedate, r.exchangerate FROM erp.currencyrate r
               JOIN erp.currency c ON c.id = r.transactioncurrency""",
        )
    }
    erp = defaultdict(float)
    for pid, month, usd in q(
        con,
        """SELECT a."Id", strftime(t.trandate, '%Y-%m'),
                  sum(CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END * l.netamount * t.exchangerate)
           FROM erp.transactionline l JOIN erp."transaction" t ON t.id = l."transaction"
           JOIN crm.account a ON a."ERP_Partner_Id__c" = CAST(t.partner AS VARCHAR)
           WHERE l.mainline = 'F' AND l.taxline = 'F' AND t.status <> 'Voided'
           GROUP BY ALL""",
    ):
        erp[(pid, month)] = usd
    # candidate reports: (partner, period) -> {revision: (source, status, currency, total)}
    cands: dict[tuple[str, str], dict[int, tuple]] = defaultdict(dict)
    for pid, period, rev, status, cur, total in q(
        con,
        """SELECT r.partner_id, r.period, r.revision, r.status, r.currency,
                  coalesce(sum(l.amount), 0)
           FROM portal.sales_reports r LEFT JOIN portal.sales_report_lines l ON l.report_id = r.id
           GROUP BY ALL""",
    ):
        cands[(pid, period)][rev] = ("api", status, cur, total)
    for name, (header, rows, _bom) in read_pos(world).items():
        parsed = parse_file(name, header, rows)
        if parsed is None:
            continue
        pid, period, rev, lines = parsed
        cur = rows[0][5]
        if rev not in cands[(pid, period)]:  # the API's wins
            cands[(pid, period)][rev] = ("csv", "submitted", cur, sum(a for _q, a in lines))
    reported = {}
    for key, revs in cands.items():
        live = [r for r in revs if revs[r][1] != "withdrawn"]
        if live:
            _src, _st, cur, total = revs[max(live)]
            reported[key] = total * (1.0 if cur == "USD" else rates[(cur, key[1])])

    spine = []
    last = month_label(AS_OF)
    for pid, since, term in q(
        con,
        """SELECT "Id", "Partner_Since__c", "Terminated_On__c" FROM crm.account
           WHERE "IsPartner" AND NOT "IsDeleted" """,
    ):
        first = max(month_label(since), add_months(last, 1 - PARAMS["months"]))
        end = month_label(term) if term else last
        m = first
        while m <= end:
            spine.append((pid, m))
            m = add_months(m, 1)

    def within(var: float, base: float) -> bool:
        return abs(var) <= TOL_USD or (base != 0 and abs(var / base) <= TOL_PCT)

    out = {}
    for pid, m in spine:
        e, r = round(erp.get((pid, m), 0.0), 2), reported.get((pid, m))
        if r is None:
            status = (
                "no_activity" if e == 0 else ("missing_report" if is_due(m) else "awaiting_report")
            )
        elif within(r - e, e):
            status = "matched"
        elif any(
            within(
                (r + reported.get((pid, o), 0.0)) - (e + erp.get((pid, o), 0.0)),
                e + erp.get((pid, o), 0.0),
            )
            for o in (add_months(m, -1), add_months(m, 1))
        ):
            status = "timing_difference"
        elif e == 0:
            status = "no_erp_sales"
        else:
            status = "over_reported" if r > e else "under_reported"
        out[(pid, m)] = {"status": status, "erp": e, "reported": r}
    return out


def test_reconciliation_statuses_are_exactly_the_injected_ones(con, world, truth):
    status = reconcile(con, world)
    expected = {
        (c["partner_id"], c["month"]): c["detail"]["expected_status"]
        for c in truth["cases"]
        if "expected_status" in c["detail"]
    }
    assert len(expected) >= 15
    for key, want in expected.items():
        assert status[key]["status"] == want, (key, status[key])
    for key, got in status.items():
        if key in expected:
            continue
        if is_due(key[1]):
            assert got["status"] == "matched", (key, got)
        else:
            assert got["status"] in ("matched", "awaiting_report"), (key, got)
        assert got["erp"] >= 1000, (key, got)  # every active month sells meaningfully


def test_effective_reports_equal_the_erp_line_by_line(con, truth):
    """Outside the injected months, an effective API report lists exactly the ERP's lines."""
    injected = {(c["partner_id"], c["month"]) for c in truth["cases"] if c["month"]}
    effective = """
        SELECT r.* FROM portal.sales_reports r
        WHERE r.status <> 'withdrawn' AND r.revision = (
            SELECT max(x.revision) FROM portal.sales_reports x
            WHERE x.partner_id = r.partner_id AND x.period = r.period
              AND x.status <> 'withdrawn')"""
    erp_lines = """
        SELECT a."Id" AS partner_id, strftime(t.trandate, '%Y-%m') AS period, i.itemid AS sku,
               CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END * l.quantity AS quantity,
               CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END * l.netamount AS amount,
               t.trandate AS sold_on, t.tranid
        FROM erp.transactionline l JOIN erp."transaction" t ON t.id = l."transaction"
        JOIN erp.item i ON i.id = l.item
        JOIN crm.account a ON a."ERP_Partner_Id__c" = CAST(t.partner AS VARCHAR)
        WHERE l.mainline = 'F' AND l.taxline = 'F' AND t.status <> 'Voided'"""
    differing = q(
        con,
        f"""
        WITH eff AS ({effective}), erp AS ({erp_lines}),
        rep AS (SELECT r.partner_id, r.period, l.sku, l.quantity, l.amount, l.sold_on,
                       l.invoice_ref
                FROM eff r JOIN portal.sales_report_lines l ON l.report_id = r.id),
        e AS (SELECT * FROM erp WHERE (partner_id, period) IN
                (SELECT (partner_id, period) FROM eff))
        SELECT DISTINCT partner_id, period FROM (
            (SELECT partner_id, period, sku, quantity, amount, sold_on FROM e
             EXCEPT ALL SELECT partner_id, period, sku, quantity, amount, sold_on FROM rep)
            UNION ALL
            (SELECT partner_id, period, sku, quantity, amount, sold_on FROM rep
             EXCEPT ALL SELECT partner_id, period, sku, quantity, amount, sold_on FROM e))
        UNION
        SELECT DISTINCT r.partner_id, r.period FROM rep r
        WHERE r.invoice_ref IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM erp x WHERE x.partner_id = r.partner_id AND x.period = r.period
              AND x.tranid = r.invoice_ref AND x.sku = r.sku)
        """,
    )
    assert set(differing) <= injected
    assert len(differing) >= 5  # the injected report cases do show up
    n_reports, n_null_refs = q(
        con,
        f"""SELECT count(DISTINCT r.id), count(*) FILTER (WHERE l.invoice_ref IS NULL)
            FROM ({effective}) r JOIN portal.sales_report_lines l ON l.report_id = r.id""",
    )[0]
    assert n_reports > 50 and n_null_refs > 0


def test_every_case_is_recorded(truth, world):
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["unplaced_cases"] == []
    kinds = defaultdict(int)
    for c in truth["cases"]:
        kinds[c["case"]] += 1
        assert set(c) == {"case", "partner_id", "month", "detail"}
    assert set(kinds) == ALL_CASES
    assert kinds["timing_difference"] == 2  # both months of the pair
    # disjoint partner-months
    pms = [(c["partner_id"], c["month"]) for c in truth["cases"] if c["month"] is not None]
    assert len(pms) == len(set(pms))


NEUTRAL = {"unknown_sku", "unknown_invoice_ref"}  # line-level cases keeping totals exact


def test_injected_months_have_faithful_neighbours(truth):
    injected = defaultdict(set)
    for c in truth["cases"]:
        if "expected_status" in c["detail"] and c["case"] not in NEUTRAL:
            injected[c["partner_id"]].add(c["month"])
    for c in truth["cases"]:
        if "expected_status" not in c["detail"]:
            continue
        assert is_due(c["month"])
        if c["case"] in NEUTRAL:
            continue
        assert is_due(add_months(c["month"], 1))
        pair = c["detail"].get("paired_month")
        for nb in (add_months(c["month"], -1), add_months(c["month"], 1)):
            assert nb == pair or nb not in injected[c["partner_id"]], c


def cases_of(truth, name):
    found = [c for c in truth["cases"] if c["case"] == name]
    assert found, name
    return found


def report_total(con, pid, period):
    return q(
        con,
        """SELECT r.revision, r.status, sum(l.amount) FROM portal.sales_reports r
           JOIN portal.sales_report_lines l ON l.report_id = r.id
           WHERE r.partner_id = ? AND r.period = ? GROUP BY ALL ORDER BY 1""",
        [pid, period],
    )


def erp_total(con, pid, period):
    return q(
        con,
        """SELECT coalesce(sum(CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END * l.netamount), 0),
                  count(DISTINCT t.id)
           FROM erp."transaction" t JOIN erp.transactionline l ON l."transaction" = t.id
           JOIN crm.account a ON a."ERP_Partner_Id__c" = CAST(t.partner AS VARCHAR)
           WHERE a."Id" = ? AND strftime(t.trandate, '%Y-%m') = ? AND t.status <> 'Voided'
             AND l.mainline = 'F' AND l.taxline = 'F'""",
        [pid, period],
    )[0]


def test_over_and_under_reported_are_clearly_off(con, truth):
    for name, sign in (("over_reported", 1), ("under_reported", -1)):
        for c in cases_of(truth, name):
            ((rev, status, total),) = report_total(con, c["partner_id"], c["month"])
            erp, _n = erp_total(con, c["partner_id"], c["month"])
            assert rev == 1 and status == "submitted"
            assert sign * (total - erp) / erp >= 0.10
            assert abs(c["detail"]["variance_usd"]) >= 500


def test_revision_cases(con, truth):
    for c in cases_of(truth, "restated"):
        (r1, s1, t1), (r2, s2, t2) = report_total(con, c["partner_id"], c["month"])
        erp, _n = erp_total(con, c["partner_id"], c["month"])
        assert (r1, s1, r2, s2) == (1, "restated", 2, "submitted")
        assert abs(t1 - erp) >= 0.10 * erp and abs(t2 - erp) < 0.01
    for c in cases_of(truth, "withdrawn_latest"):
        (r1, s1, t1), (r2, s2, t2) = report_total(con, c["partner_id"], c["month"])
        erp, _n = erp_total(con, c["partner_id"], c["month"])
        assert (r1, s1, r2, s2) == (1, "submitted", 2, "withdrawn")
        assert abs(t1 - erp) < 0.01 and abs(t2 - erp) >= 0.10 * erp
    for c in cases_of(truth, "all_withdrawn"):
        rows = report_total(con, c["partner_id"], c["month"])
        assert rows and all(s == "withdrawn" for _r, s, _t in rows)
        assert erp_total(con, c["partner_id"], c["month"])[0] > 0


def test_missing_and_bad_file_months_have_no_effective_report(con, world, truth):
    files = read_pos(world)
    for name in ("missing_report", "pos_bad_row", "pos_bad_header"):
        for c in cases_of(truth, name):
            pid, m = c["partner_id"], c["month"]
            assert report_total(con, pid, m) == []
            assert erp_total(con, pid, m)[0] > 0
            names = [f for f in files if f.startswith(f"pos_{pid}_{m}")]
            if name == "missing_report":
                assert names == []
            else:
                assert names == [c["detail"]["file"]]
                header, rows, _bom = files[names[0]]
                assert parse_file(names[0], header, rows) is None
    for c in cases_of(truth, "pos_bad_row"):
        header, rows, _bom = files[c["detail"]["file"]]
        n = c["detail"]["row_number"]
        assert parse_file(c["detail"]["file"], header, rows[: n - 1]) is not None
        assert parse_file(c["detail"]["file"], header, rows[n - 1 : n]) is None


def test_timing_difference_pairs_match_together(con, truth):
    pairs = cases_of(truth, "timing_difference")
    m0 = min(c["month"] for c in pairs)
    pid = pairs[0]["partner_id"]
    erp = sum(erp_total(con, pid, c["month"])[0] for c in pairs)
    rep = sum(report_total(con, pid, c["month"])[0][2] for c in pairs)
    assert abs(rep - erp) < 0.01
    ((_r, _s, first),) = report_total(con, pid, m0)
    assert erp_total(con, pid, m0)[0] - first >= 500
    tranids = pairs[0]["detail"]["shifted_tranids"]
    later = q(
        con,
        """SELECT DISTINCT l.invoice_ref FROM portal.sales_reports r
           JOIN portal.sales_report_lines l ON l.report_id = r.id
           WHERE r.partner_id = ? AND r.period = ? AND strftime(l.sold_on, '%Y-%m') = ?""",
        [pid, add_months(m0, 1), m0],
    )
    assert {t for (t,) in later if t} <= set(tranids) and later


def test_line_level_cases(con, truth):
    for c in cases_of(truth, "unknown_sku"):
        rows = q(
            con,
            """SELECT l.sku FROM portal.sales_report_lines l
               WHERE l.report_id = ? AND l.line_no = ?
                 AND l.sku NOT IN (SELECT itemid FROM erp.item)""",
            [c["detail"]["report_id"], c["detail"]["line_no"]],
        )
        assert rows == [(c["detail"]["sku"],)]
    for c in cases_of(truth, "unknown_invoice_ref"):
        ref = c["detail"]["invoice_ref"]
        assert q(
            con,
            """SELECT count(*) FROM portal.sales_report_lines
               WHERE report_id = ? AND invoice_ref = ?""",
            [c["detail"]["report_id"], ref],
        ) == [(1,)]
        assert q(con, 'SELECT count(*) FROM erp."transaction" WHERE tranid = ?', [ref]) == [(0,)]
    for c in cases_of(truth, "no_erp_sales"):
        assert erp_total(con, c["partner_id"], c["month"]) == (0, 0)
        ((_r, _s, total),) = report_total(con, c["partner_id"], c["month"])
        assert total > 0 and abs(total - c["detail"]["reported"]) < 0.01


def test_api_csv_clash(con, world, truth):
    files = read_pos(world)
    for c in cases_of(truth, "api_csv_clash"):
        header, rows, _bom = files[c["detail"]["file"]]
        parsed = parse_file(c["detail"]["file"], header, rows)
        assert parsed is not None and parsed[2] == 1
        ((rev, status, total),) = report_total(con, c["partner_id"], c["month"])
        assert (rev, status) == (1, "submitted")
        csv_total = sum(a for _q, a in parsed[3])
        assert abs(csv_total - total) >= 0.05 * abs(total)


def test_erp_cases(con, truth):
    for c in cases_of(truth, "voided_invoice"):
        rows = q(
            con,
            "SELECT status, strftime(trandate, '%Y-%m') FROM erp.\"transaction\" WHERE tranid = ?",
            [c["detail"]["tranid"]],
        )
        assert rows == [("Voided", c["month"])]
        assert q(
            con,
            "SELECT count(*) FROM portal.sales_report_lines WHERE invoice_ref = ?",
            [c["detail"]["tranid"]],
        ) == [(0,)]
    assert q(con, "SELECT count(*) FROM erp.\"transaction\" WHERE status = 'Voided'") == [
        (len(cases_of(truth, "voided_invoice")),)
    ]
    for c in cases_of(truth, "credit_memo_only_month"):
        types = q(
            con,
            """SELECT DISTINCT t.type FROM erp."transaction" t JOIN crm.account a
                 ON a."ERP_Partner_Id__c" = CAST(t.partner AS VARCHAR)
               WHERE a."Id" = ? AND strftime(t.trandate, '%Y-%m') = ?""",
            [c["partner_id"], c["month"]],
        )
        assert types == [("CustCred",)]
    for c in cases_of(truth, "unmapped_erp_partner"):
        pid = c["detail"]["erp_partner_id"]
        assert q(
            con, """SELECT count(*) FROM crm.account WHERE "ERP_Partner_Id__c" = ?""", [str(pid)]
        ) == [(0,)]
        assert q(con, 'SELECT count(*) FROM erp."transaction" WHERE partner = ?', [pid])[0][0] > 0
    for c in cases_of(truth, "erp_crm_id_mismatch"):
        ext = q(
            con,
            "SELECT externalid FROM erp.partner WHERE id = ?",
            [c["detail"]["erp_partner_id"]],
        )
        assert ext == [(c["detail"]["erp_externalid"],)] and ext[0][0] != c["partner_id"]
        assert q(
            con, """SELECT "ERP_Partner_Id__c" FROM crm.account WHERE "Id" = ?""", [c["partner_id"]]
        ) == [(str(c["detail"]["erp_partner_id"]),)]
    mismatched = {c["partner_id"] for c in cases_of(truth, "erp_crm_id_mismatch")}
    assert q(
        con,
        """SELECT count(*) FROM crm.account a JOIN erp.partner p
             ON CAST(p.id AS VARCHAR) = a."ERP_Partner_Id__c"
           WHERE p.externalid IS DISTINCT FROM a."Id" """,
    ) == [(len(mismatched),)]


def test_crm_cases(con, truth):
    for c in cases_of(truth, "soft_deleted_opportunity"):
        rows = q(
            con,
            """SELECT "PartnerAccountId", strftime("CloseDate", '%Y-%m'), "IsWon", "IsDeleted"
               FROM crm.opportunity WHERE "Id" = ?""",
            [c["detail"]["opportunity_id"]],
        )
        assert rows == [(c["partner_id"], c["month"], True, True)]
    terminated = cases_of(truth, "terminated_partner")
    for c in terminated:
        ((status, on, erp_id),) = q(
            con,
            """SELECT "Partner_Status__c", "Terminated_On__c", "ERP_Partner_Id__c"
               FROM crm.account WHERE "Id" = ?""",
            [c["partner_id"]],
        )
        assert status == "Terminated" and month_label(on) == c["month"]
        assert q(
            con,
            'SELECT count(*) FROM erp."transaction" WHERE partner = ? AND trandate > ?',
            [int(erp_id), on],
        ) == [(0,)]
        assert q(con, "SELECT isinactive FROM erp.partner WHERE id = ?", [int(erp_id)]) == [("T",)]
    assert (
        len(terminated)
        == q(con, """SELECT count(*) FROM crm.account WHERE "Partner_Status__c" = 'Terminated'""")[
            0
        ][0]
    )


def test_manifest_counts_match_the_tables(world, con):
    manifest = json.loads((world / "world.json").read_text())
    assert {k: manifest[k] for k in ("seed", "partners", "months", "scale", "as_of")} == {
        "seed": 11, "partners": 12, "months": 12, "scale": 1.0, "as_of": "2025-06-15",
    }  # fmt: skip
    for table, n in manifest["row_counts"].items():
        schema, name = table.split(".")
        assert q(con, f'SELECT count(*) FROM {schema}."{name}"') == [(n,)]
    assert manifest["pos_files"] == len(list((world / "pos").iterdir()))
    assert not (world / "scratch.duckdb").exists()


def test_scale_multiplies_volume(tmp_path):
    small = generate_world(tmp_path / "a", **{**PARAMS, "partners": 6, "months": 6, "scale": 0.5})
    big = generate_world(tmp_path / "b", **{**PARAMS, "partners": 6, "months": 6, "scale": 1.0})
    ratio = small["sales_lines"] / big["sales_lines"]
    assert 0.4 < ratio < 0.7

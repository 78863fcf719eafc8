"""Pure parts of the connectors: queries, windows, JWT assertion, value parsers."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors import netsuite, partner_portal, salesforce
from connectors.config import Secret, Settings
from connectors.landing import parse_expr
from connectors.netsuite import Window, build_query, keyset_after, keyset_upto
from connectors.schema import CRM_TABLES, ERP_TABLES

# -- Salesforce ---------------------------------------------------------------------------


def test_every_crm_table_has_its_salesforce_fields():
    assert set(salesforce.OBJECTS) == set(CRM_TABLES)
    for name, obj in salesforce.OBJECTS.items():
        assert set(obj.wire_names) == set(CRM_TABLES[name].columns)
        assert "Id" in obj.fields and "SystemModstamp" in obj.fields


def test_soql_full_and_incremental():
    obj = salesforce.OBJECTS["deal_registration"]
    full = salesforce.build_soql(obj, None)
    assert full.startswith("SELECT Id, Partner_Account__c, ")
    assert full.endswith(" FROM Deal_Registration__c ORDER BY SystemModstamp ASC, Id ASC")
    inc = salesforce.build_soql(obj, datetime(2024, 5, 1, 13, 45, 7, 999000))
    assert " FROM Deal_Registration__c WHERE SystemModstamp >= 2024-05-01T13:45:07Z ORDER BY" in inc


def test_next_records_url_is_followed_as_given_on_the_org_host_only():
    base = "http://localhost:5001"
    assert (
        salesforce.resolve_next(base, "/services/data/v61.0/query/01gX-2000")
        == "http://localhost:5001/services/data/v61.0/query/01gX-2000"
    )
    absolute = "http://localhost:5001/services/data/v61.0/query/01gX-4000"
    assert salesforce.resolve_next(base, absolute) == absolute
    for elsewhere in (
        "https://other.example.com/services/data/v61.0/query/01gX-4000",
        "http://localhost:5002/services/data/v61.0/query/01gX-4000",
        "https://localhost:5001/services/data/v61.0/query/01gX-4000",
        "@127.0.0.2:5001/services/data/v61.0/query/01gX-4000",
        "//other.example.com/services/data/v61.0/query/01gX-4000",
        "http://user:pw@localhost:5001/services/data/v61.0/query/01gX-4000",
        "http://localhost:notaport/x",
    ):
        with pytest.raises(ValueError, match="leaves the org's host localhost: not followed"):
            salesforce.resolve_next(base, elsewhere)


# -- NetSuite -----------------------------------------------------------------------------


def test_keyset_conditions():
    assert keyset_after(("id",), (5,)) == "id > 5"
    assert keyset_upto(("id",), (9,)) == "id <= 9"
    assert (
        keyset_after(("transaction", "id"), (5, 2))
        == "(transaction > 5) OR (transaction = 5 AND id > 2)"
    )
    assert (
        keyset_upto(("transaction", "id"), (9, 1))
        == "(transaction < 9) OR (transaction = 9 AND id <= 1)"
    )


def test_suiteql_window_query():
    table = ERP_TABLES["transactionline"]
    q = build_query(table, datetime(2024, 5, 1, 13, 45), Window((5, 2), (9, 1)))
    assert q.startswith("SELECT transaction, id, linesequencenumber, item, ")
    assert " FROM transactionline WHERE " in q
    assert "(lastmodifieddate >= TO_TIMESTAMP('2024-05-01 13:45:00', 'YYYY-MM-DD HH24:MI:SS'))" in q
    assert "((transaction > 5) OR (transaction = 5 AND id > 2))" in q
    assert "((transaction < 9) OR (transaction = 9 AND id <= 1))" in q
    assert q.endswith(" ORDER BY transaction, id")


def test_suiteql_tables_without_watermark_are_read_whole():
    q = build_query(ERP_TABLES["currencyrate"], datetime(2024, 5, 1), Window())
    assert q == (
        "SELECT id, basecurrency, transactioncurrency, exchangerate, effectivedate "
        "FROM currencyrate ORDER BY id"
    )


def test_key_only_query_for_window_probes():
    q = build_query(ERP_TABLES["transactionline"], None, Window(None, None), ("transaction", "id"))
    assert q == "SELECT transaction, id FROM transactionline ORDER BY transaction, id"


def _keypair(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "ns.pem"
    path.write_bytes(pem)
    return key.public_key(), path


def test_jwt_client_assertion(tmp_path):
    public, path = _keypair(tmp_path)
    settings = Settings(
        erp_url="https://1.suitetalk.api.netsuite.com",
        erp_client_id="erp-client",
        erp_certificate_id="cert-42",
        erp_private_key_path=path,
    )
    url = "https://1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"
    form = netsuite.token_form(settings, url)
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in form
    token = form["client_assertion"]
    header = jwt.get_unverified_header(token)
    assert header["kid"] == "cert-42" and header["alg"] == "PS256"
    claims = jwt.decode(token, public, algorithms=["PS256"], audience=url)
    assert claims["iss"] == "erp-client" and claims["scope"] == ["rest_webservices"]
    assert claims["exp"] - claims["iat"] == 3600


def test_jwt_rs256_is_configurable(tmp_path):
    public, path = _keypair(tmp_path)
    settings = Settings(
        erp_client_id="c",
        erp_certificate_id="k",
        erp_private_key_path=path,
        erp_jwt_algorithm="RS256",
    )
    token = netsuite.client_assertion(settings, "https://t/token")
    assert jwt.decode(token, public, algorithms=["RS256"], audience="https://t/token")["iss"] == "c"


def test_client_secret_form_without_jwt():
    settings = Settings(erp_client_id="c", erp_client_secret=Secret("s3"))
    assert netsuite.token_form(settings, "u") == {
        "grant_type": "client_credentials",
        "client_id": "c",
        "client_secret": "s3",
    }


# -- Portal -------------------------------------------------------------------------------


def test_portal_mark_and_resources():
    assert partner_portal.iso_mark(datetime(2024, 5, 1, 13, 45, 0, 500)) == "2024-05-01T13:45:00Z"
    assert {r.path for r in partner_portal.RESOURCES.values()} == {
        "sales-reports",
        "trainings",
        "mdf-claims",
        "asset-usage",
        "business-plans",
    }
    assert [t.name for t in partner_portal.RESOURCES["sales_reports"].tables] == [
        "sales_reports",
        "sales_report_lines",
    ]


# -- value parsers (run in DuckDB exactly as the landing runs them) -----------------------


def _parse(parsers, duck_type, text):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    expr = parse_expr(parsers, duck_type, "v")
    return con.execute(f'SELECT {expr} FROM (SELECT ?::VARCHAR AS "v")', [text]).fetchall()[0][0]


@pytest.mark.parametrize(
    ("duck_type", "text", "value"),
    [
        ("DATE", "1/5/2024", date(2024, 1, 5)),
        ("DATE", "12/31/2024", date(2024, 12, 31)),
        ("DATE", "2024-12-31", None),
        ("TIMESTAMP", "5/1/2024 1:45 pm", datetime(2024, 5, 1, 13, 45)),
        ("TIMESTAMP", "12/31/2024 12:05 am", datetime(2024, 12, 31, 0, 5)),
        ("TIMESTAMP", "12/31/2024 12:05 PM", datetime(2024, 12, 31, 12, 5)),
        ("TIMESTAMP", "5/1/2024", None),
        ("BOOLEAN", "T", True),
        ("BOOLEAN", "F", False),
        ("BOOLEAN", "true", None),
        ("DOUBLE", ".5", 0.5),
        ("DOUBLE", "-.25", -0.25),
        ("DOUBLE", "1200", 1200.0),
        ("DOUBLE", "n/a", None),
        ("BIGINT", "123456789012", 123456789012),
        ("BIGINT", "12.5", None),
        ("INTEGER", "3", 3),
    ],
)
def test_netsuite_parsers(duck_type, text, value):
    assert _parse(netsuite.PARSERS, duck_type, text) == value


@pytest.mark.parametrize(
    ("duck_type", "text", "value"),
    [
        ("TIMESTAMP", "2024-05-01T13:45:00.000+0000", datetime(2024, 5, 1, 13, 45)),
        ("TIMESTAMP", "2024-05-01T13:45:00.250+0200", datetime(2024, 5, 1, 11, 45, 0, 250000)),
        ("TIMESTAMP", "yesterday", None),
        ("DATE", "2024-05-01", date(2024, 5, 1)),
        ("BOOLEAN", "true", True),
        ("BOOLEAN", "false", False),
        ("DOUBLE", "5000", 5000.0),
        ("DOUBLE", "12.5", 12.5),
    ],
)
def test_salesforce_parsers(duck_type, text, value):
    assert _parse(salesforce.PARSERS, duck_type, text) == value


@pytest.mark.parametrize(
    ("duck_type", "text", "value"),
    [
        ("TIMESTAMP", "2024-05-01T13:45:00Z", datetime(2024, 5, 1, 13, 45)),
        ("TIMESTAMP", "2024-05-01T13:45:00.123456+00:00", datetime(2024, 5, 1, 13, 45, 0, 123456)),
        ("DATE", "2024-05-01", date(2024, 5, 1)),
        ("INTEGER", "2", 2),
        ("BOOLEAN", "true", True),
    ],
)
def test_portal_parsers(duck_type, text, value):
    assert _parse(partner_portal.PARSERS, duck_type, text) == value


# -- registry -----------------------------------------------------------------------------


def test_registry_covers_every_raw_table_once():
    from connectors.schema import ALL_TABLES
    from connectors.sync import REGISTRY, get_object, objects

    landed = [t for o in objects() for t in o.raw_tables]
    assert sorted(landed) == sorted(ALL_TABLES)
    assert len({o.asset_name for o in objects()}) == len(REGISTRY) == 20
    assert [o.object for o in objects("crm")] == [
        "accounts",
        "opportunities",
        "leads",
        "deal_registrations",
        "campaigns",
    ]
    assert get_object("erp", "transaction_lines").source_object == "transactionline"
    assert not get_object("erp", "currency_rates").incremental
    with pytest.raises(KeyError, match="valid: crm/accounts"):
        get_object("crm", "contacts")

"""POS file layouts: a file in any layout lands the same lines as the same data in the
default layout; layouts are chosen by partner or header; bad layouts and bad values fail
clearly (docs/pos-layouts.md)."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors import pos_files
from connectors.config import Settings
from connectors.pos_files import read_pos_file
from connectors.pos_layouts import DEFAULT_LAYOUT, FIELDS, PosLayout, choose_layout
from connectors.sync import sync_object
from tests.connectors.test_conn_pos_files import NAME, PARTNER

REVISED = f"pos_{PARTNER}_2024-05_r2.csv"

# The example of docs/pos-layouts.md, as the stand-in servers will write it.
DISTRIBUTOR_EU = PosLayout(
    name="distributor_eu",
    delimiter=";",
    decimal=",",
    thousands=".",
    date_formats=["%d.%m.%Y"],
    period_format="%m/%Y",
    encoding="cp1252",
    columns={
        "Reseller": "partner_id",
        "Periode": "period",
        "Artikelnummer": "sku",
        "Menge": "quantity",
        "Umsatz": "amount",
        "Waehrung": "currency",
        "Endkunde": "end_customer",
        "Rechnung": "invoice_ref",
        "Verkaufsdatum": "sold_on",
        "Filiale": None,
    },
)


DOCS = Path(__file__).parents[2] / "docs" / "pos-layouts.md"


def test_the_documented_example_layout_is_the_one_tested():
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert [PosLayout.model_validate(item) for item in yaml.safe_load(block)] == [DISTRIBUTOR_EU]


def layout(name: str, **changes) -> PosLayout:
    """The default layout with some of its settings changed."""
    return DEFAULT_LAYOUT.model_copy(update={"name": name, **changes})


def renamed(names: dict[str, str]) -> dict[str, str | None]:
    return {names.get(f, f): f for f in FIELDS}


# -- writing a file in a layout, as a distributor would ------------------------------------


def fmt_number(value: Decimal, lay: PosLayout) -> str:
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):f}".partition(".")
    if lay.thousands:
        whole = f"{int(whole):,}".replace(",", lay.thousands)
    return sign + whole + (lay.decimal + frac if frac else "")


def fmt_value(field: str, value, lay: PosLayout) -> str:
    if field in ("quantity", "amount"):
        return fmt_number(Decimal(value), lay)
    if field == "sold_on":
        return value.strftime(lay.date_formats[0])
    if field == "period":
        year, month = map(int, value.split("-"))
        return date(year, month, 1).strftime(lay.period_format)
    return value or ""


def pos_file(rows: list[dict], lay: PosLayout) -> bytes:
    """The rows (logical field -> value) written in `lay`: its columns, their order, its
    delimiter, number, date and period formats and encoding; unused columns hold 'X'."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=lay.delimiter, lineterminator="\r\n")
    writer.writerow(list(lay.columns))
    for row in rows:
        writer.writerow(
            ["X" if f is None else fmt_value(f, row[f], lay) for f in lay.columns.values()]
        )
    return out.getvalue().encode(lay.encoding)


def sale(n: int, **changes) -> dict:
    row = {
        "partner_id": PARTNER,
        "period": "2024-05",
        "sku": f"SKU-{n}",
        "quantity": "2",
        "amount": "1234.56",
        "currency": "EUR",
        "end_customer": "Müller GmbH",
        "invoice_ref": f"INV-{n}",
        "sold_on": date(2024, 5, 3),
    }
    return {**row, **changes}


SALES = [
    sale(1),
    sale(2, quantity="-1", amount="-1234567.5", sold_on=date(2024, 5, 31)),
    sale(3, quantity="0", amount="0", invoice_ref="", end_customer="Café Ørsted & Söhne"),
    sale(4, quantity="1.5", amount="0.05", sku=""),
]


# -- landing through sync_object, with layouts -----------------------------------------------


def sync(landing: Path, layouts):
    """A POS sync with `layouts` described in the org's configuration file (`pos.layouts`;
    the default layout is always tried last)."""
    config = landing.parent / "partnerpulse.yml"
    given = [x.model_dump(mode="json") for x in layouts if x != DEFAULT_LAYOUT]
    config.write_text(yaml.safe_dump({"pos": {"layouts": given}}, allow_unicode=True))
    settings_ = Settings(
        landing_dir=landing, spool_dir=landing.parent / "spool", config_path=config
    )
    return sync_object(settings_, landing.parent / "w.duckdb", "pos", "pos_reports")


def q(landing: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(landing.parent / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def landed_lines(landing: Path, file_name: str) -> list[tuple]:
    """The file's raw lines, but for the file name and revision (which name the file) and
    the lineage of the sync that landed them."""
    return q(
        landing,
        "SELECT * EXCLUDE (file_name, revision, _sync_id, _loaded_at) "
        "FROM raw_portal.pos_report_lines "
        f"WHERE file_name = '{file_name}' ORDER BY row_number",
    )


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def land_one(folder: Path, content: bytes, layouts) -> list[tuple]:
    """The lines landed from one file (NAME) in a warehouse of its own."""
    folder.mkdir()
    (folder / NAME).write_bytes(content)
    result = sync(folder, layouts)
    assert (result.rows_read, result.rows_quarantined) == (len(SALES), 0)
    return landed_lines(folder, NAME)


FEATURES = [
    layout("semicolons", delimiter=";"),
    layout("decimal_comma", decimal=",", thousands="."),
    layout("thousands_apostrophe", thousands="'"),
    layout("german_dates", date_formats=["%d.%m.%Y"]),
    layout("period_slash", period_format="%m/%Y"),
    layout("period_compact", period_format="%Y%m"),
    layout("windows_encoding", encoding="cp1252"),
    layout("latin1_encoding", encoding="latin-1"),
    layout("reversed_columns", columns=dict(reversed(DEFAULT_LAYOUT.columns.items()))),
    layout("extra_column", columns={**DEFAULT_LAYOUT.columns, "store": None}),
    layout("other_names", columns=renamed({"sku": "Article", "amount": "Net Sales"})),
    DISTRIBUTOR_EU,
]


@pytest.mark.parametrize("lay", FEATURES, ids=lambda lay: lay.name)
def test_a_file_in_any_layout_lands_the_lines_of_the_default_layout(tmp_path, lay):
    # Two warehouses: several of these layouts have the default's column names, so in one
    # landing folder the first matching layout would read both files (see the docs).
    expected = land_one(tmp_path / "default", pos_file(SALES, DEFAULT_LAYOUT), ())
    got = land_one(tmp_path / lay.name, pos_file(SALES, lay), (lay,))
    assert got == expected
    assert {line[7] for line in got} == {"Müller GmbH", "Café Ørsted & Söhne"}  # end_customer
    assert q(tmp_path / lay.name, "SELECT status, reason FROM raw_portal.pos_files") == [
        ("loaded", None)
    ]


def test_the_distributor_example_file_as_written_by_hand(landing, caplog):
    header = (
        "Reseller;Periode;Artikelnummer;Menge;Umsatz;Waehrung;Endkunde;Rechnung;"
        "Verkaufsdatum;Filiale"
    )
    rows = [
        f"{PARTNER};05/2024;SKU-1;2;1.234,56;EUR;Müller GmbH;INV-1;03.05.2024;Köln",
        f"{PARTNER};05/2024;SKU-2;-1;-1.234.567,5;EUR;Müller GmbH;INV-2;31.05.2024;Köln",
    ]
    (landing / REVISED).write_bytes("\r\n".join([header, *rows, ""]).encode("cp1252"))
    (landing / NAME).write_bytes(pos_file(SALES[:2], DEFAULT_LAYOUT))

    with caplog.at_level(logging.INFO, logger="partnerpulse.connectors.pos_files"):
        sync(landing, (DISTRIBUTOR_EU,))
    assert landed_lines(landing, REVISED) == landed_lines(landing, NAME)
    assert q(landing, f"SELECT amount, end_customer, sold_on FROM raw_portal.pos_report_lines "
             f"WHERE file_name = '{REVISED}' ORDER BY row_number") == [
        (1234.56, "Müller GmbH", date(2024, 5, 3)),
        (-1234567.5, "Müller GmbH", date(2024, 5, 31)),
    ]  # fmt: skip
    assert f"pos file '{REVISED}' loaded (layout distributor_eu): 2 rows" in caplog.text
    assert f"pos file '{NAME}' loaded (layout default): 2 rows" in caplog.text


# -- choosing the layout ------------------------------------------------------------------------


def test_choose_layout_prefers_the_partner_then_the_header_then_the_default():
    listed = layout("listed", delimiter=";", partners=[PARTNER])
    other = layout("other", columns=renamed({"sku": "Article"}))
    header = ["  ARTICLE", *(f for f in reversed(FIELDS) if f != "sku")]
    assert choose_layout([other, listed], PARTNER, list(FIELDS)) is listed
    assert choose_layout([other, listed], "someone_else", header) is other
    assert choose_layout([other], "someone_else", list(FIELDS)) is DEFAULT_LAYOUT
    assert choose_layout([other], "someone_else", ["sku", "qty"]) is None
    assert choose_layout([], None, [*FIELDS, "store"]) is None


def test_the_layout_listing_the_partner_wins_over_one_matching_the_header_first():
    points = layout("points", delimiter=";")
    commas = layout("commas", delimiter=";", decimal=",", partners=[PARTNER])
    content = pos_file(SALES, commas)
    binary = io.BytesIO(content)

    out = read_pos_file(NAME, binary, (points, commas))
    assert (out.status, out.layout) == ("loaded", "commas")
    assert [line["amount"] for _, line in out.rows(binary)] == [1234.56, -1234567.5, 0.0, 0.05]
    # Without the partner list the first layout whose header matches reads it, and fails.
    unlisted = commas.model_copy(update={"partners": []})
    out = read_pos_file(NAME, io.BytesIO(content), (points, unlisted))
    assert (out.status, out.layout) == ("rejected", "points")
    assert "non-numeric amount '1234,56'" in out.reason


def test_a_header_matching_no_layout_is_rejected_whole_naming_it(landing):
    typo = DISTRIBUTOR_EU.model_copy(
        update={"columns": {("Artikel" if c == "Artikelnummer" else c): f
                            for c, f in DISTRIBUTOR_EU.columns.items()}}
    )  # fmt: skip
    (landing / NAME).write_bytes(pos_file(SALES, typo))

    result = sync(landing, (DISTRIBUTOR_EU,))
    assert (result.rows_read, result.rows_quarantined) == (4, 4)
    ((status, reason),) = q(landing, "SELECT status, reason FROM raw_portal.pos_files")
    assert status == "rejected"
    assert reason.startswith(
        "wrong header: 'Reseller;Periode;Artikel;Menge;Umsatz;Waehrung;Endkunde;Rechnung;"
        "Verkaufsdatum;Filiale' matches no layout (tried distributor_eu, default); "
        "closest is distributor_eu: missing column(s) Artikelnummer; "
        "unexpected column(s) 'artikel'"
    )
    quarantined = q(
        landing, "SELECT raw_row, reason FROM raw_portal.pos_quarantine ORDER BY row_number"
    )
    assert {r for _, r in quarantined} == {reason}
    raw = json.loads(quarantined[0][0])
    assert raw["artikel"] == "SKU-1" and raw["endkunde"] == "Müller GmbH"  # split and decoded


def test_a_partner_layout_names_itself_when_the_header_is_wrong():
    mine = DISTRIBUTOR_EU.model_copy(update={"partners": [PARTNER]})
    out = read_pos_file(NAME, io.BytesIO(pos_file(SALES, DEFAULT_LAYOUT)), (mine,))
    assert out.status == "rejected" and out.layout == "distributor_eu"
    assert out.reason.startswith("wrong header for layout distributor_eu: missing column(s)")


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        ({"amount": "12,5x"}, "non-numeric amount '12,5x'"),
        ({"amount": "12.5"}, "non-numeric amount '12.5'"),  # a point is no decimal here
        ({"amount": "12.34,5"}, "non-numeric amount '12.34,5'"),  # thousands of two digits
        ({"quantity": ""}, "non-numeric quantity ''"),
        ({"sold_on": "2024-05-03"}, "unparseable sold_on date '2024-05-03'"),
        ({"period": "2024-05"}, "period '2024-05' disagrees with the file name (2024-05)"),
        ({"period": "04/2024"}, "period '04/2024' disagrees with the file name (2024-05)"),
    ],
)
def test_bad_values_under_a_layout_are_quarantined_with_their_reason(change, fault):
    rows = [f"{PARTNER};05/2024;SKU-{n};2;1.234,56;EUR;Müller GmbH;INV-{n};03.05.2024;Köln"
            for n in (1, 2)]  # fmt: skip
    fields = dict(zip(DISTRIBUTOR_EU.columns.values(), rows[1].split(";"), strict=True))
    fields.update(change)
    rows[1] = ";".join(fields.values())
    header = ";".join(DISTRIBUTOR_EU.columns)
    binary = io.BytesIO("\n".join([header, *rows]).encode("cp1252"))

    out = read_pos_file(NAME, binary, (DISTRIBUTOR_EU,))
    assert (out.status, out.layout, out.rows_read) == ("rejected", "distributor_eu", 2)
    assert out.reason == f"row 2 {fault}"
    reasons = [row["reason"] for _, row in out.rows(binary)]
    assert reasons == [f"file rejected: row 2 {fault}", fault]


def test_a_file_not_in_its_layouts_encoding_is_quarantined_as_latin1():
    header = ";".join(DISTRIBUTOR_EU.columns).encode()
    row = f"{PARTNER};05/2024;SKU-1;2;1,5;EUR;M\x81ller;INV-1;03.05.2024;K".encode("latin-1")
    binary = io.BytesIO(header + b"\n" + row + b"\n")
    out = read_pos_file(NAME, binary, (DISTRIBUTOR_EU,))
    assert out.status == "rejected" and out.reason.startswith("not cp1252 text")
    ((_, quarantined),) = list(out.rows(binary))
    assert json.loads(quarantined["raw_row"])["endkunde"] == "M\x81ller"


# -- describing a layout ----------------------------------------------------------------


def eu(**changes) -> dict:
    return {**DISTRIBUTOR_EU.model_dump(), **changes}


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        (eu(columns={**DISTRIBUTOR_EU.columns, "Filiale": "store"}), "unknown logical field"),
        (eu(columns={**DISTRIBUTOR_EU.columns, "Filiale": "sku"}), "mapped more than once: sku"),
        (eu(columns={**DISTRIBUTOR_EU.columns, "Umsatz": None}), "not mapped: amount"),
        (eu(columns={**DISTRIBUTOR_EU.columns, "filiale ": None}), "equal but for case/spaces"),
        (eu(delimiter=";;"), "delimiter must be one character"),
        (eu(delimiter='"'), "delimiter must be one character"),
        (eu(encoding="klingon-8"), "unknown encoding 'klingon-8'"),
        (eu(thousands=","), "thousands and decimal are both ','"),
        (eu(decimal="'"), "decimal"),
        (eu(date_formats=["%d.%m"]), "date format '%d.%m' does not carry a whole date"),
        (eu(date_formats=[]), "date_formats needs at least one format"),
        (eu(period_format="%Y"), "period format '%Y' does not carry a year and a month"),
        (eu(sheet="Tabelle1"), "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_layouts_are_refused_naming_the_problem(settings_, message):
    with pytest.raises(ValidationError) as raised:
        PosLayout.model_validate(settings_)
    assert message in str(raised.value)


def test_a_layout_is_frozen_and_the_default_is_todays_layout():
    assert list(DEFAULT_LAYOUT.columns) == list(pos_files.HEADER) == list(FIELDS)
    assert (DEFAULT_LAYOUT.delimiter, DEFAULT_LAYOUT.decimal, DEFAULT_LAYOUT.thousands) == (
        ",",
        ".",
        None,
    )
    with pytest.raises(ValidationError):
        DISTRIBUTOR_EU.delimiter = ","  # type: ignore[misc]


# -- any rows, any layout ---------------------------------------------------------------

TEXT = st.text(alphabet="abcXYZ 0-9äöüßéÉ&\"';,.|\t", max_size=12)


@st.composite
def layouts(draw) -> PosLayout:
    names = list(FIELDS) + draw(st.lists(st.sampled_from(["store", "region"]), unique=True))
    order = draw(st.permutations(names))
    decimal, thousands = draw(
        st.sampled_from([(".", None), (".", ","), (",", None), (",", "."), (",", " "), (".", "'")])
    )
    return PosLayout(
        name="drawn",
        columns={n: (n if n in FIELDS else None) for n in order},
        delimiter=draw(st.sampled_from([",", ";", "\t", "|"])),
        decimal=decimal,
        thousands=thousands,
        date_formats=[draw(st.sampled_from(["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%Y%m%d"]))],
        period_format=draw(st.sampled_from(["%Y-%m", "%m/%Y", "%Y%m", "%m.%Y"])),
        encoding=draw(st.sampled_from(["utf-8", "cp1252", "latin-1", "utf-16"])),
    )


@st.composite
def sales(draw) -> dict:
    cents = draw(st.integers(-(10**10), 10**10))
    return sale(
        0,
        sku=draw(TEXT),
        quantity=str(draw(st.integers(-(10**7), 10**7))),
        amount=str(Decimal(cents) / 100),
        end_customer=draw(TEXT),
        invoice_ref=draw(TEXT),
        sold_on=draw(st.dates(date(1990, 1, 1), date(2100, 12, 31))),
    )


@settings(max_examples=150, deadline=None)
@given(lay=layouts(), rows=st.lists(sales(), min_size=1, max_size=5))
def test_any_rows_written_in_any_layout_read_back_the_same(lay, rows):
    binary = io.BytesIO(pos_file(rows, lay))
    out = read_pos_file(NAME, binary, (lay,))
    assert out.status == "loaded", out.reason
    lines = [line for _, line in out.rows(binary)]
    assert [
        (
            line["sku"],
            line["quantity"],
            line["amount"],
            line["end_customer"],
            line["invoice_ref"],
            line["sold_on"],
            line["period"],
        )
        for line in lines
    ] == [
        (
            r["sku"].strip() or None,
            float(r["quantity"]),
            float(r["amount"]),
            r["end_customer"].strip() or None,
            r["invoice_ref"].strip() or None,
            r["sold_on"],
            "2024-05",
        )
        for r in rows
    ]

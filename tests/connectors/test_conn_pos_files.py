"""POS CSV drops: names, row validation, whole-file rejection, hashing, replacement."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from connectors.config import Settings
from connectors.pos_files import parse_file_name, read_pos_file
from connectors.sync import sync_object

PARTNER = "0015g00000AbCdEAAZ"
HEADER = "partner_id,period,sku,quantity,amount,currency,end_customer,invoice_ref,sold_on"


def csv_text(*rows: str, header: str = HEADER, bom: bool = False) -> bytes:
    text = "\n".join([header, *rows]) + "\n"
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def good_row(
    n: int = 1,
    qty: str = "2",
    amount: str = "150.50",
    sold_on: str = "2024-05-03",
    partner: str = PARTNER,
    period: str = "2024-05",
) -> str:
    return f"{partner},{period},SKU-{n},{qty},{amount},EUR,Acme GmbH,INV-{n},{sold_on}"


NAME = f"pos_{PARTNER}_2024-05.csv"


def read_all(name: str, content: bytes) -> SimpleNamespace:
    """`read_pos_file` and then every row it stages, as lists."""
    binary = io.BytesIO(content)
    out = read_pos_file(name, binary)
    rows = list(out.rows(binary)) if out.rows_read else []
    return SimpleNamespace(
        status=out.status,
        reason=out.reason,
        name=out.name,
        rows_read=out.rows_read,
        lines=[row for kind, row in rows if kind == "line"],
        quarantine=[row for kind, row in rows if kind == "quarantine"],
    )


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        (NAME, (PARTNER, "2024-05", 1)),
        (f"pos_{PARTNER}_2024-12_r3.csv", (PARTNER, "2024-12", 3)),
        (f"pos_{PARTNER}_2024-13.csv", None),
        (f"pos_{PARTNER}_2024-05_r0.csv", None),
        (f"pos_{PARTNER}_2024-05.txt", None),
        ("sales_2024-05.csv", None),
        (NAME + "\n", None),
        (f"{NAME}\nrm -rf.csv", None),
    ],
)
def test_file_names(name, parsed):
    got = parse_file_name(name)
    assert (got and (got.partner_id, got.period, got.revision)) == parsed


def test_good_file_with_bom_loads_typed_lines():
    out = read_all(NAME, csv_text(good_row(1), good_row(2, qty="-1", amount="-75.25"), bom=True))
    assert out.status == "loaded" and out.reason is None and not out.quarantine
    assert out.lines[1] == {
        "file_name": NAME,
        "row_number": 2,
        "partner_id": PARTNER,
        "period": "2024-05",
        "revision": 1,
        "sku": "SKU-2",
        "quantity": -1.0,
        "amount": -75.25,
        "currency": "EUR",
        "end_customer": "Acme GmbH",
        "invoice_ref": "INV-2",
        "sold_on": date(2024, 5, 3),
    }


@pytest.mark.parametrize(
    ("bad_row", "fault"),
    [
        (good_row(2, qty="two"), "non-numeric quantity 'two'"),
        (good_row(2, amount='"1.234,50"'), "non-numeric amount '1.234,50'"),
        (good_row(2, partner="0015g00000ZZZZZAAA"), "partner_id '0015g00000ZZZZZAAA' disagrees"),
        (good_row(2, period="2024-04"), "period '2024-04' disagrees"),
        (good_row(2, sold_on="03/05/2024"), "unparseable sold_on date '03/05/2024'"),
        (f"{PARTNER},2024-05,SKU-2,2,10.0,EUR", "missing column: 6 fields"),
    ],
)
def test_one_bad_row_rejects_the_whole_file(bad_row, fault):
    out = read_all(NAME, csv_text(good_row(1), bad_row, good_row(3)))
    assert out.status == "rejected" and not out.lines
    assert [q["row_number"] for q in out.quarantine] == [1, 2, 3]
    reasons = [q["reason"] for q in out.quarantine]
    assert fault in reasons[1]
    assert reasons[0] == reasons[2] == f"file rejected: row 2 {reasons[1]}"
    assert out.reason == f"row 2 {reasons[1]}"
    assert json.loads(out.quarantine[1]["raw_row"])["partner_id"]
    assert out.rows_read == 3


def test_wrong_header_rejects_every_row():
    header = HEADER.replace("quantity", "qty")
    out = read_all(NAME, csv_text(good_row(1), good_row(2), header=header))
    assert out.status == "rejected" and len(out.quarantine) == 2
    assert out.reason == "wrong header: missing column(s) quantity; unexpected column(s) 'qty'"
    assert {q["reason"] for q in out.quarantine} == {out.reason}


def test_badly_named_file_is_rejected_with_its_rows():
    out = read_all("partner_sales_may.csv", csv_text(good_row(1)))
    assert out.status == "rejected" and out.name is None
    assert out.reason.startswith("file name does not match pos_<partner_id>_<YYYY-MM>")
    assert len(out.quarantine) == 1


def test_unreadable_and_empty_files_are_rejected_with_no_rows():
    assert read_all(NAME, b"\xff\x00binary").reason.startswith("not UTF-8")
    empty = read_all(NAME, b"")
    assert empty.status == "rejected" and empty.rows_read == 0 and "no header" in empty.reason


def test_blank_lines_are_not_rows():
    out = read_all(NAME, csv_text(good_row(1), "", good_row(2)))
    assert out.status == "loaded" and [r["row_number"] for r in out.lines] == [1, 2]


# -- landing through sync_object ----------------------------------------------------------


def pos_sync(tmp_path: Path):
    settings = Settings(landing_dir=tmp_path / "landing")
    return sync_object(settings, tmp_path / "w.duckdb", "pos", "pos_reports")


def q(tmp_path, sql):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        return con.execute(sql).fetchall()


def test_pos_sync_counts_add_up_and_rejects_are_listed(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / NAME).write_bytes(csv_text(good_row(1), good_row(2)))
    bad_name = f"pos_{PARTNER}_2024-06_r2.csv"
    (landing / bad_name).write_bytes(
        csv_text(good_row(1, period="2024-06"), good_row(2, qty="x", period="2024-06"))
    )
    (landing / "notes.txt").write_bytes(b"hello\nworld\n")
    (landing / ".partial.csv").write_bytes(b"ignored")
    (landing / "rejected").mkdir()

    result = pos_sync(tmp_path)
    assert (result.rows_read, result.rows_merged, result.rows_quarantined) == (5, 2, 3)
    assert result.rows_read == result.rows_merged + result.rows_quarantined
    d = result.details
    assert (d["files_seen"], d["files_loaded"], d["files_rejected"]) == (3, 1, 2)
    assert sorted(Path(p).name for p in d["rejected_files"]) == sorted([bad_name, "notes.txt"])
    assert q(
        tmp_path,
        "SELECT file_name, status, revision, rows_read, rows_loaded, rows_quarantined "
        "FROM raw_portal.pos_files ORDER BY file_name",
    ) == [
        ("notes.txt", "rejected", None, 1, 0, 1),
        (NAME, "loaded", 1, 2, 2, 0),
        (bad_name, "rejected", 2, 2, 0, 2),
    ]
    assert q(
        tmp_path,
        "SELECT row_number, reason FROM raw_portal.pos_quarantine "
        f"WHERE file_name = '{bad_name}' ORDER BY row_number",
    ) == [
        (1, "file rejected: row 2 non-numeric quantity 'x'"),
        (2, "non-numeric quantity 'x'"),
    ]
    assert q(
        tmp_path, "SELECT rows_read, rows_merged, rows_quarantined, status FROM ops.sync_runs"
    ) == [(5, 2, 3, "succeeded")]


def test_a_file_whose_name_ends_in_a_newline_is_not_a_report(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    sneaky = NAME + "\n"
    (landing / sneaky).write_bytes(csv_text(good_row(1), good_row(2)))

    result = pos_sync(tmp_path)
    assert (result.rows_read, result.rows_merged, result.rows_quarantined) == (2, 0, 2)
    assert q(tmp_path, "SELECT file_name, status, partner_id FROM raw_portal.pos_files") == [
        (sneaky, "rejected", None)
    ]
    assert q(tmp_path, "SELECT count(*) FROM raw_portal.pos_report_lines") == [(0,)]


def test_unchanged_files_are_not_reread_and_changed_files_replace(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    path = landing / NAME
    path.write_bytes(csv_text(good_row(1), good_row(2, qty="?"), good_row(3)))
    first = pos_sync(tmp_path)
    assert (first.rows_read, first.rows_quarantined) == (3, 3)

    again = pos_sync(tmp_path)
    assert (again.rows_read, again.details["files_unchanged"]) == (0, 1)
    assert [Path(p).name for p in again.details["rejected_files"]] == [NAME]  # still there

    path.write_bytes(csv_text(good_row(1), good_row(2)))  # the partner fixes the file
    fixed = pos_sync(tmp_path)
    assert (fixed.rows_read, fixed.rows_merged, fixed.rows_quarantined) == (2, 2, 0)
    assert q(tmp_path, "SELECT count(*) FROM raw_portal.pos_quarantine") == [(0,)]
    assert q(tmp_path, "SELECT status, rows_loaded FROM raw_portal.pos_files") == [("loaded", 2)]
    assert q(
        tmp_path, "SELECT row_number, quantity FROM raw_portal.pos_report_lines ORDER BY 1"
    ) == [(1, 2.0), (2, 2.0)]

    path.write_bytes(csv_text(good_row(1)))  # a shorter restatement of the same file
    pos_sync(tmp_path)
    assert q(tmp_path, "SELECT count(*) FROM raw_portal.pos_report_lines") == [(1,)]

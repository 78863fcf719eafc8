"""Property-based tests (Hypothesis) of the two doors data comes in by: the POS reader and
the landing of source pages. For arbitrary bytes and arbitrary records nothing raises out
of a sync but a clear landing error, and every row is accounted for."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.config import Settings
from connectors.landing import LandingError
from connectors.pos_files import HEADER, read_pos_file
from connectors.sync import sync_object
from tests.connectors.test_conn_pos_files import NAME, PARTNER, good_row
from tests.connectors.test_conn_warehouse import ACCOUNT, account, land, sf_pages

NAMES = st.sampled_from(
    [NAME, f"pos_{PARTNER}_2024-06_r2.csv", "readme.txt", f"{NAME}\n", "pos__2024-05.csv"]
)
FIELD = st.text(max_size=12) | st.sampled_from(["2", "-1.5", "2024-05-03", PARTNER, "2024-05"])


@st.composite
def csv_files(draw) -> bytes:
    """Files that look like POS reports more or less: a header (right, shuffled or made up),
    rows of 0-12 fields, written by the csv module, in one of the encodings partners use."""
    header = draw(st.sampled_from([list(HEADER), list(reversed(HEADER))]) | st.lists(FIELD))
    rows = draw(st.lists(st.lists(FIELD, max_size=12) | st.just(good_row().split(",")), max_size=6))
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    return out.getvalue().encode(encoding, errors="replace")


CONTENTS = csv_files() | st.binary(max_size=300)


@settings(max_examples=300, deadline=None)
@given(name=NAMES, content=CONTENTS)
def test_the_pos_reader_accounts_for_every_row_of_any_file(name, content):
    binary = io.BytesIO(content)
    outcome = read_pos_file(name, binary)
    rows = list(outcome.rows(binary))
    assert len(rows) == outcome.rows_read
    assert (outcome.status == "rejected") == bool(outcome.reason)
    kinds = {kind for kind, _ in rows}
    assert kinds <= ({"line"} if outcome.status == "loaded" else {"quarantine"})
    for kind, row in rows:
        if kind == "quarantine":
            assert row["reason"] and json.loads(row["raw_row"]) is not None
    if outcome.status == "loaded":
        assert outcome.rows_read > 0 and outcome.name is not None


SAFE_NAMES = NAMES.filter(lambda n: "\n" not in n) | st.from_regex(
    r"[A-Za-z0-9_.-]{1,30}", fullmatch=True
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.dictionaries(SAFE_NAMES.filter(lambda n: not n.startswith(".")), CONTENTS, max_size=4)
)
def test_a_pos_sync_of_any_landing_folder_lands_or_quarantines_every_row(files):
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        for name, content in files.items():
            (landing / name).write_bytes(content)
        warehouse = Path(tmp) / "w.duckdb"
        result = sync_object(Settings(landing_dir=landing), warehouse, "pos", "pos_reports")
        assert result.rows_read == result.rows_merged + result.rows_quarantined
        with duckdb.connect(str(warehouse), read_only=True) as con:
            ((seen, read, loaded, quarantined),) = con.sql(
                "SELECT count(*), coalesce(sum(rows_read), 0), "
                "(SELECT count(*) FROM raw_portal.pos_report_lines), "
                "(SELECT count(*) FROM raw_portal.pos_quarantine) FROM raw_portal.pos_files"
            ).fetchall()
        assert seen == len(files) and read == loaded + quarantined == result.rows_read


VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)


@st.composite
def accounts(draw) -> list[dict]:
    """Account records with arbitrary values in arbitrary fields (ids kept unique)."""
    records = []
    for i in range(draw(st.integers(0, 6))):
        fields = draw(st.dictionaries(st.sampled_from(ACCOUNT.fields), VALUES, max_size=4))
        fields.pop("Id", None)
        records.append(account(i, "2024-05-01T10:00:00.000+0000", **fields))
    return records


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=accounts(), second=accounts())
def test_pages_of_any_records_land_whole_or_fail_clearly_committing_nothing(first, second):
    with tempfile.TemporaryDirectory() as tmp:
        wh = Path(tmp) / "w.duckdb"
        try:
            _, done = land(wh, "crm", "accounts", ACCOUNT.landing(), sf_pages(first, second))
        except LandingError as exc:
            assert "crm/accounts" in str(exc)
            with duckdb.connect(str(wh), read_only=True) as con:
                assert con.sql("SELECT status FROM ops.sync_runs").fetchall() == [("failed",)]
                assert con.sql("SELECT count(*) FROM ops.watermarks").fetchall() == [(0,)]
                landed = con.sql(
                    "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw_crm' "
                    "AND table_name = 'account' AND estimated_size > 0"
                ).fetchall()
            assert landed == [(0,)]
            return
        records = len(first) + len(second)
        assert done.landed.rows_read == records
        with duckdb.connect(str(wh), read_only=True) as con:
            ((stored,),) = con.sql("SELECT count(*) FROM raw_crm.account").fetchall()
        assert stored == len({r["Id"] for r in first + second}) == done.landed.rows_merged

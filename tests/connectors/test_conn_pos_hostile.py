"""POS files as a careless partner or an attacker drops them: every bad file fails itself
alone, is named with its reason, and loses no row (rows read = loaded + quarantined)."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
from pathlib import Path

import duckdb
import pytest

from connectors import pos_files
from connectors.config import Settings
from connectors.sync import sync_object
from orchestration.assets.ingest import move_rejected_files
from tests.connectors.test_conn_pos_files import NAME, PARTNER, csv_text, good_row

SECRET = "root:x:0:0:the-outside-file-s3cret"
JUNE = f"pos_{PARTNER}_2024-06.csv"


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def sync(landing: Path):
    settings = Settings(landing_dir=landing, spool_dir=landing.parent / "spool")
    return sync_object(settings, landing.parent / "w.duckdb", "pos", "pos_reports")


def q(landing: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(landing.parent / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def stored_files(landing: Path) -> dict[str, tuple]:
    rows = q(landing, "SELECT file_name, status, rows_read, reason FROM raw_portal.pos_files")
    return {name: (status, read, reason) for name, status, read, reason in rows}


def assert_counts_add_up(landing: Path, result) -> None:
    assert result.rows_read == result.rows_merged + result.rows_quarantined
    ((lines, quarantined, read),) = q(
        landing,
        "SELECT (SELECT count(*) FROM raw_portal.pos_report_lines), "
        "(SELECT count(*) FROM raw_portal.pos_quarantine), "
        "(SELECT coalesce(sum(rows_read), 0) FROM raw_portal.pos_files)",
    )
    assert read == lines + quarantined


def test_a_field_over_the_csv_limit_fails_its_file_alone(landing):
    (landing / NAME).write_bytes(csv_text(good_row(1), good_row(2)))
    huge = good_row(2, period="2024-06").replace("Acme GmbH", "A" * 200_000)
    (landing / JUNE).write_bytes(
        csv_text(good_row(1, period="2024-06"), huge, good_row(3, period="2024-06"))
    )

    result = sync(landing)
    files = stored_files(landing)
    assert files[NAME] == ("loaded", 2, None)
    status, read, reason = files[JUNE]
    assert status == "rejected" and read == 2
    assert reason.startswith("row 2 field larger than field limit (131072)")
    assert reason.endswith("the rest of the file was not read")
    assert [Path(p).name for p in result.details["rejected_files"]] == [JUNE]
    assert q(landing, f"SELECT row_number, reason FROM raw_portal.pos_quarantine "
             f"WHERE file_name = '{JUNE}' ORDER BY 1") == [
        (1, f"file rejected: {reason}"),
        (2, reason.removeprefix("row 2 ")),
    ]  # fmt: skip
    assert_counts_add_up(landing, result)


def test_empty_foreign_and_header_only_files_are_never_reports(landing):
    header = csv_text().decode()
    (landing / NAME).write_text(header)  # header, no rows
    wrong = header.replace("quantity", "qty")
    (landing / f"pos_{PARTNER}_2024-07.csv").write_text(wrong)  # wrong header, no rows
    (landing / "readme.txt").write_text("Upload your monthly POS report here.\n")
    zero = good_row(1, qty="0", amount="0", period="2024-06")
    (landing / JUNE).write_bytes(csv_text(zero))  # a month without sales, said explicitly

    result = sync(landing)
    files = stored_files(landing)
    assert files[NAME] == ("rejected", 0, pos_files.NO_ROWS)
    assert files[f"pos_{PARTNER}_2024-07.csv"][:2] == ("rejected", 0)
    assert files[f"pos_{PARTNER}_2024-07.csv"][2].startswith("wrong header: missing column(s)")
    assert files["readme.txt"] == ("rejected", 0, pos_files.BAD_NAME)
    assert files[JUNE] == ("loaded", 1, None)
    assert q(landing, "SELECT amount FROM raw_portal.pos_report_lines") == [(0.0,)]
    assert result.details["files_loaded"] == 1 and result.details["files_rejected"] == 3
    assert_counts_add_up(landing, result)


def test_other_encodings_are_decoded_or_their_rows_counted_as_quarantined(landing):
    text = csv_text(good_row(1), good_row(2)).decode().replace("Acme GmbH", "Café Ørsted")
    (landing / NAME).write_bytes(text.encode("utf-16"))  # with its byte-order mark
    (landing / JUNE).write_bytes(text.replace("2024-05", "2024-06").encode("latin-1"))

    result = sync(landing)
    files = stored_files(landing)
    assert files[NAME] == ("loaded", 2, None)
    assert q(landing, "SELECT DISTINCT end_customer FROM raw_portal.pos_report_lines") == [
        ("Café Ørsted",)
    ]
    status, read, reason = files[JUNE]
    assert (status, read) == ("rejected", 2) and reason.startswith("not UTF-8 text")
    quarantined = q(
        landing, f"SELECT raw_row FROM raw_portal.pos_quarantine WHERE file_name = '{JUNE}'"
    )
    assert len(quarantined) == 2 and all("Café Ørsted" in raw for (raw,) in quarantined)
    assert_counts_add_up(landing, result)


def test_a_symbolic_link_is_rejected_unread(landing, caplog):
    outside = landing.parent / "outside.csv"
    outside.write_text(f"{SECRET}\n{SECRET}\n")
    (landing / NAME).symlink_to(outside)

    with caplog.at_level(logging.DEBUG):
        result = sync(landing)
    assert stored_files(landing) == {NAME: ("rejected", 0, pos_files.SYMLINK)}
    assert q(landing, "SELECT count(*) FROM raw_portal.pos_quarantine") == [(0,)]
    assert SECRET not in caplog.text
    assert_counts_add_up(landing, result)

    (moved,) = move_rejected_files(
        str(landing.parent / "w.duckdb"), result.details["rejected_files"]
    )
    assert (landing / "rejected" / NAME).is_symlink() and outside.read_text().startswith(SECRET)
    assert moved.startswith(f"POS file {NAME} was rejected and moved to")


def test_a_rejected_folder_that_is_a_link_receives_nothing(landing):
    elsewhere = landing.parent / "elsewhere"
    elsewhere.mkdir()
    (landing / "rejected").symlink_to(elsewhere)
    (landing / NAME).write_bytes(csv_text(good_row(1, qty="two")))

    result = sync(landing)
    (message,) = move_rejected_files(
        str(landing.parent / "w.duckdb"), result.details["rejected_files"]
    )
    assert "left in the landing folder" in message and "symbolic link" in message
    assert (landing / NAME).exists() and not any(elsewhere.iterdir())


def test_a_corrected_file_dropped_after_the_sync_is_not_moved_unread(landing):
    (landing / NAME).write_bytes(csv_text(good_row(1, qty="two")))
    result = sync(landing)
    (landing / NAME).write_bytes(csv_text(good_row(1)))  # the partner's fix, just in time

    assert (
        move_rejected_files(str(landing.parent / "w.duckdb"), result.details["rejected_files"])
        == []
    )
    assert not (landing / "rejected" / NAME).exists()
    sync(landing)
    assert stored_files(landing)[NAME] == ("loaded", 1, None)


def test_a_file_removed_between_scan_and_read_fails_nothing(landing, monkeypatch):
    (landing / NAME).write_bytes(csv_text(good_row(1)))
    listed = pos_files.scan_landing_dir
    monkeypatch.setattr(
        pos_files,
        "scan_landing_dir",
        lambda folder: [folder / "pos_gone_2024-05.csv", *listed(folder)],
    )
    result = sync(landing)
    assert result.details["files_vanished"] == 1
    assert stored_files(landing) == {NAME: ("loaded", 1, None)}


def _rewrite_until(stop, path: Path, versions: list[bytes]) -> None:
    """Rewrites `path` in place, alternating versions, as an upload over SFTP does."""
    i = 0
    while not stop.is_set():
        i += 1
        with path.open("r+b") as fh:
            fh.truncate()
            fh.write(versions[i % 2])


@pytest.mark.slow  # a second process rewrites the file flat out for the whole test
def test_a_file_rewritten_while_syncs_run_is_stored_with_the_hash_of_its_rows(landing):
    versions = [csv_text(*(good_row(n) for n in range(1, k + 1))) for k in (2, 40)]
    rows_by_hash = {
        hashlib.sha256(v).hexdigest(): k for v, k in zip(versions, (2, 40), strict=True)
    }
    path = landing / NAME
    path.write_bytes(versions[0])
    # Another process, so that it really writes while the sync reads (a thread would mostly
    # wait for the GIL).
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    writer = context.Process(target=_rewrite_until, args=(stop, path, versions))
    writer.start()
    try:
        for _ in range(25):
            sync(landing)
            ((digest, read, loaded, quarantined),) = q(
                landing,
                "SELECT content_sha256, rows_read, rows_loaded, rows_quarantined "
                "FROM raw_portal.pos_files",
            )
            ((stored,),) = q(landing, "SELECT count(*) FROM raw_portal.pos_report_lines")
            assert read == loaded + quarantined and stored == loaded
            if digest in rows_by_hash:  # a whole version was read: its rows, all of them
                assert loaded == rows_by_hash[digest]
    finally:
        stop.set()
        writer.join()

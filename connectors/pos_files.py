"""POS CSV drops: scan the landing folder, validate every row, land or quarantine whole files.

A file is named `pos_<partner_id>_<YYYY-MM>[_r<revision>].csv` (UTF-8 with or without a BOM,
or UTF-16 with its BOM) and is one report of at least one line. A file with any bad row is
rejected whole: all its rows go to `raw_portal.pos_quarantine` with a reason (the row's own
fault, or `file rejected: row N <reason>` for its good rows) and the file gets status
`rejected`. So is a file whose name does not match, whose header is wrong, that has no data
rows, that does not decode (its rows are read as latin-1 to be counted and quarantined) or
that CSV cannot read to the end (one quarantined row stands for the unread rest). Symbolic
links are rejected unread. Files are tracked by name and SHA-256: an unchanged file is not
read again; a changed one replaces everything its previous read stored. Rows read = rows
loaded + rows quarantined, always; docs/sources.md says what partners are told.

Whether the partner id exists in the CRM is checked downstream (dbt tests), not here.
"""

from __future__ import annotations

import codecs
import csv
import errno
import hashlib
import io
import json
import logging
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import duckdb

from connectors.schema import PORTAL_TABLES
from connectors.warehouse import Landed, RowStager, SyncRun, replace_rows

log = logging.getLogger("partnerpulse.connectors.pos_files")

HEADER = (
    "partner_id",
    "period",
    "sku",
    "quantity",
    "amount",
    "currency",
    "end_customer",
    "invoice_ref",
    "sold_on",
)
# Matched whole (`fullmatch`): `$` would also accept a name ending in a newline.
FILE_NAME = re.compile(
    r"pos_(?P<partner_id>[A-Za-z0-9]+)_(?P<period>\d{4}-(?:0[1-9]|1[0-2]))"
    r"(?:_r(?P<revision>[1-9][0-9]*))?\.csv"
)
BAD_NAME = "file name does not match pos_<partner_id>_<YYYY-MM>[_r<revision>].csv"
NO_ROWS = (
    "no data rows: a report needs at least one line (a month without sales is one line with "
    "quantity 0 and amount 0)"
)
SYMLINK = "a symbolic link: links are never followed out of the landing folder"
MAX_LINE_CHARS = 1 << 20  # csv's own limit on one field is 131,072 characters
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class PosFileName:
    """What a POS file's name says: partner, period and revision (default 1)."""

    partner_id: str
    period: str
    revision: int


def parse_file_name(name: str) -> PosFileName | None:
    """The partner, period and revision in a POS file name, or None if it does not match."""
    match = FILE_NAME.fullmatch(name)
    if not match:
        return None
    return PosFileName(
        match["partner_id"], match["period"], int(match["revision"]) if match["revision"] else 1
    )


@dataclass
class PosFileOutcome:
    """What reading one file found: its status, reason and number of rows. `rows()` reads
    the file again for its typed lines (loaded) or quarantined rows (rejected)."""

    file_name: str
    name: PosFileName | None
    status: str  # 'loaded' | 'rejected'
    reason: str | None
    rows_read: int = 0
    encoding: str = "utf-8-sig"
    file_fault: str | None = None  # a fault of the whole file found before its rows
    first_fault: str | None = None  # `row N <fault>` of the first bad row

    def rows(self, binary: BinaryIO) -> Iterator[tuple[str, dict[str, Any]]]:
        """("line", typed line) for each row of a loaded file; ("quarantine", row) for each
        row of a rejected one, with its own fault or the one that rejected the file."""
        for row in _Reading(self.file_name, binary, self.encoding, self.file_fault):
            if self.status == "loaded":
                assert row.line is not None
                yield "line", row.line
            else:
                yield (
                    "quarantine",
                    {
                        "file_name": self.file_name,
                        "row_number": row.number,
                        "raw_row": json.dumps(row.raw, ensure_ascii=False),
                        "reason": row.fault or f"file rejected: {self.first_fault}",
                    },
                )


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _date(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None


def _blank_to_none(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text or None


def check_header(header: list[str]) -> str | None:
    """Why a header row is wrong (missing / unexpected / repeated columns), or None."""
    names = [h.strip().lower() for h in header]
    missing = [h for h in HEADER if h not in names]
    unexpected = [h for h in names if h not in HEADER]
    repeated = sorted({h for h in names if names.count(h) > 1})
    faults = []
    if missing:
        faults.append(f"missing column(s) {', '.join(missing)}")
    if unexpected:
        faults.append(f"unexpected column(s) {', '.join(repr(u) for u in unexpected)}")
    if repeated:
        faults.append(f"repeated column(s) {', '.join(repeated)}")
    return f"wrong header: {'; '.join(faults)}" if faults else None


def check_row(
    values: Mapping[str, str | None], name: PosFileName, n_fields: int
) -> tuple[dict[str, Any] | None, str | None]:
    """A typed line and no fault, or None and the row's faults (joined by '; ')."""
    faults = []
    if n_fields != len(HEADER):
        kind = "missing column" if n_fields < len(HEADER) else "extra column"
        faults.append(f"{kind}: {n_fields} fields, the header has {len(HEADER)}")
    partner = (values.get("partner_id") or "").strip()
    period = (values.get("period") or "").strip()
    if partner != name.partner_id:
        faults.append(f"partner_id {partner!r} disagrees with the file name ({name.partner_id})")
    if period != name.period:
        faults.append(f"period {period!r} disagrees with the file name ({name.period})")
    quantity = _number(values.get("quantity") or "")
    if quantity is None:
        faults.append(f"non-numeric quantity {values.get('quantity')!r}")
    amount = _number(values.get("amount") or "")
    if amount is None:
        faults.append(f"non-numeric amount {values.get('amount')!r}")
    sold_on = _date(values.get("sold_on") or "")
    if sold_on is None:
        faults.append(f"unparseable sold_on date {values.get('sold_on')!r}")
    if faults:
        return None, "; ".join(faults)
    return {
        "partner_id": partner,
        "period": period,
        "revision": name.revision,
        "sku": _blank_to_none(values.get("sku")),
        "quantity": quantity,
        "amount": amount,
        "currency": _blank_to_none(values.get("currency")),
        "end_customer": _blank_to_none(values.get("end_customer")),
        "invoice_ref": _blank_to_none(values.get("invoice_ref")),
        "sold_on": sold_on,
    }, None


class _Unreadable(Exception):
    """The rest of the file cannot be read as CSV (a line or a field beyond the limits)."""


def _bounded_lines(text: TextIO) -> Iterator[str]:
    """The text's lines, none longer than MAX_LINE_CHARS: a file that is one endless line
    must not be held in memory whole."""
    while line := text.readline(MAX_LINE_CHARS):
        if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise _Unreadable(f"a line longer than {MAX_LINE_CHARS:,} characters")
        yield line


@dataclass
class _Row:
    number: int
    raw: dict[str, Any]  # column -> value as written, `_extra` for fields beyond the header
    line: dict[str, Any] | None  # the typed line when the row is good
    fault: str | None  # the row's own fault, or the file's


class _Reading:
    """One pass over a file: its header, then its data rows in order.

    A decoding error propagates (the caller reads the file again as latin-1); a CSV error
    or an over-long line ends the reading with one last row that stands for the unread rest.
    `file_fault` is what rejects every row (given, the name's or the header's), or None.
    """

    def __init__(
        self, file_name: str, binary: BinaryIO, encoding: str, file_fault: str | None
    ) -> None:
        self.file_name = file_name
        self.name = parse_file_name(file_name)
        binary.seek(0)
        self._text = io.TextIOWrapper(binary, encoding=encoding, newline="")
        self._reader = csv.reader(_bounded_lines(self._text))
        self.file_fault = file_fault
        try:
            header = next(self._reader, None)
        except (csv.Error, _Unreadable) as exc:
            header, self.file_fault = [], file_fault or f"unreadable header: {exc}"
        except UnicodeDecodeError:
            self._text.detach()  # else closing the wrapper would close the caller's file
            raise
        self.header = header
        self.columns = [h.strip().lower() for h in header or []]
        if self.file_fault is None:
            self.file_fault = BAD_NAME if self.name is None else check_header(header or [])

    def __iter__(self) -> Iterator[_Row]:
        number = 0
        try:
            for fields in self._reader:
                if not fields:  # a blank line holds no data
                    continue
                number += 1
                yield self._row(number, fields)
        except (csv.Error, _Unreadable) as exc:
            rest = {"_unread_from_line": self._reader.line_num + 1}
            fault = f"{exc}: the rest of the file was not read"
            yield _Row(number + 1, rest, None, self.file_fault or fault)
        finally:
            self._text.detach()  # the caller owns the binary file

    def _row(self, number: int, fields: list[str]) -> _Row:
        raw: dict[str, Any] = {}
        extra = []
        for col, value in zip_longest(self.columns, fields):
            if col is None:
                extra.append(value)
            else:
                raw[col] = value
        if extra:
            raw["_extra"] = extra
        if self.file_fault:
            return _Row(number, raw, None, self.file_fault)
        assert self.name is not None
        line, fault = check_row({c: raw.get(c) for c in HEADER}, self.name, len(fields))
        if line is not None:
            line = {"file_name": self.file_name, "row_number": number, **line}
        return _Row(number, raw, line, fault)


def _encoding(binary: BinaryIO) -> str:
    """UTF-16 when the file starts with its byte-order mark, else UTF-8 (BOM or not)."""
    binary.seek(0)
    start = binary.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"


def _not_text(encoding: str, exc: UnicodeDecodeError) -> str:
    label = "UTF-16" if encoding == "utf-16" else "UTF-8"
    return (
        f"not {label} text ({exc.reason}): ask the partner to export UTF-8 or UTF-16; "
        "the rows shown are the bytes read as latin-1"
    )


def read_pos_file(file_name: str, binary: BinaryIO) -> PosFileOutcome:
    """Validate a POS file: loaded or rejected whole, with the rows read and the first fault.

    The typed lines or quarantined rows are not kept: `outcome.rows(binary)` reads the file
    again and yields them, so memory does not grow with the file. A file that does not
    decode is read as latin-1 (every byte is a character) so that its rows are counted and
    quarantined with that reason.
    """
    encoding = _encoding(binary)
    try:
        return _check(file_name, binary, encoding, None)
    except UnicodeDecodeError as exc:
        return _check(file_name, binary, "latin-1", _not_text(encoding, exc))


def _check(
    file_name: str, binary: BinaryIO, encoding: str, file_fault: str | None
) -> PosFileOutcome:
    reading = _Reading(file_name, binary, encoding, file_fault)
    rows = 0
    first: _Row | None = None
    for row in reading:
        rows += 1
        if first is None and row.fault:
            first = row
    if reading.header is None:
        reason: str | None = file_fault or "empty file: no header row"
    elif first is not None:
        reason = reading.file_fault or f"row {first.number} {first.fault}"
    elif rows == 0:
        reason = reading.file_fault or NO_ROWS
    else:
        reason = None
    return PosFileOutcome(
        file_name,
        reading.name,
        "rejected" if reason else "loaded",
        reason,
        rows_read=rows,
        encoding=encoding,
        file_fault=file_fault,
        first_fault=None if first is None else f"row {first.number} {first.fault}",
    )


def scan_landing_dir(landing_dir: Path) -> list[Path]:
    """The files dropped in the landing folder, by name: regular files and symbolic links
    to anything but a folder (rejected unread); not folders, hidden or special files."""
    if not landing_dir.is_dir():
        return []
    found = []
    for path in landing_dir.iterdir():
        if path.name.startswith("."):
            continue
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # removed while listing
            continue
        # A link to a folder is a folder (`rejected/` may be one): only stat()ed, never read.
        if stat.S_ISREG(mode) or (stat.S_ISLNK(mode) and not path.is_dir()):
            found.append(path)
    return sorted(found)


def open_regular(path: Path) -> BinaryIO:
    """The file at `path` opened for reading, never through a symbolic link (O_NOFOLLOW)
    and never anything but a regular file (a FIFO would block the sync)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(f"{path.name!r} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _hash(fh: BinaryIO, into: BinaryIO | None = None) -> str:
    """The SHA-256 of the rest of `fh`, read in chunks (each written to `into` as well)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(COPY_CHUNK), b""):
        digest.update(chunk)
        if into is not None:
            into.write(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """The SHA-256 of a regular file's content (never through a link)."""
    with open_regular(path) as fh:
        return _hash(fh)


def _snapshot(path: Path, into: BinaryIO, stored: str | None) -> tuple[str, float]:
    """The file's SHA-256 and mtime; unless it still hashes to `stored` (unchanged since
    the last sync: the common case, read once and copied nowhere), it is copied into
    `into` and the SHA-256 is that of exactly what was copied: what is hashed is what is
    parsed, whatever the partner does to the file meanwhile."""
    with open_regular(path) as fh:
        mtime = os.fstat(fh.fileno()).st_mtime
        if stored is not None:
            digest = _hash(fh)
            if digest == stored:
                return digest, mtime
            fh.seek(0)
        into.seek(0)
        into.truncate()
        digest = _hash(fh, into)
    into.flush()
    return digest, mtime


def land_pos_files(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    landing_dir: Path,
    known: Mapping[str, tuple[str | None, str]],
    spool_dir: Path | None = None,
) -> Landed:
    """Read every new or changed file of `landing_dir` and land it (inside the sync's
    transaction). `known` maps a file name to its stored (sha256, status).

    Each new or changed file is copied into a private, already-unlinked temporary file
    (under `spool_dir`) and hashed in that one read; it is validated and staged from the copy,
    so the stored hash is that of the rows stored, and a file the partner rewrites, replaces
    or deletes meanwhile changes nothing but what the next sync sees.
    """
    files_table = PORTAL_TABLES["pos_files"]
    lines_table = PORTAL_TABLES["pos_report_lines"]
    quarantine_table = PORTAL_TABLES["pos_quarantine"]
    if spool_dir is not None:
        spool_dir.mkdir(parents=True, exist_ok=True)
    with (
        RowStager(files_table, spool_dir=spool_dir) as files_stage,
        RowStager(lines_table, spool_dir=spool_dir) as lines_stage,
        RowStager(quarantine_table, spool_dir=spool_dir) as quarantine_stage,
    ):
        stages = {"line": lines_stage, "quarantine": quarantine_stage}
        return _land_files(con, run, landing_dir, known, spool_dir, files_stage, stages)


def _land_files(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    landing_dir: Path,
    known: Mapping[str, tuple[str | None, str]],
    spool_dir: Path | None,
    files_stage: RowStager,
    stages: dict[str, RowStager],
) -> Landed:
    replaced: list[str] = []
    rejected_paths: list[str] = []
    counts = dict.fromkeys(
        ("files_seen", "files_unchanged", "files_loaded", "files_rejected", "files_vanished"), 0
    )
    rows_read = 0
    with tempfile.TemporaryFile(prefix="partnerpulse-pos-", dir=spool_dir) as snapshot:
        for path in scan_landing_dir(landing_dir):
            counts["files_seen"] += 1
            previous = known.get(path.name)
            digest: str | None = None
            try:  # ELOOP: a symbolic link
                digest, mtime = _snapshot(path, snapshot, previous[0] if previous else None)
            except FileNotFoundError:
                counts["files_vanished"] += 1
                log.info("pos file %r was removed before it was read", path.name)
                continue
            except OSError as exc:
                if exc.errno != errno.ELOOP:  # not a link: a folder or FIFO put in its place
                    counts["files_vanished"] += 1
                    log.info("pos file %r is no longer a regular file", path.name)
                    continue
                outcome = PosFileOutcome(path.name, parse_file_name(path.name), "rejected", SYMLINK)
                mtime = path.lstat().st_mtime
            else:
                outcome = None
            if previous and previous[0] == digest:
                counts["files_unchanged"] += 1
                if previous[1] == "rejected":
                    rejected_paths.append(str(path))
                continue
            if outcome is None:
                outcome = read_pos_file(path.name, snapshot)
            file_rows = {"line": 0, "quarantine": 0}
            if outcome.rows_read:
                for kind, row in outcome.rows(snapshot):
                    stages[kind].add(row)
                    file_rows[kind] += 1
            replaced.append(path.name)
            files_stage.add(
                {
                    "file_name": path.name,
                    "partner_id": outcome.name.partner_id if outcome.name else None,
                    "period": outcome.name.period if outcome.name else None,
                    "revision": outcome.name.revision if outcome.name else None,
                    "status": outcome.status,
                    "rows_read": outcome.rows_read,
                    "rows_loaded": file_rows["line"],
                    "rows_quarantined": file_rows["quarantine"],
                    "content_sha256": digest,
                    "file_modified_at": datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None),
                    "reason": outcome.reason,
                }
            )
            rows_read += outcome.rows_read
            if outcome.status == "rejected":
                counts["files_rejected"] += 1
                rejected_paths.append(str(path))
                log.warning("pos file %r rejected: %s", path.name, outcome.reason)
            else:
                counts["files_loaded"] += 1
    loaded, quarantined = stages["line"].count, stages["quarantine"].count
    if rows_read != loaded + quarantined:  # by construction; never silent
        raise AssertionError("POS row counts do not add up")
    for stage in (files_stage, stages["line"], stages["quarantine"]):
        replace_rows(con, run, stage.table, stage, replace_by="file_name", replaced=replaced)
    return Landed(
        rows_read=rows_read,
        rows_merged=loaded,
        rows_quarantined=quarantined,
        watermark=None,
        details={**counts, "rows_loaded": loaded, "rejected_files": rejected_paths},
    )

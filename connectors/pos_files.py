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

Partners whose files are written otherwise (delimiter, decimal comma, date and period
formats, encoding, column names and order) have a layout (`connectors.pos_layouts`,
docs/pos-layouts.md): each file is read with the layout that lists its partner, else the
one its header matches, else it is rejected. The lines landed do not depend on the layout.

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
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import duckdb

from connectors.landing import RowStager, replace_rows
from connectors.pos_layouts import (
    DEFAULT_LAYOUT,
    FIELDS,
    PosLayout,
    candidate_layouts,
    column_key,
    layout_for_partner,
)
from connectors.schema import PORTAL_TABLES
from connectors.sync_runs import Landed, SyncRun

log = logging.getLogger("partnerpulse.connectors.pos_files")

HEADER = FIELDS  # the default layout's header: the logical fields, in order
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
SHOWN_HEADER_CHARS = 200  # of a header no layout matches, in its reason


@dataclass(frozen=True)
class LayoutChoice:
    """How a file is read: `layout` is the one it is in (None when its header matches no
    layout), `read_with` the one its rows are split and typed with (the closest when none
    matched, so that rejected rows are still read), `tried` the names of those tried."""

    layout: PosLayout | None
    read_with: PosLayout
    tried: tuple[str, ...]


DEFAULT_CHOICE = LayoutChoice(DEFAULT_LAYOUT, DEFAULT_LAYOUT, (DEFAULT_LAYOUT.name,))
UNREAD = LayoutChoice(None, DEFAULT_LAYOUT, ())  # a file rejected before it is opened


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
    choice: LayoutChoice = field(default=DEFAULT_CHOICE, repr=False)

    @property
    def layout(self) -> str | None:
        """The name of the layout the file was read in; None when none matched (or unread)."""
        return self.choice.layout.name if self.choice.layout else None

    def rows(self, binary: BinaryIO) -> Iterator[tuple[str, dict[str, Any]]]:
        """("line", typed line) for each row of a loaded file; ("quarantine", row) for each
        row of a rejected one, with its own fault or the one that rejected the file."""
        reading = _Reading(self.file_name, binary, self.encoding, self.file_fault, self.choice)
        for row in reading:
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


def _blank_to_none(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text or None


def check_header(header: list[str], choice: LayoutChoice = DEFAULT_CHOICE) -> str | None:
    """Why a header row is not that of the layout read with (missing / unexpected / repeated
    columns), or None. When several layouts were tried, the reason names the header found
    and every layout tried, then compares it with the closest."""
    layout = choice.read_with
    names = [column_key(h) for h in header]
    expected = [column_key(c) for c in layout.columns]
    missing = [c for c in layout.columns if column_key(c) not in names]
    unexpected = [h for h in names if h not in expected]
    repeated = sorted({h for h in names if names.count(h) > 1})
    faults = []
    if missing:
        faults.append(f"missing column(s) {', '.join(missing)}")
    if unexpected:
        faults.append(f"unexpected column(s) {', '.join(repr(u) for u in unexpected)}")
    if repeated:
        faults.append(f"repeated column(s) {', '.join(repeated)}")
    if not faults:
        return None
    if len(choice.tried) > 1:
        shown = layout.delimiter.join(h.strip() for h in header)[:SHOWN_HEADER_CHARS]
        return (
            f"wrong header: {shown!r} matches no layout (tried {', '.join(choice.tried)}); "
            f"closest is {layout.name}: {'; '.join(faults)}"
        )
    if layout != DEFAULT_LAYOUT:  # the layout listing the partner
        return f"wrong header for layout {layout.name}: {'; '.join(faults)}"
    return f"wrong header: {'; '.join(faults)}"


def check_row(
    values: Mapping[str, str | None],
    name: PosFileName,
    n_fields: int,
    layout: PosLayout = DEFAULT_LAYOUT,
) -> tuple[dict[str, Any] | None, str | None]:
    """A typed line and no fault, or None and the row's faults (joined by '; ').
    `values` maps logical fields to the row's text, read per `layout`."""
    faults = []
    n_columns = len(layout.columns)
    if n_fields != n_columns:
        kind = "missing column" if n_fields < n_columns else "extra column"
        faults.append(f"{kind}: {n_fields} fields, the header has {n_columns}")
    partner = (values.get("partner_id") or "").strip()
    period_text = (values.get("period") or "").strip()
    period = layout.period(period_text)  # `YYYY-MM`, whatever the layout writes
    if partner != name.partner_id:
        faults.append(f"partner_id {partner!r} disagrees with the file name ({name.partner_id})")
    if period != name.period:
        faults.append(f"period {period_text!r} disagrees with the file name ({name.period})")
    quantity = layout.number(values.get("quantity") or "")
    if quantity is None:
        faults.append(f"non-numeric quantity {values.get('quantity')!r}")
    amount = layout.number(values.get("amount") or "")
    if amount is None:
        faults.append(f"non-numeric amount {values.get('amount')!r}")
    sold_on = layout.date(values.get("sold_on") or "")
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
        self,
        file_name: str,
        binary: BinaryIO,
        encoding: str,
        file_fault: str | None,
        choice: LayoutChoice = DEFAULT_CHOICE,
    ) -> None:
        self.file_name = file_name
        self.name = parse_file_name(file_name)
        self.layout = choice.read_with
        binary.seek(0)
        self._text = io.TextIOWrapper(binary, encoding=encoding, newline="")
        self._reader = csv.reader(_bounded_lines(self._text), delimiter=self.layout.delimiter)
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
        # The logical field of each column, by position (None: a column the metrics skip).
        self.fields = [self.layout.field_of(h) for h in header or []]
        if self.file_fault is None:
            self.file_fault = BAD_NAME if self.name is None else check_header(header or [], choice)

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
        # A row shorter or longer than the header is the field count's fault, checked there.
        paired = zip(self.fields, fields, strict=False)
        values = {f: v for f, v in paired if f is not None}
        line, fault = check_row(values, self.name, len(fields), self.layout)
        if line is not None:
            line = {"file_name": self.file_name, "row_number": number, **line}
        return _Row(number, raw, line, fault)


def _encoding(binary: BinaryIO, layout: PosLayout = DEFAULT_LAYOUT) -> str:
    """UTF-16 or UTF-8 when the file starts with that byte-order mark (a mark says what the
    file is, whatever the layout), else the layout's encoding (UTF-8 read as `utf-8-sig`)."""
    binary.seek(0)
    start = binary.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if start.startswith(codecs.BOM_UTF8) or codecs.lookup(layout.encoding).name == "utf-8":
        return "utf-8-sig"
    return layout.encoding


def _not_text(encoding: str, exc: UnicodeDecodeError) -> str:
    if encoding not in ("utf-16", "utf-8-sig"):  # a layout's own encoding
        return (
            f"not {encoding} text ({exc.reason}) as its layout says; "
            "the rows shown are the bytes read as latin-1"
        )
    label = "UTF-16" if encoding == "utf-16" else "UTF-8"
    return (
        f"not {label} text ({exc.reason}): ask the partner to export UTF-8 or UTF-16; "
        "the rows shown are the bytes read as latin-1"
    )


def _sniff_header(binary: BinaryIO, layout: PosLayout) -> list[str] | None:
    """The file's header row as `layout` would read it, or None if it has none. Bytes that
    do not decode become U+FFFD here: whether the file decodes is the reading's business."""
    encoding = _encoding(binary, layout)
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")
    try:
        return next(csv.reader(_bounded_lines(text), delimiter=layout.delimiter), None)
    except (csv.Error, _Unreadable):
        return None
    finally:
        text.detach()  # the caller owns the binary file


def _shared_columns(layout: PosLayout, header: list[str] | None) -> int:
    keys = {column_key(c) for c in layout.columns}
    return len(keys.intersection(column_key(h) for h in header or []))


def choose_file_layout(
    file_name: str, binary: BinaryIO, layouts: Sequence[PosLayout]
) -> LayoutChoice:
    """The layout listing the file's partner, else the first whose columns its header has
    (each candidate reading the header with its own delimiter and encoding), else none:
    then the rows are read with the layout sharing the most columns with the header."""
    name = parse_file_name(file_name)
    listed = layout_for_partner(layouts, name.partner_id if name else None)
    if listed is not None:
        return LayoutChoice(listed, listed, (listed.name,))
    candidates = candidate_layouts(layouts)
    headers = [(layout, _sniff_header(binary, layout)) for layout in candidates]
    for layout, header in headers:
        if header is not None and layout.matches_header(header):
            return LayoutChoice(layout, layout, (layout.name,))
    closest = max(headers, key=lambda pair: _shared_columns(*pair))[0]  # the first of equals
    return LayoutChoice(None, closest, tuple(layout.name for layout in candidates))


def read_pos_file(
    file_name: str, binary: BinaryIO, layouts: Sequence[PosLayout] = (DEFAULT_LAYOUT,)
) -> PosFileOutcome:
    """Validate a POS file: loaded or rejected whole, with the rows read and the first fault.

    The file is read in the layout `choose_file_layout` picks among `layouts` (the default
    is always a candidate). The typed lines or quarantined rows are not kept:
    `outcome.rows(binary)` reads the file again and yields them, so memory does not grow
    with the file. A file that does not decode is read as latin-1 (every byte is a
    character) so that its rows are counted and quarantined with that reason.
    """
    choice = choose_file_layout(file_name, binary, layouts)
    encoding = _encoding(binary, choice.read_with)
    try:
        return _check(file_name, binary, encoding, None, choice)
    except UnicodeDecodeError as exc:
        return _check(file_name, binary, "latin-1", _not_text(encoding, exc), choice)


def _check(
    file_name: str,
    binary: BinaryIO,
    encoding: str,
    file_fault: str | None,
    choice: LayoutChoice,
) -> PosFileOutcome:
    reading = _Reading(file_name, binary, encoding, file_fault, choice)
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
        choice=choice,
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
    layouts: Sequence[PosLayout] = (DEFAULT_LAYOUT,),
) -> Landed:
    """Read every new or changed file of `landing_dir` and land it (inside the sync's
    transaction). `known` maps a file name to its stored (sha256, status); `layouts` are
    the layouts files may be in besides the default (docs/pos-layouts.md).

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
        return _land_files(con, run, landing_dir, known, spool_dir, files_stage, stages, layouts)


def _land_files(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    landing_dir: Path,
    known: Mapping[str, tuple[str | None, str]],
    spool_dir: Path | None,
    files_stage: RowStager,
    stages: dict[str, RowStager],
    layouts: Sequence[PosLayout],
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
                outcome = PosFileOutcome(
                    path.name, parse_file_name(path.name), "rejected", SYMLINK, choice=UNREAD
                )
                mtime = path.lstat().st_mtime
            else:
                outcome = None
            if previous and previous[0] == digest:
                counts["files_unchanged"] += 1
                if previous[1] == "rejected":
                    rejected_paths.append(str(path))
                continue
            if outcome is None:
                outcome = read_pos_file(path.name, snapshot, layouts)
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
                log.warning(
                    "pos file %r rejected (%s): %s",
                    path.name,
                    f"layout {outcome.layout}" if outcome.layout else "no layout matched",
                    outcome.reason,
                )
            else:
                counts["files_loaded"] += 1
                log.info(
                    "pos file %r loaded (layout %s): %d rows",
                    path.name,
                    outcome.layout,
                    outcome.rows_read,
                )
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

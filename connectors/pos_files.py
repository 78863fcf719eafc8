"""POS CSV drops: scan the landing folder, validate every row, land or quarantine whole files.

A file is named `pos_<partner_id>_<YYYY-MM>[_r<revision>].csv` (UTF-8, BOM allowed) and is
one report. A file with any bad row is rejected whole: all its rows go to
`raw_portal.pos_quarantine` with a reason (the row's own fault, or
`file rejected: row N <reason>` for its good rows) and the file gets status `rejected`.
A file whose name does not match is rejected too (its rows quarantined with that reason).
Files are tracked by name and SHA-256: an unchanged file is not read again; a changed one
replaces everything its previous read stored. Rows read = rows loaded + rows quarantined.

Whether the partner id exists in the CRM is checked downstream (dbt tests), not here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any

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
    """The result of reading one file: its status, typed lines or quarantined rows."""

    file_name: str
    name: PosFileName | None
    status: str  # 'loaded' | 'rejected'
    reason: str | None
    lines: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.lines) + len(self.quarantine)


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


def read_pos_file(file_name: str, content: bytes) -> PosFileOutcome:
    """Validate a POS file's content: loaded (typed lines) or rejected whole (quarantine)."""
    name = parse_file_name(file_name)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return PosFileOutcome(file_name, name, "rejected", f"not UTF-8 text (byte {exc.start})")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return PosFileOutcome(file_name, name, "rejected", "empty file: no header row")
    columns = [h.strip().lower() for h in header]
    header_fault = check_header(header)
    file_fault = BAD_NAME if name is None else header_fault

    raw_rows: list[tuple[int, dict[str, Any]]] = []
    lines: list[dict[str, Any]] = []
    faults: dict[int, str] = {}
    row_number = 0
    for fields in reader:
        if not fields:  # a blank line holds no data
            continue
        row_number += 1
        raw: dict[str, Any] = {}
        extra = []
        for col, value in zip_longest(columns, fields):
            if col is None:
                extra.append(value)
            else:
                raw[col] = value
        if extra:
            raw["_extra"] = extra
        raw_rows.append((row_number, raw))
        if file_fault:
            faults[row_number] = file_fault
            continue
        assert name is not None
        values = {c: raw.get(c) for c in HEADER}
        line, fault = check_row(values, name, len(fields))
        if fault:
            faults[row_number] = fault
        else:
            lines.append({"file_name": file_name, "row_number": row_number, **(line or {})})

    if not faults:
        return PosFileOutcome(file_name, name, "loaded", None, lines=lines)
    first = min(faults)
    reason = file_fault or f"row {first} {faults[first]}"
    quarantine = [
        {
            "file_name": file_name,
            "row_number": n,
            "raw_row": json.dumps(raw, ensure_ascii=False),
            "reason": faults.get(n) or f"file rejected: row {first} {faults[first]}",
        }
        for n, raw in raw_rows
    ]
    return PosFileOutcome(file_name, name, "rejected", reason, quarantine=quarantine)


def scan_landing_dir(landing_dir: Path) -> list[Path]:
    """The files dropped in the landing folder (not sub-folders, not hidden files), by name."""
    if not landing_dir.is_dir():
        return []
    return sorted(p for p in landing_dir.iterdir() if p.is_file() and not p.name.startswith("."))


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def land_pos_files(
    con: duckdb.DuckDBPyConnection,
    run: SyncRun,
    landing_dir: Path,
    known: Mapping[str, tuple[str, str]],
) -> Landed:
    """Read every new or changed file of `landing_dir` and land it (inside the sync's
    transaction). `known` maps a file name to its stored (sha256, status)."""
    files_table = PORTAL_TABLES["pos_files"]
    lines_table = PORTAL_TABLES["pos_report_lines"]
    quarantine_table = PORTAL_TABLES["pos_quarantine"]
    files_stage = RowStager(con, files_table)
    lines_stage = RowStager(con, lines_table)
    quarantine_stage = RowStager(con, quarantine_table)
    replaced: list[str] = []
    rejected_paths: list[str] = []
    counts = {"files_seen": 0, "files_unchanged": 0, "files_loaded": 0, "files_rejected": 0}
    rows_read = rows_loaded = rows_quarantined = 0
    for path in scan_landing_dir(landing_dir):
        counts["files_seen"] += 1
        digest = sha256_of(path)
        previous = known.get(path.name)
        if previous and previous[0] == digest:
            counts["files_unchanged"] += 1
            if previous[1] == "rejected":
                rejected_paths.append(str(path))
            continue
        outcome = read_pos_file(path.name, path.read_bytes())
        replaced.append(path.name)
        name = outcome.name
        files_stage.add(
            {
                "file_name": path.name,
                "partner_id": name.partner_id if name else None,
                "period": name.period if name else None,
                "revision": name.revision if name else None,
                "status": outcome.status,
                "rows_read": outcome.rows_read,
                "rows_loaded": len(outcome.lines),
                "rows_quarantined": len(outcome.quarantine),
                "content_sha256": digest,
                "file_modified_at": datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(
                    tzinfo=None
                ),
                "reason": outcome.reason,
            }
        )
        for line in outcome.lines:
            lines_stage.add(line)
        for row in outcome.quarantine:
            quarantine_stage.add(row)
        rows_read += outcome.rows_read
        rows_loaded += len(outcome.lines)
        rows_quarantined += len(outcome.quarantine)
        if outcome.status == "rejected":
            counts["files_rejected"] += 1
            rejected_paths.append(str(path))
            log.warning("pos file %s rejected: %s", path.name, outcome.reason)
        else:
            counts["files_loaded"] += 1
    if rows_read != rows_loaded + rows_quarantined:  # by construction; never silent
        raise AssertionError("POS row counts do not add up")
    replace_rows(con, run, files_table, files_stage, replace_by="file_name", replaced=replaced)
    replace_rows(con, run, lines_table, lines_stage, replace_by="file_name", replaced=replaced)
    replace_rows(
        con, run, quarantine_table, quarantine_stage, replace_by="file_name", replaced=replaced
    )
    return Landed(
        rows_read=rows_read,
        rows_merged=rows_loaded,
        rows_quarantined=rows_quarantined,
        watermark=None,
        details={**counts, "rows_loaded": rows_loaded, "rejected_files": rejected_paths},
    )

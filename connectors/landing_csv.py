"""Staging CSV pages (Salesforce Bulk API 2.0 results) for `connectors.landing`.

The pages are read exactly as Salesforce writes them: a header of field names, then one
record a line, every value double-quoted (`""` inside a value), a null as an empty
unquoted field, lines ending in LF, line breaks allowed inside a quoted value. DuckDB reads
every column as VARCHAR under the header's names, without sniffing: what the landing types
afterwards is then the same text a JSON page would have carried for the same record (a
quoted empty value stays an empty string, as `""` does in JSON; only an unquoted empty
field is null, as `null` is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from connectors.warehouse import quote, sql_string

# A header is one line of field names: far below this, however many fields.
MAX_HEADER_BYTES = 1 << 20


def csv_header(path: Path) -> list[str]:
    """The field names of a CSV page's header line ([] for an empty file)."""
    with open(path, "rb") as f:
        line = f.readline(MAX_HEADER_BYTES)
    text = line.decode("utf-8-sig").rstrip("\r\n")
    return next(csv.reader(io.StringIO(text)), []) if text else []


def csv_stage_sql(files: Sequence[Path], header: Sequence[str], wire_fields: Sequence[str]) -> str:
    """A SELECT of `_file` (the page's path) and `wire_fields` (as VARCHAR, by name, from
    the pages' `header`) of every record of `files`, in page order."""
    selected = ", ".join(quote(f) for f in wire_fields)
    if not files:
        empty = ", ".join(f"CAST(NULL AS VARCHAR) AS {quote(f)}" for f in wire_fields)
        return f"SELECT 'none' AS _file, {empty} LIMIT 0"
    columns = "{" + ", ".join(f"{sql_string(h)}: 'VARCHAR'" for h in header) + "}"
    paths = "[" + ", ".join(sql_string(str(f)) for f in files) + "]"
    return rf"""SELECT filename AS _file, {selected}
        FROM read_csv({paths}, columns = {columns}, header = true, auto_detect = false,
            delim = ',', quote = '"', escape = '"', new_line = '\n',
            allow_quoted_nulls = false, strict_mode = true, filename = true)"""

"""POS file layouts: how one distributor writes its POS report (docs/pos-layouts.md).

A layout names the file's columns and maps each to a logical field of a POS line, and says
how the file writes numbers, dates and the period and which encoding it is in. The reader
(`connectors.pos_files`) picks one layout per file and lands the same typed lines whatever
the layout: a layout changes how a file is read, never what is stored.
"""

from __future__ import annotations

import codecs
import functools
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

# The logical fields of a POS line, in the order of the default layout's header.
FIELDS = (
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
# Formats are checked by writing this day and reading it back: a format that cannot carry
# the year, month (and day) would make every row of its files disagree or fail.
_PROBE = date(2024, 11, 23)


def column_key(name: str) -> str:
    """A column name as headers are compared: spaces around it and case do not count."""
    return name.strip().casefold()


class PosLayout(BaseModel):
    """One way of writing a POS file. `columns` maps each file column (in file order) to a
    logical field, or to None for a column the file carries and the metrics do not use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    columns: dict[str, str | None]
    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    thousands: str | None = None
    date_formats: list[str] = ["%Y-%m-%d"]
    period_format: str = "%Y-%m"
    encoding: str = "utf-8"
    partners: list[str] = []

    @field_validator("columns")
    @classmethod
    def _each_field_once(cls, columns: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted({f for f in columns.values() if f is not None and f not in FIELDS})
        if unknown:
            raise ValueError(f"unknown logical field(s) {', '.join(unknown)}; known: {FIELDS}")
        mapped = [f for f in columns.values() if f is not None]
        twice = [f for f in FIELDS if mapped.count(f) > 1]
        if twice:
            raise ValueError(f"logical field(s) mapped more than once: {', '.join(twice)}")
        missing = [f for f in FIELDS if f not in mapped]
        if missing:
            raise ValueError(f"logical field(s) not mapped: {', '.join(missing)}")
        # Headers are matched without case and outer spaces, so names must differ that way.
        keys = [column_key(c) for c in columns]
        same = sorted({k for k in keys if keys.count(k) > 1 or not k})
        if same:
            raise ValueError(f"column names empty or equal but for case/spaces: {same}")
        return columns

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str) -> str:
        # csv needs one character; a quote or line break would make every line ambiguous.
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ValueError(
                f"delimiter must be one character (not a quote or newline), got {delimiter!r}"
            )
        return delimiter

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        return encoding

    @field_validator("date_formats")
    @classmethod
    def _dates_round_trip(cls, formats: list[str]) -> list[str]:
        if not formats:
            raise ValueError("date_formats needs at least one format")
        for fmt in formats:
            if _read_back(fmt) != _PROBE:
                raise ValueError(f"date format {fmt!r} does not carry a whole date")
        return formats

    @field_validator("period_format")
    @classmethod
    def _period_round_trips(cls, fmt: str) -> str:
        back = _read_back(fmt)
        if back is None or (back.year, back.month) != (_PROBE.year, _PROBE.month):
            raise ValueError(f"period format {fmt!r} does not carry a year and a month")
        return fmt

    @model_validator(mode="after")
    def _separators_differ(self) -> PosLayout:
        if self.thousands is not None:
            if len(self.thousands) != 1:
                raise ValueError(f"thousands must be one character, got {self.thousands!r}")
            if self.thousands == self.decimal:
                raise ValueError(f"thousands and decimal are both {self.decimal!r}")
        return self

    # -- reading values written in this layout ---------------------------------------------

    def matches_header(self, header: Sequence[str]) -> bool:
        """Whether a header row has exactly this layout's columns (any order)."""
        return sorted(column_key(h) for h in header) == sorted(column_key(c) for c in self.columns)

    def field_of(self, column: str) -> str | None:
        """The logical field a file column holds (None: unused or not in this layout)."""
        key = column_key(column)
        return next((f for c, f in self.columns.items() if column_key(c) == key), None)

    def number(self, text: str) -> float | None:
        """A finite number written with this layout's separators, or None."""
        text = text.strip()
        if self.thousands is not None and self.thousands in text:
            # Groups of three digits only: "12.34,5" is a typo, not 1234.5.
            t, d = re.escape(self.thousands), re.escape(self.decimal)
            if not re.fullmatch(rf"[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?", text):
                return None
            text = text.replace(self.thousands, "")
        if self.decimal != ".":
            if "." in text:  # a point is no decimal separator in this layout
                return None
            text = text.replace(self.decimal, ".")
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    def date(self, text: str) -> date | None:
        """A date in the first of the layout's formats that reads it, or None."""
        return _parse_date(text.strip(), tuple(self.date_formats))

    def period(self, text: str) -> str | None:
        """The period as `YYYY-MM`, or None. Written exactly in the format: "2024-5" is
        not "%Y-%m" even though strptime would accept it."""
        return _parse_period(text.strip(), self.period_format)


# strptime is the slow part of reading a row, and a file repeats the same few dates and one
# period: each text is parsed once.
@functools.lru_cache(maxsize=4096)
def _parse_date(text: str, formats: tuple[str, ...]) -> date | None:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@functools.lru_cache(maxsize=256)
def _parse_period(text: str, fmt: str) -> str | None:
    try:
        month = datetime.strptime(text, fmt)
    except ValueError:
        return None
    if month.strftime(fmt) != text:
        return None
    return f"{month.year:04d}-{month.month:02d}"


def _read_back(fmt: str) -> date | None:
    try:
        return datetime.strptime(_PROBE.strftime(fmt), fmt).date()
    except ValueError:
        return None


# Today's layout, the one every partner without a layout of its own writes (docs/sources.md).
DEFAULT_LAYOUT = PosLayout(name="default", columns={f: f for f in FIELDS})


def candidate_layouts(layouts: Sequence[PosLayout]) -> tuple[PosLayout, ...]:
    """The layouts a file may be in, in the order they are tried: the configured ones, then
    the default (always a candidate), each once."""
    out: list[PosLayout] = []
    for layout in (*layouts, DEFAULT_LAYOUT):
        if layout not in out:
            out.append(layout)
    return tuple(out)


def layout_for_partner(layouts: Sequence[PosLayout], partner_id: str | None) -> PosLayout | None:
    """The first layout that lists the partner, or None."""
    if partner_id is None:
        return None
    return next((layout for layout in layouts if partner_id in layout.partners), None)


def choose_layout(
    layouts: Sequence[PosLayout], partner_id: str | None, header_fields: Sequence[str]
) -> PosLayout | None:
    """The layout of a partner's file: the one listing the partner, else the first whose
    columns are the header's (the default last), else None."""
    listed = layout_for_partner(layouts, partner_id)
    if listed is not None:
        return listed
    return next((c for c in candidate_layouts(layouts) if c.matches_header(header_fields)), None)

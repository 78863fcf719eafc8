"""A checkpoint's outcomes as operators read them: the validated frame's rows looked up by
the expectations that named them, shown as Markdown tables in check metadata, and stored as
rows of `ops.validation_results`."""

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from orchestration.checks.gx_context import ExpectationOutcome, plain, rule_of

MAX_ROWS_SHOWN = 50
MAX_KEYS_LISTED = 1000
MAX_NAMES_LISTED = 5  # partners named in a finding's summary line
MAX_CELL_CHARS = 160


def findings_of(suite: Mapping[str, Any], severities: Sequence[str]) -> list[str]:
    return [
        f"`{rule_of(x)}` ({x.get('severity', 'critical')}): "
        f"{(x.get('meta') or {}).get('finding', x['type'])}"
        for x in suite["expectations"]
        if x.get("severity", "critical") in severities
    ]


def month_of(value: Any) -> date | None:
    value = plain(value)
    if value is None:
        return None
    return date.fromisoformat(str(value)[:10])


def row_key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(plain(row.get(c)) for c in columns)


class FrameRows:
    """The validated frame's rows, looked up by the checkpoint's index columns.

    A frame holds up to tens of thousands of rows and an outcome names a few of them, so
    only the rows that share a named row's first index column are turned into dicts, once
    each: the whole frame as dicts took 3.3 s of a day's checks at 1,000 partners."""

    def __init__(self, frame: Any, index_columns: Sequence[str]) -> None:
        self.frame = frame
        self.index_columns = [c for c in index_columns if c in frame.columns]
        self._by_first: dict[Any, list[int]] | None = None  # first key value: positions
        self._records: dict[int, dict[str, Any]] = {}  # position: the row as a dict

    def rows_for(self, outcome: ExpectationOutcome) -> list[dict[str, Any]]:
        """Every frame row named by the outcome's unexpected index list (all columns)."""
        keys = [row_key(hit, self.index_columns) for hit in outcome.unexpected_rows]
        by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in self._candidates({key[:1] for key in keys}):
            by_key.setdefault(row_key(row, self.index_columns), []).append(row)
        rows, seen = [], set()
        for hit, key in zip(outcome.unexpected_rows, keys, strict=True):
            if key in seen:
                continue
            seen.add(key)
            rows.extend(by_key.get(key) or [dict(hit)])
        return rows

    def _candidates(self, firsts: set[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """The rows whose first index column is one of `firsts` (1-tuples; `()` when there
        are no index columns, which every row matches), in the frame's order."""
        if not firsts:
            return []
        if not self.index_columns:
            positions = list(range(len(self.frame)))
        else:
            if self._by_first is None:
                self._by_first = {}
                for position, value in enumerate(self.frame[self.index_columns[0]].tolist()):
                    self._by_first.setdefault(plain(value), []).append(position)
            positions = sorted(p for (first,) in firsts for p in self._by_first.get(first, ()))
        missing = [p for p in positions if p not in self._records]
        if missing:
            # One `to_dict` of the rows, so that each value is boxed as its column's dtype
            # says, as it is for the whole frame.
            records = self.frame.iloc[missing].to_dict("records")
            self._records.update(zip(missing, records, strict=True))
        return [self._records[p] for p in positions]


def is_money(column: str) -> bool:
    return any(word in column for word in ("usd", "amount", "sales"))


def fmt(value: Any, column: str = "") -> str:
    value = plain(value)
    if isinstance(value, float) and column.endswith("_pct"):
        return f"{value:+.1%}"
    if isinstance(value, float) and value.is_integer() and not is_money(column):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if value is None:
        return ""
    text = str(value).replace("|", "/")
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def rows_markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(fmt(row.get(c), c) for c in columns) + " |\n"
        for row in rows[:MAX_ROWS_SHOWN]
    )
    more = f"\n… and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return head + body + more


def partner_month_label(row: Mapping[str, Any]) -> str:
    """`<partner_id> <YYYY-MM>` for a row (either part may be `?`)."""
    month = month_of(row.get("month_start"))
    return f"{plain(row.get('partner_id')) or '?'} {month.strftime('%Y-%m') if month else '?'}"


def share_sentence(o: ExpectationOutcome) -> str:
    share = None if o.unexpected_percent is None else 1 - o.unexpected_percent / 100
    observed = "n/a" if share is None else f"{share:.2%}"
    return f"observed {observed} of {o.element_count or 0} rows (threshold {o.mostly:.0%})"


def stored_rows(
    base: Mapping[str, Any],
    check_name: str,
    outcomes: Sequence[ExpectationOutcome],
    rows: FrameRows,
) -> Iterator[dict[str, Any]]:
    for o in outcomes:
        common = {
            **base,
            "check_name": check_name,
            "expectation": o.rule,
            "expectation_type": o.expectation,
            "column_name": o.column,
            "finding": o.finding,
            "severity": o.severity,
        }
        summary = {
            "unexpected_percent": plain(o.unexpected_percent),
            "observed_value": plain(o.observed_value),
            "mostly": o.mostly,
            "exception": o.exception,
        }
        yield {
            **common,
            "success": o.success,
            "element_count": o.element_count,
            "unexpected_count": o.unexpected_count,
            "detail": json.dumps({k: val for k, val in summary.items() if val is not None}),
        }
        if o.success or o.is_share_rule:
            continue
        for row in rows.rows_for(o):
            shown = {c: plain(row.get(c)) for c in (*rows.index_columns, *o.show) if c in row}
            yield {
                **common,
                "success": False,
                "partner_id": plain(row.get("partner_id")),
                "month_start": month_of(row.get("month_start")),
                "detail": json.dumps(shown, default=str),
            }

"""Named mutations of the shared world: what tests and demos do to a source, never raw SQL.

Each operation is one transaction of parameterised statements on fixed tables and
columns; the admin routes (`source_servers.admin`) and `RunningSources` both call these.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from source_servers.runtime import World


class WorldOpError(ValueError):
    """An operation's arguments are wrong (400)."""


class NotFound(LookupError):
    """The record an operation names does not exist (404)."""


# record -> (table, key columns, amount column, modification timestamp column)
AMOUNT_RECORDS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "crm.opportunity": ("crm.opportunity", ("Id",), "Amount", "SystemModstamp"),
    "erp.transactionline": (
        'erp."transactionline"',
        ("transaction", "id"),
        "netamount",
        "lastmodifieddate",
    ),
}


def restate_report(
    world: World,
    report_id: str,
    *,
    amount_factor: float = 1.0,
    new_report_id: str | None = None,
) -> dict[str, Any]:
    """A new revision of a portal sales report, its lines' amounts times `amount_factor`.

    The copy is updated after every other report (as a partner's restatement is), so an
    incremental reader sees it; the original stays. Returns the new report's ids.
    """
    report_id = _text("report_id", report_id)
    factor = _number("amount_factor", amount_factor)
    if factor < 0:
        raise WorldOpError("amount_factor must be >= 0")
    with world.mutation() as cur:
        found = cur.execute(
            "SELECT partner_id, period, revision FROM portal.sales_reports WHERE id = $1",
            [report_id],
        ).fetchall()
        if not found:
            raise NotFound(f"no sales report {report_id!r}")
        partner_id, period, revision = found[0]
        new_id = (
            _text("new_report_id", new_report_id)
            if new_report_id is not None
            else f"{report_id}-R{revision + 1}"
        )
        taken = cur.execute(
            "SELECT count(*) FROM portal.sales_reports WHERE id = $1", [new_id]
        ).fetchall()[0][0]
        if taken:
            raise WorldOpError(f"sales report {new_id!r} already exists")
        cur.execute(
            "INSERT INTO portal.sales_reports SELECT * REPLACE ("
            "$1 AS id, revision + 1 AS revision, "
            "(SELECT max(updated_at) FROM portal.sales_reports) + INTERVAL 1 MINUTE AS updated_at"
            ") FROM portal.sales_reports WHERE id = $2",
            [new_id, report_id],
        )
        cur.execute(
            "INSERT INTO portal.sales_report_lines SELECT * REPLACE ("
            "$1 AS report_id, amount * $3 AS amount"
            ") FROM portal.sales_report_lines WHERE report_id = $2",
            [new_id, report_id, factor],
        )
    return {
        "report_id": new_id,
        "restates": report_id,
        "partner_id": partner_id,
        "period": period,
        "revision": revision + 1,
    }


def change_amount(
    world: World,
    record: str,
    key: dict[str, Any],
    amount: float,
    modified_at: datetime | str,
) -> int:
    """Set one CRM opportunity's or ERP transaction line's amount and modification time.

    `key` names the record: `{"Id": ...}` for `crm.opportunity`, `{"transaction": ...,
    "id": ...}` for `erp.transactionline`. Returns the number of rows changed (1).
    """
    spec = AMOUNT_RECORDS.get(record) if isinstance(record, str) else None
    if spec is None:
        raise WorldOpError(f"record must be one of {', '.join(sorted(AMOUNT_RECORDS))}")
    table, key_columns, amount_column, stamp_column = spec
    if not isinstance(key, dict) or set(key) != set(key_columns):
        raise WorldOpError(f"key of {record} must have exactly {', '.join(key_columns)}")
    for name, value in key.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise WorldOpError(f"key {name} must be a string or an integer")
    params = [_number("amount", amount), _timestamp(modified_at)]
    where = []
    for name in key_columns:
        params.append(key[name])
        where.append(f'"{name}" = ${len(params)}')
    with world.mutation() as cur:
        changed = cur.execute(
            f'UPDATE {table} SET "{amount_column}" = $1, "{stamp_column}" = $2 '
            f"WHERE {' AND '.join(where)}",
            params,
        ).fetchall()[0][0]
        if not changed:
            raise NotFound(f"no {record} with {key}")
    return changed


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise WorldOpError(f"{name} must be a non-empty string")
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WorldOpError(f"{name} must be a finite number")
    return float(value)


def _timestamp(value: Any) -> datetime:
    """A datetime (or ISO-8601 text) as the world stores it: naive UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise WorldOpError(f"modified_at is not an ISO-8601 timestamp: {value!r}") from None
    if not isinstance(value, datetime):
        raise WorldOpError("modified_at must be an ISO-8601 timestamp")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value

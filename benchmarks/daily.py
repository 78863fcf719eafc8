"""One new day of source activity, for the incremental figure.

`add_one_day(world, out)` copies a generated world (as of day D) and appends the activity
of day D+1 to the copy, modelled on day D's own activity:

- ERP: every non-voided invoice and credit memo dated D (or the latest day with
  documents) is issued again on D+1 with new ids and document numbers, lines included
  (`lastmodifieddate` D+1);
- CRM: opportunities, leads, deal registrations and campaigns modified on D are
  modified again on D+1 (`SystemModstamp` + 1 day);
- portal: asset-usage events of D happen again on D+1 (new ids), trainings updated on D
  are updated again on D+1.

No report falls due mid-month, so reports and POS files do not change. `world.json` gets
the new `as_of`; the copy's folder name is what `ensure_world` expects for D+1, so the
embedded sources of `partnerpulse run` find it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb


def _link_tree(src: Path, dest: Path) -> None:
    """Hard-link a folder's files (copy when linking is impossible)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        target = dest / item.name
        if item.is_dir():
            _link_tree(item, target)
        else:
            try:
                os.link(item, target)
            except OSError:
                shutil.copy2(item, target)


def link_world(src: Path, dest: Path) -> Path:
    """`dest` holding the same world as `src` (files hard-linked, read-only use)."""
    _link_tree(src, dest)
    return dest


def add_one_day(world: Path, out: Path) -> dict[str, Any]:
    """Copy `world` to `out` and append one day of activity; returns rows added per table."""
    meta = json.loads((world / "world.json").read_text())
    day = dt.date.fromisoformat(meta["as_of"])
    nxt = day + dt.timedelta(days=1)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in ("truth.json",):
        shutil.copy2(world / name, out / name)
    if (world / "pos").is_dir():
        _link_tree(world / "pos", out / "pos")
    shutil.copy2(world / "world.duckdb", out / "world.duckdb")  # mutated: a real copy
    added: dict[str, int] = {}
    con = duckdb.connect(str(out / "world.duckdb"))
    try:
        con.execute("SET TimeZone = 'UTC'")
        src_day = con.execute(
            "SELECT max(trandate) FROM erp.transaction WHERE trandate <= ? AND status <> 'Voided'",
            [day],
        ).fetchall()[0][0]
        noon = dt.datetime.combine(nxt, dt.time(12, 0))
        max_id = con.execute("SELECT max(id) FROM erp.transaction").fetchall()[0][0]
        max_no = con.execute(
            "SELECT max(CAST(regexp_extract(tranid, '([0-9]+)$', 1) AS BIGINT)) "
            "FROM erp.transaction"
        ).fetchall()[0][0]
        con.execute(
            """CREATE TEMP TABLE _new_tx AS SELECT t.*, row_number() OVER (ORDER BY id) AS k
            FROM erp.transaction t WHERE trandate = ? AND status <> 'Voided'""",
            [src_day],
        )
        con.execute(
            """INSERT INTO erp.transaction
            SELECT ? + k, regexp_extract(tranid, '^([^0-9]*)', 1) || lpad(CAST(? + k AS VARCHAR),
                6, '0'), type, ?, entity, partner, currency, exchangerate, 'Open', memo, ?
            FROM _new_tx""",
            [max_id, max_no, nxt, noon],
        )
        added["erp.transaction"] = con.execute("SELECT count(*) FROM _new_tx").fetchall()[0][0]
        con.execute(
            """INSERT INTO erp.transactionline
            SELECT l.id, ? + n.k, l.linesequencenumber, l.item, l.quantity, l.rate, l.netamount,
                l.mainline, l.taxline, ?
            FROM erp.transactionline l JOIN _new_tx n ON l."transaction" = n.id""",
            [max_id, noon],
        )
        added["erp.transactionline"] = con.execute(
            "SELECT count(*) FROM erp.transactionline WHERE lastmodifieddate = ?", [noon]
        ).fetchall()[0][0]
        for table in ("opportunity", "lead", "deal_registration__c", "campaign"):
            n = con.execute(
                f"""UPDATE crm.{table} SET SystemModstamp = SystemModstamp + INTERVAL 1 DAY
                WHERE CAST(SystemModstamp AS DATE) = ?""",
                [day],
            ).fetchall()[0][0]
            added[f"crm.{table}"] = n
        max_au = con.execute(
            "SELECT max(CAST(regexp_extract(id, '([0-9]+)$', 1) AS BIGINT)) FROM portal.asset_usage"
        ).fetchall()[0][0]
        con.execute(
            """INSERT INTO portal.asset_usage
            SELECT 'AU-' || lpad(CAST(? + row_number() OVER (ORDER BY id) AS VARCHAR), 8, '0'),
                partner_id, asset_id, asset_type, action, occurred_at + INTERVAL 1 DAY,
                updated_at + INTERVAL 1 DAY
            FROM portal.asset_usage WHERE CAST(updated_at AS DATE) = ?""",
            [max_au or 0, day],
        )
        added["portal.asset_usage"] = con.execute(
            "SELECT count(*) FROM portal.asset_usage WHERE CAST(updated_at AS DATE) = ?", [nxt]
        ).fetchall()[0][0]
        added["portal.trainings"] = con.execute(
            """UPDATE portal.trainings SET updated_at = updated_at + INTERVAL 1 DAY
            WHERE CAST(updated_at AS DATE) = ?""",
            [day],
        ).fetchall()[0][0]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    meta["as_of"] = nxt.isoformat()
    meta["benchmark_next_day"] = {"from": day.isoformat(), "added": added}
    (out / "world.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return added

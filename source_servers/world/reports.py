"""Partner sales reports (portal API and POS CSV files) and the injected report cases.

A faithful report of a partner-month lists exactly the partner's ERP sales lines of the
month's non-voided invoices and credit memos (credit memos negative), so it matches
the ERP to the cent. The report schedule (which partner-months have a report, its id,
its channel) is fixed before the ERP is generated, so that the ERP generator streams the
faithful lines straight into `portal.sales_report_lines` (API reporters) or into the
scratch table `scratch.csv_lines` (CSV reporters). The injected cases then replace the
content of a few reports.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .cases import CaseBook
from .common import (
    DAY,
    STREAM_REPORTS,
    a_f64,
    a_str,
    a_ts,
    insert,
    rng_for,
    round_money,
)
from .erp import ZERO, ErpState
from .plan import Plan
from .schema import POS_HEADER

NEUTRAL_CASES = ("unknown_sku", "unknown_invoice_ref")  # totals stay exact
MIN_CASE_USD = 3_000.0  # a case month's ERP sales are at least this (USD)
BAD_ROW_KINDS = (
    "non_numeric_quantity",
    "unparseable_date",
    "partner_mismatch",
    "period_mismatch",
    "non_numeric_amount",
)
BAD_HEADER_KINDS = ("renamed_column", "missing_column")

# a content line: (sku, quantity, amount, end_customer, invoice_ref, sold_on)


class Reports:
    def __init__(self, con: duckdb.DuckDBPyConnection, plan: Plan, book: CaseBook):
        self.con = con
        self.plan = plan
        self.state: ErpState | None = None
        self.book = book
        self.rng = rng_for(plan.seed, STREAM_REPORTS)
        self.w = plan.window
        self.recs: list[dict] = []
        self.base: dict[tuple[int, int], dict] = {}
        self.pending: list[tuple[dict, str, list[dict]]] = []
        self.custom: list[dict] = []  # API records whose lines are written at the end
        self._base_records()

    # ------------------------------------------------------------------ records
    def _new(self, p: int, k: int, rev: int, channel: str, sub: int, **kw) -> dict:
        rec = {
            "p": p,
            "k": k,
            "rev": rev,
            "channel": channel,
            "status": "submitted",
            "sub": int(sub),
            "upd": int(sub),
            "id": None,
            "content": None,
            "file": None,
            "bom": False,
            "bad_row": None,
            "bad_header": None,
        }
        rec.update(kw)
        if channel == "csv" and rec["file"] is None:
            rec["file"] = self.file_name(p, k, None)
        self.recs.append(rec)
        return rec

    def file_name(self, p: int, k: int, rev: int | None) -> str:
        suffix = f"_r{rev}" if rev is not None else ""
        return f"pos_{self.plan.sf_id[p]}_{self.w.labels[k]}{suffix}.csv"

    def _submit_time(self, k: int) -> int:
        return int(self.w.start[k + 1]) * DAY + int(self.rng.integers(0, 9 * DAY))

    def _base_records(self) -> None:
        """Revision 1 of every partner-month whose report is submitted by as_of.

        Every active month has ERP documents except the forced no-sales months (their
        report is made up later by the no_erp_sales case).
        """
        plan, w = self.plan, self.w
        shape = (plan.n_partners, w.months)
        self.api_no = np.zeros(shape, dtype=np.int64)  # report number of SR-nnnnnn, 0: none
        self.csv_flag = np.zeros(shape, dtype=bool)
        for p in np.nonzero(plan.crm)[0].tolist():
            channel = "csv" if plan.csv[p] else "api"
            for k in range(int(plan.k_first[p]), int(plan.k_last[p]) + 1):
                sub = self._submit_time(k)
                bom = bool(self.rng.random() < 0.15)
                if sub > w.as_of_end or self.book.forced.get((p, k)) == ZERO:
                    continue
                self.base[(p, k)] = self._new(p, k, 1, channel, sub, bom=bom and channel == "csv")
        api = sorted(
            (r for r in self.recs if r["channel"] == "api"), key=lambda r: (r["sub"], r["p"])
        )
        for n, r in enumerate(api, start=1):
            r["id"] = report_id(n)
            self.api_no[r["p"], r["k"]] = n
        self.n_ids = len(api)
        for r in self.recs:
            if r["channel"] == "csv":
                self.csv_flag[r["p"], r["k"]] = True

    def attach_erp(self, state: ErpState) -> None:
        self.state = state
        for p, k in self.base:
            if state.docs[p, k] == 0:
                raise AssertionError(f"report scheduled for a month without sales: {p} {k}")

    def lines(self, p: int, k: int) -> list[tuple]:
        """The faithful content of partner-month (p, k): (sku, quantity, amount,
        end_customer, invoice_ref, sold_on) tuples in line order."""
        rec = self.base[(p, k)]
        if rec["channel"] == "csv":
            sql = """SELECT sku, quantity, amount, end_customer, invoice_ref, sold_on
                     FROM scratch.csv_lines WHERE p = ? AND k = ? ORDER BY line_no"""
            return self.con.execute(sql, [p, k]).fetchall()
        sql = """SELECT sku, quantity, amount, end_customer, invoice_ref, sold_on
                 FROM portal.sales_report_lines WHERE report_id = ? ORDER BY line_no"""
        return self.con.execute(sql, [rec["id"]]).fetchall()

    def set_content(self, rec: dict, content: list[tuple]) -> None:
        """Give an API record its own lines (replacing what the ERP generator wrote)."""
        if rec["channel"] == "api" and rec["id"] is not None and rec["content"] is None:
            self.con.execute(
                "DELETE FROM portal.sales_report_lines WHERE report_id = ?", [rec["id"]]
            )
        rec["content"] = content
        if rec["channel"] == "api" and rec not in self.custom:
            self.custom.append(rec)

    # ------------------------------------------------------------------ helpers
    def rate(self, p: int, k: int) -> float:
        return float(self.plan.rate[self.plan.currency[p], k])

    def cur(self, p: int) -> str:
        return self.plan.cur_symbol[self.plan.currency[p]]

    def dec(self, p: int) -> int:
        return int(self.plan.cur_decimals[self.plan.currency[p]])

    def nb_usd(self, p: int, k: int) -> float:
        s = self.state.sales_usd
        return max(
            abs(float(s[p, k - 1])) if k >= 1 else 0.0,
            abs(float(s[p, k + 1])) if k + 1 < self.w.months else 0.0,
        )

    def _select(self, values: list[float], lo: float, hi: float) -> list[int] | None:
        """Indices of positive values whose sum lies in [lo, hi] (randomised greedy)."""
        if lo > hi:
            return None
        for _attempt in range(4):
            total, chosen = 0.0, []
            for i in self.rng.permutation(len(values)).tolist():
                v = values[i]
                if v > 0 and total + v <= hi:
                    chosen.append(i)
                    total += v
                    if total >= lo:
                        return sorted(chosen)
        return None

    def distort(self, p, k, lines, mode, f_lo, f_hi, min_usd=0.0):
        """Drop or duplicate whole lines so the total moves by a fraction in [f_lo, f_hi]."""
        amounts = [r[2] for r in lines]
        total = sum(amounts)
        if total <= 0:
            return None
        lo = max(f_lo * total, min_usd / self.rate(p, k))
        sel = self._select(amounts, lo, f_hi * total)
        if sel is None:
            return None
        chosen = set(sel)
        out: list[tuple] = []
        for i, r in enumerate(lines):
            if mode == "drop":
                if i not in chosen:
                    out.append(r)
            else:
                out.append(r)
                if i in chosen:
                    out.append(r)
        delta = sum(amounts[i] for i in sel) * (1 if mode == "dup" else -1)
        return out, delta, len(sel)

    def base_ok(self, p: int, m: int, channel: str, span: int = 1, neutral: bool = False) -> bool:
        if not self.book.eligible(p, m, span, neutral):
            return False
        for x in range(m, m + span):
            rec = self.base.get((p, x))
            if rec is None or rec["channel"] != channel or rec["content"] is not None:
                return False
        return self.state.sales_usd[p, m] >= MIN_CASE_USD

    def later(self, detail: dict, field: str, recs: list[dict]) -> None:
        self.pending.append((detail, field, recs))

    # ------------------------------------------------------------------ the cases
    def place_all(self) -> None:
        book = self.book
        order = [
            ("over_reported", "api", self._over_under),
            ("under_reported", "api", self._over_under),
            ("missing_report", "api", self._missing),
            ("timing_difference", "api", self._timing),
            ("restated", "api", self._restated),
            ("withdrawn_latest", "api", self._withdrawn_latest),
            ("all_withdrawn", "api", self._all_withdrawn),
            ("api_csv_clash", "api", self._clash),
            ("pos_bad_row", "csv", self._bad_row),
            ("pos_bad_header", "csv", self._bad_header),
            ("unknown_sku", "api", self._unknown_sku),
            ("unknown_invoice_ref", "api", self._unknown_ref),
        ]
        for case, channel, fn in order:
            placed = 0
            usd_first = 0 if case == "timing_difference" else None
            span = 2 if case == "timing_difference" else 1
            neutral = case in NEUTRAL_CASES
            for p, m in book.candidates(csv=channel == "csv", currency_first=usd_first):
                if placed == book.n:
                    break
                if not self.base_ok(p, m, channel, span, neutral):
                    continue
                if fn(case, p, m, placed):
                    book.take(p, m, span, neutral)
                    placed += 1
            if placed < book.n:
                book.unplaced.append(case)
        for (p, m), kind in sorted(book.forced.items()):
            if kind == ZERO:
                self._no_erp_sales(p, m)

    def _over_under(self, case: str, p: int, m: int, i: int) -> bool:
        lines = self.lines(p, m)
        e_usd = float(self.state.sales_usd[p, m])
        nb = self.nb_usd(p, m)
        min_usd = max(500.0, 0.05 * (e_usd + nb))
        mode = "dup" if case == "over_reported" else "drop"
        got = self.distort(p, m, lines, mode, 0.12, 0.30, min_usd)
        if got is None:
            return False
        content, delta, n_lines = got
        rec = self.base[(p, m)]
        self.set_content(rec, content)
        erp_cur = sum(r[2] for r in lines)
        rate = self.rate(p, m)
        detail = {
            "channel": "api",
            "revision": 1,
            "currency": self.cur(p),
            "erp_sales": round(erp_cur, 2),
            "reported": round(erp_cur + delta, 2),
            "erp_sales_usd": round(e_usd, 2),
            "reported_usd": round((erp_cur + delta) * rate, 2),
            "variance_usd": round(delta * rate, 2),
            "variance_pct": round(delta / erp_cur, 4),
            "method": "duplicated_lines" if mode == "dup" else "dropped_lines",
            "lines_affected": n_lines,
            "expected_status": case,
        }
        self.book.record(case, p, m, detail)
        self.later(detail, "report_id", [rec])
        return True

    def _missing(self, case: str, p: int, m: int, i: int) -> bool:
        rec = self.base.pop((p, m))
        self.recs.remove(rec)
        self.con.execute("DELETE FROM portal.sales_report_lines WHERE report_id = ?", [rec["id"]])
        self.book.record(
            case,
            p,
            m,
            {
                "channel": "api",
                "erp_sales_usd": round(float(self.state.sales_usd[p, m]), 2),
                "expected_status": "missing_report",
            },
        )
        return True

    def _timing(self, case: str, p: int, m: int, i: int) -> bool:
        lines_m, lines_n = self.lines(p, m), self.lines(p, m + 1)
        e_m = sum(r[2] for r in lines_m)
        e_n = sum(r[2] for r in lines_n)
        if e_m <= 0 or e_n <= 0:
            return False
        inv: dict[int, float] = {}
        for r in lines_m:
            if r[4] is not None and r[4].startswith("INV-"):  # invoices the partner names
                inv[r[4]] = inv.get(r[4], 0.0) + r[2]
        txs = sorted(inv)
        lo = max(0.15 * e_m, 0.06 * e_n, 500.0 / self.rate(p, m))
        sel = self._select([inv[t] for t in txs], lo, 0.6 * e_m)
        if sel is None:
            return False
        moved = {txs[j] for j in sel}
        x = sum(inv[t] for t in moved)
        drift = abs(x * (self.rate(p, m + 1) - self.rate(p, m)))
        e_usd = float(self.state.sales_usd[p, m] + self.state.sales_usd[p, m + 1])
        if drift > 0.005 * e_usd:
            return False
        shifted = [r for r in lines_m if r[4] in moved]
        rec_m, rec_n = self.base[(p, m)], self.base[(p, m + 1)]
        self.set_content(rec_m, [r for r in lines_m if r[4] not in moved])
        self.set_content(rec_n, shifted + lines_n)
        tranids = sorted(moved)
        for k, role, other, recs in (
            (m, "invoices_reported_late", m + 1, rec_m),
            (m + 1, "late_invoices_included", m, rec_n),
        ):
            detail = {
                "role": role,
                "paired_month": self.w.labels[other],
                "shifted_tranids": tranids,
                "shifted_amount": round(x, 2),
                "shifted_amount_usd_erp": round(x * self.rate(p, m), 2),
                "currency": self.cur(p),
                "erp_sales_usd": round(float(self.state.sales_usd[p, k]), 2),
                "expected_status": "timing_difference",
            }
            self.book.record(case, p, k, detail)
            self.later(detail, "report_id", [recs])
        return True

    def _restated(self, case: str, p: int, m: int, i: int) -> bool:
        lines = self.lines(p, m)
        got = self.distort(p, m, lines, "drop" if i % 2 == 0 else "dup", 0.15, 0.30)
        if got is None:
            return False
        content, delta, _n = got
        rec1 = self.base[(p, m)]
        s2 = min(rec1["sub"] + int(self.rng.integers(2 * DAY, 12 * DAY)), self.w.as_of_end)
        rec1.update(status="restated", upd=s2)
        self.set_content(rec1, content)
        rec2 = self._new(p, m, 2, "api", s2)
        self.set_content(rec2, lines)
        erp_cur = sum(r[2] for r in lines)
        detail = {
            "revisions": [1, 2],
            "statuses": ["restated", "submitted"],
            "wrong_revision": 1,
            "wrong_total": round(erp_cur + delta, 2),
            "faithful_total": round(erp_cur, 2),
            "currency": self.cur(p),
            "erp_sales_usd": round(float(self.state.sales_usd[p, m]), 2),
            "expected_status": "matched",
        }
        self.book.record(case, p, m, detail)
        self.later(detail, "report_ids", [rec1, rec2])
        return True

    def _withdrawn_latest(self, case: str, p: int, m: int, i: int) -> bool:
        lines = self.lines(p, m)
        got = self.distort(p, m, lines, "dup", 0.15, 0.30)
        if got is None:
            return False
        content, delta, _n = got
        rec1 = self.base[(p, m)]
        s2 = min(rec1["sub"] + int(self.rng.integers(2 * DAY, 12 * DAY)), self.w.as_of_end)
        u2 = min(s2 + int(self.rng.integers(DAY, 4 * DAY)), self.w.as_of_end)
        rec2 = self._new(p, m, 2, "api", s2, status="withdrawn", upd=u2)
        self.set_content(rec2, content)
        erp_cur = sum(r[2] for r in lines)
        detail = {
            "revisions": [1, 2],
            "statuses": ["submitted", "withdrawn"],
            "wrong_revision": 2,
            "wrong_total": round(erp_cur + delta, 2),
            "faithful_total": round(erp_cur, 2),
            "currency": self.cur(p),
            "erp_sales_usd": round(float(self.state.sales_usd[p, m]), 2),
            "expected_status": "matched",
        }
        self.book.record(case, p, m, detail)
        self.later(detail, "report_ids", [rec1, rec2])
        return True

    def _all_withdrawn(self, case: str, p: int, m: int, i: int) -> bool:
        rec = self.base[(p, m)]
        rec["status"] = "withdrawn"
        rec["upd"] = min(rec["sub"] + int(self.rng.integers(DAY, 6 * DAY)), self.w.as_of_end)
        detail = {
            "revisions": [1],
            "erp_sales_usd": round(float(self.state.sales_usd[p, m]), 2),
            "expected_status": "missing_report",
        }
        self.book.record(case, p, m, detail)
        self.later(detail, "report_ids", [rec])
        return True

    def _unknown_sku(self, case: str, p: int, m: int, i: int) -> bool:
        lines = self.lines(p, m)
        pos = [j for j, r in enumerate(lines) if r[2] > 0]
        j = pos[int(self.rng.integers(len(pos)))]
        content = list(lines)
        sku = f"SKU-9{int(self.rng.integers(0, 10_000)):04d}"
        old = content[j]
        content[j] = (sku, *old[1:])
        rec = self.base[(p, m)]
        self.set_content(rec, content)
        detail = {
            "line_no": j + 1,
            "sku": sku,
            "original_sku": old[0],
            "quantity": old[1],
            "amount": round(old[2], 2),
            "amount_usd": round(old[2] * self.rate(p, m), 2),
            "currency": self.cur(p),
            "expected_status": "matched",
        }
        self.book.record(case, p, m, detail)
        self.later(detail, "report_id", [rec])
        return True

    def _unknown_ref(self, case: str, p: int, m: int, i: int) -> bool:
        lines = self.lines(p, m)
        pos = [j for j, r in enumerate(lines) if r[4] is not None]
        if not pos:
            return False
        j = pos[int(self.rng.integers(len(pos)))]
        content = list(lines)
        ref = f"INV-{self.state.next_inv + 100_000 + int(self.rng.integers(0, 100_000)):06d}"
        old = content[j]
        content[j] = (*old[:4], ref, old[5])
        rec = self.base[(p, m)]
        self.set_content(rec, content)
        detail = {
            "line_no": j + 1,
            "invoice_ref": ref,
            "original_invoice_ref": old[4],
            "amount": round(old[2], 2),
            "currency": self.cur(p),
            "expected_status": "matched",
        }
        self.book.record(case, p, m, detail)
        self.later(detail, "report_id", [rec])
        return True

    def _clash(self, case: str, p: int, m: int, i: int) -> bool:
        lines = self.lines(p, m)
        got = self.distort(p, m, lines, "drop", 0.10, 0.30)
        if got is None:
            return False
        content, delta, _n = got
        api = self.base[(p, m)]
        sub = min(api["sub"] + int(self.rng.integers(3600, 3 * DAY)), self.w.as_of_end)
        fname = self.file_name(p, m, 1)
        self._new(p, m, 1, "csv", sub, content=content, file=fname)
        erp_cur = sum(r[2] for r in lines)
        detail = {
            "file": fname,
            "revision": 1,
            "api_total": round(erp_cur, 2),
            "csv_total": round(erp_cur + delta, 2),
            "currency": self.cur(p),
            "erp_sales_usd": round(float(self.state.sales_usd[p, m]), 2),
            "expected_status": "matched",
        }
        self.book.record(case, p, m, detail)
        self.later(detail, "report_id", [api])
        return True

    def _bad_row(self, case: str, p: int, m: int, i: int) -> bool:
        rec = self.base[(p, m)]
        n_rows = len(self.lines(p, m))
        kind = BAD_ROW_KINDS[i % len(BAD_ROW_KINDS)]
        row = int(self.rng.integers(1, n_rows + 1))
        rec["bad_row"] = (row, kind)
        self.book.record(
            case,
            p,
            m,
            {
                "file": rec["file"],
                "row_number": row,
                "line_number": row + 1,
                "rows": n_rows,
                "reason": kind,
                "erp_sales_usd": round(float(self.state.sales_usd[p, m]), 2),
                "expected_status": "missing_report",
            },
        )
        return True

    def _bad_header(self, case: str, p: int, m: int, i: int) -> bool:
        rec = self.base[(p, m)]
        kind = BAD_HEADER_KINDS[i % len(BAD_HEADER_KINDS)]
        rec["bad_header"] = kind
        self.book.record(
            case,
            p,
            m,
            {
                "file": rec["file"],
                "reason": kind,
                "header": bad_header(kind),
                "column": "quantity" if kind == "renamed_column" else "currency",
                "rows": len(self.lines(p, m)),
                "erp_sales_usd": round(float(self.state.sales_usd[p, m]), 2),
                "expected_status": "missing_report",
            },
        )
        return True

    def _no_erp_sales(self, p: int, m: int) -> None:
        plan = self.plan
        rate = self.rate(p, m)
        dec = self.dec(p)
        target_usd = max(800.0, 0.15 * self.nb_usd(p, m)) * float(self.rng.uniform(1.0, 1.3))
        n = 3
        cdf = plan.item_cdf[p]
        items = np.searchsorted(cdf, self.rng.random(n), side="right").clip(0, len(cdf) - 1)
        unit = round_money(plan.i_price[items] * (1 - plan.discount[p]) / rate, dec)
        unit = np.maximum(unit, 1.0)
        qty = np.maximum(1.0, np.round(target_usd / rate / n / unit))
        amount = round_money(qty * unit, dec)
        while float(amount.sum()) * rate < target_usd:
            qty[0] += 1
            amount = round_money(qty * unit, dec)
        days = np.sort(self.rng.integers(0, int(self.w.length[m]), n)) + int(self.w.start[m])
        custs = plan.cust_mat[p, self.rng.integers(0, plan.cust_n[p], n)]
        content = [
            (
                plan.i_sku[int(items[j])],
                float(qty[j]),
                float(amount[j]),
                plan.c_name[int(custs[j])],
                None,
                np.datetime64(int(days[j]), "D").item(),
            )
            for j in range(n)
        ]
        rec = self._new(p, m, 1, "api", self._submit_time(m))
        self.set_content(rec, content)
        total = float(amount.sum())
        detail = {
            "reported": round(total, 2),
            "currency": self.cur(p),
            "reported_usd": round(total * rate, 2),
            "expected_status": "no_erp_sales",
        }
        self.book.record("no_erp_sales", p, m, detail)
        self.later(detail, "report_id", [rec])

    # ------------------------------------------------------------------ output
    def write(self, pos_dir: Path) -> dict[str, int]:
        plan, w = self.plan, self.w
        late = sorted(
            (r for r in self.recs if r["channel"] == "api" and r["id"] is None),
            key=lambda r: (r["sub"], r["p"], r["rev"]),
        )
        for n, r in enumerate(late, start=self.n_ids + 1):
            r["id"] = report_id(n)
        for detail, field, recs in self.pending:
            ids = [r["id"] for r in recs]
            detail[field] = ids[0] if field == "report_id" else ids
        api = sorted((r for r in self.recs if r["channel"] == "api"), key=lambda r: r["id"])
        insert(
            self.con,
            "portal.sales_reports",
            {
                "id": a_str([r["id"] for r in api]),
                "partner_id": a_str([plan.sf_id[r["p"]] for r in api]),
                "period": a_str([w.labels[r["k"]] for r in api]),
                "revision": pa.array([r["rev"] for r in api], type=pa.int32()),
                "status": a_str([r["status"] for r in api]),
                "currency": a_str([self.cur(r["p"]) for r in api]),
                "submitted_at": a_ts(np.array([r["sub"] for r in api], dtype=np.int64)),
                "updated_at": a_ts(np.array([r["upd"] for r in api], dtype=np.int64)),
            },
        )
        rows = [
            (r["id"], j + 1, *c)
            for r in sorted(self.custom, key=lambda r: r["id"])
            for j, c in enumerate(r["content"])
        ]
        insert(
            self.con,
            "portal.sales_report_lines",
            {
                "report_id": a_str([c[0] for c in rows]),
                "line_no": pa.array([c[1] for c in rows], type=pa.int32()),
                "sku": a_str([c[2] for c in rows]),
                "quantity": a_f64([c[3] for c in rows]),
                "amount": a_f64([c[4] for c in rows]),
                "end_customer": a_str([c[5] for c in rows]),
                "invoice_ref": a_str([c[6] for c in rows]),
                "sold_on": pa.array([c[7] for c in rows], type=pa.date32()),
            },
        )
        n_files = self._write_csv(pos_dir)
        return {"portal.sales_reports": len(api), "pos_files": n_files}

    def _write_csv(self, pos_dir: Path) -> int:
        """Write the POS files: plain ones formatted in bulk by DuckDB, the others row by row."""
        pos_dir.mkdir(parents=True, exist_ok=True)
        files = [r for r in self.recs if r["channel"] == "csv"]
        plain = {}
        for r in files:
            if r["content"] is None and r["bad_row"] is None and r["bad_header"] is None:
                plain[(r["p"], r["k"])] = r
            else:
                content = r["content"] if r["content"] is not None else self.lines(r["p"], r["k"])
                self._write_file(pos_dir, r, content)
        if not plain:
            return len(files)
        keys = sorted(plain)
        self.con.register(
            "_csv_months",
            pa.table(
                {
                    "p": pa.array([p for p, _k in keys], type=pa.int32()),
                    "k": pa.array([k for _p, k in keys], type=pa.int32()),
                    "partner_id": a_str([self.plan.sf_id[p] for p, _k in keys]),
                    "period": a_str([self.w.labels[k] for _p, k in keys]),
                    "currency": a_str([self.cur(p) for p, _k in keys]),
                    "fmt": a_str([f"%.{self.dec(p)}f" for p, _k in keys]),
                }
            ),
        )
        quoted = """CASE WHEN regexp_matches(f.end_customer, '[,"\r\n]')
                         THEN '"' || replace(f.end_customer, '"', '""') || '"'
                         ELSE f.end_customer END"""
        try:
            cursor = self.con.execute(
                f"""SELECT f.p, f.k,
                           c.partner_id || ',' || c.period || ',' || f.sku || ','
                           || CAST(CAST(f.quantity AS BIGINT) AS VARCHAR) || ','
                           || printf(c.fmt, f.amount) || ',' || c.currency || ','
                           || {quoted} || ',' || coalesce(f.invoice_ref, '') || ','
                           || strftime(f.sold_on, '%Y-%m-%d')
                    FROM scratch.csv_lines f JOIN _csv_months c ON f.p = c.p AND f.k = c.k
                    ORDER BY f.p, f.k, f.line_no"""
            )
            key, lines = None, []
            while True:
                chunk = cursor.fetchmany(50_000)
                for p, k, line in chunk:
                    if (p, k) != key:
                        if key is not None:
                            self._write_text(pos_dir, plain[key], lines)
                        key, lines = (p, k), []
                    lines.append(line)
                if not chunk:
                    break
            if key is not None:
                self._write_text(pos_dir, plain[key], lines)
        finally:
            self.con.unregister("_csv_months")
        return len(files)

    def _write_text(self, pos_dir: Path, rec: dict, lines: list[str]) -> None:
        text = "\r\n".join([",".join(POS_HEADER), *lines]) + "\r\n"
        path = pos_dir / rec["file"]
        path.write_bytes(text.encode("utf-8-sig" if rec["bom"] else "utf-8"))
        ns = rec["sub"] * 1_000_000_000
        os.utime(path, ns=(ns, ns))

    def _write_file(self, pos_dir: Path, rec: dict, content: list[tuple]) -> None:
        plan, w = self.plan, self.w
        p, k = rec["p"], rec["k"]
        pid, period, cur, dec = plan.sf_id[p], w.labels[k], self.cur(p), self.dec(p)
        header = list(POS_HEADER)
        rows = [
            [
                pid,
                period,
                sku,
                _fmt_qty(q),
                f"{a:.{dec}f}",
                cur,
                cust,
                ref or "",
                sold.isoformat(),
            ]
            for sku, q, a, cust, ref, sold in content
        ]
        if rec["bad_row"] is not None:
            n, kind = rec["bad_row"]
            row = rows[n - 1]
            if kind == "non_numeric_quantity":
                row[3] = "n/a"
            elif kind == "non_numeric_amount":
                row[4] = "TBD"
            elif kind == "unparseable_date":
                row[8] = f"{period}-32"
            elif kind == "partner_mismatch":
                others = [s for s in plan.sf_id[plan.crm] if s != pid]
                row[0] = others[int(self.rng.integers(len(others)))]
            elif kind == "period_mismatch":
                row[1] = w.labels[k - 1]
        if rec["bad_header"] == "renamed_column":
            header[header.index("quantity")] = "qty"
        elif rec["bad_header"] == "missing_column":
            j = header.index("currency")
            header.pop(j)
            for row in rows:
                row.pop(j)
        path = pos_dir / rec["file"]
        with open(path, "w", newline="", encoding="utf-8-sig" if rec["bom"] else "utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        ns = rec["sub"] * 1_000_000_000
        os.utime(path, ns=(ns, ns))


def report_id(n: int) -> str:
    return f"SR-{n:06d}"


def bad_header(kind: str) -> list[str]:
    header = list(POS_HEADER)
    if kind == "renamed_column":
        header[header.index("quantity")] = "qty"
    else:
        header.remove("currency")
    return header


def _fmt_qty(q: float) -> str:
    return str(int(q)) if float(q).is_integer() else repr(float(q))

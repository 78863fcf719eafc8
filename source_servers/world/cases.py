"""Bookkeeping of the injected cases: which partner-months carry which case.

Rules (see docs/source-servers.md): every case sits on its own partner-month; a month
with a reconciliation-affecting injection has faithful neighbours (no other such
injection in the month before or after; the neutral line-level cases `unknown_sku` and
`unknown_invoice_ref`, which keep the totals exact, may sit next to one); injected months
are due, and for reconciliation cases so is the month after (so both neighbours are
reconciled too), with the partner active the month before and after.
"""

from __future__ import annotations

import numpy as np

from .common import STREAM_CASES, rng_for
from .erp import CM_ONLY, VOID, ZERO
from .ids import PREFIX, salesforce_ids
from .plan import Plan


class CaseBook:
    def __init__(self, plan: Plan, n_case: int):
        self.plan = plan
        self.n = n_case
        self.rng = rng_for(plan.seed, STREAM_CASES)
        self.truth: list[dict] = []
        self.used: set[tuple[int, int]] = set()
        self.injected: dict[int, set[int]] = {}
        self.forced: dict[tuple[int, int], str] = {}
        self.unplaced: list[str] = []
        self.externalid = plan.sf_id.copy()
        self.last_due = plan.window.last_due()
        w = plan.window
        for p in np.nonzero(plan.term_day >= 0)[0].tolist():
            k = int(w.month_of_day(np.array([plan.term_day[p]]))[0])
            self.used.add((p, k))

    # ------------------------------------------------------------------ helpers
    def record(self, case: str, p: int | None, k: int | None, detail: dict) -> None:
        self.truth.append(
            {
                "case": case,
                "partner_id": None if p is None else self.plan.sf_id[p],
                "month": None if k is None else self.plan.window.labels[k],
                "detail": detail,
            }
        )

    def eligible(self, p: int, m: int, span: int = 1, neutral: bool = False) -> bool:
        """Can months m .. m+span-1 of partner p carry a case?

        A reconciliation case needs a due month whose next month is due too, active
        neighbours and no other reconciliation case next to it. A `neutral` case (one
        that leaves the month's totals exact) only needs a due, active, unused month.
        """
        plan = self.plan
        last = m + span - 1
        if any((p, x) in self.used for x in range(m, last + 1)) or not plan.crm[p]:
            return False
        if neutral:
            return plan.k_first[p] <= m <= plan.k_last[p] and m <= self.last_due
        if m - 1 < plan.k_first[p] or last + 1 > plan.k_last[p] or last + 1 > self.last_due:
            return False
        taken = self.injected.get(p, ())
        return all(abs(x - t) >= 2 for x in range(m, last + 1) for t in taken)

    def take(self, p: int, m: int, span: int = 1, neutral: bool = False) -> None:
        for x in range(m, m + span):
            self.used.add((p, x))
            if not neutral:
                self.injected.setdefault(p, set()).add(x)

    def candidates(self, *, csv: bool | None, currency_first: int | None = None) -> list:
        """All (p, m) pairs in random order (CSV or API reporters, or both)."""
        plan = self.plan
        ps = np.nonzero(plan.crm)[0]
        if csv is not None:
            ps = ps[plan.csv[ps] == csv]
        pairs = [(int(p), m) for p in ps.tolist() for m in range(plan.months)]
        order = self.rng.permutation(len(pairs))
        out = [pairs[i] for i in order.tolist()]
        if currency_first is not None:
            out.sort(key=lambda pm: plan.currency[pm[0]] != currency_first)
        return out

    # ------------------------------------------------------------------ ERP-level cases
    def plan_erp_cases(self) -> None:
        """Cases that shape the ERP data itself; chosen before it is generated."""
        plan = self.plan
        # erp_crm_id_mismatch: the ERP partner's externalid disagrees with the CRM mapping.
        crm_ps = np.nonzero(plan.crm)[0]
        picks = self.rng.choice(crm_ps, size=min(self.n, len(crm_ps)), replace=False)
        stale = salesforce_ids(PREFIX["Account"], 62**5 * 8 + np.arange(len(picks)) * 7919)
        for i, p in enumerate(sorted(picks.tolist())):
            if i % 2 == 0 and len(crm_ps) > 1:
                other = crm_ps[crm_ps != p][int(self.rng.integers(len(crm_ps) - 1))]
                ext, kind = plan.sf_id[other], "other_account"
            else:
                ext, kind = str(stale[i]), "stale_id"
            self.externalid[p] = ext
            self.record(
                "erp_crm_id_mismatch",
                p,
                None,
                {
                    "erp_partner_id": int(plan.erp_id[p]),
                    "erp_externalid": ext,
                    "crm_erp_partner_id": str(plan.erp_id[p]),
                    "kind": kind,
                },
            )
        for case, kind in (
            ("voided_invoice", VOID),
            ("credit_memo_only_month", CM_ONLY),
            ("no_erp_sales", ZERO),
        ):
            placed = 0
            for p, m in self.candidates(csv=False):
                if placed == self.n:
                    break
                if self.eligible(p, m):
                    self.take(p, m)
                    self.forced[(p, m)] = kind
                    placed += 1
            if placed < self.n:
                self.unplaced.append(case)

    def record_erp_cases(self, con, state) -> None:
        plan = self.plan
        w = plan.window
        for (p, k), kind in sorted(self.forced.items()):
            if kind == VOID:
                tx = state.voided[(p, k)]
                tranid, amount = con.execute(
                    """SELECT t.tranid, sum(l.netamount) FROM erp."transaction" t
                       JOIN erp.transactionline l ON l."transaction" = t.id
                       WHERE t.id = ? AND l.mainline = 'F' AND l.taxline = 'F'
                       GROUP BY t.tranid""",
                    [tx],
                ).fetchall()[0]
                rate = float(plan.rate[plan.currency[p], k])
                self.record(
                    "voided_invoice",
                    p,
                    k,
                    {
                        "transaction_id": tx,
                        "tranid": tranid,
                        "amount": round(float(amount), 2),
                        "currency": plan.cur_symbol[plan.currency[p]],
                        "amount_usd": round(float(amount) * rate, 2),
                        "erp_sales_usd": round(float(state.sales_usd[p, k]), 2),
                        "expected_status": "matched",
                    },
                )
            elif kind == CM_ONLY:
                rows = con.execute(
                    """SELECT tranid FROM erp."transaction"
                       WHERE partner = ? AND trandate >= ? AND trandate < ? ORDER BY id""",
                    [int(plan.erp_id[p]), _d(w.start[k]), _d(w.start[k + 1])],
                ).fetchall()
                self.record(
                    "credit_memo_only_month",
                    p,
                    k,
                    {
                        "tranids": [r[0] for r in rows],
                        "erp_sales": round(float(state.sales_cur[p, k]), 2),
                        "currency": plan.cur_symbol[plan.currency[p]],
                        "erp_sales_usd": round(float(state.sales_usd[p, k]), 2),
                        "expected_status": "matched",
                    },
                )
        for p in np.nonzero(~plan.crm)[0].tolist():
            months = [w.labels[k] for k in range(w.months) if state.docs[p, k] > 0]
            self.record(
                "unmapped_erp_partner",
                None,
                None,
                {
                    "erp_partner_id": int(plan.erp_id[p]),
                    "entityid": f"PRT-{int(plan.erp_id[p])}",
                    "companyname": plan.name[p],
                    "externalid": None,
                    "sales_usd": round(float(state.sales_usd[p].sum()), 2),
                    "first_month": months[0] if months else None,
                    "last_month": months[-1] if months else None,
                },
            )


def _d(day: int):
    return np.datetime64(int(day), "D").item()

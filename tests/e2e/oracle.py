"""Independent computation of mart values from the generator's world, in pandas.

It follows docs/sources.md and docs/metrics.md literally and shares no code or SQL with
the dbt models, so the end-to-end tests compare two implementations of the spec.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

POS_NAME = re.compile(
    r"^pos_(?P<partner>[A-Za-z0-9]{18})_(?P<period>\d{4}-\d{2})(?:_r(?P<rev>\d+))?\.csv$"
)
POS_HEADER = [
    "partner_id",
    "period",
    "sku",
    "quantity",
    "amount",
    "currency",
    "end_customer",
    "invoice_ref",
    "sold_on",
]
TOL_PCT, TOL_USD, DUE_DAY = 0.02, 50.0, 10


def month_start(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.to_period("M").dt.to_timestamp()


class WorldOracle:
    """Expected partner-month values for one generated world and one as-of date."""

    def __init__(self, world_dir: Path, landing_dir: Path, as_of: dt.date) -> None:
        self.as_of = as_of
        con = duckdb.connect(str(world_dir / "world.duckdb"), read_only=True)
        try:
            q = lambda sql: con.sql(sql).df()  # noqa: E731
            self.accounts = q("select * from crm.account")
            self.transactions = q("select * from erp.transaction")
            self.lines = q("select * from erp.transactionline")
            self.currencies = q("select * from erp.currency")
            self.rates = q("select * from erp.currencyrate")
            self.reports = q("select * from portal.sales_reports")
            self.report_lines = q("select * from portal.sales_report_lines")
        finally:
            con.close()
        self.pos_files = self._read_pos(landing_dir)

    # --- reference data -------------------------------------------------------------
    def partners(self) -> pd.DataFrame:
        a = self.accounts
        return a[(a["IsPartner"]) & (~a["IsDeleted"])]

    def rate(self, symbol: str, month: pd.Timestamp) -> float:
        if symbol == "USD":
            return 1.0
        r = self.rates.merge(self.currencies, left_on="transactioncurrency", right_on="id")
        hit = r[(r["symbol"] == symbol) & (pd.to_datetime(r["effectivedate"]) == month)]
        assert len(hit) == 1, f"no single rate for {symbol} {month:%Y-%m}"
        return float(hit["exchangerate"].iloc[0])

    # --- spine ------------------------------------------------------------------------
    def spine(self) -> pd.DataFrame:
        current = pd.Timestamp(self.as_of).to_period("M")
        rows = []
        for p in self.partners().itertuples():
            start = pd.Timestamp(p.Partner_Since__c).to_period("M")
            end = (
                pd.Timestamp(p.Terminated_On__c).to_period("M")
                if pd.notna(p.Terminated_On__c)
                else current
            )
            for m in pd.period_range(start, min(end, current), freq="M"):
                rows.append((p.Id, m.to_timestamp()))
        return pd.DataFrame(rows, columns=["partner_id", "month_start"])

    # --- ERP sell-in ------------------------------------------------------------------
    def erp_sales(self) -> pd.DataFrame:
        t = self.transactions
        t = t[t["type"].isin(["CustInvc", "CustCred"]) & (t["status"] != "Voided")]
        lines = self.lines[(self.lines["mainline"] == "F") & (self.lines["taxline"] == "F")]
        x = lines.merge(t, left_on="transaction", right_on="id", suffixes=("_line", ""))
        sign = np.where(x["type"] == "CustCred", -1.0, 1.0)
        x = x.assign(
            usd=sign * x["netamount"] * x["exchangerate"],
            units=sign * x["quantity"],
            month_start=month_start(x["trandate"]),
        )
        partners = self.partners()
        mapping = dict(zip(partners["ERP_Partner_Id__c"].astype(str), partners["Id"], strict=True))
        x["partner_id"] = x["partner"].astype("Int64").astype(str).map(mapping)
        x = x[x["partner_id"].notna()]
        return x.groupby(["partner_id", "month_start"], as_index=False).agg(
            sales_volume_usd=("usd", "sum"), units_sold=("units", "sum")
        )

    # --- partner reports --------------------------------------------------------------
    @staticmethod
    def _read_pos(landing_dir: Path) -> pd.DataFrame:
        """Valid POS files only (a file with any bad row counts as not received)."""
        rows = []
        for path in sorted(landing_dir.glob("*.csv")):
            m = POS_NAME.match(path.name)
            if not m:
                continue
            with path.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                body = list(reader)
            if header != POS_HEADER:
                continue
            try:
                total, currency = 0.0, None
                for r in body:
                    rec = dict(zip(POS_HEADER, r, strict=True))
                    assert rec["partner_id"] == m["partner"] and rec["period"] == m["period"]
                    dt.date.fromisoformat(rec["sold_on"])
                    float(rec["quantity"])
                    total += float(rec["amount"])
                    currency = rec["currency"]
            except (AssertionError, ValueError):
                continue
            rows.append(
                {
                    "partner_id": m["partner"],
                    "period": m["period"],
                    "revision": int(m["rev"] or 1),
                    "status": "submitted",
                    "currency": currency,
                    "amount": total,
                    "origin": "csv",
                }
            )
        return pd.DataFrame(
            rows,
            columns=["partner_id", "period", "revision", "status", "currency", "amount", "origin"],
        )

    def effective_reports(self) -> pd.DataFrame:
        totals = self.report_lines.groupby("report_id", as_index=False)["amount"].sum()
        api = self.reports.merge(totals, left_on="id", right_on="report_id", how="left")
        api = api.assign(amount=api["amount"].fillna(0.0), origin="api")[
            ["partner_id", "period", "revision", "status", "currency", "amount", "origin"]
        ]
        both = pd.concat([api, self.pos_files], ignore_index=True)
        # Where API and CSV carry the same revision, the API's wins (even when withdrawn).
        both = both.sort_values("origin").drop_duplicates(
            ["partner_id", "period", "revision"], keep="first"
        )
        live = both[both["status"] != "withdrawn"]
        eff = live.sort_values("revision").drop_duplicates(["partner_id", "period"], keep="last")
        eff = eff.assign(month_start=pd.to_datetime(eff["period"] + "-01"))
        eff["reported_sales_usd"] = [
            a * self.rate(c, m)
            for a, c, m in zip(eff["amount"], eff["currency"], eff["month_start"], strict=True)
        ]
        return eff[["partner_id", "month_start", "reported_sales_usd"]]

    # --- the marts --------------------------------------------------------------------
    def partner_months(self) -> pd.DataFrame:
        f = self.spine().merge(self.erp_sales(), on=["partner_id", "month_start"], how="left")
        f[["sales_volume_usd", "units_sold"]] = f[["sales_volume_usd", "units_sold"]].fillna(0.0)
        return f.merge(self.effective_reports(), on=["partner_id", "month_start"], how="left")

    def reconciliation(self) -> pd.DataFrame:
        f = self.partner_months().sort_values(["partner_id", "month_start"]).reset_index(drop=True)
        by_key = {
            (r.partner_id, r.month_start): (r.sales_volume_usd, r.reported_sales_usd)
            for r in f.itertuples()
        }
        statuses = []
        for r in f.itertuples():
            statuses.append(self._status(r.partner_id, r.month_start, by_key))
        return f.assign(status=statuses)

    def _status(self, partner: str, month: pd.Timestamp, by_key: dict) -> str:
        erp, rep = by_key[(partner, month)]
        if pd.isna(rep):
            if round(erp, 2) == 0:
                return "no_activity"
            due = (month + pd.DateOffset(months=1)).replace(day=DUE_DAY).date()
            return "missing_report" if self.as_of > due else "awaiting_report"
        if within(rep - erp, erp):
            return "matched"
        for other in (month - pd.DateOffset(months=1), month + pd.DateOffset(months=1)):
            o_erp, o_rep = by_key.get((partner, other), (0.0, np.nan))
            o_rep = 0.0 if pd.isna(o_rep) else o_rep
            if within(rep + o_rep - erp - o_erp, erp + o_erp):
                return "timing_difference"
        if round(erp, 2) == 0:
            return "no_erp_sales"
        return "over_reported" if rep - erp > 0 else "under_reported"


def within(variance: float, erp: float) -> bool:
    """Within tolerance: |variance_pct| ≤ 2% (when ERP is not zero) or |variance| ≤ $50."""
    pct_ok = round(erp, 2) != 0 and abs(variance / erp) <= TOL_PCT
    return pct_ok or abs(variance) <= TOL_USD

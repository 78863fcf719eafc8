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
        self.world_dir = world_dir
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

    # --- more of the world, read on demand (the marts of test_marts.py) ------------------
    def _world(self, sql: str) -> pd.DataFrame:
        con = duckdb.connect(str(self.world_dir / "world.duckdb"), read_only=True)
        try:
            return con.sql(sql).df()
        finally:
            con.close()

    def opportunities(self) -> pd.DataFrame:
        """Opportunities that count (not soft-deleted), with the partner's role and USD."""
        opps = self._world("select * from crm.opportunity")
        regs = self._world("select * from crm.deal_registration__c")
        opps = opps[~opps["IsDeleted"].astype(bool)].copy()
        approved = set(regs.loc[(regs["Status__c"] == "Approved") & ~regs["IsDeleted"], "Id"])
        opps["is_sourced"] = (opps["Partner_Role__c"] == "Sourced") | opps[
            "Deal_Registration__c"
        ].isin(approved)
        opps["is_won"] = opps["IsClosed"].astype(bool) & opps["IsWon"].astype(bool)
        opps["is_lost"] = opps["IsClosed"].astype(bool) & ~opps["IsWon"].astype(bool)
        opps["close_month"] = month_start(opps["CloseDate"])
        opps["usd_at_close"] = [
            a * self.rate(c, m) if closed else np.nan
            for a, c, m, closed in zip(
                opps["Amount"],
                opps["CurrencyIsoCode"],
                opps["close_month"],
                opps["IsClosed"],
                strict=True,
            )
        ]
        return opps

    def gross_margin(self) -> pd.DataFrame:
        """ERP gross margin per mapped partner-month: sales minus units x item cost."""
        t = self.transactions
        t = t[t["type"].isin(["CustInvc", "CustCred"]) & (t["status"] != "Voided")]
        lines = self.lines[(self.lines["mainline"] == "F") & (self.lines["taxline"] == "F")]
        items = self._world("select id as item_id, cost from erp.item")
        x = lines.merge(t, left_on="transaction", right_on="id", suffixes=("_line", ""))
        x = x.merge(items, left_on="item", right_on="item_id", how="left")
        sign = np.where(x["type"] == "CustCred", -1.0, 1.0)
        x["margin"] = sign * (x["netamount"] * x["exchangerate"] - x["quantity"] * x["cost"])
        x["month_start"] = month_start(x["trandate"])
        partners = self.partners()
        mapping = dict(zip(partners["ERP_Partner_Id__c"].astype(str), partners["Id"], strict=True))
        x["partner_id"] = x["partner"].astype("Int64").astype(str).map(mapping)
        x = x[x["partner_id"].notna()]
        return x.groupby(["partner_id", "month_start"], as_index=False).agg(
            gross_margin_usd=("margin", "sum")
        )

    def crm_partner_months(self) -> pd.DataFrame:
        """Spine rows with gross margin, partner revenue, wins, losses and registrations."""
        opps = self.opportunities()
        partner_opps = opps[opps["PartnerAccountId"].notna()]
        won = partner_opps[partner_opps["is_won"]]
        revenue = won.assign(
            sourced=np.where(won["is_sourced"], won["usd_at_close"], 0.0),
            influenced=np.where(~won["is_sourced"], won["usd_at_close"], 0.0),
        )
        revenue = revenue.groupby(["PartnerAccountId", "close_month"], as_index=False).agg(
            partner_sourced_revenue_usd=("sourced", "sum"),
            partner_influenced_revenue_usd=("influenced", "sum"),
        )
        closed = partner_opps[partner_opps["IsClosed"].astype(bool)]
        outcomes = closed.groupby(["PartnerAccountId", "close_month"], as_index=False).agg(
            opportunities_won=("is_won", "sum"), opportunities_lost=("is_lost", "sum")
        )
        regs = self._world("select * from crm.deal_registration__c")
        regs = regs[~regs["IsDeleted"].astype(bool)]
        submitted = (
            regs.assign(month_start=month_start(regs["Submitted_Date__c"]))
            .groupby(["Partner_Account__c", "month_start"], as_index=False)
            .agg(deal_regs_submitted=("Id", "count"))
            .rename(columns={"Partner_Account__c": "partner_id"})
        )
        keys = {"PartnerAccountId": "partner_id", "close_month": "month_start"}
        f = self.spine().merge(self.gross_margin(), on=["partner_id", "month_start"], how="left")
        f = f.merge(revenue.rename(columns=keys), on=["partner_id", "month_start"], how="left")
        f = f.merge(outcomes.rename(columns=keys), on=["partner_id", "month_start"], how="left")
        f = f.merge(submitted, on=["partner_id", "month_start"], how="left")
        zero = [c for c in f.columns if c not in ("partner_id", "month_start")]
        f[zero] = f[zero].fillna(0.0)
        decided = f["opportunities_won"] + f["opportunities_lost"]
        f["win_rate"] = f["opportunities_won"] / decided.where(decided > 0)
        return f

    def ecosystem_months(self) -> pd.DataFrame:
        """Partners active, new and churned, sales and partner-led share per month."""
        spine = self.spine()
        partners = self.partners().set_index("Id")
        spine["is_new"] = spine["month_start"] == month_start(
            spine["partner_id"].map(partners["Partner_Since__c"])
        )
        spine["is_churned"] = spine["month_start"] == month_start(
            spine["partner_id"].map(partners["Terminated_On__c"])
        )
        months = self.partner_months()[["partner_id", "month_start", "sales_volume_usd"]]
        spine = spine.merge(months, on=["partner_id", "month_start"], how="left")
        crm = self.crm_partner_months()
        spine = spine.merge(
            crm[
                [
                    "partner_id",
                    "month_start",
                    "partner_sourced_revenue_usd",
                    "partner_influenced_revenue_usd",
                ]
            ],
            on=["partner_id", "month_start"],
            how="left",
        )
        spine["partner_led"] = (
            spine["partner_sourced_revenue_usd"] + spine["partner_influenced_revenue_usd"]
        )
        e = spine.groupby("month_start", as_index=False).agg(
            active_partners=("partner_id", "count"),
            new_partners=("is_new", "sum"),
            churned_partners=("is_churned", "sum"),
            sales_volume_usd=("sales_volume_usd", "sum"),
            partner_led_revenue_usd=("partner_led", "sum"),
        )
        opps = self.opportunities()
        total = (
            opps[opps["is_won"]]
            .groupby("close_month", as_index=False)
            .agg(total_closed_won_usd=("usd_at_close", "sum"))
            .rename(columns={"close_month": "month_start"})
        )
        every_month = pd.DataFrame(
            {
                "month_start": pd.period_range(
                    spine["month_start"].min(), pd.Timestamp(self.as_of), freq="M"
                ).to_timestamp()
            }
        )
        e = every_month.merge(e, on="month_start", how="left").merge(
            total, on="month_start", how="left"
        )
        e = e.fillna(0.0)
        base = e["active_partners"] - e["new_partners"]
        e["partner_churn_rate"] = e["churned_partners"] / base.where(base != 0)
        e["partner_led_share"] = e["partner_led_revenue_usd"] / e["total_closed_won_usd"].where(
            e["total_closed_won_usd"].round(2) != 0
        )
        return e

    def deal_registration_funnel(self) -> pd.DataFrame:
        """Registrations by partner and submission month: status now and won."""
        regs = self._world("select * from crm.deal_registration__c")
        regs = regs[~regs["IsDeleted"].astype(bool)].copy()
        opps = self.opportunities()
        won_regs = set(opps.loc[opps["is_won"], "Deal_Registration__c"].dropna())
        regs["month_start"] = month_start(regs["Submitted_Date__c"])
        regs["approved"] = regs["Status__c"] == "Approved"
        regs["rejected"] = regs["Status__c"] == "Rejected"
        regs["won"] = regs["Id"].isin(won_regs)
        g = (
            regs.groupby(["Partner_Account__c", "month_start"], as_index=False)
            .agg(
                deal_regs_submitted=("Id", "count"),
                deal_regs_approved=("approved", "sum"),
                deal_regs_rejected=("rejected", "sum"),
                deal_regs_won=("won", "sum"),
            )
            .rename(columns={"Partner_Account__c": "partner_id"})
        )
        f = self.spine().merge(g, on=["partner_id", "month_start"], how="left").fillna(0.0)
        decided = f["deal_regs_approved"] + f["deal_regs_rejected"]
        f["approval_rate"] = f["deal_regs_approved"] / decided.where(decided != 0)
        f["conversion_rate"] = f["deal_regs_won"] / f["deal_regs_approved"].where(
            f["deal_regs_approved"] != 0
        )
        return f


def within(variance: float, erp: float) -> bool:
    """Within tolerance: |variance_pct| ≤ 2% (when ERP is not zero) or |variance| ≤ $50."""
    pct_ok = round(erp, 2) != 0 and abs(variance / erp) <= TOL_PCT
    return pct_ok or abs(variance) <= TOL_USD

"""ERP (NetSuite) tables: dimensions, and invoices/credit memos generated month by month."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import names as N
from .common import (
    DAY,
    STREAM_ERP,
    a_date,
    a_f64,
    a_i64,
    a_str,
    a_tf,
    a_ts,
    insert,
    insert_arrow,
    rng_for,
    round_money,
    uniform_int,
)
from .plan import Plan

TRANSACTION_ID0 = 100_001
TAX_RATES = np.array([0.05, 0.0725, 0.08, 0.10, 0.20])

NULL_REF_PER_MILLE = 80  # the partner does not know the invoice number of ~8% of documents
# Faithful report lines of the CSV reporters, until the files are written. Lives in the
# scratch database, not in the world.
CSV_LINE_COLUMNS = """p INTEGER, k INTEGER, line_no INTEGER, sku VARCHAR, quantity DOUBLE,
    amount DOUBLE, end_customer VARCHAR, invoice_ref VARCHAR, sold_on DATE"""

# Forced partner-month kinds (chosen before generation by the case planner).
ZERO = "zero"  # no ERP documents at all
CM_ONLY = "cm_only"  # credit memos only
VOID = "void"  # one of the month's invoices is voided


@dataclass
class ErpState:
    next_id: int = TRANSACTION_ID0
    next_inv: int = 1
    next_cm: int = 1
    # (partners, months) sums over non-voided sales lines, signed
    sales_usd: np.ndarray | None = None
    sales_cur: np.ndarray | None = None
    docs: np.ndarray | None = None  # non-voided documents per partner-month
    voided: dict[tuple[int, int], int] = field(default_factory=dict)  # (p, k) -> transaction id
    skus: pa.Array | None = None
    api_no: np.ndarray | None = None
    csv_flag: np.ndarray | None = None
    customers: pa.Array | None = None


def minute(seconds: np.ndarray) -> np.ndarray:
    return seconds - seconds % 60


def write_dimensions(con: duckdb.DuckDBPyConnection, plan: Plan, externalid: np.ndarray) -> None:
    w = plan.window
    rng = rng_for(plan.seed, STREAM_ERP, 10_000)
    NP = plan.n_partners
    inactive = plan.term_day >= 0
    lm = np.where(
        inactive,
        plan.term_day * DAY + rng.integers(9 * 3600, 18 * 3600, NP),
        np.maximum(plan.created_s, w.start[0] * DAY)
        + (rng.random(NP) * (w.as_of_end - np.maximum(plan.created_s, w.start[0] * DAY))).astype(
            np.int64
        ),
    )
    lm = minute(np.minimum(lm, w.as_of_minute))
    insert(
        con,
        "erp.partner",
        {
            "id": a_i64(plan.erp_id),
            "entityid": a_str([f"PRT-{i}" for i in plan.erp_id.tolist()]),
            "companyname": a_str(plan.name),
            "externalid": a_str(externalid),
            "isinactive": a_tf(inactive),
            "lastmodifieddate": a_ts(lm),
        },
    )
    NC = len(plan.c_name)
    clm = plan.c_created_s + (rng.random(NC) * (w.as_of_end - plan.c_created_s)).astype(np.int64)
    insert(
        con,
        "erp.customer",
        {
            "id": a_i64(plan.c_erp_id),
            "entityid": a_str([f"CUS-{i}" for i in plan.c_erp_id.tolist()]),
            "companyname": a_str(plan.c_name),
            "lastmodifieddate": a_ts(minute(np.minimum(clm, w.as_of_minute))),
        },
    )
    insert(
        con,
        "erp.classification",
        {"id": a_i64(plan.pl_id), "name": a_str(list(N.PRODUCT_LINES))},
    )
    NI = len(plan.i_sku)
    ilm = (w.start[0] - rng.integers(30, 900, NI)) * DAY + rng.integers(0, DAY, NI)
    insert(
        con,
        "erp.item",
        {
            "id": a_i64(plan.i_erp_id),
            "itemid": a_str(plan.i_sku),
            "displayname": a_str(plan.i_name),
            "class": a_i64(plan.pl_id[plan.i_line]),
            "cost": a_f64(plan.i_cost),
            "lastmodifieddate": a_ts(minute(ilm)),
        },
    )
    n_cur = len(plan.cur_symbol)
    insert(
        con,
        "erp.currency",
        {"id": a_i64(np.arange(1, n_cur + 1)), "symbol": a_str(list(plan.cur_symbol))},
    )
    # currencyrate: one row per non-USD currency per month (first day), base USD.
    cur = np.repeat(np.arange(1, n_cur), w.months)
    ks = np.tile(np.arange(w.months), n_cur - 1)
    order = np.lexsort((cur, ks))  # by month, then currency
    cur, ks = cur[order], ks[order]
    insert(
        con,
        "erp.currencyrate",
        {
            "id": a_i64(np.arange(1, len(cur) + 1)),
            "basecurrency": a_i64(np.ones(len(cur), dtype=np.int64)),
            "transactioncurrency": a_i64(cur + 1),
            "exchangerate": a_f64(plan.rate[cur, ks]),
            "effectivedate": a_date(w.start[ks]),
        },
    )


def generate_month(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    k: int,
    state: ErpState,
    forced: dict[tuple[int, int], str],
) -> tuple[int, int]:
    """Invoices and credit memos of window month k for every active ERP partner."""
    w = plan.window
    rng = rng_for(plan.seed, STREAM_ERP, k)
    NP = plan.n_partners
    ps = np.nonzero((plan.k_first <= k) & (plan.k_last >= k))[0]
    lo, hi = plan.day_bounds(k)
    frac = (hi - lo + 1) / w.length[k]
    lam = plan.volume_factor(k) * frac
    n_inv = np.maximum(3, rng.poisson(lam[ps]))
    n_cm = rng.poisson(0.25 * frac[ps])
    void_pick: dict[int, int] = {}
    for i, p in enumerate(ps.tolist()):
        kind = forced.get((p, k))
        if kind == ZERO:
            n_inv[i], n_cm[i] = 0, 0
        elif kind == CM_ONLY:
            n_inv[i], n_cm[i] = 0, 1 + int(rng.integers(0, 2))
        elif kind == VOID:
            void_pick[i] = int(rng.integers(0, n_inv[i]))
    n_doc = n_inv + n_cm
    D = int(n_doc.sum())
    if D == 0:
        return 0, 0

    # ----- documents
    doc_pm = np.repeat(np.arange(len(ps)), n_doc)
    doc_p = ps[doc_pm]
    first = np.cumsum(n_doc) - n_doc
    j = np.arange(D) - first[doc_pm]
    is_cm = j >= n_inv[doc_pm]
    voided = np.zeros(D, dtype=bool)
    for i, jj in void_pick.items():
        voided[first[i] + jj] = True
    day = uniform_int(rng, lo[doc_p], hi[doc_p])
    trandate = w.start[k] + day - 1
    cu = np.floor(rng.random(D) ** 1.6 * plan.cust_n[doc_p]).astype(np.int64)
    customer = plan.cust_mat[doc_p, cu]
    created = trandate * DAY + rng.integers(8 * 3600, 20 * 3600, D)
    order = np.lexsort((j, doc_p, created))
    doc_p, is_cm, voided, trandate, customer, created = (
        a[order] for a in (doc_p, is_cm, voided, trandate, customer, created)
    )
    tx_id = state.next_id + np.arange(D, dtype=np.int64)
    state.next_id += D
    inv_no = state.next_inv + np.cumsum(~is_cm) - 1
    cm_no = state.next_cm + np.cumsum(is_cm) - 1
    state.next_inv += int((~is_cm).sum())
    state.next_cm += int(is_cm.sum())
    num = pc.utf8_lpad(pc.cast(pa.array(np.where(is_cm, cm_no, inv_no)), pa.string()), 6, "0")
    tranid = pc.binary_join_element_wise(pc.if_else(pa.array(is_cm), "CM-", "INV-"), num, "")

    age = w.as_of_day - trandate
    u = rng.random(D)
    paid = ~is_cm & ~voided & (u < np.where(age > 60, 0.97, np.clip(age / 60.0, 0, 1) * 0.7))
    status = np.where(
        voided,
        "Voided",
        np.where(
            is_cm,
            np.where(age > 30, "Fully Applied", "Open"),
            np.where(paid, "Paid Full", "Open"),
        ),
    )
    extra = np.where(
        paid | voided,
        rng.integers(1 * DAY, 45 * DAY, D),
        np.where(is_cm & (age > 30), rng.integers(1 * DAY, 30 * DAY, D), rng.integers(0, 3600, D)),
    )
    lastmod = minute(np.minimum(created + extra, w.as_of_minute))
    memo_u = rng.random(D)
    po = rng.integers(10_000, 99_999, D)
    memo = np.where(voided, "Duplicate invoice - voided", None).astype(object)
    has_po = (memo_u < 0.15) & ~voided
    memo[has_po] = [f"PO {n}" for n in po[has_po].tolist()]
    cur = plan.currency[doc_p]
    fx = plan.rate[cur, k]
    dec = plan.cur_decimals[cur]

    # ----- sales lines
    n_lines = np.where(is_cm, 1 + (rng.random(D) < 0.3), 1 + rng.poisson(2.7, D)).astype(np.int64)
    L = int(n_lines.sum())
    line_doc = np.repeat(np.arange(D), n_lines)
    line_no = np.arange(L) - (np.cumsum(n_lines) - n_lines)[line_doc] + 1
    line_p = doc_p[line_doc]
    NI = plan.item_cdf.shape[1]
    flat = (plan.item_cdf + np.arange(NP)[:, None]).ravel()
    pos = np.searchsorted(flat, line_p + rng.random(L), side="right")
    item = np.clip(pos - line_p * NI, 0, NI - 1)
    qty = np.where(is_cm[line_doc], 1 + (rng.random(L) < 0.25), 1 + rng.poisson(2.0, L)).astype(
        np.float64
    )
    ldec = dec[line_doc]
    rate = round_money(
        plan.i_price[item]
        * (1.0 - plan.discount[line_p])
        * (1.0 + rng.normal(0.0, 0.02, L))
        / fx[line_doc],
        ldec,
    )
    rate = np.maximum(rate, np.power(10.0, -ldec))
    net = round_money(qty * rate, ldec)
    doc_net = np.bincount(line_doc, weights=net, minlength=D)

    # ----- tax lines (some invoices)
    taxed = ~is_cm & (rng.random(D) < 0.3)
    tax_docs = np.nonzero(taxed)[0]
    tax_amt = round_money(
        doc_net[tax_docs] * TAX_RATES[rng.integers(0, 5, len(tax_docs))], dec[tax_docs]
    )
    total = round_money(doc_net + np.bincount(tax_docs, weights=tax_amt, minlength=D), dec)

    # ----- rows of transactionline: mainline (id 0), sales lines, tax line
    row_doc = np.concatenate([np.arange(D), line_doc, tax_docs])
    row_id = np.concatenate([np.zeros(D, dtype=np.int64), line_no, n_lines[tax_docs] + 1])
    R = len(row_doc)
    kind = np.concatenate(
        [np.zeros(D, dtype=np.int8), np.ones(L, dtype=np.int8), np.full(len(tax_docs), 2, np.int8)]
    )
    r_item = np.concatenate(
        [np.zeros(D, dtype=np.int64), plan.i_erp_id[item], np.zeros(len(tax_docs), dtype=np.int64)]
    )
    r_qty = np.concatenate([np.zeros(D), qty, np.zeros(len(tax_docs))])
    r_rate = np.concatenate([np.zeros(D), rate, np.zeros(len(tax_docs))])
    r_net = np.concatenate([total, net, tax_amt])
    o = np.lexsort((row_id, row_doc))
    row_doc, row_id, kind, r_item, r_qty, r_rate, r_net = (
        a[o] for a in (row_doc, row_id, kind, r_item, r_qty, r_rate, r_net)
    )
    not_sales = kind != 1

    insert(
        con,
        "erp.transaction",
        {
            "id": a_i64(tx_id),
            "tranid": tranid,
            "type": pa.array(np.where(is_cm, "CustCred", "CustInvc").astype(object)),
            "trandate": a_date(trandate),
            "entity": a_i64(plan.c_erp_id[customer]),
            "partner": a_i64(plan.erp_id[doc_p]),
            "currency": a_i64(cur + 1),
            "exchangerate": a_f64(fx),
            "status": pa.array(status.astype(object)),
            "memo": a_str(memo),
            "lastmodifieddate": a_ts(lastmod),
        },
    )
    insert(
        con,
        "erp.transactionline",
        {
            "id": a_i64(row_id),
            "transaction": a_i64(tx_id[row_doc]),
            "linesequencenumber": pa.array(row_id.astype(np.int32)),
            "item": a_i64(r_item, mask=not_sales),
            "quantity": a_f64(r_qty, mask=not_sales),
            "rate": a_f64(r_rate, mask=not_sales),
            "netamount": a_f64(r_net),
            "mainline": a_tf(kind == 0),
            "taxline": a_tf(kind == 2),
            "lastmodifieddate": a_ts(lastmod[row_doc]),
        },
    )

    # ----- bookkeeping for the case planner and the reports
    live = ~voided[line_doc]
    sign = np.where(is_cm[line_doc], -1.0, 1.0)
    state.sales_cur[:, k] += np.bincount(line_p[live], weights=(sign * net)[live], minlength=NP)
    state.sales_usd[:, k] += np.bincount(
        line_p[live], weights=(sign * net * fx[line_doc])[live], minlength=NP
    )
    state.docs[:, k] += np.bincount(doc_p[~voided], minlength=NP)
    for d in np.nonzero(voided)[0].tolist():
        state.voided[(int(doc_p[d]), k)] = int(tx_id[d])

    # ----- faithful report lines of the month (CRM partners, non-voided documents):
    # straight into the API reports, or into the scratch table for the CSV files.
    api_no = state.api_no[:, k]
    want = live & plan.crm[line_p] & ((api_no[line_p] > 0) | state.csv_flag[line_p, k])
    sel = np.nonzero(want)[0]
    sel = sel[np.lexsort((line_no[sel], line_doc[sel], line_p[sel]))]  # doc order = date order
    fp = line_p[sel]
    starts = np.r_[0, np.nonzero(np.diff(fp))[0] + 1] if len(fp) else np.zeros(0, np.int64)
    first_of = np.repeat(starts, np.diff(np.r_[starts, len(fp)]))
    fdoc = line_doc[sel]
    unknown_ref = (tx_id[fdoc] * 2654435761) % 1000 < NULL_REF_PER_MILLE
    ftranid = tranid.take(pa.array(fdoc))
    lines = pa.table(
        {
            "line_no": pa.array((np.arange(len(sel)) - first_of + 1).astype(np.int32)),
            "sku": state.skus.take(pa.array(item[sel])),
            "quantity": a_f64((sign * qty)[sel]),
            "amount": a_f64((sign * net)[sel]),
            "end_customer": state.customers.take(pa.array(customer[fdoc])),
            "invoice_ref": pc.if_else(pa.array(unknown_ref), pa.scalar(None, pa.string()), ftranid),
            "sold_on": a_date(trandate[fdoc]),
        }
    )
    to_api = api_no[fp] > 0
    num = pc.utf8_lpad(pc.cast(pa.array(api_no[fp][to_api]), pa.string()), 6, "0")
    insert_arrow(
        con,
        "portal.sales_report_lines",
        lines.filter(pa.array(to_api)).add_column(
            0, "report_id", pc.binary_join_element_wise("SR-", num, "")
        ),
    )
    csv_part = lines.filter(pa.array(~to_api))
    csv_part = csv_part.add_column(0, "p", pa.array(fp[~to_api].astype(np.int32)))
    csv_part = csv_part.add_column(1, "k", pa.array(np.full(len(csv_part), k, dtype=np.int32)))
    insert_arrow(con, "scratch.csv_lines", csv_part)
    return D, R


def generate_transactions(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    forced: dict[tuple[int, int], str],
    api_no: np.ndarray,
    csv_flag: np.ndarray,
) -> ErpState:
    """All invoices and credit memos, month by month; also the faithful report lines.

    `api_no[p, k]` is the number of partner-month (p, k)'s API report (SR-nnnnnn, 0 when
    there is none) and `csv_flag[p, k]` says the partner sends that month as a CSV file.
    """
    state = ErpState(api_no=api_no, csv_flag=csv_flag)
    state.skus = pa.array(plan.i_sku, type=pa.string())
    state.customers = pa.array(plan.c_name, type=pa.string())
    con.execute(f"CREATE TABLE scratch.csv_lines ({CSV_LINE_COLUMNS})")
    shape = (plan.n_partners, plan.months)
    state.sales_usd = np.zeros(shape)
    state.sales_cur = np.zeros(shape)
    state.docs = np.zeros(shape, dtype=np.int64)
    for k in range(plan.months):
        generate_month(con, plan, k, state, forced)
    return state

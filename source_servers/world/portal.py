"""Partner-portal resources other than sales reports, and the ERP MDF payments."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import names as N
from .common import (
    DAY,
    STREAM_PORTAL,
    a_bool,
    a_date,
    a_f64,
    a_i64,
    a_str,
    a_ts,
    insert,
    rng_for,
    round_money,
    uniform_int,
)
from .crm import Campaigns
from .erp import minute
from .plan import Plan


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    num = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, num, "")


def _cap(w, seconds: np.ndarray) -> np.ndarray:
    return np.minimum(seconds, w.as_of_end)


def generate_portal(
    con: duckdb.DuckDBPyConnection, plan: Plan, sales_usd: np.ndarray, campaigns: Campaigns
) -> dict[str, int]:
    w = plan.window
    as_of = w.as_of_day
    counts: dict[str, int] = {}
    P = np.nonzero(plan.crm)[0]
    cur_sym = np.array(plan.cur_symbol, dtype=object)

    # ------------------------------------------------------------------ trainings
    rng = rng_for(plan.seed, STREAM_PORTAL, 1)
    n_learn = np.maximum(
        1, rng.poisson(np.array([12, 7, 4, 2])[plan.tier[P]] * plan.engagement[P] ** 0.5)
    )
    l_p = np.repeat(P, n_learn)
    NLr = len(l_p)
    l_lo = np.maximum(plan.since_day[l_p], w.start[0] - 540)
    l_hi = np.where(plan.term_day[l_p] >= 0, plan.term_day[l_p], as_of)
    years = (l_hi - l_lo + 1) / 365.0
    n_enr = rng.poisson(2.4 * years)
    e_l = np.repeat(np.arange(NLr), n_enr)
    E = len(e_l)
    e_p = l_p[e_l]
    enrolled = uniform_int(rng, l_lo[e_l], l_hi[e_l])
    cw = np.array(N.COURSE_WEIGHTS)
    course = rng.choice(len(N.COURSES), size=E, p=cw / cw.sum())
    is_cert = np.array([c[2] for c in N.COURSES])[course]
    due = enrolled + np.array([30, 45, 60, 90])[rng.integers(0, 4, E)]
    completed = enrolled + rng.integers(3, 101, E)
    done = (rng.random(E) < 0.8) & (completed <= l_hi[e_l])
    passed = np.where(is_cert, rng.random(E) < 0.8, True)
    expires = completed + 730
    last = np.where(done, completed, enrolled)
    upd = _cap(w, last * DAY + rng.integers(7 * 3600, 22 * 3600, E))
    o = np.lexsort((e_l, upd, enrolled))
    learner_ids = np.array(_ids("LRN-", NLr, 6).to_numpy(zero_copy_only=False), dtype=object)
    cols = {
        "partner_id": a_str(plan.sf_id[e_p]),
        "learner_id": a_str(learner_ids[e_l]),
        "course_id": a_str([N.COURSES[c][0] for c in course.tolist()]),
        "course_name": a_str([N.COURSES[c][1] for c in course.tolist()]),
        "is_certification": a_bool(is_cert),
        "enrolled_on": a_date(enrolled),
        "due_on": a_date(due),
        "completed_on": a_date(completed, mask=~done),
        "passed": pa.array(passed, type=pa.bool_(), mask=~done),
        "expires_on": a_date(expires, mask=~(done & is_cert & passed)),
        "updated_at": a_ts(upd),
    }
    cols = {k: v.take(pa.array(o)) for k, v in cols.items()}
    cols["id"] = _ids("TRN-", E, 7)
    counts["portal.trainings"] = insert(con, "portal.trainings", cols)

    # ------------------------------------------------------------------ asset usage
    rng = rng_for(plan.seed, STREAM_PORTAL, 2)
    n_assets = 48
    asset_type = rng.integers(0, len(N.ASSET_TYPES), n_assets)
    asset_pop = rng.lognormal(0, 0.8, n_assets)
    asset_pop /= asset_pop.sum()
    occ_parts, p_parts = [], []
    for k in range(w.months):
        lo, hi = plan.day_bounds(k)
        act = np.nonzero(plan.crm & (plan.k_first <= k) & (plan.k_last >= k))[0]
        frac = (hi[act] - lo[act] + 1) / w.length[k]
        n = rng.poisson(5.0 * plan.engagement[act] * plan.size[act] ** 0.4 * frac)
        ap = np.repeat(act, n)
        start_s = (w.start[k] + lo[ap] - 1) * DAY
        end_s = (w.start[k] + hi[ap]) * DAY - 1
        occ_parts.append(start_s + (rng.random(len(ap)) * (end_s - start_s)).astype(np.int64))
        p_parts.append(ap)
    occ = np.concatenate(occ_parts)
    a_p = np.concatenate(p_parts)
    A = len(occ)
    asset = rng.choice(n_assets, size=A, p=asset_pop)
    u = rng.random(A)
    cobrandable = np.isin(asset_type[asset], [0, 4, 5])
    action = np.where(
        u < 0.6, "download", np.where((u < 0.9) | ~cobrandable, "share", "cobrand")
    ).astype(object)
    o = np.lexsort((a_p, occ))
    asset_ids = np.array([f"AST-{i + 1:04d}" for i in range(n_assets)], dtype=object)
    cols = {
        "partner_id": a_str(plan.sf_id[a_p]),
        "asset_id": a_str(asset_ids[asset]),
        "asset_type": a_str(np.array(N.ASSET_TYPES, dtype=object)[asset_type[asset]]),
        "action": a_str(action),
        "occurred_at": a_ts(occ),
        "updated_at": a_ts(occ),
    }
    cols = {k: v.take(pa.array(o)) for k, v in cols.items()}
    cols["id"] = _ids("AU-", A, 8)
    counts["portal.asset_usage"] = insert(con, "portal.asset_usage", cols)

    # ------------------------------------------------------------------ business plans
    rng = rng_for(plan.seed, STREAM_PORTAL, 3)
    bp = []
    full = np.arange(w.months) < w.months - 1
    for k0 in [k for k in range(w.months) if w.month[k] in (1, 4, 7, 10)]:
        q = (int(w.month[k0]) - 1) // 3 + 1
        for p in P.tolist():
            if plan.since_day[p] > w.start[k0] + 30 or plan.k_last[p] < k0:
                continue
            ks = [x for x in range(k0 - 3, k0 + 3) if 0 <= x < w.months and full[x]]
            ks = [x for x in ks if plan.k_first[p] <= x <= plan.k_last[p]] or [
                x for x in range(w.months) if full[x] and plan.k_first[p] <= x <= plan.k_last[p]
            ]
            base = float(sales_usd[p, ks].mean()) if ks else 10_000.0
            bp.append((k0, q, p, max(base, 5_000.0)))
    NB = len(bp)
    b_k = np.array([b[0] for b in bp], dtype=np.int64)
    b_p = np.array([b[2] for b in bp], dtype=np.int64)
    base = np.array([b[3] for b in bp])
    b_cur = plan.currency[b_p]
    fx = plan.rate[b_cur, b_k]
    rev = np.round(3 * base * rng.uniform(0.85, 1.3, NB) / fx, -3)
    drt = np.round(
        3
        * 0.5
        * plan.size[b_p] ** 0.8
        * 30_000
        * plan.size[b_p] ** 0.3
        * rng.uniform(0.8, 1.3, NB)
        / fx,
        -3,
    )
    mdf = np.round(
        np.array([15_000, 8_000, 3_000, 1_000])[plan.tier[b_p]] * rng.uniform(0.8, 1.2, NB) / fx, -2
    )
    certs = np.array([6.0, 4.0, 2.0, 1.0])[plan.tier[b_p]]
    upd = _cap(
        w, (w.start[b_k] - rng.integers(5, 26, NB)) * DAY + rng.integers(8 * 3600, 19 * 3600, NB)
    )
    o = np.lexsort((b_p, b_k))
    cols = {
        "partner_id": a_str(plan.sf_id[b_p]),
        "period": a_str(
            [f"{int(w.year[k])}-Q{(int(w.month[k]) - 1) // 3 + 1}" for k in b_k.tolist()]
        ),
        "revenue_target": a_f64(rev),
        "deal_reg_target": a_f64(drt),
        "mdf_target": a_f64(mdf),
        "certifications_target": a_f64(certs),
        "currency": a_str(cur_sym[b_cur]),
        "updated_at": a_ts(upd),
    }
    cols = {k: v.take(pa.array(o)) for k, v in cols.items()}
    cols["id"] = _ids("BP-", NB, 6)
    counts["portal.business_plans"] = insert(con, "portal.business_plans", cols)

    # ------------------------------------------------------------------ MDF claims + payments
    rng = rng_for(plan.seed, STREAM_PORTAL, 4)
    c = campaigns
    sub = c.end + rng.integers(3, 31, len(c.end))
    claim = (
        (c.partner >= 0)
        & ~c.deleted
        & ~np.isnan(c.cost)
        & (sub <= as_of)
        & (rng.random(len(c.end)) < 0.7)
    )
    ci = np.nonzero(claim)[0]
    K = len(ci)
    cp = c.partner[ci]
    ccur = c.currency[ci]
    dec = plan.cur_decimals[ccur]
    requested = round_money(c.cost[ci] * rng.uniform(0.4, 0.8, K), dec)
    sub = sub[ci]
    decided_on = sub + rng.integers(5, 26, K)
    decided = decided_on <= as_of
    approved = decided & (rng.random(K) < 0.75)
    denied = decided & ~approved
    approved_amount = round_money(requested * rng.uniform(0.7, 1.0, K), dec)
    paid_on = decided_on + rng.integers(10, 46, K)
    paid = approved & (paid_on <= as_of)
    status = np.where(
        paid, "paid", np.where(approved, "approved", np.where(denied, "denied", "submitted"))
    )
    reason = np.array(N.DENIAL_REASONS, dtype=object)[rng.integers(0, len(N.DENIAL_REASONS), K)]
    last = np.where(paid, paid_on, np.where(decided, decided_on, sub))
    upd = _cap(w, last * DAY + rng.integers(8 * 3600, 19 * 3600, K))
    o = np.lexsort((cp, sub))
    rank = np.empty(K, dtype=np.int64)
    rank[o] = np.arange(K)
    claim_ids = np.array(_ids("MDF-", K, 6).to_numpy(zero_copy_only=False), dtype=object)[rank]
    cols = {
        "id": a_str(claim_ids),
        "partner_id": a_str(plan.sf_id[cp]),
        "campaign_id": a_str(c.sf_id[ci]),
        "requested_amount": a_f64(requested),
        "approved_amount": a_f64(approved_amount, mask=~approved),
        "currency": a_str(cur_sym[ccur]),
        "status": a_str(status),
        "submitted_on": a_date(sub),
        "decided_on": a_date(decided_on, mask=~decided),
        "denial_reason": a_str(reason, mask=~denied),
        "updated_at": a_ts(upd),
    }
    counts["portal.mdf_claims"] = insert(
        con, "portal.mdf_claims", {k: v.take(pa.array(o)) for k, v in cols.items()}
    )
    pi = np.nonzero(paid)[0]
    pi = pi[np.lexsort((claim_ids[pi], paid_on[pi]))]
    NPay = len(pi)
    pay_ts = minute(_cap(w, paid_on[pi] * DAY + rng.integers(8 * 3600, 19 * 3600, NPay)))
    counts["erp.customrecord_mdf_payment"] = insert(
        con,
        "erp.customrecord_mdf_payment",
        {
            "id": a_i64(np.arange(1, NPay + 1)),
            "custrecord_mdf_partner": a_i64(plan.erp_id[cp[pi]]),
            "custrecord_mdf_claim": a_str(claim_ids[pi]),
            "custrecord_mdf_amount": a_f64(approved_amount[pi]),
            "custrecord_mdf_currency": a_i64(ccur[pi] + 1),
            "custrecord_mdf_paid_date": a_date(paid_on[pi]),
            "lastmodifieddate": a_ts(pay_ts),
        },
    )
    return counts

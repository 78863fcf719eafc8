"""CRM (Salesforce) objects: accounts, campaigns, deal registrations, leads, opportunities."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from . import names as N
from .common import (
    DAY,
    STREAM_CRM,
    a_bool,
    a_date,
    a_f64,
    a_str,
    a_ts,
    insert,
    rng_for,
    round_money,
    uniform_int,
)
from .ids import PREFIX, counters, salesforce_ids
from .plan import SEASON, Plan

OPEN_STAGES = (
    ("Prospecting", 10.0),
    ("Qualification", 20.0),
    ("Needs Analysis", 40.0),
    ("Proposal/Price Quote", 60.0),
    ("Negotiation/Review", 80.0),
)
KEY = 1_000_000  # partner * KEY + day: a sortable (partner, day) key


@dataclass
class Campaigns:
    sf_id: np.ndarray
    partner: np.ndarray  # partner index, -1 for corporate campaigns
    start: np.ndarray
    end: np.ndarray
    cost: np.ndarray  # NaN when still running
    currency: np.ndarray
    deleted: np.ndarray


@dataclass
class CrmResult:
    campaigns: Campaigns
    truth: list[dict]
    counts: dict[str, int]


def _partner_months(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    ps, ks = [], []
    for p in np.nonzero(plan.crm)[0].tolist():
        k = np.arange(plan.k_first[p], plan.k_last[p] + 1)
        ps.append(np.full(len(k), p))
        ks.append(k)
    return np.concatenate(ps).astype(np.int64), np.concatenate(ks).astype(np.int64)


def _bounds(plan: Plan, pm_p: np.ndarray, pm_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allowed first/last day numbers of each partner-month."""
    lo = np.empty(len(pm_p), dtype=np.int64)
    hi = np.empty(len(pm_p), dtype=np.int64)
    for k in range(plan.months):
        sel = pm_k == k
        if not sel.any():
            continue
        dlo, dhi = plan.day_bounds(k)
        lo[sel] = plan.window.start[k] + dlo[pm_p[sel]] - 1
        hi[sel] = plan.window.start[k] + dhi[pm_p[sel]] - 1
    return lo, hi


def _money(plan: Plan, usd: np.ndarray, cur: np.ndarray, k: np.ndarray, unit: float = 1.0):
    """USD amounts expressed in currency `cur` at month k's rate, rounded to `unit`s."""
    raw = usd / plan.rate[cur, k]
    step = np.where(plan.cur_decimals[cur] == 0, max(unit, 1.0), unit)
    return round_money(np.round(raw / step) * step, plan.cur_decimals[cur])


def _latest_campaign(camp_key: np.ndarray, p: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Index (into the key-sorted campaigns) of partner p's latest campaign started by day."""
    if len(camp_key) == 0:
        return np.full(len(p), -1)
    q = p * KEY + day
    idx = np.searchsorted(camp_key, q, side="right") - 1
    ok = (idx >= 0) & (camp_key[np.maximum(idx, 0)] // KEY == p)
    return np.where(ok, idx, -1)


def _customer_of(plan: Plan, rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    u = np.floor(rng.random(len(p)) ** 1.6 * plan.cust_n[p]).astype(np.int64)
    return plan.cust_mat[p, u]


def _product_line(plan: Plan, rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    NI = plan.item_cdf.shape[1]
    flat = (plan.item_cdf + np.arange(plan.n_partners)[:, None]).ravel()
    pos = np.searchsorted(flat, p + rng.random(len(p)), side="right")
    return plan.i_line[np.clip(pos - p * NI, 0, NI - 1)]


def _modstamp(rng, w, base_s: np.ndarray, max_extra: int) -> np.ndarray:
    return np.minimum(base_s + rng.integers(0, max_extra + 1, len(base_s)), w.as_of_end)


def generate_crm(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    used: set[tuple[int, int]],
    n_case: int,
) -> CrmResult:
    w = plan.window
    rng = rng_for(plan.seed, STREAM_CRM)
    M = w.months
    as_of = w.as_of_day
    truth: list[dict] = []
    counts: dict[str, int] = {}
    pl_names = np.array(N.PRODUCT_LINES, dtype=object)
    cur_sym = np.array(plan.cur_symbol, dtype=object)

    # ------------------------------------------------------------------ accounts
    P = np.nonzero(plan.crm)[0]
    n_p = len(P)
    p_mod = np.where(
        plan.term_day[P] >= 0,
        plan.term_day[P] * DAY + rng.integers(9 * 3600, 18 * 3600, n_p),
        np.maximum(plan.created_s[P], w.start[0] * DAY)
        + (
            rng.random(n_p) * (w.as_of_end - np.maximum(plan.created_s[P], w.start[0] * DAY))
        ).astype(np.int64),
    )
    NC = len(plan.c_name)
    n_dup = max(1, round(0.03 * NC))
    dup_of = rng.choice(NC, size=n_dup, replace=False)
    dup_created = uniform_int(rng, np.full(n_dup, w.start[0]), np.full(n_dup, as_of - 30)) * DAY
    dup_created += rng.integers(8 * 3600, 18 * 3600, n_dup)
    dup_mod = np.minimum(dup_created + rng.integers(DAY, 25 * DAY, n_dup), w.as_of_end)
    dup_ids = salesforce_ids(PREFIX["Account"], counters(rng, n_dup, 62**5 * 9)).astype(object)
    c_mod = plan.c_created_s + (rng.random(NC) * (w.as_of_end - plan.c_created_s)).astype(np.int64)

    n_acc = n_p + NC + n_dup
    none = np.full(n_acc, None, dtype=object)
    is_p = np.zeros(n_acc, dtype=bool)
    is_p[:n_p] = True
    country = np.concatenate([plan.country[P], plan.c_country, plan.c_country[dup_of]])
    industry = np.concatenate([plan.industry[P], plan.c_industry, plan.c_industry[dup_of]])
    term = plan.term_day[P]

    def pfield(values) -> np.ndarray:
        out = none.copy()
        out[:n_p] = values
        return out

    insert(
        con,
        "crm.account",
        {
            "Id": a_str(np.concatenate([plan.sf_id[P], plan.c_sf_id, dup_ids])),
            "Name": a_str(
                [plan.name[p] for p in P.tolist()]
                + plan.c_name
                + [plan.c_name[c] for c in dup_of.tolist()]
            ),
            "Type": a_str(np.where(is_p, "Partner", "Customer")),
            "IsPartner": a_bool(is_p),
            "BillingCountry": a_str([N.COUNTRIES[c][0] for c in country.tolist()]),
            "Region__c": a_str([N.COUNTRIES[c][1] for c in country.tolist()]),
            "Industry": a_str([N.INDUSTRIES[i] for i in industry.tolist()]),
            "Partner_Tier__c": a_str(pfield([N.TIERS[t] for t in plan.tier[P].tolist()])),
            "Partner_Type__c": a_str(pfield([N.PARTNER_TYPES[t] for t in plan.ptype[P].tolist()])),
            "Specialization__c": a_str(
                pfield([N.SPECIALIZATIONS[s][0] for s in plan.spec[P].tolist()])
            ),
            "Partner_Since__c": a_date(
                np.concatenate([plan.since_day[P], np.zeros(NC + n_dup, dtype=np.int64)]),
                mask=~is_p,
            ),
            "Partner_Status__c": a_str(pfield(np.where(term >= 0, "Terminated", "Active"))),
            "Terminated_On__c": a_date(
                np.concatenate([np.maximum(term, 0), np.zeros(NC + n_dup, dtype=np.int64)]),
                mask=np.concatenate([term < 0, np.ones(NC + n_dup, dtype=bool)]),
            ),
            "Recruitment_Cost__c": a_f64(
                np.concatenate([plan.recruit_cost[P], np.zeros(NC + n_dup)]), mask=~is_p
            ),
            "ERP_Partner_Id__c": a_str(pfield([str(i) for i in plan.erp_id[P].tolist()])),
            "CreatedDate": a_ts(np.concatenate([plan.created_s[P], plan.c_created_s, dup_created])),
            "SystemModstamp": a_ts(np.concatenate([p_mod, c_mod, dup_mod])),
            "IsDeleted": a_bool(
                np.concatenate([np.zeros(n_p + NC, dtype=bool), np.ones(n_dup, dtype=bool)])
            ),
        },
    )
    counts["crm.account"] = n_acc
    for p in P.tolist():
        if plan.term_day[p] >= 0:
            k = int(w.month_of_day(np.array([plan.term_day[p]]))[0])
            truth.append(
                {
                    "case": "terminated_partner",
                    "partner_id": plan.sf_id[p],
                    "month": w.labels[k],
                    "detail": {
                        "terminated_on": str(np.datetime64(int(plan.term_day[p]), "D")),
                        "erp_partner_id": int(plan.erp_id[p]),
                        "partner_since": str(np.datetime64(int(plan.since_day[p]), "D")),
                    },
                }
            )

    # ------------------------------------------------------------------ campaigns
    qk = [k for k in range(M) if w.month[k] in (1, 4, 7, 10) or k == 0]
    cp, cs = [], []
    tier_p = np.array([0.9, 0.65, 0.35, 0.12])
    for k0 in qk:
        k1 = min(M - 1, k0 + (3 - (w.month[k0] - 1) % 3) - 1)
        lo_d = np.maximum(w.start[k0], plan.since_day[P])
        hi_d = np.minimum(w.start[k1 + 1] - 1, np.where(term >= 0, term, as_of))
        hi_d = np.minimum(hi_d, as_of)
        ok = (hi_d >= lo_d) & (
            rng.random(n_p) < np.clip(tier_p[plan.tier[P]] * plan.engagement[P] ** 0.3, 0, 0.95)
        )
        start = uniform_int(rng, lo_d, np.maximum(hi_d, lo_d))
        cp.append(P[ok])
        cs.append(start[ok])
        n_corp = 1 + int(rng.poisson(1.0))
        cp.append(np.full(n_corp, -1))
        cs.append(
            uniform_int(
                rng, np.full(n_corp, w.start[k0]), np.full(n_corp, min(as_of, w.start[k1 + 1] - 1))
            )
        )
    c_p = np.concatenate(cp).astype(np.int64)
    c_start = np.concatenate(cs).astype(np.int64)
    o = np.lexsort((c_p, c_start))
    c_p, c_start = c_p[o], c_start[o]
    NCa = len(c_p)
    c_end = c_start + rng.integers(7, 61, NCa)
    c_type = rng.integers(0, len(N.CAMPAIGN_TYPES), NCa)
    c_cur = np.where(c_p >= 0, plan.currency[np.maximum(c_p, 0)], 0)
    c_k = w.month_of_day(c_start)
    size = np.where(c_p >= 0, plan.size[np.maximum(c_p, 0)], 3.0)
    c_cost = _money(plan, rng.lognormal(np.log(9000), 0.6, NCa) * size**0.4, c_cur, c_k, 10.0)
    c_cost = np.where(c_end <= as_of, c_cost, np.nan)
    c_del = rng.random(NCa) < 0.02
    c_mod = _modstamp(rng, w, np.minimum(c_end, as_of) * DAY + 9 * 3600, 10 * DAY)
    c_ids = salesforce_ids(PREFIX["Campaign"], counters(rng, NCa, 62**5 * 2)).astype(object)
    c_names = []
    for i in range(NCa):
        k = int(c_k[i])
        q = (int(w.month[k]) - 1) // 3 + 1
        who = plan.name[c_p[i]].split(" ")[0] if c_p[i] >= 0 else "Corporate"
        c_names.append(f"{who} {N.CAMPAIGN_TYPES[c_type[i]]} {int(w.year[k])}-Q{q}")
    insert(
        con,
        "crm.campaign",
        {
            "Id": a_str(c_ids),
            "Name": a_str(c_names),
            "Partner_Account__c": a_str(plan.sf_id[np.maximum(c_p, 0)], mask=c_p < 0),
            "Type": a_str([N.CAMPAIGN_TYPES[t] for t in c_type.tolist()]),
            "StartDate": a_date(c_start),
            "EndDate": a_date(c_end),
            "ActualCost": a_f64(np.nan_to_num(c_cost), mask=np.isnan(c_cost)),
            "CurrencyIsoCode": a_str(cur_sym[c_cur]),
            "SystemModstamp": a_ts(c_mod),
            "IsDeleted": a_bool(c_del),
        },
    )
    counts["crm.campaign"] = NCa
    campaigns = Campaigns(c_ids, c_p, c_start, c_end, c_cost, c_cur, c_del)
    # partner campaigns by (partner, start) for lookups; corporate ones under partner -1 -> NP
    NP = plan.n_partners
    key_p = np.where(c_p >= 0, c_p, NP)
    ck_order = np.lexsort((c_start, key_p))
    camp_key = key_p[ck_order] * KEY + c_start[ck_order]

    def campaign_for(p: np.ndarray, day: np.ndarray, share: float) -> np.ndarray:
        """Campaign index or -1: the latest campaign of p (NP: corporate) started by day."""
        idx = _latest_campaign(camp_key, p, day)
        pick = (idx >= 0) & (rng.random(len(p)) < share)
        return np.where(pick, ck_order[np.maximum(idx, 0)], -1)

    # ------------------------------------------------------------------ partner-months
    pm_p, pm_k = _partner_months(plan)
    lo, hi = _bounds(plan, pm_p, pm_k)
    frac = (hi - lo + 1) / w.length[pm_k]
    season = SEASON[w.month[pm_k] - 1]
    base = plan.size[pm_p] ** 0.8 * season * frac

    # ------------------------------------------------------------------ deal registrations
    n_dr = rng.poisson(0.5 * base)
    dr_pm = np.repeat(np.arange(len(pm_p)), n_dr)
    D = len(dr_pm)
    dr_p = pm_p[dr_pm]
    dr_sub = uniform_int(rng, lo[dr_pm], hi[dr_pm])
    dr_dec = dr_sub + rng.integers(1, 15, D)
    decided = dr_dec <= as_of
    approved = decided & (rng.random(D) < 0.7)
    dr_exp = dr_dec + 90
    opp_day = dr_dec + rng.integers(0, 22, D)
    dr_has_opp = approved & (rng.random(D) < 0.85) & (opp_day <= as_of) & (opp_day <= dr_exp)
    dr_status = np.where(
        ~decided,
        "Submitted",
        np.where(
            ~approved,
            "Rejected",
            np.where(dr_has_opp | (dr_exp >= as_of), "Approved", "Expired"),
        ),
    )
    dr_cur = plan.currency[dr_p]
    dr_k = w.month_of_day(dr_sub)
    dr_amt = _money(
        plan, rng.lognormal(np.log(30_000), 0.7, D) * plan.size[dr_p] ** 0.3, dr_cur, dr_k, 100.0
    )
    dr_cust = _customer_of(plan, rng, dr_p)
    dr_line = _product_line(plan, rng, dr_p)
    last = np.where(decided, dr_dec, dr_sub)
    last = np.where(dr_has_opp, opp_day, last)
    last = np.where(dr_status == "Expired", dr_exp, last)
    dr_mod = _modstamp(rng, w, last * DAY + rng.integers(8 * 3600, 18 * 3600, D), 2 * DAY)
    dr_del = rng.random(D) < 0.02
    dr_mod = np.where(dr_del, _modstamp(rng, w, dr_mod, 20 * DAY), dr_mod)
    o = np.lexsort((dr_p, dr_sub))
    (dr_p, dr_sub, dr_dec, decided, dr_exp, approved, opp_day, dr_has_opp, dr_status, dr_cur,
     dr_amt, dr_cust, dr_line, dr_mod, dr_del) = (
        a[o] for a in (dr_p, dr_sub, dr_dec, decided, dr_exp, approved, opp_day, dr_has_opp,
                       dr_status, dr_cur, dr_amt, dr_cust, dr_line, dr_mod, dr_del)
    )  # fmt: skip
    dr_ids = salesforce_ids(PREFIX["Deal_Registration__c"], counters(rng, D, 62**5)).astype(object)

    # ------------------------------------------------------------------ leads
    n_ld = rng.poisson(2.2 * base * plan.engagement[pm_p] ** 0.5)
    ld_pm = np.repeat(np.arange(len(pm_p)), n_ld)
    ld_p = pm_p[ld_pm]
    ld_day = uniform_int(rng, lo[ld_pm], hi[ld_pm])
    # direct leads (no partner): each month, in proportion to the active partners
    dl_p, dl_day = [], []
    for k in range(M):
        n_active = int(((plan.k_first[P] <= k) & (plan.k_last[P] >= k)).sum())
        n = int(rng.poisson(0.3 * n_active * SEASON[w.month[k] - 1]))
        end = min(int(w.start[k + 1]) - 1, as_of)
        dl_p.append(np.full(n, -1))
        dl_day.append(uniform_int(rng, np.full(n, w.start[k]), np.full(n, end)))
    ld_p = np.concatenate([ld_p, *dl_p]).astype(np.int64)
    ld_day = np.concatenate([ld_day, *dl_day]).astype(np.int64)
    NL = len(ld_p)
    ld_created = ld_day * DAY + rng.integers(6 * 3600, 22 * 3600, NL)
    mql = ld_day + rng.integers(1, 22, NL)
    has_mql = (rng.random(NL) < 0.6) & (mql <= as_of)
    sql = mql + rng.integers(3, 31, NL)
    has_sql = has_mql & (rng.random(NL) < 0.5) & (sql <= as_of)
    conv = sql + rng.integers(3, 46, NL)
    has_conv = has_sql & (rng.random(NL) < 0.55) & (conv <= as_of)
    stage_day = np.where(has_sql, sql, np.where(has_mql, mql, ld_day))
    disq = ~has_conv & (stage_day + 30 < as_of) & (rng.random(NL) < 0.5)
    ld_status = np.where(
        has_conv,
        "Converted",
        np.where(disq, "Disqualified", np.where(has_sql, "SQL", np.where(has_mql, "MQL", "Open"))),
    )
    partner_lead = ld_p >= 0
    src_partner = np.array(["Partner Referral", "Partner Event", "Webinar", "Web"], dtype=object)
    src_direct = np.array(["Web", "Webinar", "Event", "Advertisement"], dtype=object)
    ld_source = np.where(
        partner_lead,
        src_partner[_pick(rng, NL, (0.5, 0.2, 0.15, 0.15))],
        src_direct[_pick(rng, NL, (0.45, 0.2, 0.2, 0.15))],
    )
    ld_camp = campaign_for(np.where(partner_lead, ld_p, NP), ld_day, 0.35)
    ld_last = np.where(has_conv, conv, np.where(disq, stage_day + 30, stage_day))
    ld_mod = _modstamp(rng, w, ld_last * DAY + rng.integers(8 * 3600, 20 * 3600, NL), DAY)
    ld_mod = np.maximum(ld_mod, ld_created)
    ld_del = rng.random(NL) < 0.02
    ld_mod = np.where(ld_del, _modstamp(rng, w, ld_mod, 20 * DAY), ld_mod)

    # ------------------------------------------------------------------ opportunities
    # (a) from approved deal registrations, (b) from converted leads, (c) other partner
    # opportunities, (d) direct opportunities.
    a_idx = np.nonzero(dr_has_opp)[0]
    b_idx = np.nonzero(has_conv)[0]
    n_oc = rng.poisson(0.6 * base)
    oc_pm = np.repeat(np.arange(len(pm_p)), n_oc)
    od_p, od_day = [], []
    for k in range(M):
        n_active = int(((plan.k_first[P] <= k) & (plan.k_last[P] >= k)).sum())
        n = int(rng.poisson(0.25 * n_active * SEASON[w.month[k] - 1]))
        end = min(int(w.start[k + 1]) - 1, as_of)
        od_p.append(np.full(n, -1))
        od_day.append(uniform_int(rng, np.full(n, w.start[k]), np.full(n, end)))
    od_p = np.concatenate(od_p).astype(np.int64)
    od_day = np.concatenate(od_day).astype(np.int64)
    src = np.concatenate(
        [np.zeros(len(a_idx)), np.ones(len(b_idx)), np.full(len(oc_pm), 2), np.full(len(od_p), 3)]
    ).astype(np.int8)
    o_p = np.concatenate([dr_p[a_idx], ld_p[b_idx], pm_p[oc_pm], od_p]).astype(np.int64)
    o_day = np.concatenate(
        [opp_day[a_idx], conv[b_idx], uniform_int(rng, lo[oc_pm], hi[oc_pm]), od_day]
    ).astype(np.int64)
    NO = len(o_p)
    has_p = o_p >= 0
    pp = np.maximum(o_p, 0)
    any_cust = rng.integers(0, NC, NO)
    o_cust = np.where(has_p, _customer_of(plan, rng, pp), any_cust)
    o_cust[: len(a_idx)] = dr_cust[a_idx]
    o_line = _product_line(plan, rng, pp)
    o_line[: len(a_idx)] = dr_line[a_idx]
    o_dr = np.full(NO, -1)
    o_dr[: len(a_idx)] = a_idx
    role_u = rng.random(NO)
    role = np.full(NO, None, dtype=object)
    role[(src == 0) & (role_u < 0.75)] = "Sourced"
    role[(src == 1) & (role_u < 0.6)] = "Sourced"
    role[(src == 1) & (role_u >= 0.6) & (role_u < 0.9)] = "Influenced"
    role[(src == 2) & (role_u < 0.2)] = "Sourced"
    role[(src == 2) & (role_u >= 0.2) & (role_u < 0.75)] = "Influenced"
    role[~has_p] = None  # direct deals (also from converted direct leads) have no partner role
    o_cur_customer = np.array(
        [list(plan.cur_symbol).index(N.COUNTRIES[c][3]) for c in plan.c_country[o_cust].tolist()]
    )
    o_cur = np.where(has_p, plan.currency[pp], o_cur_customer)
    o_k = w.month_of_day(o_day)
    usd = rng.lognormal(np.log(22_000), 0.8, NO) * np.where(has_p, plan.size[pp] ** 0.3, 1.2)
    o_amt = _money(plan, usd, o_cur, o_k)
    o_amt[: len(a_idx)] = round_money(
        dr_amt[a_idx] * rng.uniform(0.7, 1.3, len(a_idx)), plan.cur_decimals[o_cur[: len(a_idx)]]
    )
    o_camp = campaign_for(np.where(has_p, o_p, NP), o_day, 0.25)
    o_camp[len(a_idx) : len(a_idx) + len(b_idx)] = ld_camp[b_idx]
    cycle = rng.integers(20, 161, NO)
    close_day = o_day + cycle
    closed = close_day <= as_of
    p_win = np.select(
        [src == 0, role == "Sourced", role == "Influenced", has_p], [0.55, 0.5, 0.45, 0.4], 0.35
    )
    won = closed & (rng.random(NO) < p_win)
    progress = np.clip((as_of - o_day) / cycle, 0, 0.999)
    stage_i = (progress * len(OPEN_STAGES)).astype(np.int64)
    stage = np.where(
        closed,
        np.where(won, "Closed Won", "Closed Lost"),
        np.array([s for s, _ in OPEN_STAGES], dtype=object)[stage_i],
    )
    prob = np.where(
        closed, np.where(won, 100.0, 0.0), np.array([x for _, x in OPEN_STAGES])[stage_i]
    )
    o_created = o_day * DAY + rng.integers(7 * 3600, 21 * 3600, NO)
    o_mod = np.where(
        closed,
        _modstamp(rng, w, close_day * DAY + 8 * 3600, 12 * 3600),
        o_created + (rng.random(NO) * (w.as_of_end - o_created)).astype(np.int64),
    )
    o_del = rng.random(NO) < 0.02
    o_mod = np.where(o_del, _modstamp(rng, w, o_mod, 20 * DAY), o_mod)

    order = np.lexsort((o_p, o_created))
    rank = np.empty(NO, dtype=np.int64)
    rank[order] = np.arange(NO)
    o_ids_sorted = salesforce_ids(PREFIX["Opportunity"], counters(rng, NO, 62**5 * 4)).astype(
        object
    )
    o_ids = o_ids_sorted[rank]

    # truth: soft-deleted closed-won partner opportunities
    close_k = w.month_of_day(close_day)
    cand = np.nonzero(won & has_p & ~o_del)[0]
    cand = cand[rng.permutation(len(cand))]
    picked = 0
    for i in cand.tolist():
        if picked >= n_case:
            break
        key = (int(o_p[i]), int(close_k[i]))
        if key in used:
            continue
        used.add(key)
        o_del[i] = True
        o_mod[i] = _modstamp(rng, w, np.array([o_mod[i]]), 30 * DAY)[0]
        picked += 1
        truth.append(
            {
                "case": "soft_deleted_opportunity",
                "partner_id": plan.sf_id[o_p[i]],
                "month": w.labels[key[1]],
                "detail": {
                    "opportunity_id": o_ids[i],
                    "amount": float(o_amt[i]),
                    "currency": plan.cur_symbol[o_cur[i]],
                    "stage": "Closed Won",
                    "partner_role": role[i],
                    "close_date": str(np.datetime64(int(close_day[i]), "D")),
                },
            }
        )

    o_names = [
        f"{plan.c_name[c]} - {N.PRODUCT_LINES[pl]}"
        for c, pl in zip(o_cust.tolist(), o_line.tolist(), strict=True)
    ]
    opp_cols = {
        "Id": a_str(o_ids),
        "Name": a_str(o_names),
        "AccountId": a_str(plan.c_sf_id[o_cust]),
        "PartnerAccountId": a_str(plan.sf_id[pp], mask=~has_p),
        "Partner_Role__c": a_str(role),
        "Deal_Registration__c": a_str(dr_ids[np.maximum(o_dr, 0)], mask=o_dr < 0),
        "CampaignId": a_str(c_ids[np.maximum(o_camp, 0)], mask=o_camp < 0),
        "StageName": a_str(stage),
        "IsClosed": a_bool(closed),
        "IsWon": a_bool(won),
        "Amount": a_f64(o_amt),
        "CurrencyIsoCode": a_str(cur_sym[o_cur]),
        "Probability": a_f64(prob),
        "Product_Line__c": a_str(pl_names[o_line]),
        "CreatedDate": a_ts(o_created),
        "CloseDate": a_date(close_day),
        "SystemModstamp": a_ts(o_mod),
        "IsDeleted": a_bool(o_del),
    }
    insert(con, "crm.opportunity", {k: v.take(order) for k, v in opp_cols.items()})
    counts["crm.opportunity"] = NO

    # deal registrations (need the opportunity ids)
    dr_opp = np.full(D, None, dtype=object)
    dr_opp[a_idx] = o_ids[: len(a_idx)]
    insert(
        con,
        "crm.deal_registration__c",
        {
            "Id": a_str(dr_ids),
            "Partner_Account__c": a_str(plan.sf_id[dr_p]),
            "End_Customer__c": a_str(plan.c_sf_id[dr_cust]),
            "Product_Line__c": a_str(pl_names[dr_line]),
            "Estimated_Amount__c": a_f64(dr_amt),
            "CurrencyIsoCode": a_str(cur_sym[dr_cur]),
            "Status__c": a_str(dr_status),
            "Submitted_Date__c": a_date(dr_sub),
            "Decision_Date__c": a_date(dr_dec, mask=~decided),
            "Expiration_Date__c": a_date(dr_exp, mask=~approved),
            "Opportunity__c": a_str(dr_opp),
            "SystemModstamp": a_ts(dr_mod),
            "IsDeleted": a_bool(dr_del),
        },
    )
    counts["crm.deal_registration__c"] = D

    # leads (need the converted opportunity ids)
    ld_opp = np.full(NL, None, dtype=object)
    ld_opp[b_idx] = o_ids[len(a_idx) : len(a_idx) + len(b_idx)]
    order = np.lexsort((ld_p, ld_created))
    lead_ids = salesforce_ids(PREFIX["Lead"], counters(rng, NL, 62**5 * 7)).astype(object)
    lead_cols = {
        "PartnerAccountId": a_str(plan.sf_id[np.maximum(ld_p, 0)], mask=~partner_lead),
        "Status": a_str(ld_status),
        "LeadSource": a_str(ld_source),
        "CampaignId": a_str(c_ids[np.maximum(ld_camp, 0)], mask=ld_camp < 0),
        "MQL_Date__c": a_date(mql, mask=~has_mql),
        "SQL_Date__c": a_date(sql, mask=~has_sql),
        "ConvertedDate": a_date(conv, mask=~has_conv),
        "ConvertedOpportunityId": a_str(ld_opp),
        "CreatedDate": a_ts(ld_created),
        "SystemModstamp": a_ts(ld_mod),
        "IsDeleted": a_bool(ld_del),
    }
    lead_cols = {k: v.take(order) for k, v in lead_cols.items()}
    lead_cols["Id"] = a_str(lead_ids)
    insert(con, "crm.lead", lead_cols)
    counts["crm.lead"] = NL
    return CrmResult(campaigns=campaigns, truth=truth, counts=counts)


def _pick(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())

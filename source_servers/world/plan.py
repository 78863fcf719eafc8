"""The world's dimensions: partners, end customers, products, currencies and rates.

Everything here is O(partners x months) and lives in memory; the high-volume facts
(ERP lines, events) are generated month by month from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import names as N
from .common import (
    DAY,
    STREAM_NAMES,
    STREAM_PLAN,
    STREAM_RATES,
    Window,
    rng_for,
    uniform_int,
)
from .ids import PREFIX, counters, salesforce_ids

SEASON = np.array([0.85, 0.90, 1.05, 0.95, 0.95, 1.05, 0.85, 0.80, 1.05, 1.05, 1.15, 1.35])
BASE_INVOICES = 28.5  # invoices per partner-month at size 1, scale 1
PARTNER_ERP_ID0 = 1001
CUSTOMER_ERP_ID0 = 20001
ITEM_ERP_ID0 = 501
SKU0 = 10001
# How much more often a partner picks the items of its specialisation's product lines: they
# then hold about half to four fifths of its sales, an expected location quotient of 1.8-5.7
# against at most 0.8 for its other lines (docs/models.md, rpt_partner_specialisation). At 3
# (before generator version 2) a two-line specialisation's quotients (about 1.5) were within
# a year's noise of other lines' (up to 1.4 for a partner with a product-line gap).
SPECIALIZATION_WEIGHT = 8.0


def case_count(partners: int) -> int:
    """How many partner-months carry each injected case."""
    return max(1, partners // 50)


@dataclass
class Plan:
    seed: int
    window: Window
    scale: float
    # --- partners (CRM partners and ERP-only ones), index order = ERP id order
    n_partners: int  # all, CRM + ERP-only
    crm: np.ndarray  # bool: has a CRM Account
    sf_id: np.ndarray  # object: Account Id or None
    erp_id: np.ndarray
    name: list[str]
    country: np.ndarray  # index into names.COUNTRIES
    region: np.ndarray  # index into names.REGIONS
    currency: np.ndarray  # index into names.CURRENCIES (id = index + 1)
    tier: np.ndarray
    ptype: np.ndarray
    spec: np.ndarray
    industry: np.ndarray
    since_day: np.ndarray
    created_s: np.ndarray  # Account CreatedDate (seconds)
    term_day: np.ndarray  # -1 when not terminated
    k_first: np.ndarray  # first active window month
    k_last: np.ndarray  # last active window month
    size: np.ndarray
    growth: np.ndarray
    discount: np.ndarray
    engagement: np.ndarray
    recruit_cost: np.ndarray
    csv: np.ndarray  # bool: reports by POS CSV file instead of the API
    cust_mat: np.ndarray  # (partners, kmax) customer indices
    cust_n: np.ndarray
    item_cdf: np.ndarray  # (partners, items) cumulative item choice probabilities
    # --- customers
    c_name: list[str]
    c_country: np.ndarray
    c_region: np.ndarray
    c_industry: np.ndarray
    c_erp_id: np.ndarray
    c_sf_id: np.ndarray
    c_created_s: np.ndarray
    # --- products
    pl_id: np.ndarray  # classification ids
    i_erp_id: np.ndarray
    i_sku: list[str]
    i_name: list[str]
    i_line: np.ndarray  # product line index
    i_price: np.ndarray  # list price USD
    i_cost: np.ndarray  # standard cost USD
    # --- currencies
    cur_symbol: tuple[str, ...]
    cur_decimals: np.ndarray
    rate: np.ndarray  # (currencies, months) USD per unit, USD row = 1.0

    # -------------------------------------------------------------- helpers
    @property
    def months(self) -> int:
        return self.window.months

    def active(self, p: int, k: int) -> bool:
        return bool(self.k_first[p] <= k <= self.k_last[p])

    def day_bounds(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """First and last allowed day-of-month (1-based) of every partner in month k."""
        w = self.window
        start = w.start[k]
        lo = np.ones(self.n_partners, dtype=np.int64)
        hi = np.full(self.n_partners, int(w.length[k]), dtype=np.int64)
        joins = (self.since_day >= start) & (self.since_day < start + w.length[k])
        lo[joins] = self.since_day[joins] - start + 1
        ends = (self.term_day >= start) & (self.term_day < start + w.length[k])
        hi[ends] = self.term_day[ends] - start + 1
        if k == w.months - 1:
            hi = np.minimum(hi, w.as_of_day - start + 1)
        return lo, hi

    def volume_factor(self, k: int) -> np.ndarray:
        """Expected invoices of every partner in month k (before partial-month scaling)."""
        w = self.window
        season = SEASON[w.month[k] - 1]
        trend = (1.0 + self.growth) ** ((k - (w.months - 1) / 2.0) / 12.0)
        since_k = w.month_of_day(self.since_day)
        ramp = np.where(since_k >= 0, np.clip(0.35 + 0.65 * (k - since_k) / 6.0, 0.35, 1.0), 1.0)
        to_end = np.where(self.term_day >= 0, self.k_last - k, 99)
        wind_down = np.clip(0.55 + 0.15 * to_end, 0.55, 1.0)
        return BASE_INVOICES * self.scale * self.size * season * trend * ramp * wind_down

    def period(self, k: int) -> str:
        return self.window.labels[k]


def _choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _countries(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    out = np.empty(len(region), dtype=np.int64)
    for r, rname in enumerate(N.REGIONS):
        idx = [i for i, c in enumerate(N.COUNTRIES) if c[1] == rname]
        sel = region == r
        out[sel] = np.array(idx)[_choice(rng, int(sel.sum()), [N.COUNTRIES[i][2] for i in idx])]
    return out


def _rates(seed: int, window: Window) -> np.ndarray:
    rng = rng_for(seed, STREAM_RATES)
    n_cur = len(N.CURRENCIES)
    rate = np.ones((n_cur, window.months))
    for c, (_sym, base, _dec) in enumerate(N.CURRENCIES):
        if c == 0:
            continue
        level = np.log(base) + rng.normal(0.0, 0.04)
        for k in range(window.months):
            level += rng.normal(0.0, 0.015) - 0.1 * (level - np.log(base))
            rate[c, k] = float(f"{np.exp(level):.6g}")
    return rate


def build_plan(seed: int, partners: int, window: Window, scale: float, n_unmapped: int) -> Plan:
    rng = rng_for(seed, STREAM_PLAN)
    M = window.months
    NP = partners + n_unmapped
    w0 = int(window.start[0])

    crm = np.zeros(NP, dtype=bool)
    crm[rng.permutation(NP)[:partners]] = True

    region = _choice(rng, NP, N.REGION_WEIGHTS)
    country = _countries(rng, region)
    currency = np.array([[c[0] for c in N.CURRENCIES].index(N.COUNTRIES[i][3]) for i in country])
    tier = _choice(rng, NP, N.TIER_WEIGHTS)
    ptype = _choice(rng, NP, N.PARTNER_TYPE_WEIGHTS)
    spec = rng.integers(0, len(N.SPECIALIZATIONS), NP)
    industry = rng.integers(0, len(N.INDUSTRIES), NP)

    # Partner_Since__c: most before the window, some joining during it.
    since_day = w0 - rng.integers(30, 2900, NP)
    if M >= 6:
        joins = crm & (rng.random(NP) < 0.30)
        jk = rng.integers(1, M - 2, NP)
        jday = window.start[jk] + np.floor(rng.random(NP) * window.length[jk]).astype(np.int64)
        since_day = np.where(joins, jday, since_day)
        tier = np.where(joins & (tier == 0), 1, tier)
    since_k = window.month_of_day(since_day)
    k_first = np.maximum(since_k, 0)

    # Terminations: about 8% of CRM partners, inside the window, before the as_of month.
    term_day = np.full(NP, -1, dtype=np.int64)
    k_last = np.full(NP, M - 1, dtype=np.int64)
    lo_k = np.maximum(k_first + 2, 2)
    cand = np.nonzero(crm & (lo_k <= M - 2))[0]
    n_term = min(len(cand), max(1, round(0.08 * partners)))
    for p in sorted(rng.choice(cand, size=n_term, replace=False).tolist()):
        k = int(rng.integers(lo_k[p], M - 1))
        term_day[p] = window.start[k] + int(rng.integers(0, window.length[k]))
        k_last[p] = k

    size = (
        np.array(N.TIER_SIZE)[tier]
        * np.array(N.PARTNER_TYPE_SIZE)[ptype]
        * rng.lognormal(0.0, 0.35, NP)
    )
    growth = rng.normal(0.08, 0.12, NP)
    discount = np.array([0.25, 0.20, 0.15, 0.10])[tier] + rng.uniform(-0.02, 0.02, NP)
    engagement = rng.lognormal(0.0, 0.5, NP)
    lo_c = np.array([r[0] for r in N.TIER_RECRUIT])[tier]
    hi_c = np.array([r[1] for r in N.TIER_RECRUIT])[tier]
    recruit_cost = np.round(lo_c + rng.random(NP) * (hi_c - lo_c), -2)

    created_s = (since_day - rng.integers(10, 120, NP)) * DAY + rng.integers(
        8 * 3600, 18 * 3600, NP
    )

    # CSV reporters: about 10% of CRM partners, at least 2, preferring long-standing ones.
    n_csv = max(2, round(0.10 * partners))
    long_standing = np.nonzero(crm & (k_first <= M // 3) & (term_day < 0))[0]
    pool = long_standing if len(long_standing) >= n_csv else np.nonzero(crm)[0]
    csv = np.zeros(NP, dtype=bool)
    csv[rng.choice(pool, size=min(n_csv, len(pool)), replace=False)] = True

    # ERP ids follow the order partners were set up in.
    order = np.argsort(since_day, kind="stable")
    perm = {
        "crm": crm, "region": region, "country": country, "currency": currency, "tier": tier,
        "ptype": ptype, "spec": spec, "industry": industry, "since_day": since_day,
        "created_s": created_s, "term_day": term_day, "k_first": k_first, "k_last": k_last,
        "size": size, "growth": growth, "discount": discount, "engagement": engagement,
        "recruit_cost": recruit_cost, "csv": csv,
    }  # fmt: skip
    perm = {k: v[order] for k, v in perm.items()}
    crm = perm["crm"]
    erp_id = PARTNER_ERP_ID0 + np.arange(NP, dtype=np.int64)
    sf_id = np.full(NP, None, dtype=object)
    n_crm = int(crm.sum())
    sf_id[crm] = salesforce_ids(PREFIX["Account"], counters(rng, n_crm, 62**5 * 3))

    rng_names = rng_for(seed, STREAM_NAMES)
    pnames = N.unique_names(rng_names, NP, (N.PARTNER_WORD_A, N.PARTNER_WORD_B))
    pname = [
        f"{n} {N.COUNTRIES[c][4]}" for n, c in zip(pnames, perm["country"].tolist(), strict=True)
    ]

    # --- end customers
    NC = max(60, 8 * NP)
    c_region = _choice(rng, NC, N.REGION_WEIGHTS)
    c_country = _countries(rng, c_region)
    c_industry = rng.integers(0, len(N.INDUSTRIES), NC)
    c_name = N.unique_names(
        rng_names, NC, (N.CUSTOMER_WORD_A, N.CUSTOMER_WORD_B, N.CUSTOMER_SUFFIX)
    )
    c_created_s = (w0 - rng.integers(60, 3000, NC)) * DAY + rng.integers(0, DAY, NC)
    c_erp_id = CUSTOMER_ERP_ID0 + np.arange(NC, dtype=np.int64)
    c_sf_id = salesforce_ids(PREFIX["Account"], counters(rng, NC, 62**5 * 5)).astype(object)

    k_cust = np.clip((10 + 12 * perm["size"] ** 0.7).astype(np.int64), 8, 60)
    kmax = int(k_cust.max())
    cust_mat = np.zeros((NP, kmax), dtype=np.int64)
    cust_n = np.zeros(NP, dtype=np.int64)
    pools = [np.nonzero(c_region == r)[0] for r in range(len(N.REGIONS))]
    for p in range(NP):
        pool = pools[perm["region"][p]]
        if len(pool) == 0:
            pool = np.arange(NC)
        take = min(int(k_cust[p]), len(pool))
        cust_mat[p, :take] = rng.choice(pool, size=take, replace=False)
        cust_n[p] = take

    # --- products
    i_line = np.repeat(np.arange(len(N.PRODUCT_LINES)), N.PRODUCT_LINE_SKUS)
    NI = len(i_line)
    i_erp_id = ITEM_ERP_ID0 + np.arange(NI, dtype=np.int64)
    sku_nums = SKU0 + np.cumsum(rng.integers(1, 12, NI)) - 1
    i_sku = [f"SKU-{n}" for n in sku_nums.tolist()]
    i_price = np.round(
        np.array(N.PRODUCT_LINE_PRICE)[i_line] * rng.lognormal(0.0, 0.7, NI), 0
    ).clip(60, 20_000)
    i_cost = np.round(i_price * rng.uniform(0.30, 0.62, NI), 2)
    i_name = []
    for i in range(NI):
        ed = N.EDITIONS[int(rng.integers(len(N.EDITIONS)))]
        unit = N.UNITS[int(rng.integers(len(N.UNITS)))]
        i_name.append(f"{N.PRODUCT_LINES[i_line[i]]} {ed} {unit}")
    popularity = rng.lognormal(0.0, 0.8, NI)
    spec_lines = [
        np.isin(i_line, [N.PRODUCT_LINES.index(x) for x in lines])
        for _name, lines in N.SPECIALIZATIONS
    ]
    weights = np.stack(
        [popularity * np.where(spec_lines[s], SPECIALIZATION_WEIGHT, 1.0) for s in perm["spec"]]
    )
    item_cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    item_cdf[:, -1] = 1.0

    return Plan(
        seed=seed,
        window=window,
        scale=scale,
        n_partners=NP,
        crm=crm,
        sf_id=sf_id,
        erp_id=erp_id,
        name=pname,
        country=perm["country"],
        region=perm["region"],
        currency=perm["currency"],
        tier=perm["tier"],
        ptype=perm["ptype"],
        spec=perm["spec"],
        industry=perm["industry"],
        since_day=perm["since_day"],
        created_s=perm["created_s"],
        term_day=perm["term_day"],
        k_first=perm["k_first"],
        k_last=perm["k_last"],
        size=perm["size"],
        growth=perm["growth"],
        discount=perm["discount"],
        engagement=perm["engagement"],
        recruit_cost=perm["recruit_cost"],
        csv=perm["csv"],
        cust_mat=cust_mat,
        cust_n=cust_n,
        item_cdf=item_cdf,
        c_name=c_name,
        c_country=c_country,
        c_region=c_region,
        c_industry=c_industry,
        c_erp_id=c_erp_id,
        c_sf_id=c_sf_id,
        c_created_s=c_created_s,
        pl_id=np.arange(1, len(N.PRODUCT_LINES) + 1, dtype=np.int64),
        i_erp_id=i_erp_id,
        i_sku=i_sku,
        i_name=i_name,
        i_line=i_line,
        i_price=i_price,
        i_cost=i_cost,
        cur_symbol=tuple(c[0] for c in N.CURRENCIES),
        cur_decimals=np.array([c[2] for c in N.CURRENCIES], dtype=np.int64),
        rate=_rates(seed, window),
    )


def random_times(rng: np.random.Generator, day: np.ndarray, lo_h: int = 7, hi_h: int = 20):
    """A time of day (seconds) on each day, during working hours."""
    day = np.asarray(day, dtype=np.int64)
    return day * DAY + uniform_int(
        rng, np.full(day.shape, lo_h * 3600), np.full(day.shape, hi_h * 3600)
    )

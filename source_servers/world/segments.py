"""Planted segment patterns: product-line gaps and industry specialists.

Every partner already specialises in the product lines of its `Specialization__c` (its
items weigh 3x, plan.py) and sells only to end customers of its own region. On top of
that, drawn from a stream of their own (STREAM_SEGMENTS, so that no other draw of the
world moves):

- product-line gaps: a few partners never sell one or two product lines (never one of
  their specialisation's lines): those lines' items weigh 0 in their item choice, in the
  ERP and in the CRM alike;
- industry specialists: a few partners whose end customers come mostly from one
  industry: 90% of their customer pool (the customers they sell to most) is of that
  industry, the rest of other industries of the region.

Both are chosen among partners with a CRM Account that are not terminated and were
partners for at least the window's last 13 months (the whole window, in a shorter one), so
that a trailing year of complete months shows them. Each is a `truth.json` case without a
month.
"""

from __future__ import annotations

import math

import numpy as np

from . import names as N
from .common import STREAM_SEGMENTS, rng_for
from .plan import Plan

# Share of an industry specialist's customer pool taken from its industry.
INDUSTRY_SPECIALIST_SHARE = 0.9
# Months of history a planted partner needs: the trailing 12 complete months and the
# as_of month.
PLANTED_MIN_MONTHS = 13


def planted_count(partners: int) -> int:
    """How many partners carry each planted segment pattern (5 in the default world)."""
    return max(2, partners // 30)


def plant_segments(plan: Plan, partners: int) -> list[dict]:
    """Plants the gaps and industry specialists into `plan` (item weights and customer
    pools) and returns their truth cases."""
    rng = rng_for(plan.seed, STREAM_SEGMENTS)
    n = planted_count(partners)
    since = max(0, plan.months - PLANTED_MIN_MONTHS)
    eligible = np.nonzero(plan.crm & (plan.term_day < 0) & (plan.k_first <= since))[0]
    picks = rng.permutation(eligible)
    gap_partners = sorted(picks[:n].tolist())
    specialist_partners = sorted(picks[n : 2 * n].tolist())
    truth = [_plant_gap(plan, rng, p) for p in gap_partners]
    truth += [_plant_industry_specialist(plan, rng, p) for p in specialist_partners]
    return truth


def _case(plan: Plan, case: str, p: int, detail: dict) -> dict:
    return {"case": case, "partner_id": plan.sf_id[p], "month": None, "detail": detail}


def _plant_gap(plan: Plan, rng: np.random.Generator, p: int) -> dict:
    spec_lines = {N.PRODUCT_LINES.index(x) for x in N.SPECIALIZATIONS[plan.spec[p]][1]}
    others = [line for line in range(len(N.PRODUCT_LINES)) if line not in spec_lines]
    lines = sorted(rng.choice(others, size=int(rng.integers(1, 3)), replace=False).tolist())
    weights = np.diff(plan.item_cdf[p], prepend=0.0)
    weights[np.isin(plan.i_line, lines)] = 0.0
    cdf = np.cumsum(weights / weights.sum())
    # Exactly 1 from the last item sold on: a line at the end must never be drawn.
    cdf[int(np.nonzero(weights)[0][-1]) :] = 1.0
    plan.item_cdf[p] = cdf
    return _case(
        plan,
        "product_line_gap",
        p,
        {
            "product_lines": [N.PRODUCT_LINES[line] for line in lines],
            "product_line_ids": [int(plan.pl_id[line]) for line in lines],
            "specialization": N.SPECIALIZATIONS[plan.spec[p]][0],
        },
    )


def _plant_industry_specialist(plan: Plan, rng: np.random.Generator, p: int) -> dict:
    in_region = plan.c_region == plan.region[p]
    if not in_region.any():  # as plan.py does: a region without customers sells to all
        in_region[:] = True
    # An industry with a few customers in the region (in a small world, the largest).
    counts = np.bincount(plan.c_industry[in_region], minlength=len(N.INDUSTRIES))
    industry = int(rng.choice(np.nonzero(counts >= min(5, counts.max()))[0]))
    of_industry = np.nonzero(in_region & (plan.c_industry == industry))[0]
    of_others = np.nonzero(in_region & (plan.c_industry != industry))[0]
    size = int(plan.cust_n[p])
    n_industry = min(math.ceil(INDUSTRY_SPECIALIST_SHARE * size), len(of_industry))
    size = min(size, math.floor(n_industry / INDUSTRY_SPECIALIST_SHARE))
    pool = np.concatenate(
        [
            rng.choice(of_industry, size=n_industry, replace=False),
            rng.choice(of_others, size=size - n_industry, replace=False),
        ]
    )
    # The pool's first customers are the ones a partner sells to most (erp.py, crm.py).
    plan.cust_mat[p, :] = 0
    plan.cust_mat[p, :size] = pool
    plan.cust_n[p] = size
    return _case(
        plan,
        "industry_specialist",
        p,
        {
            "industry": N.INDUSTRIES[industry],
            "customers": size,
            "industry_customers": n_industry,
        },
    )

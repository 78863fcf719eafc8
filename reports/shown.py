"""The figures a page or chart shows, as a digest: what decides whether it is drawn again
(reports.build's page digests, reports.charts' chart cache)."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any


def digest(*values: Any) -> str:
    """The SHA-256 of `values` (strings, numbers, dates, dicts, lists and dataclasses of
    them), pickled: equal values, equal digest.

    Their floats are compared exactly: the pages' figures are read rounded to what a page
    can show (reports.marts.rounded), so the last digits of DuckDB's parallel sums do not
    count as a change. Pickled rather than walked to round each float here: a page holds
    about 2,500 values, and the walk took half as long as rendering the page.
    """
    return hashlib.sha256(pickle.dumps(values, protocol=5)).hexdigest()

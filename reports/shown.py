"""The figures a page or chart shows, as a digest: what decides whether it is drawn again
(reports.build's page digests, reports.charts' chart cache)."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any


def digest(*values: Any) -> str:
    """The SHA-256 of `values` (strings, numbers, dates, dicts, lists and dataclasses of
    them), pickled: equal values built alike, equal digest (pickle writes an object met
    twice as a reference, so which objects are shared is part of its bytes; reports.data
    builds every page the same way from its rows).

    Their floats are compared exactly: the pages' figures are read rounded to what a page
    can show (reports.marts.rounded), so the last digits of DuckDB's parallel sums do not
    count as a change. Pickled rather than walked to round each float here: a page holds
    about 2,500 values, and the walk took nearly as long as rendering the page.
    """
    return hashlib.sha256(pickle.dumps(values, protocol=5)).hexdigest()

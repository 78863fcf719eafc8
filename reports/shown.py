"""The figures a page or chart shows, as a digest: what decides whether it is drawn again
(reports.build's page digests, reports.charts' chart cache)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _rounded(number: float) -> str:
    # DuckDB sums in parallel, in no fixed order, so an average of the same values differs
    # in its 16th digit from run to run, and a difference of two equal sums is 0 or ±1e-11
    # (every page and chart would count as changed). No page or chart shows more than a
    # few digits: 6 decimals and 10 digits. `+ 0.0`: -0.0 is 0.0.
    return f"{round(number, 6) + 0.0:.10g}"


_SCALARS = frozenset({str, int, bool, type(None), date, datetime, Decimal})


def _canonical(value: Any) -> Any:
    """`value` with every float in it rounded, as nested tuples (whose repr is the digest's
    text). A walk rather than a regular expression over the repr: a page's repr is ~80 kB,
    and scanning it for numbers took as long as rendering the page; scalars are handled
    inline, as a page holds thousands."""
    kind = type(value)
    if kind is float:
        return _rounded(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return tuple(
            (
                key,
                _rounded(item)
                if type(item) is float
                else (item if type(item) in _SCALARS else _canonical(item)),
            )
            for key, item in value.items()
        )
    if kind is list or kind is tuple:
        return tuple(
            _rounded(item)
            if type(item) is float
            else (item if type(item) in _SCALARS else _canonical(item))
            for item in value
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            kind.__name__,
            tuple(
                (field.name, _canonical(getattr(value, field.name)))
                for field in dataclasses.fields(value)
            ),
        )
    if isinstance(value, float):  # a subclass: numpy's float64
        return _rounded(value)
    return value  # digested by its repr


def digest(*values: Any) -> str:
    """The SHA-256 of `values` (strings, numbers, dates, dicts, lists and dataclasses of
    them) with every float rounded to 6 decimals and 10 digits: equal figures as shown,
    equal digest."""
    return hashlib.sha256(repr(_canonical(values)).encode()).hexdigest()

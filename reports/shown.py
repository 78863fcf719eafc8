"""The figures a page or chart shows, as text to digest: what decides whether it is drawn
again (reports.build's page digests, reports.charts' chart cache)."""

from __future__ import annotations

import re

# A decimal number in a repr or JSON text, rounded before digesting: DuckDB sums in
# parallel, in no fixed order, so an average of the same values differs in its 16th digit
# from run to run, and a difference of two equal sums is 0 or ±1e-11 (every page and chart
# would count as changed). No page or chart shows more than a few digits.
_FLOAT = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def _rounded(number: re.Match[str]) -> str:
    return f"{round(float(number.group()), 6) + 0.0:.10g}"  # + 0.0: -0.0 is 0.0


def rounded(text: str) -> str:
    """`text` with every decimal number in it rounded to 6 decimals and 10 digits."""
    return _FLOAT.sub(_rounded, text)

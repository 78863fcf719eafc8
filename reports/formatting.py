"""Numbers and dates as people read them, as Jinja filters: `{{ value | usd }}`.

A missing value (NULL in the marts: a ratio without a denominator, a month without a
report) is shown as an em dash, never as 0.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

MISSING = "—"
MINUS = "−"  # the typographic minus: a hyphen reads as a dash in a table


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal | int | float):
        return float(value)
    raise TypeError(f"not a number: {value!r}")


def _signed(text: str, negative: bool, plus: bool) -> str:
    return f"{MINUS}{text}" if negative else (f"+{text}" if plus else text)


def usd(value: object, digits: int = 0, plus: bool = False) -> str:
    """$1,234,567 (−$12 when negative)."""
    text = num(value, digits, plus)
    if text[:1] in (MINUS, "+"):
        return f"{text[0]}${text[1:]}"
    return text if text == MISSING else f"${text}"


def usd_short(value: object) -> str:
    """$1.2M, $850K, $920: for tiles, where the exact figure is in the table below."""
    number = _number(value)
    if number is None:
        return MISSING
    size = abs(number)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= limit:
            return _signed(f"${size / limit:,.1f}{suffix}", number < 0, False)
    return usd(number)


def num(value: object, digits: int = 0, plus: bool = False) -> str:
    """1,234 (or 1,234.5 with digits=1)."""
    number = _number(value)
    if number is None:
        return MISSING
    if round(number, digits) == 0:
        number = 0.0
    return _signed(f"{abs(number):,.{digits}f}", number < 0, plus and number > 0)


def pct(value: object, digits: int = 1, plus: bool = False) -> str:
    """A ratio as a percentage: 0.123 → 12.3%."""
    number = _number(value)
    if number is None:
        return MISSING
    return num(number * 100, digits, plus) + "%"


def multiple(value: object, digits: int = 1) -> str:
    """A ratio read as "so many times": 2.345 → 2.3×."""
    text = num(value, digits)
    return text if text == MISSING else f"{text}×"


def month(value: date | None) -> str:
    """Nov 2026."""
    return value.strftime("%b %Y") if value else MISSING


def day(value: date | None) -> str:
    """3 Dec 2026."""
    return f"{value.day} {value:%b %Y}" if value else MISSING


def measure(value: object, kind: str) -> str:
    """A scorecard measure in its own unit (reports.data.MEASURES)."""
    if kind == "usd":
        return usd(value)
    if kind in ("pct", "ratio"):
        return pct(value)
    if kind == "num1":
        return num(value, 1)
    return num(value)


def label(code: str | None) -> str:
    """A code of the marts as words: over_reported → Over reported."""
    if not code:
        return MISSING
    text = code.replace("_", " ")
    return text[:1].upper() + text[1:]


def partner_label(name: str | None, partner_id: str | None) -> str:
    """ "Granite Services Pty Ltd (0018d000030DJXTAA4)": a partner as operators read it; the
    id alone without a name, "no partner" without an id."""
    if not partner_id:
        return "no partner"
    return f"{name} ({partner_id})" if name else partner_id


FILTERS = {
    "usd": usd,
    "usd_short": usd_short,
    "num": num,
    "pct": pct,
    "multiple": multiple,
    "month": month,
    "day": day,
    "label": label,
}

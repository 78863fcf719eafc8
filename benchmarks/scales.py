"""Benchmark scales: the world each one generates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Mid-month, so that the "next day" of the incremental figure stays in the same month.
AS_OF = dt.date(2025, 6, 14)


@dataclass(frozen=True)
class Scale:
    name: str
    partners: int
    months: int
    seed: int = 7
    scale: float = 1.0
    as_of: dt.date = AS_OF

    @property
    def next_day(self) -> dt.date:
        return self.as_of + dt.timedelta(days=1)

    def describe(self) -> str:
        return f"{self.partners} partners x {self.months} months (seed {self.seed})"


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 8, 6),
    "small": Scale("small", 150, 36),  # the demo world
    "medium": Scale("medium", 1000, 36),
    "large": Scale("large", 2000, 60),
}


def get_scale(name: str, partners: int | None = None, months: int | None = None) -> Scale:
    """A named scale, or a custom one when `partners`/`months` override it."""
    base = SCALES[name]
    if partners is None and months is None:
        return base
    return Scale(
        f"{name}-p{partners or base.partners}-m{months or base.months}",
        partners or base.partners,
        months or base.months,
    )

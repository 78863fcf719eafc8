"""The share of a source's daily API allowance the pipeline may spend.

A Salesforce org has one daily allowance of API calls, shared by every integration. The
pipeline keeps `reserve` of it for the others: before each request it checks the org's
usage as last reported (`/limits` when the client starts, then `Sforce-Limit-Info` on
every response), and a request that would reach into the reserve is not sent. The sync
that wanted it stops with `ApiBudgetExhausted`; nothing of it is committed (the sync
lands only after its last page), and the next run starts it again from the same mark.

Usage is the org's, not this process's: other integrations' calls count too. Objects that
sync concurrently each check before their own requests, so the reserve may be entered by
at most one request per object in flight.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from connectors.http import SourceError

API_BUDGET = "API_BUDGET"


class ApiBudgetExhausted(SourceError):
    """A request was not sent: it would have spent API calls kept for other integrations."""

    def __reduce__(self):
        return (_rebuild, (self.system, self.endpoint, self.message))


def _rebuild(system: str, endpoint: str, message: str) -> ApiBudgetExhausted:
    return ApiBudgetExhausted(system, endpoint, None, message, code=API_BUDGET)


@dataclass(frozen=True)
class Usage:
    """The org's daily API usage as last reported."""

    used: int
    limit: int


class ApiBudget:
    """Calls may be spent while the org's usage stays below `limit * (1 - reserve)`."""

    def __init__(self, system: str, reserve: float) -> None:
        if not 0 <= reserve < 1:
            raise ValueError(f"reserve must be from 0 up to 1, got {reserve}")
        self.system = system
        self.reserve = reserve
        self.usage: Usage | None = None
        self._lock = threading.Lock()

    def observe(self, used: int, limit: int) -> None:
        """Record usage reported by the source (`Sforce-Limit-Info`, `/limits`)."""
        with self._lock:
            self.usage = Usage(used, limit)

    def allowed(self, limit: int) -> int:
        """The calls of a daily `limit` the pipeline may spend."""
        return math.floor(limit * (1 - self.reserve))

    def left(self) -> int | None:
        """Calls the pipeline may still spend today (None until usage is known)."""
        usage = self.usage
        return None if usage is None else max(0, self.allowed(usage.limit) - usage.used)

    def check(self, endpoint: str) -> None:
        """Raise `ApiBudgetExhausted` if one more call would enter the reserve. With no
        reserve the org's own limit stops the sync (403 REQUEST_LIMIT_EXCEEDED)."""
        usage = self.usage
        if self.reserve == 0 or usage is None or usage.limit <= 0:
            return
        if usage.used + 1 <= self.allowed(usage.limit):
            return
        kept = usage.limit - self.allowed(usage.limit)
        remaining = max(0, usage.limit - usage.used)
        raise ApiBudgetExhausted(
            self.system,
            endpoint,
            None,
            f"stopped before spending API calls kept for other integrations: the org has "
            f"used {usage.used:,} of its {usage.limit:,} daily calls, {remaining:,} remain "
            f"and {kept:,} ({self.reserve:.0%}) are kept for others; nothing of this sync "
            "was committed, and the next run resumes it from the same watermark",
            code=API_BUDGET,
        )

    def summary(self) -> dict[str, int | float]:
        """For run metadata: usage, limit, the reserve and the calls still ours."""
        usage = self.usage
        if usage is None:
            return {}
        return {
            "api_used": usage.used,
            "api_limit": usage.limit,
            "api_reserve": self.reserve,
            "api_calls_left": self.left() or 0,
        }

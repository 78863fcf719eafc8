"""urllib3's `Retry`, bounded: a usable `Retry-After` or backoff, and a cap on the total
time spent retrying one request (mounted by `connectors.http.build_session`); and a way to
hear of each retry as it happens (`observing`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry


class RetryBudgetExceeded(Exception):
    """Retrying one request would take longer than `HttpSettings.retry_total_max_s`.

    Raised from inside urllib3 (`BoundedRetry.sleep`). It is neither an `OSError` nor a
    urllib3 error, so requests passes it unchanged to `connectors.http.HttpClient`.
    """

    def __init__(
        self, history: tuple, status: int | None, spent_s: float, wait_s: float, cap_s: float
    ) -> None:
        self.history = history
        self.status = status
        super().__init__(
            f"gave up after {len(history)} attempts in {spent_s:.1f} s: the next wait of "
            f"{wait_s:.1f} s would pass the {cap_s:g} s cap on the total time spent retrying "
            "one request (PARTNERPULSE_HTTP_RETRY_TOTAL_MAX)"
        )


# The adapter's Retry is shared by every request of a session, and urllib3 retries in the
# thread that sent the request: a per-thread observer tells one request's caller.
_observer = threading.local()


@contextmanager
def observing(callback: Callable[[int | None], None] | None) -> Iterator[None]:
    """Call `callback(status)` (None: no response) before each retry of the requests this
    thread sends inside the block, while the request is still being retried."""
    previous = getattr(_observer, "callback", None)
    _observer.callback = callback
    try:
        yield
    finally:
        _observer.callback = previous


class BoundedRetry(Retry):
    """urllib3's Retry, with two changes:

    - a `Retry-After` that is neither whole seconds nor an HTTP date (negative, fractional,
      garbage) falls back to the normal backoff: urllib3 would fail the request at once with
      `InvalidHeader`;
    - a total cap: no retry starts whose wait would end more than `total_wait_max` seconds
      after the request's first failure (each wait alone is capped by `retry_after_max` and
      `backoff_max`, but six such waits still add up to several minutes).
    """

    def __init__(
        self,
        *args: Any,
        total_wait_max: float | None = None,
        retrying_since: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.total_wait_max = total_wait_max
        # `time.monotonic()` of the request's first failure; None on the adapter's shared
        # instance, set on the per-request copies `increment` makes.
        self.retrying_since = retrying_since

    def new(self, **kw: Any) -> BoundedRetry:
        kw.setdefault("total_wait_max", self.total_wait_max)
        kw.setdefault("retrying_since", self.retrying_since)
        return super().new(**kw)

    def increment(self, *args: Any, **kwargs: Any) -> BoundedRetry:
        retry = super().increment(*args, **kwargs)
        if retry.retrying_since is None:
            retry.retrying_since = time.monotonic()
        return retry

    def get_retry_after(self, response) -> float | None:  # type: ignore[no-untyped-def]
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            return None

    def sleep(self, response=None) -> None:  # type: ignore[no-untyped-def]
        # urllib3's order: the server's Retry-After if it gave a usable one, else backoff.
        wait = (
            self.get_retry_after(response) if self.respect_retry_after_header and response else None
        )
        if not wait:
            wait = self.get_backoff_time()
        callback = getattr(_observer, "callback", None)
        if callback is not None:
            callback(response.status if response else self.history[-1].status)
        if self.total_wait_max is not None and self.retrying_since is not None:
            spent = time.monotonic() - self.retrying_since
            if spent + wait > self.total_wait_max:
                status = response.status if response else self.history[-1].status
                raise RetryBudgetExceeded(self.history, status, spent, wait, self.total_wait_max)
        if wait > 0:
            time.sleep(wait)

"""Salesforce-style 18-character record ids, built vectorised.

A 15-character id is a 3-character key prefix (`001` Account, `006` Opportunity, ...),
a 2-character pod (`8d`), `000` and a 7-digit base-62 counter (`0-9A-Za-z`). The 18-character
form appends Salesforce's case-safe checksum: for each 5-character chunk, a bit per
upper-case letter, mapped onto `A-Z0-5`.
"""

from __future__ import annotations

import numpy as np

BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
CHECKSUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", np.uint8)

PREFIX = {
    "Account": "001",
    "Opportunity": "006",
    "Lead": "00Q",
    "Campaign": "701",
    "Deal_Registration__c": "a0D",
}
POD = "8d000"
COUNTER_DIGITS = 7


def salesforce_ids(prefix: str, counters: np.ndarray) -> np.ndarray:
    """18-character ids (numpy unicode array) for non-negative integer counters."""
    counters = np.asarray(counters, dtype=np.int64)
    n = len(counters)
    head = np.frombuffer((prefix + POD).encode(), np.uint8)
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, : len(head)] = head
    rest = counters.copy()
    for pos in range(14, 14 - COUNTER_DIGITS, -1):
        chars[:, pos] = BASE62[rest % 62]
        rest //= 62
    if n and rest.max() > 0:
        raise ValueError("salesforce id counter overflow")
    upper = (chars[:, :15] >= ord("A")) & (chars[:, :15] <= ord("Z"))
    weights = np.array([1, 2, 4, 8, 16], dtype=np.int64)
    for i in range(3):
        idx = upper[:, i * 5 : i * 5 + 5].astype(np.int64) @ weights
        chars[:, 15 + i] = CHECKSUM[idx]
    return chars.view("S18").ravel().astype("U18")


def counters(rng: np.random.Generator, n: int, start: int) -> np.ndarray:
    """Increasing counters with small random gaps (ids are not dense in a real org)."""
    offset = int(rng.integers(0, 62**4))
    return start + offset + np.cumsum(rng.integers(1, 9, size=n, dtype=np.int64))


def checksum_ok(sfid: str) -> bool:
    """Check an 18-character id's case-safe suffix (used by tests)."""
    if len(sfid) != 18:
        return False
    suffix = ""
    for i in range(3):
        chunk = sfid[i * 5 : i * 5 + 5]
        bits = sum(1 << j for j, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return suffix == sfid[15:]

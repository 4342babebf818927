"""RFM scores (§20) from the quintile boundaries a refresh stored, so a member's scores are
exact at read time without rewriting every member whose score moved with the boundaries.

A score is 1 + floor(5 × rank / N), rank = scored members with a strictly smaller value: it
never falls as the value grows, so it is fixed by the least value reaching each score. A
refresh keeps those (`thresholds_of`), per letter: {"2": v, ..., "5": v} (a score no member
reached is absent); `score(value, bounds)` is then 1 + the number of bounds the value reaches.
R's value is the latest purchase date (ISO text: -recency_days orders the same way), F's the
frequency, M's the monetary amount. Pure: no storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

LETTERS = ("r", "f", "m")


def thresholds_of(scored: Iterable[tuple[Any, int]]) -> dict[str, Any]:
    """(value, score) of every scored member -> {"2".."5": least value with at least that score}."""
    least: dict[int, Any] = {}
    for value, score in scored:
        if score not in least or value < least[score]:
            least[score] = value
    bounds: dict[str, Any] = {}
    for k in range(2, 6):
        reached = [least[s] for s in least if s >= k]
        if reached:
            bounds[str(k)] = min(reached)
    return bounds


def score(value: Any, bounds: dict[str, Any]) -> int:
    return 1 + sum(1 for k in range(2, 6) if str(k) in bounds and value >= bounds[str(k)])


def segment_of(r: int, f: int, m: int) -> str:
    """§20's rfm_segment of a scored member: the first that matches."""
    if r >= 4 and f >= 4 and m >= 4:
        return "champions"
    if r >= 3 and f >= 4:
        return "loyal"
    if r >= 4 and f <= 2:
        return "promising"
    if r <= 2 and f >= 3:
        return "at_risk"
    if r <= 2 and f <= 2:
        return "hibernating"
    return "needs_attention"


def scores(
    last_purchase_date: Optional[str], frequency: int, monetary: int, thresholds: dict[str, dict]
) -> Optional[dict]:
    """{"r", "f", "m"} of a member from the stored thresholds; None when unscored (frequency 0)."""
    if frequency < 1 or last_purchase_date is None:
        return None
    values = {"r": last_purchase_date, "f": frequency, "m": monetary}
    return {letter: score(values[letter], thresholds.get(letter) or {}) for letter in LETTERS}

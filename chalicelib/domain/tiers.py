"""Tiers from quarterly spend (contract §6).

A member's tier is the highest tier whose `min_spend` is at most the larger
of this quarter's and last quarter's spend (quarters in the program timezone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Optional

from chalicelib.domain.calendar import format_instant, quarter_of, quarter_start, shift_quarter
from chalicelib.domain.program import Program

KEEP_QUARTERS = 4


def qualifying_spend(spend: dict[str, int], current: str) -> int:
    return max(spend.get(current, 0), spend.get(shift_quarter(current, -1), 0))


def tier_at(program: Program, spend: dict[str, int], now: dt.datetime) -> str:
    current = quarter_of(now, program.timezone)
    return program.tier_for_spend(qualifying_spend(spend, current))


def tier_review_at(program: Program, spend: dict[str, int], tier: str, now: dt.datetime) -> Optional[str]:
    """When `tier` may next fall: the start of the quarter in which the spend
    that holds it stops counting. None for the base tier (it cannot fall)."""
    rank = program.tier_rank(tier)
    if rank == 0:
        return None
    current = quarter_of(now, program.timezone)
    held_by_current = program.tier_rank(program.tier_for_spend(spend.get(current, 0))) >= rank
    turn = shift_quarter(current, 2 if held_by_current else 1)
    return format_instant(quarter_start(turn, program.timezone))


def pruned_spend(spend: dict[str, int], now: dt.datetime, timezone: str) -> dict[str, int]:
    """Drop quarters too old to matter for any tier or refund."""
    oldest = shift_quarter(quarter_of(now, timezone), -(KEEP_QUARTERS - 1))
    return {q: v for q, v in spend.items() if q >= oldest}


def ladder_signature(program: Program) -> str:
    """What members' tiers depend on besides their spend: the tiers' names and
    thresholds. When it changes, every member's tier is evaluated again."""
    ladder = [[tier.name, tier.min_spend] for tier in program.tiers]
    return hashlib.sha256(json.dumps(ladder, ensure_ascii=False).encode()).hexdigest()

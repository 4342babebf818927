"""Coupons (contract §11): what a template gives, when a coupon can be used,
and the discount it takes off an order. Plain rules, no storage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from chalicelib.domain.calendar import format_instant, local_date, parse_instant

if TYPE_CHECKING:
    from chalicelib.domain.program import Program

SOURCES = ("manual", "points", "signup", "birthday", "tier_up", "win_back", "campaign")


def expires_at(issued_at: dt.datetime, valid_days: int) -> str:
    return format_instant(issued_at + dt.timedelta(days=valid_days))


def status(coupon: dict, now_text: str) -> str:
    """`used`, else `expired` once now >= expires_at, else `available`."""
    if coupon.get("status") == "used":
        return "used"
    return "expired" if now_text >= coupon["expires_at"] else "available"


def discount_amount(discount: dict, order_amount: int) -> int:
    """`amount`: min(amount, order_amount); `percent`: floor(order_amount ×
    percent / 100), at most `max_amount` when set."""
    if discount["type"] == "amount":
        return min(int(discount["amount"]), order_amount)
    off = order_amount * int(discount["percent"]) // 100
    cap: Optional[int] = discount.get("max_amount")
    return min(off, int(cap)) if cap is not None else off


def unusable_reason(coupon: dict, now_text: str, order_amount: int) -> Optional[str]:
    """Why the coupon cannot be used on this order (None: it can)."""
    state = status(coupon, now_text)
    if state == "used":
        return "the coupon was already used"
    if state == "expired":
        return f"the coupon expired at {coupon['expires_at']}"
    minimum = int(coupon.get("min_order_amount") or 0)
    if order_amount < minimum:
        return f"the coupon needs an order of at least {minimum}"
    return None


def is_past(moment_text: str, now: dt.datetime) -> bool:
    return parse_instant(moment_text) <= now


@dataclass(frozen=True)
class TierUpCoupon:
    """The coupon a move up into `tier` earns: its template, and the calendar year
    (program timezone) it counts for."""

    tier: str
    template_id: str
    year: int


def tier_up_coupon(
    program: Program, issued_years: dict[str, int], old_tier: str, new_tier: str, now: dt.datetime
) -> Optional[TierUpCoupon]:
    """§11: moving up into a tier with a `tier_up` template earns it, at most once
    per member, tier and calendar year (program timezone). `issued_years`: tier ->
    the year its coupon was last issued to the member. None: nothing is earned
    (not a move up, no template for the tier, or already issued this year)."""
    if program.tier_rank(new_tier) <= program.tier_rank(old_tier):
        return None
    template_id = program.auto_coupons.tier_up.get(new_tier)
    year = local_date(now, program.timezone).year
    if not template_id or issued_years.get(new_tier) == year:
        return None
    return TierUpCoupon(new_tier, template_id, year)

"""Coupons (contract §11): what a template gives, when a coupon can be used,
and the discount it takes off an order. Plain rules, no storage."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from chalicelib.domain.calendar import format_instant, parse_instant

SOURCES = ("manual", "points", "signup", "birthday", "tier_up", "win_back")


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

"""The read side: members, history, notifications, stats, rewards and vouchers
as the contract shows them."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from chalicelib.domain import coupons
from chalicelib.domain.calendar import format_instant, parse_instant, quarter_of
from chalicelib.domain.member import Member
from chalicelib.domain.program import Program
from chalicelib.domain.tiers import tier_at
from chalicelib.domain.wallet import key_expires

EXPIRING_WINDOW = dt.timedelta(days=30)
PUBLIC_TX_FIELDS = (
    "transaction_id",
    "member_id",
    "type",
    "points",
    "balance_after",
    "created_at",
    "order_id",
    "reason",
    "breakdown",
    "storefront",
    "reward_id",
    "reversed_transaction_id",
    "unrecovered_points",
    "amount",
    "counterparty_member_id",
    "coupon_id",
    "available_at",
)
STATS_FIELDS = ("points_earned", "points_redeemed", "points_expired", "points_adjusted", "points_reversed")
COUPON_FIELDS = (
    "coupon_id",
    "code",
    "member_id",
    "template_id",
    "name",
    "discount",
    "min_order_amount",
    "source",
    "status",
    "issued_at",
    "expires_at",
    "used_at",
    "order_id",
    "discount_amount",
)
DAILY_FIELDS = (
    "members_joined",
    "earns",
    "purchase_amount",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "coupons_used",
)


def transaction_view(tx: dict) -> dict:
    view = {k: tx[k] for k in PUBLIC_TX_FIELDS if k in tx and tx[k] is not None}
    view["storefront"] = tx.get("storefront")
    return view


def member_view(program: Program, member: Member, now: dt.datetime) -> dict:
    """The member as §3 shows it; the tier is always the one §6 gives now (a
    quarter that turned, or a changed tier ladder, shows before any job ran)."""
    quarter_spend = member.spend.get(quarter_of(now, program.timezone), 0)
    tier = tier_at(program, member.spend, now)
    upper = program.next_tier(tier)
    member.wallet.now = format_instant(now)  # §25: pending points come due by time alone
    expiring = member.wallet.expiring(format_instant(now), format_instant(now + EXPIRING_WINDOW))
    return {
        "member_id": member.member_id,
        "name": member.name,
        "email": member.email,
        "phone": member.phone,
        "birthday": member.birthday,
        "tier": tier,
        "balance": member.balance,
        "pending_points": member.wallet.pending_points,
        "pending": [{"points": lot.left, "available_at": lot.available_at} for lot in member.wallet.still_pending()],
        "lifetime_points": member.lifetime_points,
        "quarter_spend": quarter_spend,
        "next_tier": ({"name": upper.name, "spend_needed": upper.min_spend - quarter_spend} if upper else None),
        "expiring": [{"points": points, "expires_at": key_expires(key)} for key, points in expiring],
        "referral_code": member.referral_code,
        "created_at": member.created_at,
        "locale": member.locale,
        "suspension": member.suspension,
        "coupons_available": member.coupons_available(format_instant(now)),
        "last_activity_at": member.active_since,
        "dormant": is_dormant(program, member, now),
    }


def is_dormant(program: Program, member: Member, now: dt.datetime) -> bool:
    """§14: from last_activity_at + after_days until the next earn or redeem."""
    if program.dormancy is None:
        return False
    return now >= parse_instant(member.active_since) + dt.timedelta(days=program.dormancy.after_days)


def coupon_view(item: dict, now_text: str) -> dict:
    view = {name: item.get(name) for name in COUPON_FIELDS}
    view["status"] = coupons.status(item, now_text)
    if item.get("transaction_id"):
        view["transaction_id"] = item["transaction_id"]
    if item.get("campaign_id"):
        view["campaign_id"] = item["campaign_id"]  # §22: a campaign's coupon (source campaign)
    return view


def template_view(item: dict) -> dict:
    return {
        "template_id": item["template_id"],
        "name": item["name"],
        "discount": item["discount"],
        "min_order_amount": int(item.get("min_order_amount") or 0),
        "valid_days": int(item["valid_days"]),
        "points_cost": item.get("points_cost"),
        "created_at": item.get("created_at"),
    }


def daily_view(days: list[str], shards: list[dict]) -> dict:
    """§16: one item per day in order, zeros included, summed over the day's shards."""
    totals: dict[str, Counter] = {day: Counter() for day in days}
    for item in shards:
        day = totals.get(item["sk"])
        if day is not None:
            for name in DAILY_FIELDS:
                day[name] += int(item.get(name, 0))
    return {"items": [{"date": day, **{name: totals[day][name] for name in DAILY_FIELDS}} for day in days]}


def stats_view(program: Program, shards: list[dict], points_pending: int = 0) -> dict:
    totals: Counter = Counter()
    for shard in shards:
        for name, value in shard.items():
            if name not in ("pk", "sk"):
                totals[name] += int(value)
    outstanding = (
        totals["points_earned"]
        - totals["points_redeemed"]
        - totals["points_expired"]
        + totals["points_adjusted"]
        + totals["points_reversed"]
    )
    return {
        "members": totals["members"],
        "members_by_tier": {t.name: totals[f"tier:{t.name}"] for t in program.tiers},
        **{name: totals[name] for name in STATS_FIELDS},
        "points_outstanding": outstanding,
        "points_pending": points_pending,  # §25: included in points_outstanding
        "liability": outstanding * program.point_value,
        "coupons_issued": totals["coupons_issued"],
        "coupons_used": totals["coupons_used"],
    }


def reward_view(item: dict) -> dict:
    return {
        "reward_id": item["reward_id"],
        "name": item["name"],
        "points_cost": int(item["points_cost"]),
        "stock": item.get("stock"),
        "created_at": item.get("created_at"),
    }


def voucher_view(item: dict) -> dict:
    return {
        "code": item.get("code") or item["pk"].split("#", 1)[1],
        "member_id": item["member_id"],
        "reward_id": item["reward_id"],
        "transaction_id": item["transaction_id"],
        "status": item.get("status", "issued"),
        "issued_at": item.get("issued_at"),
    }


def notification_view(item: dict) -> dict:
    fields = ("notification_id", "type", "channel", "status", "created_at", "sent_at")
    return {k: item.get(k) for k in fields}

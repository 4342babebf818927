"""The read side: members, history, notifications, stats, rewards and vouchers
as the contract shows them."""
from __future__ import annotations

import datetime as dt
from collections import Counter

from .domain.calendar import format_instant, quarter_of
from .domain.member import Member
from .domain.program import Program
from .domain.tiers import tier_at
from .domain.wallet import key_expires

EXPIRING_WINDOW = dt.timedelta(days=30)
PUBLIC_TX_FIELDS = (
    "transaction_id", "member_id", "type", "points", "balance_after", "created_at",
    "order_id", "reason", "breakdown", "storefront", "reward_id",
    "reversed_transaction_id", "unrecovered_points", "amount",
    "counterparty_member_id", "coupon_id",
)
STATS_FIELDS = ("points_earned", "points_redeemed", "points_expired", "points_adjusted", "points_reversed")


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
    expiring = member.wallet.expiring(format_instant(now), format_instant(now + EXPIRING_WINDOW))
    return {
        "member_id": member.member_id,
        "name": member.name,
        "email": member.email,
        "phone": member.phone,
        "birthday": member.birthday,
        "tier": tier,
        "balance": member.balance,
        "lifetime_points": member.lifetime_points,
        "quarter_spend": quarter_spend,
        "next_tier": (
            {"name": upper.name, "spend_needed": upper.min_spend - quarter_spend} if upper else None
        ),
        "expiring": [{"points": points, "expires_at": key_expires(key)} for key, points in expiring],
        "referral_code": member.referral_code,
        "created_at": member.created_at,
    }


def stats_view(program: Program, shards: list[dict]) -> dict:
    totals: Counter = Counter()
    for shard in shards:
        for name, value in shard.items():
            if name not in ("pk", "sk"):
                totals[name] += int(value)
    outstanding = (
        totals["points_earned"] - totals["points_redeemed"] - totals["points_expired"]
        + totals["points_adjusted"] + totals["points_reversed"]
    )
    return {
        "members": totals["members"],
        "members_by_tier": {t.name: totals[f"tier:{t.name}"] for t in program.tiers},
        **{name: totals[name] for name in STATS_FIELDS},
        "points_outstanding": outstanding,
        "liability": outstanding * program.point_value,
    }


def reward_view(item: dict) -> dict:
    return {"reward_id": item["reward_id"], "name": item["name"],
            "points_cost": int(item["points_cost"]), "stock": item.get("stock"),
            "created_at": item.get("created_at")}


def voucher_view(item: dict) -> dict:
    return {"code": item.get("code") or item["pk"].split("#", 1)[1], "member_id": item["member_id"],
            "reward_id": item["reward_id"], "transaction_id": item["transaction_id"],
            "status": item.get("status", "issued"), "issued_at": item.get("issued_at")}


def notification_view(item: dict) -> dict:
    fields = ("notification_id", "type", "channel", "status", "created_at", "sent_at")
    return {k: item.get(k) for k in fields}

"""POST /members/{id}/redeem (contract §4, §5): points for cash or a reward."""

from __future__ import annotations

from typing import Any

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain.ids import voucher_code
from chalicelib.errors import BelowMinimumRedemptionError, NotFoundError, OutOfStockError, ValidationError
from chalicelib.ledger.member_changes import Found, IdempotencyKey, MemberChanges, Members, Result, Unit
from chalicelib.ledger.views import transaction_view
from chalicelib.storage.repository import key_of, reward_key, voucher_key
from chalicelib.storage.store import STALE, refuse


def redeem(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Redeem
) -> Result:
    reward_item_key = reward_key(request.reward_id) if request.reward_id else None
    sold_out = refuse(lambda: OutOfStockError(f"reward {request.reward_id!r} is out of stock"))

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        unit.require_allowed("redeem", member)
        reward = None
        points = request.points
        if reward_item_key:
            reward = found.get(reward_item_key)
            if reward is None:
                raise NotFoundError(f"reward {request.reward_id!r} not found")
            if points is not None and points != reward["points_cost"]:
                raise ValidationError(f"points must equal the reward's points_cost ({reward['points_cost']})")
            points = int(reward["points_cost"])
            if reward.get("stock") is not None and reward["stock"] <= 0:
                raise OutOfStockError(f"reward {request.reward_id!r} is out of stock")
        elif points is None:  # the request's schema asks for one of the two
            raise ValidationError("points is required for a cash redemption")
        elif points < unit.program.redemption.min_points:
            raise BelowMinimumRedemptionError(f"redemptions start at {unit.program.redemption.min_points} points")
        _, ranges = member.wallet.debit(points)
        extra: dict[str, Any] = {}
        body_extra: dict[str, Any] = {"cash_value": points * unit.program.point_value}
        if reward is not None:
            code = voucher_code()
            extra = {
                "reward_id": reward["reward_id"],
                "voucher_code": code,
                "reward_stocked": reward.get("stock") is not None,
            }
            body_extra["reward"] = {"reward_id": reward["reward_id"], "name": reward["name"], "code": code}
            if reward.get("stock") is not None:
                unit.commit.update(
                    key_of(reward_key(reward["reward_id"])),
                    "SET #s = #s - :one",
                    {"#s": "stock"},
                    {":one": 1, ":zero": 0},
                    sold_out,
                    condition="#s > :zero",
                )
        tx = unit.record(
            member,
            "redeem",
            -points,
            order_id=request.order_id,
            drawn=[r.as_record() for r in ranges],
            restored=0,
            cash_value=body_extra["cash_value"],
            **extra,
        )
        if reward is not None:
            # a voucher code is random: one that is taken means deciding again with another
            unit.commit.put_new(
                {
                    **key_of(voucher_key(extra["voucher_code"])),
                    "code": extra["voucher_code"],
                    "member_id": member_id,
                    "generation": member.generation,
                    "reward_id": reward["reward_id"],
                    "transaction_id": tx["transaction_id"],
                    "status": "issued",
                    "issued_at": unit.now_text,
                },
                STALE,
            )
        member.record_activity(unit.now_text)
        unit.notify(member, "points_redeemed", points=points)
        return Result.created({**transaction_view(tx), **body_extra})

    return changes.change(
        actor, idem, [member_id], decide, extra=[reward_item_key] if reward_item_key else [], subject=member_id
    )

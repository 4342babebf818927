"""A shop driving the ledger's commands directly (no HTTP) over the in-memory
table: each helper builds the request and its Idempotency-Key the way
`app.py` does and returns the command's `Result`."""

from __future__ import annotations

import itertools
import json
from typing import Any, Optional

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain.program import Program
from chalicelib.ledger.member_changes import IdempotencyKey, Result
from chalicelib.storage.store import member_pk
from devtools.memory_ledger import FixedClock, MemoryLedger

STOREFRONT = Actor(key_id="key-shop", name="shop", role="storefront")
ADMIN = Actor(key_id="key-admin", name="office", role="admin")

# tiers by quarter spend; transfers allowed from silver up
PROGRAM = {
    "signup_bonus": 1000,
    "base_rate": "0.01",
    "category_multipliers": {"new-arrivals": "2"},
    "activities": {"review": 100, "survey": 0},
    "redemption": {"min_points": 1000},
    "transfer": {"allowed_tiers": ["silver", "gold"], "min_points": 100},
    "tiers": [
        {"name": "basic", "min_spend": 0, "earn_multiplier": "1"},
        {"name": "silver", "min_spend": 100_000, "earn_multiplier": "1.5"},
        {"name": "gold", "min_spend": 300_000, "earn_multiplier": "2", "expiry_days": 730},
    ],
}


class Shop:
    def __init__(self, world: MemoryLedger, clock: FixedClock):
        self.world = world
        self.clock = clock
        self.ledger = world.ledger
        self.store = world.store
        self.published = world.publisher.messages
        self._keys = itertools.count(1)

    # -- requests -------------------------------------------------------------
    def key(
        self, path: str, body: Any, key: Optional[str] = None, actor: Actor = STOREFRONT, method: str = "POST"
    ) -> IdempotencyKey:
        return IdempotencyKey.for_request(actor.key_id, key or f"key-{next(self._keys)}", method, path, body)

    def program(self, **fields: Any) -> Program:
        program = Program.model_validate({**PROGRAM, **fields})
        self.ledger.put_program(program)
        return program

    def enrol(self, member_id: str, key: Optional[str] = None, **fields: Any) -> Result:
        body = {"member_id": member_id, "name": fields.pop("name", f"Member {member_id}"), **fields}
        return self.ledger.create_member(STOREFRONT, self.key("/members", body, key), schemas.CreateMember(**body))

    def earn(self, member_id: str, order_id: str, amount: int, key: Optional[str] = None, **fields: Any) -> Result:
        body = {"order_id": order_id, "amount": amount, **fields}
        request = schemas.Earn.model_validate(body)
        return self.ledger.earn(STOREFRONT, self.key(f"/members/{member_id}/earn", body, key), member_id, request)

    def activity(self, member_id: str, type_: str, reference_id: str, key: Optional[str] = None) -> Result:
        body = {"type": type_, "reference_id": reference_id}
        return self.ledger.activity(
            STOREFRONT, self.key(f"/members/{member_id}/activities", body, key), member_id, schemas.Activity(**body)
        )

    def redeem(self, member_id: str, points: Optional[int] = None, key: Optional[str] = None, **fields: Any) -> Result:
        body = {**({"points": points} if points is not None else {}), **fields}
        return self.ledger.redeem(
            STOREFRONT, self.key(f"/members/{member_id}/redeem", body, key), member_id, schemas.Redeem(**body)
        )

    def reverse(self, member_id: str, tx_id: str, key: Optional[str] = None, **fields: Any) -> Result:
        path = f"/members/{member_id}/transactions/{tx_id}/reversal"
        return self.ledger.reverse(
            STOREFRONT, self.key(path, fields, key), member_id, tx_id, schemas.Reversal(**fields)
        )

    def transfer(self, member_id: str, to_member_id: str, points: int, key: Optional[str] = None) -> Result:
        body = {"to_member_id": to_member_id, "points": points}
        return self.ledger.transfer(
            STOREFRONT, self.key(f"/members/{member_id}/transfers", body, key), member_id, schemas.Transfer(**body)
        )

    def adjust(self, member_id: str, points: int, reason: str = "goodwill", key: Optional[str] = None) -> Result:
        body = {"points": points, "reason": reason}
        return self.ledger.adjust(
            ADMIN,
            self.key(f"/members/{member_id}/adjustments", body, key, ADMIN),
            member_id,
            schemas.Adjustment(**body),
        )

    def suspend(self, member_id: str, reason: str = "card fraud", key: Optional[str] = None) -> Result:
        body = {"reason": reason}
        return self.ledger.suspend(
            ADMIN, self.key(f"/members/{member_id}/suspension", body, key, ADMIN), member_id, schemas.Suspension(**body)
        )

    def lift(self, member_id: str) -> Result:
        return self.ledger.lift_suspension(ADMIN, member_id)

    def erase(self, member_id: str) -> None:
        self.ledger.erase_member(ADMIN, member_id)

    def reward(self, reward_id: str, points_cost: int, stock: Optional[int] = None) -> dict:
        return self.ledger.create_reward(
            schemas.CreateReward(reward_id=reward_id, name=f"Reward {reward_id}", points_cost=points_cost, stock=stock)
        )

    def template(self, template_id: str, discount: dict, **fields: Any) -> dict:
        return self.ledger.add_coupon_template(
            schemas.CreateCouponTemplate.model_validate(
                {"template_id": template_id, "name": f"Coupon {template_id}", "discount": discount, **fields}
            )
        )

    def issue_coupon(
        self, member_id: str, template_id: str, actor: Actor = STOREFRONT, key: Optional[str] = None
    ) -> Result:
        body = {"template_id": template_id}
        return self.ledger.issue_coupon(
            actor, self.key(f"/members/{member_id}/coupons", body, key, actor), member_id, schemas.IssueCoupon(**body)
        )

    def use_coupon(
        self, code: str, member_id: str, order_id: str, order_amount: int, key: Optional[str] = None
    ) -> Result:
        body = {"member_id": member_id, "order_id": order_id, "order_amount": order_amount}
        return self.ledger.use_coupon(
            STOREFRONT, self.key(f"/coupons/{code}/redemption", body, key), code, schemas.UseCoupon(**body)
        )

    def release_coupon(self, code: str, member_id: str, key: Optional[str] = None) -> Result:
        body = {"member_id": member_id}
        return self.ledger.release_coupon(
            STOREFRONT, self.key(f"/coupons/{code}/release", body, key), code, schemas.ReleaseCoupon(**body)
        )

    # -- reads ------------------------------------------------------------------
    def member(self, member_id: str) -> dict:
        return self.ledger.get_member(member_id)

    def balance(self, member_id: str) -> int:
        return self.member(member_id)["balance"]

    def history(self, member_id: str) -> list[dict]:
        """Every transaction of the member, oldest first."""
        items, cursor = [], None
        while True:
            page = self.ledger.history(member_id, 100, cursor)
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return list(reversed(items))

    def entries(self, member_id: str) -> list[dict]:
        """The member's stored ledger entries (all enrolments of the id)."""
        return [i for i in self.store.items(member_pk(member_id)) if "#TX#" in "#" + i["sk"]]

    def stats(self) -> dict:
        return self.ledger.stats()

    def notifications(self, member_id: str) -> list[str]:
        return [n["type"] for n in reversed(self.ledger.notifications(member_id, 100, None)["items"])]

    def snapshot(self) -> list[str]:
        """Every stored item, comparable: a refused request leaves it as it was."""
        return sorted(json.dumps(item, sort_keys=True, default=str) for item in self.store.items())

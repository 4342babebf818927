"""The ledger's entry points, as `app.py` and the jobs call them.

Each command lives in `commands/` and goes through `member_changes` (read,
decide, commit); reads go through `views`. This module only wires them.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from chalicelib import clock
from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain.calendar import format_instant, parse_date
from chalicelib.domain.program import Program
from chalicelib.errors import NotFoundError, RewardExistsError, TemplateExistsError, ValidationError
from chalicelib.ledger.commands import coupons as coupon_commands
from chalicelib.ledger.commands.adjust import adjust
from chalicelib.ledger.commands.earn import activity, earn
from chalicelib.ledger.commands.enrol import enrol
from chalicelib.ledger.commands.erase import erase
from chalicelib.ledger.commands.redeem import redeem
from chalicelib.ledger.commands.reverse import reverse
from chalicelib.ledger.commands.suspension import lift, suspend, update_member
from chalicelib.ledger.commands.transfer import transfer
from chalicelib.ledger.lookup import MemberLookup
from chalicelib.ledger.member_changes import IdempotencyKey, MemberChanges, Result
from chalicelib.ledger.programs import Programs, Publisher
from chalicelib.ledger.views import (
    daily_view,
    member_view,
    notification_view,
    reward_view,
    stats_view,
    template_view,
    transaction_view,
    voucher_view,
)
from chalicelib.settings import Settings
from chalicelib.storage.repository import (
    REWARD_PK,
    daily_shard_pk,
    key_of,
    notification_sk,
    pending_detail_keys,
    pending_stats_sk,
    points_pending,
    reward_key,
    stats_shard_key,
    template_key,
    tx_sk,
    voucher_key,
)
from chalicelib.storage.store import Store, member_pk

MAX_DAILY_DAYS = 366

__all__ = ["IdempotencyKey", "Ledger", "Result"]


class Ledger:
    def __init__(self, store: Store, publisher: Optional[Publisher], settings: Settings):
        self.store = store
        self.settings = settings
        self.publisher = publisher
        self.programs = Programs(store, publisher, settings.program_cache_seconds)
        self.changes = MemberChanges(store, self.programs, publisher, settings)
        self.lookup = MemberLookup(self.changes)

    # -- program ---------------------------------------------------------
    def program(self) -> Program:
        return self.programs.current()

    def put_program(self, program: Program) -> dict:
        """§2, §11: a program naming a coupon template that does not exist is refused
        (400) and the old one stays."""
        wanted = sorted(program.auto_coupons.template_ids())
        if wanted:
            found = self.store.get_many([template_key(t) for t in wanted])
            missing = [t for t in wanted if template_key(t) not in found]
            if missing:
                raise ValidationError(f"auto_coupons: unknown coupon template {missing[0][:80]!r}")
        return self.programs.replace(program)

    # -- commands --------------------------------------------------------
    def create_member(self, actor: Actor, idem: IdempotencyKey, request: schemas.CreateMember) -> Result:
        return enrol(self.changes, actor, idem, request)

    def erase_member(self, actor: Actor, member_id: str) -> None:
        erase(self.changes, actor, member_id)

    def earn(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Earn) -> Result:
        return earn(self.changes, actor, idem, member_id, request)

    def activity(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Activity) -> Result:
        return activity(self.changes, actor, idem, member_id, request)

    def redeem(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Redeem) -> Result:
        return redeem(self.changes, actor, idem, member_id, request)

    def reverse(
        self, actor: Actor, idem: IdempotencyKey, member_id: str, tx_id: str, request: schemas.Reversal
    ) -> Result:
        return reverse(self.changes, actor, idem, member_id, tx_id, request)

    def transfer(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Transfer) -> Result:
        return transfer(self.changes, actor, idem, member_id, request)

    def adjust(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Adjustment) -> Result:
        return adjust(self.changes, actor, idem, member_id, request)

    def suspend(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Suspension) -> Result:
        return suspend(self.changes, actor, idem, member_id, request)

    def lift_suspension(self, actor: Actor, member_id: str) -> Result:
        return lift(self.changes, actor, member_id)

    def update_member(self, actor: Actor, member_id: str, request: schemas.UpdateMember) -> Result:
        return update_member(self.changes, actor, member_id, request)

    # -- coupons (§11) ---------------------------------------------------
    def add_coupon_template(self, request: schemas.CreateCouponTemplate) -> dict:
        item = {
            "pk": template_key(request.template_id)[0],
            "sk": request.template_id,
            **request.model_dump(mode="json"),
            "created_at": format_instant(clock.now()),
        }
        if not self.store.put(item, condition="attribute_not_exists(pk)"):
            raise TemplateExistsError(f"coupon template {request.template_id!r} already exists")
        return template_view(item)

    def coupon_templates(self, limit: int, cursor: Optional[str]) -> dict:
        items, next_cursor = self.store.query_page(template_key("")[0], "", limit, cursor, newest_first=False)
        return {"items": [template_view(i) for i in items], "next_cursor": next_cursor}

    def issue_coupon(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.IssueCoupon) -> Result:
        return coupon_commands.issue(self.changes, actor, idem, member_id, request)

    def use_coupon(self, actor: Actor, idem: IdempotencyKey, code: str, request: schemas.UseCoupon) -> Result:
        return coupon_commands.use(self.changes, actor, idem, code, request)

    def release_coupon(self, actor: Actor, idem: IdempotencyKey, code: str, request: schemas.ReleaseCoupon) -> Result:
        return coupon_commands.release(self.changes, actor, idem, code, request)

    def member_coupons(self, member_id: str, status: Optional[str], limit: int, cursor: Optional[str]) -> dict:
        if status is not None and status not in ("available", "used", "expired"):
            raise ValidationError("status must be available, used or expired")
        return coupon_commands.member_coupons(
            self.changes, member_id, status, limit, cursor, format_instant(clock.now())
        )

    # -- reads -----------------------------------------------------------
    def get_member(self, member_id: str) -> dict:
        now = clock.now()
        _, _, view = self.changes.member_with_lots(member_id, lambda program, member: member_view(program, member, now))
        return dict(view)

    def history(self, member_id: str, limit: int, cursor: Optional[str]) -> dict:
        generation = self.changes.require_member(member_id)
        items, next_cursor = self.store.query_page(
            member_pk(member_id), tx_sk(generation, ""), limit, cursor, newest_first=True
        )
        return {"items": [transaction_view(i) for i in items], "next_cursor": next_cursor}

    def notifications(self, member_id: str, limit: int, cursor: Optional[str]) -> dict:
        generation = self.changes.require_member(member_id)
        items, next_cursor = self.store.query_page(
            member_pk(member_id), notification_sk(generation, ""), limit, cursor, newest_first=True
        )
        return {"items": [notification_view(i) for i in items], "next_cursor": next_cursor}

    def find_members(self, limit: int, cursor: Optional[str], **criteria: Optional[str]) -> dict:
        return self.lookup.find(clock.now(), limit, cursor, **criteria)

    def daily_stats(self, first: str, last: str) -> dict:
        """§16: one Query per daily shard for the whole range (8 by default)."""
        try:
            start, end = parse_date(first), parse_date(last)
        except ValueError as error:
            raise ValidationError(f"from/to: {error}") from None
        if start > end:
            raise ValidationError("from must not be after to")
        if (end - start).days + 1 > MAX_DAILY_DAYS:
            raise ValidationError(f"at most {MAX_DAILY_DAYS} days at a time")
        days = [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
        items: list[dict] = []
        for shard in range(self.settings.daily_shards):
            items.extend(self.store.query_range(daily_shard_pk(shard), start.isoformat(), end.isoformat()))
        return daily_view(days, items)

    def stats(self) -> dict:
        """The shards and (§25) today's pending hours of each, in one BatchGetItem
        (two past 49 shards); only when some shard has points becoming available in
        the current hour, a second one of those shards' current hour and minute items."""
        now_text = format_instant(clock.now())
        keys = [stats_shard_key(n) for n in range(self.settings.stats_shards)]
        hours = [(pk, pending_stats_sk(now_text[:10])) for pk, _ in keys]
        wanted = keys + hours
        program, _, found = self.changes.read([], wanted)  # Store.get_many: a request per 100 keys
        shards = [found[k] for k in keys if k in found]
        day_items = [found[k] for k in hours if k in found]
        detail = pending_detail_keys(day_items, now_text)
        details = list(self.store.get_many(detail).values()) if detail else []
        pending = points_pending(shards, day_items, now_text, details)
        return stats_view(program, shards, pending)

    def voucher(self, code: str) -> dict:
        item = self.store.get(*voucher_key(code.strip().upper()))
        if item is None:
            raise NotFoundError(f"voucher {code[:80]!r} not found")
        return voucher_view(item)

    # -- rewards ---------------------------------------------------------
    def create_reward(self, request: schemas.CreateReward) -> dict:
        item = {
            **key_of(reward_key(request.reward_id)),
            "reward_id": request.reward_id,
            "name": request.name,
            "points_cost": request.points_cost,
            "stock": request.stock,
            "created_at": format_instant(clock.now()),
        }
        if not self.store.put(item, condition="attribute_not_exists(pk)"):
            raise RewardExistsError(f"reward {request.reward_id!r} already exists")
        return reward_view(item)

    def rewards(self, limit: int, cursor: Optional[str]) -> dict:
        items, next_cursor = self.store.query_page(REWARD_PK, "", limit, cursor, newest_first=False)
        return {"items": [reward_view(i) for i in items], "next_cursor": next_cursor}

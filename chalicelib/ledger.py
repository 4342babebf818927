"""The ledger's entry points, as `app.py` and the jobs call them.

Each command lives in `commands/` and goes through `member_changes` (read,
decide, commit); reads go through `views`. This module only wires them.
"""
from __future__ import annotations

from typing import Optional

from . import clock, schemas
from .auth import Actor
from .commands.adjust import adjust
from .commands.earn import activity, earn
from .commands.enrol import enrol
from .commands.erase import erase
from .commands.redeem import redeem
from .commands.reverse import reverse
from .commands.transfer import transfer
from .domain.calendar import format_instant
from .domain.program import Program
from .errors import NotFoundError, RewardExistsError
from .member_changes import IdempotencyKey, MemberChanges, Result
from .programs import Programs
from .repository import stats_shard_key
from .store import Store, member_pk, member_sk
from .views import member_view, notification_view, reward_view, stats_view, transaction_view, voucher_view

__all__ = ["IdempotencyKey", "Ledger", "Result"]


class Ledger:
    def __init__(self, store: Store, publisher, settings):
        self.store = store
        self.settings = settings
        self.publisher = publisher
        self.programs = Programs(store, publisher, settings.program_cache_seconds)
        self.changes = MemberChanges(store, self.programs, publisher, settings)

    # -- program ---------------------------------------------------------
    def program(self) -> Program:
        return self.programs.current()

    def put_program(self, program: Program) -> dict:
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

    def reverse(self, actor: Actor, idem: IdempotencyKey, member_id: str, tx_id: str,
                request: schemas.Reversal) -> Result:
        return reverse(self.changes, actor, idem, member_id, tx_id, request)

    def transfer(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Transfer) -> Result:
        return transfer(self.changes, actor, idem, member_id, request)

    def adjust(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Adjustment) -> Result:
        return adjust(self.changes, actor, idem, member_id, request)

    # -- reads -----------------------------------------------------------
    def get_member(self, member_id: str) -> dict:
        now = clock.now()
        _, _, view = self.changes.member_with_lots(
            member_id, lambda program, member: member_view(program, member, now))
        return view

    def history(self, member_id: str, limit: int, cursor: Optional[str]) -> dict:
        generation = self.changes.require_member(member_id)
        items, next_cursor = self.store.query_page(
            member_pk(member_id), member_sk(generation, "TX#"), limit, cursor, newest_first=True)
        return {"items": [transaction_view(i) for i in items], "next_cursor": next_cursor}

    def notifications(self, member_id: str, limit: int, cursor: Optional[str]) -> dict:
        generation = self.changes.require_member(member_id)
        items, next_cursor = self.store.query_page(
            member_pk(member_id), member_sk(generation, "NOTIFICATION#"), limit, cursor, newest_first=True)
        return {"items": [notification_view(i) for i in items], "next_cursor": next_cursor}

    def stats(self) -> dict:
        keys = [stats_shard_key(n) for n in range(self.settings.stats_shards)]
        program, _, found = self.changes.read([], keys)
        return stats_view(program, [found[k] for k in keys if k in found])

    def voucher(self, code: str) -> dict:
        item = self.store.get(f"VOUCHER#{code.strip().upper()}", "VOUCHER")
        if item is None:
            raise NotFoundError(f"voucher {code[:80]!r} not found")
        return voucher_view(item)

    # -- rewards ---------------------------------------------------------
    def create_reward(self, request: schemas.CreateReward) -> dict:
        item = {"pk": "REWARD", "sk": request.reward_id, "reward_id": request.reward_id,
                "name": request.name, "points_cost": request.points_cost, "stock": request.stock,
                "created_at": format_instant(clock.now())}
        if not self.store.put(item, condition="attribute_not_exists(pk)"):
            raise RewardExistsError(f"reward {request.reward_id!r} already exists")
        return reward_view(item)

    def rewards(self, limit: int, cursor: Optional[str]) -> dict:
        items, next_cursor = self.store.query_page("REWARD", "", limit, cursor, newest_first=False)
        return {"items": [reward_view(i) for i in items], "next_cursor": next_cursor}

"""Scheduled jobs. Each finds its due members through a sparse index (never a
Scan) and changes each member through the ledger's versioned write loop, so
a job run twice, or racing a request, changes nothing twice."""
from __future__ import annotations

import datetime as dt
import logging

from . import clock
from .auth import JOB
from .domain.calendar import birthday_keys_for, format_instant, local_date
from .domain.wallet import key_expires
from .domain.tiers import ladder_signature
from .errors import DangolError
from .ledger import Ledger
from .member_changes import Result, Unit
from .repository import LADDER_KEY, profile_key
from .store import (BIRTHDAY_INDEX, EXPIRY_INDEX, MEMBERS_INDEX, PROFILE, TIER_REVIEW_INDEX, member_pk,
                    member_sk, refuse)

log = logging.getLogger(__name__)


MARKER_DAYS = 35  # per-day markers are kept this long (TTL), then DynamoDB removes them


class AlreadyDoneError(DangolError):
    code = "ALREADY_DONE"


class JobIncompleteError(DangolError):
    code = "JOB_INCOMPLETE"


class Jobs:
    def __init__(self, ledger: Ledger, schedule_shards: int):
        self.ledger = ledger
        self.store = ledger.store
        self.shards = schedule_shards

    def _due(self, index: str, hash_name: str, range_name: str, upto: str) -> list[str]:
        member_ids: list[str] = []
        for shard in range(self.shards):
            for pk, sk in self.store.query_index_due(index, hash_name, str(shard), range_name, upto):
                if sk == PROFILE:
                    member_ids.append(pk.split("#", 1)[1])
        return sorted(set(member_ids))

    def _each(self, member_ids: list[str], decide, extra=lambda member_id: []) -> int:
        """Apply `decide` to each member; a failing member does not stop the
        others, but the run fails at the end so the scheduler retries it."""
        changed = 0
        failed = 0
        for member_id in member_ids:
            try:
                result = self.ledger.changes.change(
                    JOB, None, [member_id],
                    lambda u, m, f, member_id=member_id: decide(u, m.get(member_id), f),
                    extra=extra(member_id))
            except AlreadyDoneError:
                continue
            except Exception:
                log.exception("job step failed for member %s", member_id)
                failed += 1
                continue
            changed += bool(result.body)
        if failed:
            raise JobIncompleteError(f"{failed} of {len(member_ids)} members failed; rerun is safe")
        return changed

    def expire_points(self) -> int:
        now_text = format_instant(clock.now())

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result(200, 0)
            points = member.wallet.expire_due(unit.now_text)
            if points:
                unit.record(member, "expire", -points, reason="expiry")
                unit.notify(member, "points_expired", points=points)
            return Result(200, points)

        return self._each(self._due(EXPIRY_INDEX, "expiry_shard", "next_expiry", now_text), decide)

    def recompute_tiers(self) -> int:
        """Downgrades due at the turn of a quarter (the `tier-review` index); after
        a change of the tier ladder (names or thresholds), one pass over every
        member (the `members` index), so each holds a configured tier and
        `members_by_tier` adds up again."""
        now_text = format_instant(clock.now())
        ladder = ladder_signature(self.ledger.program())
        applied = self.store.get(LADDER_KEY["pk"], LADDER_KEY["sk"])
        if applied is not None and applied.get("ladder") == ladder:
            member_ids = self._due(TIER_REVIEW_INDEX, "tier_shard", "tier_review", now_text)
        else:
            member_ids = self._all_members()

        def decide(unit: Unit, member, found) -> Result:
            # every change re-tiers its members first (and keeps the result): the
            # job has nothing left to do but say whether the tier moved
            if member is None or member.erased:
                return Result(200, 0)
            stored = found.get(profile_key(member.member_id)) or {}
            return Result(200, int(member.tier != stored.get("tier")))

        changed = self._each(member_ids, decide)
        if applied is None or applied.get("ladder") != ladder:
            # applied, unless the tiers changed again while the pass ran
            unchanged, seen = (("attribute_not_exists(pk)", {}) if applied is None
                               else ("#l = :seen", {":seen": applied.get("ladder")}))
            self.store.update(LADDER_KEY["pk"], LADDER_KEY["sk"], "SET #l = :l, #a = :at",
                              {"#l": "ladder", "#a": "applied_at"},
                              {":l": ladder, ":at": now_text, **seen}, condition=unchanged)
        return changed

    def _all_members(self) -> list[str]:
        member_ids: list[str] = []
        for shard in range(self.shards):
            for pk, _ in self.store.query_index_equal(MEMBERS_INDEX, "member_shard", str(shard)):
                member_ids.append(pk.split("#", 1)[1])
        return sorted(set(member_ids))

    def send_expiry_warnings(self) -> int:
        now = clock.now()
        program = self.ledger.program()
        horizon = format_instant(now + dt.timedelta(days=program.expiry_warning_days))
        today = local_date(now, program.timezone).isoformat()

        def warned_key(member_id: str, generation: int = 0) -> tuple[str, str]:
            return member_pk(member_id), member_sk(generation, f"WARNED#{today}")

        marker_expires = int((now + dt.timedelta(days=MARKER_DAYS)).timestamp())
        once = refuse(lambda: AlreadyDoneError("warned today"))

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result(200, 0)
            # read ahead: the key of a first enrolment (the conditional put covers the others)
            if member.generation == 0 and warned_key(member.member_id) in found:
                return Result(200, 0)
            lots = member.wallet.expiring(unit.now_text, horizon)
            if not lots:
                return Result(200, 0)
            # the conditional put still guards against a concurrent run of the job
            unit.commit.put_new({**dict(zip(("pk", "sk"), warned_key(member.member_id, member.generation))),
                                 "expires_at": marker_expires}, once)
            unit.notify(member, "points_expiring", points=sum(points for _, points in lots),
                        expires_by=key_expires(lots[-1][0]))
            return Result(200, 1)

        return self._each(self._due(EXPIRY_INDEX, "expiry_shard", "next_expiry", horizon), decide,
                          extra=lambda member_id: [warned_key(member_id)])

    def grant_birthday_bonuses(self) -> int:
        now = clock.now()
        program = self.ledger.program()
        if not program.birthday_bonus:
            return 0
        today = local_date(now, program.timezone)
        member_ids: list[str] = []
        for key in birthday_keys_for(today):
            for pk, sk in self.store.query_index_equal(BIRTHDAY_INDEX, "birthday_key", key):
                if sk == PROFILE:
                    member_ids.append(pk.split("#", 1)[1])

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased or member.last_birthday_year == today.year:
                return Result(200, 0)
            points = unit.program.birthday_bonus
            if not points:
                return Result(200, 0)
            member.last_birthday_year = today.year
            unit.credit(member, "bonus", points, reason="birthday")
            unit.notify(member, "birthday_bonus", points=points)
            return Result(200, points)

        return self._each(sorted(set(member_ids)), decide)

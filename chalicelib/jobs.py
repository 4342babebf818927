"""Scheduled jobs: what is due (planning) and what a job does to one member.

Planning (`JobPlans`) only names the work: one task per partition of the
job's sparse, keys-only index, sent to the job queue. The job worker
(`job_pipeline.JobWorker`) walks each partition page by page and applies the
job's step to each member found. A step (`JobSteps`) is one call of the
ledger's versioned write loop: one conditional transaction that changes
nothing when the member has already been done, so a step applied twice (a
redelivered task, a rerun of the job, a race with a request) changes nothing
twice.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Optional

from . import clock
from .auth import JOB
from .domain.calendar import birthday_keys_for, format_instant, local_date, zone
from .domain.tiers import ladder_signature
from .domain.wallet import key_expires
from .errors import DangolError
from .index_pages import Source
from .job_pipeline import JobDefinition, RunBook, Task
from .ledger import Ledger
from .member_changes import Result, Unit
from .repository import LADDER_KEY, profile_key
from .store import (BIRTHDAY_INDEX, EXPIRY_INDEX, MEMBERS_INDEX, PROFILE, TIER_REVIEW_INDEX, member_pk,
                    member_sk, refuse)

log = logging.getLogger(__name__)

# How far back a birthday run looks for days whose run did not complete: at
# most this many days, and never into the previous year.
BIRTHDAY_CATCH_UP_DAYS = 31
BIRTHDAYS_DONE_KEY = ("PROGRAM", "BIRTHDAYS_DONE_THROUGH")
# Per-day markers (WARNED#<date>) are kept this long after their day, then TTL removes them.
MARKER_KEEP_DAYS = 3
# A tier-ladder pass planned less than this long ago is not planned again.
LADDER_PASS_LEASE = dt.timedelta(hours=6)


class AlreadyDoneError(DangolError):
    code = "ALREADY_DONE"


def member_of(pk: str, sk: str) -> Optional[str]:
    """The member an index entry stands for (the index entries are profiles)."""
    return pk.split("#", 1)[1] if sk == PROFILE and pk.startswith("MEMBER#") else None


def epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


class JobSteps:
    """One job applied to one member: the only part of the jobs that knows the ledger."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def _apply(self, member_id: str, decide, extra: list[tuple[str, str]] = ()) -> bool:
        try:
            result = self.ledger.changes.change(
                JOB, None, [member_id], lambda u, m, f: decide(u, m.get(member_id), f), extra=list(extra))
        except AlreadyDoneError:
            return False
        return bool(result.body)

    def expire_member(self, member_id: str, params: dict) -> bool:
        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result(200, 0)
            points = member.wallet.expire_due(unit.now_text)
            if points:
                unit.record(member, "expire", -points, reason="expiry")
                unit.notify(member, "points_expired", points=points)
            elif member.wallet.next_expiry() != (found.get(profile_key(member_id)) or {}).get("next_expiry"):
                unit.touch(member)  # nothing was due yet: its next expiry moves on (a head not known before)
            return Result(200, points)

        return self._apply(member_id, decide)

    def warn_member(self, member_id: str, params: dict) -> bool:
        """One `points_expiring` per member and program day (`params["today"]`)."""
        today, horizon = params["today"], params["horizon"]
        keep_until = epoch(dt.datetime.fromisoformat(today).replace(tzinfo=dt.timezone.utc)
                           + dt.timedelta(days=MARKER_KEEP_DAYS + 1))
        once = refuse(lambda: AlreadyDoneError("warned today"))

        def warned_key(generation: int = 0) -> tuple[str, str]:
            return member_pk(member_id), member_sk(generation, f"WARNED#{today}")

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result(200, 0)
            # read ahead: the key of a first enrolment (the conditional put covers the others)
            if member.generation == 0 and warned_key() in found:
                return Result(200, 0)
            lots = member.wallet.expiring(unit.now_text, horizon)
            if not lots:
                return Result(200, 0)
            # the conditional put still guards against a concurrent run of the job
            pk, sk = warned_key(member.generation)
            unit.commit.put_new({"pk": pk, "sk": sk, "expires_at": keep_until}, once)
            unit.notify(member, "points_expiring", points=sum(points for _, points in lots),
                        expires_by=key_expires(lots[-1][0]))
            return Result(200, 1)

        return self._apply(member_id, decide, extra=[warned_key()])

    def birthday_member(self, member_id: str, params: dict) -> bool:
        """The birthday bonus of `params["year"]`, once, for a member enrolled
        by the end of the (possibly past) birthday it is granted for."""
        year, enrolled_by = params["year"], params["enrolled_by"]

        def decide(unit: Unit, member, found) -> Result:
            if (member is None or member.erased or member.last_birthday_year == year
                    or member.created_at >= enrolled_by):
                return Result(200, 0)
            points = unit.program.birthday_bonus
            template_id = unit.program.auto_coupons.birthday  # §11: also when the bonus is 0
            if not points and not template_id:
                return Result(200, 0)
            member.last_birthday_year = year
            if points:
                unit.credit(member, "bonus", points, reason="birthday")
                unit.notify(member, "birthday_bonus", points=points)
            unit.auto_coupon(member, template_id, "birthday")
            unit.touch(member)
            return Result(200, points or 1)

        return self._apply(member_id, decide)

    def retier_member(self, member_id: str, params: dict) -> bool:
        """A due tier review (the quarter turned) or the tier-ladder pass. Every
        change re-tiers its member first and keeps the result, so the step only
        says whether the tier moved."""
        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result(200, 0)
            stored = found.get(profile_key(member_id)) or {}
            return Result(200, int(member.tier != stored.get("tier")))

        return self._apply(member_id, decide)

    def finish_ladder_pass(self, params: dict) -> None:
        """Every member was passed over under `params["ladder"]`: mark it applied,
        unless the tiers changed again while the pass ran."""
        store = self.ledger.store
        seen = params.get("seen")
        unchanged, values = (("attribute_not_exists(pk)", {}) if seen is None
                             else ("#l = :seen", {":seen": seen}))
        store.update(LADDER_KEY["pk"], LADDER_KEY["sk"], "SET #l = :l, #a = :at",
                     {"#l": "ladder", "#a": "applied_at"},
                     {":l": params["ladder"], ":at": format_instant(clock.now()), **values},
                     condition=unchanged)

    def finish_birthdays(self, params: dict) -> None:
        """Birthdays up to `params["through"]` are granted: later runs look back no further."""
        self.ledger.store.update(
            *BIRTHDAYS_DONE_KEY, "SET #d = :d", {"#d": "through"}, {":d": params["through"]},
            condition="attribute_not_exists(#d) OR #d < :d")

    def definitions(self) -> dict[str, JobDefinition]:
        return {
            "expire_points": JobDefinition(self.expire_member, member_of),
            "send_expiry_warnings": JobDefinition(self.warn_member, member_of),
            "grant_birthday_bonuses": JobDefinition(self.birthday_member, member_of,
                                                    self.finish_birthdays),
            "recompute_tiers": JobDefinition(self.retier_member, member_of),
            "recompute_tiers:ladder": JobDefinition(self.retier_member, member_of,
                                                    self.finish_ladder_pass),
        }


class JobPlans:
    """What each scheduled job has due, as tasks for the job queue."""

    def __init__(self, ledger: Ledger, runs: RunBook, schedule_shards: int):
        self.ledger = ledger
        self.store = ledger.store
        self.runs = runs
        self.shards = schedule_shards

    def _shards(self, job: str, index: str, hash_name: str, range_name: Optional[str] = None,
                upto: Optional[str] = None, params: Optional[dict] = None,
                run: Optional[str] = None) -> list[Task]:
        return [Task(job=job, source=Source(index, hash_name, str(shard), range_name, upto),
                     params=params or {}, run=run, part=f"s{shard}" if run else None)
                for shard in range(self.shards)]

    def expire_points(self) -> list[Task]:
        return self._shards("expire_points", EXPIRY_INDEX, "expiry_shard", "next_expiry",
                            format_instant(clock.now()))

    def send_expiry_warnings(self) -> list[Task]:
        now = clock.now()
        program = self.ledger.program()
        horizon = format_instant(now + dt.timedelta(days=program.expiry_warning_days))
        today = local_date(now, program.timezone).isoformat()
        # only today's warnings: a day gone by is not warned for afterwards
        return self._shards("send_expiry_warnings", EXPIRY_INDEX, "expiry_shard", "next_expiry",
                            horizon, {"today": today, "horizon": horizon})

    def grant_birthday_bonuses(self) -> list[Task]:
        now = clock.now()
        program = self.ledger.program()
        if not program.birthday_bonus and not program.auto_coupons.birthday:
            return []
        today = local_date(now, program.timezone)
        done = self.store.get(*BIRTHDAYS_DONE_KEY)
        first = max(today - dt.timedelta(days=BIRTHDAY_CATCH_UP_DAYS), dt.date(today.year, 1, 1))
        if done is not None and done.get("through"):
            first = max(first, dt.date.fromisoformat(done["through"]) + dt.timedelta(days=1))
        caught_up = first > today  # a run today completed: only today's key again, untracked
        first = min(first, today)  # today's birthdays are always looked at (a member enrolled since)
        run = None if caught_up else f"birthdays#{today.isoformat()}"
        tasks: list[Task] = []
        day = first
        while day <= today:
            next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(),
                                                tzinfo=zone(program.timezone))
            for key in birthday_keys_for(day):
                tasks.append(Task(job="grant_birthday_bonuses",
                                  source=Source(BIRTHDAY_INDEX, "birthday_key", key),
                                  params={"year": today.year, "enrolled_by": format_instant(next_midnight),
                                          "through": today.isoformat()},
                                  run=run, part=f"{day.isoformat()}:{key}" if run else None))
            day += dt.timedelta(days=1)
        if run is not None:
            self.runs.begin(run, [t.part for t in tasks], now, stale_after=dt.timedelta(0))
        return tasks

    def recompute_tiers(self) -> list[Task]:
        """Downgrades due at the turn of a quarter (the `tier-review` index), and
        beside them, never instead, the pass over every member (the `members`
        index) that a change of the tier ladder needs."""
        now = clock.now()
        tasks = self._shards("recompute_tiers", TIER_REVIEW_INDEX, "tier_shard", "tier_review",
                             format_instant(now))
        return tasks + self.ladder_pass()

    def ladder_pass(self) -> list[Task]:
        """The pass over every member after a change of the tier ladder, unless
        the ladder is applied or a pass for it was planned within the lease."""
        now = clock.now()
        ladder = ladder_signature(self.ledger.program())
        applied = self.store.get(LADDER_KEY["pk"], LADDER_KEY["sk"])
        if applied is not None and applied.get("ladder") == ladder:
            return []
        seen = applied.get("ladder") if applied is not None else None
        run = "ladder#" + hashlib.sha256(f"{seen}\n{ladder}".encode()).hexdigest()[:24]
        tasks = self._shards("recompute_tiers:ladder", MEMBERS_INDEX, "member_shard",
                             params={"ladder": ladder, "seen": seen}, run=run)
        if not self.runs.begin(run, [t.part for t in tasks], now, LADDER_PASS_LEASE):
            return []
        return tasks

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
from collections.abc import Sequence
from typing import Optional

from chalicelib import clock
from chalicelib.auth import JOB
from chalicelib.domain import campaigns as campaign_rules
from chalicelib.domain.calendar import UTC, birthday_keys_for, format_instant, local_date, parse_instant, zone
from chalicelib.domain.tiers import ladder_signature
from chalicelib.domain.wallet import key_expires
from chalicelib.errors import DangolError
from chalicelib.jobs.pipeline import JobDefinition, RunBook, Task
from chalicelib.ledger.member_changes import Result, Unit
from chalicelib.ledger.service import Ledger
from chalicelib.ledger.views import member_view
from chalicelib.storage.index_pages import Source
from chalicelib.storage.repository import (
    BIRTHDAYS_DONE_KEY,
    CAMPAIGN_COUNT_SHARDS,
    CAMPAIGNS_PK,
    LADDER_KEY,
    SEGMENT_MEMBER_PREFIX,
    STATEMENTS_DONE_KEY,
    campaign_assignment_sk,
    campaign_count_key,
    campaign_count_shard,
    campaign_key,
    key_of,
    member_of_profile,
    profile_key,
    segment_member_of,
    segment_pk,
    warned_sk,
)
from chalicelib.storage.store import (
    ACTIVITY_INDEX,
    BIRTHDAY_INDEX,
    EXPIRY_INDEX,
    MEMBERS_INDEX,
    TIER_REVIEW_INDEX,
    Commit,
    CommitConflict,
    Condition,
    member_pk,
    refuse,
)
from chalicelib.webhooks.events import record_event

log = logging.getLogger(__name__)

# How far back a birthday run looks for days whose run did not complete: at
# most this many days, and never into the previous year.
BIRTHDAY_CATCH_UP_DAYS = 31
# Per-day markers (WARNED#<date>) are kept this long after their day, then TTL removes them.
MARKER_KEEP_DAYS = 3
# §13: the month whose statements have all been sent (later runs in that month plan nothing).
# A statement run started less than this long ago and not finished is left to its
# workers; after it (the next day's run), the month's run is planned again and resumes:
# members already sent their statement are passed over by the step.
STATEMENT_RUN_LEASE = dt.timedelta(hours=20)
# A tier-ladder pass planned less than this long ago is not planned again.
LADDER_PASS_LEASE = dt.timedelta(hours=6)
# §22: a campaign launch planned less than this long ago and not finished is left to its
# workers; after it, the next run of launch_campaigns plans it again (members already
# assigned are passed over by the step).
LAUNCH_LEASE = dt.timedelta(hours=2)
FINISH_LAUNCH = "launch_campaigns:finish"  # a job message: set a launched campaign's audience


class AlreadyDoneError(DangolError):
    code = "ALREADY_DONE"


def member_of(pk: str, sk: str) -> Optional[str]:
    """The member an index entry stands for (the index entries are profiles)."""
    return member_of_profile(pk, sk)


def audience_member_of(pk: str, sk: str) -> Optional[str]:
    """A launch walks the `members` index (profiles) or a segment's M#<member_id> items."""
    if pk.startswith(segment_pk("")):
        return segment_member_of(sk)
    return member_of_profile(pk, sk)


def epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


class JobSteps:
    """One job applied to one member: the only part of the jobs that knows the ledger."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def _apply(self, member_id: str, decide, extra: Sequence[tuple[str, str]] = ()) -> bool:
        try:
            result = self.ledger.changes.change(
                JOB, None, [member_id], lambda u, m, f: decide(u, m.get(member_id), f), extra=list(extra)
            )
        except AlreadyDoneError:
            return False
        return bool(result.body)

    def expire_member(self, member_id: str, params: dict) -> bool:
        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result.done(0)
            points = member.wallet.expire_due(unit.now_text)
            if points:
                unit.record(member, "expire", -points, reason="expiry")
                unit.notify(member, "points_expired", points=points)
            elif member.wallet.next_expiry() != (found.get(profile_key(member_id)) or {}).get("next_expiry"):
                unit.touch(member)  # nothing was due yet: its next expiry moves on (a head not known before)
            return Result.done(points)

        return self._apply(member_id, decide)

    def warn_member(self, member_id: str, params: dict) -> bool:
        """One `points_expiring` per member and program day (`params["today"]`)."""
        today, horizon = params["today"], params["horizon"]
        keep_until = epoch(
            dt.datetime.fromisoformat(today).replace(tzinfo=dt.UTC) + dt.timedelta(days=MARKER_KEEP_DAYS + 1)
        )
        once = refuse(lambda: AlreadyDoneError("warned today"))

        def warned_key(generation: int = 0) -> tuple[str, str]:
            return member_pk(member_id), warned_sk(generation, today)

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result.done(0)
            # read ahead: the key of a first enrolment (the conditional put covers the others)
            if member.generation == 0 and warned_key() in found:
                return Result.done(0)
            lots = member.wallet.expiring(unit.now_text, horizon)
            if not lots:
                return Result.done(0)
            # the conditional put still guards against a concurrent run of the job
            pk, sk = warned_key(member.generation)
            unit.commit.put_new({"pk": pk, "sk": sk, "expires_at": keep_until}, once)
            unit.notify(
                member, "points_expiring", points=sum(points for _, points in lots), expires_by=key_expires(lots[-1][0])
            )
            return Result.done(1)

        return self._apply(member_id, decide, extra=[warned_key()])

    def birthday_member(self, member_id: str, params: dict) -> bool:
        """The birthday bonus and the `auto_coupons.birthday` coupon of
        `params["year"]` (§7, §11), once, for a member enrolled by the end of the
        (possibly past) birthday it is granted for."""
        year, enrolled_by = params["year"], params["enrolled_by"]

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased or member.last_birthday_year == year or member.created_at >= enrolled_by:
                return Result.done(0)
            points = unit.program.birthday_bonus
            given = 0
            if points > 0:
                unit.credit(member, "bonus", points, reason="birthday")
                unit.notify(member, "birthday_bonus", points=points)
                given += 1
            if unit.auto_coupon(member, unit.program.auto_coupons.birthday, "birthday") is not None:
                given += 1
            if not given:
                return Result.done(0)
            member.last_birthday_year = year
            unit.touch(member)
            return Result.done(given)

        return self._apply(member_id, decide)

    def statement_member(self, member_id: str, params: dict) -> bool:
        """§13: the `monthly_statement` of `params["month"]`, once, for a member
        enrolled before the month began; its figures are the member's as of now."""
        month, month_start = params["month"], params["month_start"]

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased or member.statement_month == month or member.created_at >= month_start:
                return Result.done(0)
            view = member_view(unit.program, member, unit.now)  # may ask for lots (NeedLots)
            member.statement_month = month
            unit.touch(member)
            unit.notify(
                member,
                "monthly_statement",
                month=month,
                balance=view["balance"],
                tier=view["tier"],
                next_tier=view["next_tier"],
                expiring=view["expiring"],
            )
            return Result.done(1)

        return self._apply(member_id, decide)

    def win_back_member(self, member_id: str, params: dict) -> bool:
        """§14: a member who became dormant and has not been won back in this
        dormant spell gets `win_back` and the `auto_coupons.win_back` coupon."""

        def decide(unit: Unit, member, found) -> Result:
            dormancy = unit.program.dormancy
            if member is None or member.erased or dormancy is None:
                return Result.done(0)
            active_since = member.active_since
            dormant_from = parse_instant(active_since) + dt.timedelta(days=dormancy.after_days)
            if unit.now < dormant_from or member.won_back_for == active_since:
                return Result.done(0)  # active since it was planned, or this spell is won back
            member.won_back_for = active_since
            member.dormant_since = format_instant(dormant_from)
            unit.touch(member)
            unit.event("member.dormant", {"member_id": member.member_id})
            coupon = unit.auto_coupon(member, unit.program.auto_coupons.win_back, "win_back")
            unit.notify(
                member,
                "win_back",
                last_activity_at=active_since,
                dormant_since=member.dormant_since,
                coupon=coupon["name"] if coupon else None,
            )
            return Result.done(1)

        return self._apply(member_id, decide)

    def retier_member(self, member_id: str, params: dict) -> bool:
        """A due tier review (the quarter turned) or the tier-ladder pass. Every
        change re-tiers its member first and keeps the result, so the step only
        says whether the tier moved."""

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result.done(0)
            stored = found.get(profile_key(member_id)) or {}
            return Result.done(int(member.tier != stored.get("tier")))

        return self._apply(member_id, decide)

    def campaign_member(self, member_id: str, params: dict) -> bool:
        """§22: the member joins the campaign's audience, once: its arm (domain.campaigns.arm_for)
        goes on the profile (for the earn) and into an assignment item written once
        (attribute_not_exists), in one transaction with an audience counter's ADD, the
        campaign's coupon (a coupon arm) and the `campaign_offer` notification (rewarded arms,
        when `notify`). A member erased, or out of the segment since the refresh, is not in it."""
        campaign = params["campaign"]
        campaign_id = campaign["campaign_id"]
        once = refuse(lambda: AlreadyDoneError("already in the campaign"))

        def assignment_key(generation: int = 0) -> tuple[str, str]:
            return member_pk(member_id), campaign_assignment_sk(generation, campaign_id)

        def decide(unit: Unit, member, found) -> Result:
            if member is None or member.erased:
                return Result.done(0)
            segment_id = campaign.get("segment_id")
            if segment_id is not None and segment_id not in member.segments:
                return Result.done(0)  # left the segment (or erased and enrolled again) since the refresh
            # read ahead: the key of a first enrolment (the conditional put covers the others)
            if member.generation == 0 and assignment_key() in found:
                return Result.done(0)
            arm = campaign_rules.arm_for(campaign_id, member_id, campaign["arms"])
            pk, sk = assignment_key(member.generation)
            unit.commit.put_new(
                {
                    "pk": pk,
                    "sk": sk,
                    "campaign_id": campaign_id,
                    "member_id": member_id,
                    "generation": member.generation,
                    "arm": arm["name"],
                    "assigned_at": unit.now_text,
                },
                once,
            )
            unit.commit.add_counters(
                key_of(campaign_count_key(campaign_id, campaign_count_shard(member_id))), {"assigned": 1}
            )
            member.campaigns = campaign_rules.prune(member.campaigns, unit.now) + [
                campaign_rules.entry(campaign, arm, unit.now_text)
            ]
            unit.touch(member)
            reward = arm.get("reward")
            coupon = None
            if reward is not None and reward["type"] == "coupon":
                template = unit.template(reward["template_id"])
                if template is not None:
                    coupon = unit.issue_coupon(member, template, "campaign", campaign_id=campaign_id)
            if reward is not None and campaign.get("notify", True):
                unit.notify(
                    member,
                    "campaign_offer",
                    campaign_id=campaign_id,
                    campaign=campaign["name"],
                    arm=arm["name"],
                    reward=reward,
                    ends_at=campaign["ends_at"],
                    coupon=coupon["name"] if coupon else None,
                )
            return Result.done(1)

        return self._apply(member_id, decide, extra=[assignment_key()])

    def finish_campaign(self, params: dict) -> None:
        """Every page of the launch is done: the audience (the counters' sum, exact: each
        assignment added 1 in its own transaction) and `launched_at`, set once."""
        finish_launch(self.ledger.store, params["campaign"]["campaign_id"], clock.now())

    def finish_ladder_pass(self, params: dict) -> None:
        """Every member was passed over under `params["ladder"]`: mark it applied,
        unless the tiers changed again while the pass ran."""
        store = self.ledger.store
        seen = params.get("seen")
        unchanged, values = ("attribute_not_exists(pk)", {}) if seen is None else ("#l = :seen", {":seen": seen})
        store.update(
            LADDER_KEY["pk"],
            LADDER_KEY["sk"],
            "SET #l = :l, #a = :at",
            {"#l": "ladder", "#a": "applied_at"},
            {":l": params["ladder"], ":at": format_instant(clock.now()), **values},
            condition=unchanged,
        )

    def finish_birthdays(self, params: dict) -> None:
        """Birthdays up to `params["through"]` are granted: later runs look back no further."""
        self.ledger.store.update(
            *BIRTHDAYS_DONE_KEY,
            "SET #d = :d",
            {"#d": "through"},
            {":d": params["through"]},
            condition="attribute_not_exists(#d) OR #d < :d",
        )

    def finish_statements(self, params: dict) -> None:
        """Every member has this month's statement: later runs this month plan nothing."""
        self.ledger.store.update(
            *STATEMENTS_DONE_KEY,
            "SET #m = :m",
            {"#m": "month"},
            {":m": params["month"]},
            condition="attribute_not_exists(#m) OR #m < :m",
        )

    def definitions(self) -> dict[str, JobDefinition]:
        return {
            "expire_points": JobDefinition(self.expire_member, member_of),
            "send_expiry_warnings": JobDefinition(self.warn_member, member_of),
            "grant_birthday_bonuses": JobDefinition(self.birthday_member, member_of, self.finish_birthdays),
            "recompute_tiers": JobDefinition(self.retier_member, member_of),
            "send_monthly_statements": JobDefinition(
                self.statement_member, member_of, self.finish_statements, fan_out_pages=True
            ),
            "win_back_dormant_members": JobDefinition(self.win_back_member, member_of),
            "recompute_tiers:ladder": JobDefinition(self.retier_member, member_of, self.finish_ladder_pass),
            "launch_campaigns": JobDefinition(
                self.campaign_member, audience_member_of, self.finish_campaign, fan_out_pages=True
            ),
        }


ALREADY_LAUNCHED = Condition("none")  # the campaign's audience was set by an earlier completion


def finish_launch(store, campaign_id: str, now: dt.datetime) -> None:
    """Sum the campaign's audience counters (one BatchGetItem) and set `audience` and
    `launched_at` on the campaign, once (a later call changes nothing)."""
    counts = store.get_many([campaign_count_key(campaign_id, shard) for shard in range(CAMPAIGN_COUNT_SHARDS)])
    audience = sum(int(item.get("assigned") or 0) for item in counts.values())
    pk, sk = campaign_key(campaign_id)
    commit = Commit(store.table)
    commit.update(
        {"pk": pk, "sk": sk},
        "SET #a = :a, #l = :l",
        {"#a": "audience", "#l": "launched_at"},
        {":a": audience, ":l": format_instant(now)},
        on_fail=ALREADY_LAUNCHED,
        condition="attribute_not_exists(#a)",
    )
    # §24: `campaign.launched`, recorded in the same transaction (so exactly once); the
    # webhook dispatcher fans it out
    record_event(commit, "campaign.launched", {"campaign_id": campaign_id, "audience": audience}, format_instant(now))
    try:
        store.commit(commit)
    except CommitConflict as conflict:
        if not any(condition is ALREADY_LAUNCHED for condition, _ in conflict.failed):
            raise


def _parts(tasks: list[Task]) -> list[str]:
    """The names in the run item of tasks planned under a run (each task of a run has one)."""
    parts = [t.part for t in tasks if t.part is not None]
    if len(parts) != len(tasks):
        raise ValueError("a task planned under a run has no part name")
    return parts


class JobPlans:
    """What each scheduled job has due, as tasks for the job queue."""

    def __init__(self, ledger: Ledger, runs: RunBook, schedule_shards: int):
        self.ledger = ledger
        self.store = ledger.store
        self.runs = runs
        self.shards = schedule_shards

    def _shards(
        self,
        job: str,
        index: str,
        hash_name: str,
        range_name: Optional[str] = None,
        upto: Optional[str] = None,
        params: Optional[dict] = None,
        run: Optional[str] = None,
    ) -> list[Task]:
        return [
            Task(
                job=job,
                source=Source(index, hash_name, str(shard), range_name, upto),
                params=params or {},
                run=run,
                part=f"s{shard}" if run else None,
            )
            for shard in range(self.shards)
        ]

    def expire_points(self) -> list[Task]:
        return self._shards("expire_points", EXPIRY_INDEX, "expiry_shard", "next_expiry", format_instant(clock.now()))

    def send_expiry_warnings(self) -> list[Task]:
        now = clock.now()
        program = self.ledger.program()
        horizon = format_instant(now + dt.timedelta(days=program.expiry_warning_days))
        today = local_date(now, program.timezone).isoformat()
        # only today's warnings: a day gone by is not warned for afterwards
        return self._shards(
            "send_expiry_warnings",
            EXPIRY_INDEX,
            "expiry_shard",
            "next_expiry",
            horizon,
            {"today": today, "horizon": horizon},
        )

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
            next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone(program.timezone))
            for key in birthday_keys_for(day):
                tasks.append(
                    Task(
                        job="grant_birthday_bonuses",
                        source=Source(BIRTHDAY_INDEX, "birthday_key", key),
                        params={
                            "year": today.year,
                            "enrolled_by": format_instant(next_midnight),
                            "through": today.isoformat(),
                        },
                        run=run,
                        part=f"{day.isoformat()}:{key}" if run else None,
                    )
                )
            day += dt.timedelta(days=1)
        if run is not None:
            self.runs.begin(run, _parts(tasks), now, stale_after=dt.timedelta(0))
        return tasks

    def recompute_tiers(self) -> list[Task]:
        """Downgrades due at the turn of a quarter (the `tier-review` index), and
        beside them, never instead, the pass over every member (the `members`
        index) that a change of the tier ladder needs."""
        now = clock.now()
        tasks = self._shards("recompute_tiers", TIER_REVIEW_INDEX, "tier_shard", "tier_review", format_instant(now))
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
        tasks = self._shards(
            "recompute_tiers:ladder", MEMBERS_INDEX, "member_shard", params={"ladder": ladder, "seen": seen}, run=run
        )
        if not self.runs.begin(run, _parts(tasks), now, LADDER_PASS_LEASE):
            return []
        return tasks

    def send_monthly_statements(self) -> list[Task]:
        """§13: the pass over every member (the `members` index) on the month's
        first run, until a run of the month completes. A run that died part-way
        is planned again by the next day's run (after the lease); the step passes
        over the members it already reached."""
        now = clock.now()
        program = self.ledger.program()
        local = now.astimezone(zone(program.timezone))
        month = f"{local.year:04d}-{local.month:02d}"
        done = self.store.get(*STATEMENTS_DONE_KEY)
        if done is not None and done.get("month", "") >= month:
            return []
        month_start = dt.datetime(local.year, local.month, 1, tzinfo=zone(program.timezone)).astimezone(UTC)
        run = f"statements#{month}"
        tasks = self._shards(
            "send_monthly_statements",
            MEMBERS_INDEX,
            "member_shard",
            params={"month": month, "month_start": format_instant(month_start)},
            run=run,
        )
        if not self.runs.begin(run, _parts(tasks), now, STATEMENT_RUN_LEASE):
            return []
        return tasks

    def win_back_dormant_members(self) -> list[Task]:
        """§14: the members whose dormant day has come and whose spell is not won
        back: the `activity` index up to now − after_days (the dormant day is the
        key + after_days, so a changed `after_days` needs no rewrite of the index)."""
        program = self.ledger.program()
        if program.dormancy is None:
            return []
        cutoff = clock.now() - dt.timedelta(days=program.dormancy.after_days)
        return self._shards(
            "win_back_dormant_members", ACTIVITY_INDEX, "activity_shard", "last_activity_at", format_instant(cutoff)
        )

    def launch_campaigns(self) -> list[Task]:
        """§22: each campaign with starts_at <= now not yet launched. Its launch is marked
        first (`launch_started_at`, once: from then on it cannot be deleted), then its run
        is planned: the segment's members as of the last refresh (SEGMENT#<id> / M#...) or
        every member (the `members` index), a page of members per task."""
        now = clock.now()
        now_text = format_instant(now)
        tasks: list[Task] = []
        for campaign in self.store.query_all(CAMPAIGNS_PK):
            if campaign["starts_at"] > now_text or campaign.get("launched_at"):
                continue
            campaign_id = campaign["campaign_id"]
            if not campaign.get("launch_started_at"):
                started = self.store.update(
                    *campaign_key(campaign_id),
                    "SET #s = :s",
                    {"#s": "launch_started_at", "#pk": "pk"},
                    {":s": now_text},
                    condition="attribute_exists(#pk) AND attribute_not_exists(#s)",
                )
                if started is None:
                    continue  # deleted meanwhile, or another planner marked it
            run = f"campaign#{campaign_id}"
            if self.runs.finished(run):
                # the run closed but its completion died before telling the campaign: the
                # job queue's worker finishes it (finish_launch, once)
                source = Source("", "pk", CAMPAIGNS_PK)
                tasks.append(Task(job=FINISH_LAUNCH, source=source, params={"campaign_id": campaign_id}))
                continue
            params = {"campaign": launch_params(campaign)}
            if campaign.get("segment_id") is not None:
                source = Source("", "pk", segment_pk(campaign["segment_id"]), "sk", SEGMENT_MEMBER_PREFIX + "\uffff")
                planned = [Task(job="launch_campaigns", source=source, params=params, run=run, part="segment")]
            else:
                planned = self._shards("launch_campaigns", MEMBERS_INDEX, "member_shard", params=params, run=run)
            if self.runs.begin(run, _parts(planned), now, LAUNCH_LEASE):
                tasks += planned
        return tasks


def launch_params(campaign: dict) -> dict:
    """What each step of a launch needs of its campaign (carried in the tasks: no read per member)."""
    return {
        "campaign_id": campaign["campaign_id"],
        "name": campaign["name"],
        "segment_id": campaign.get("segment_id"),
        "starts_at": campaign["starts_at"],
        "ends_at": campaign["ends_at"],
        "notify": bool(campaign.get("notify", True)),
        "arms": [
            {"name": arm["name"], "weight": int(arm["weight"]), "reward": plain_reward(arm.get("reward"))}
            for arm in campaign["arms"]
        ],
    }


def plain_reward(reward: Optional[dict]) -> Optional[dict]:
    """A reward as JSON (integers, not the Decimals a read gives)."""
    if reward is None:
        return None
    return {k: (int(v) if k in ("points", "min_amount") else v) for k, v in reward.items() if v is not None}

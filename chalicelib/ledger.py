"""The ledger's use cases: enrol, earn, redeem, reverse, transfer, adjust, erase.

Every use case reads what it needs in one BatchGetItem (program, members,
the transaction or reward it acts on), decides everything in Python with the
domain rules, then writes in one TransactWriteItems whose member Puts are
conditioned on the versions read. A concurrent change makes the commit fail
and the use case runs again on fresh data, so no decision is ever made on a
stale read.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import clock
from .auth import Actor
from .domain.calendar import format_instant, parse_instant, quarter_of
from .domain.earning import PurchaseItem, clawback_due, earning_breakdown
from .domain.ids import new_id, referral_code, ulid_sequence, voucher_code
from .domain.lots import merge_by_expiry, plan_restoration
from .domain.member import Member
from .domain.program import Program
from .domain.tiers import ladder_signature, pruned_spend, tier_at, tier_review_at
from .errors import (
    BelowMinimumRedemptionError,
    ConcurrentUpdateError,
    DangolError,
    DuplicateActivityError,
    DuplicateOrderError,
    IdempotencyKeyReusedError,
    MemberExistsError,
    NotFoundError,
    OutOfStockError,
    ReversalNotAllowedError,
    RewardExistsError,
    TransferNotAllowedError,
    ValidationError,
)
from . import schemas
from .store import PROFILE, Commit, CommitConflict, Store, member_pk, member_sk

log = logging.getLogger(__name__)

PROGRAM_KEY = ("PROGRAM", "CONFIG")
# conditions that fail when another request changed the item since it was read
RETRY_LABELS = ("original", "enrolment-reply")
LADDER_KEY = {"pk": "PROGRAM", "sk": "TIER_LADDER_APPLIED"}  # the ladder members were last tiered by
EARN_WINDOW = dt.timedelta(days=90)
EXPIRING_WINDOW = dt.timedelta(days=30)

CREDIT_TYPES = ("earn", "bonus", "activity")
PUBLIC_TX_FIELDS = (
    "transaction_id", "member_id", "type", "points", "balance_after", "created_at",
    "order_id", "reason", "breakdown", "storefront", "reward_id",
    "reversed_transaction_id", "unrecovered_points", "amount",
    "counterparty_member_id",
)
STATS_FIELDS = (
    "points_earned", "points_redeemed", "points_expired", "points_adjusted", "points_reversed",
)


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str
    key: str
    request_hash: str

    @classmethod
    def for_request(cls, scope: str, key: Optional[str], method: str, path: str, body: Any):
        if key is None:
            raise ValidationError("the Idempotency-Key header is required")
        if not 1 <= len(key) <= 64:
            raise ValidationError("Idempotency-Key must be 1-64 characters")
        canonical = json.dumps(
            {"method": method, "path": path, "body": body},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )
        return cls(scope, key, hashlib.sha256(canonical.encode()).hexdigest())

    @property
    def pk(self) -> str:
        return f"IDEMPOTENCY#{self.scope}#{self.key}"


@dataclass
class Result:
    status: int
    body: Any


@dataclass(frozen=True)
class Notice:
    member_id: str
    notification_id: str
    generation: int


class Unit:
    """One use case's writes: a Commit plus the bookkeeping around it."""

    def __init__(self, store: Store, program: Program, now: dt.datetime, actor: Actor, shards: int):
        self.commit = Commit(store.table)
        self.program = program
        self.now = now
        self.now_text = format_instant(now)
        self.actor = actor
        self.stats: Counter = Counter()
        self.members: dict[str, Member] = {}
        self.notices: list[Notice] = []
        self.ladder = ladder_signature(program)
        self.caught_up: dict[str, str] = {}  # member_id -> tier held before a ladder catch-up
        self._ids = iter(ulid_sequence(64))
        self._shards = shards

    def next_id(self) -> str:
        return next(self._ids)

    def touch(self, member: Member) -> Member:
        self.members[member.member_id] = member
        return member

    def record(self, member: Member, type_: str, points: int, **extra: Any) -> dict:
        """A ledger transaction for `member`, whose lots already reflect it."""
        tx_id = extra.pop("transaction_id", None) or self.next_id()
        tx = {
            "transaction_id": tx_id,
            "member_id": member.member_id,
            "type": type_,
            "points": points,
            "balance_after": member.balance,
            "created_at": self.now_text,
            "storefront": self.actor.name,
            **{k: v for k, v in extra.items() if v is not None},
        }
        self.commit.put({"pk": member_pk(member.member_id),
                         "sk": member_sk(member.generation, f"TX#{tx_id}"), **tx}, "tx")
        if type_ in CREDIT_TYPES:
            self.stats["points_earned"] += points
            member.lifetime_points += points
        elif type_ == "redeem":
            self.stats["points_redeemed"] -= points
        elif type_ == "expire":
            self.stats["points_expired"] -= points
        elif type_ == "adjust":
            self.stats["points_adjusted"] += points
        elif type_ == "reversal":
            self.stats["points_reversed"] += points
        self.touch(member)
        return tx

    def credit(self, member: Member, type_: str, points: int, expires_at: Optional[str] = None,
               **extra: Any) -> dict:
        """A credit that forms a new lot (expiring per the member's tier)."""
        tx_id = self.next_id()
        if expires_at is None:
            days = self.program.lot_lifetime_days(member.tier)
            expires_at = format_instant(self.now + dt.timedelta(days=days))
        member.lots.credit(tx_id, points, expires_at, self.now_text)
        return self.record(member, type_, points, transaction_id=tx_id, **extra)

    def notify(self, member: Member, type_: str, **data: Any) -> None:
        notification_id = self.next_id()
        self.commit.put(
            {
                "pk": member_pk(member.member_id),
                "sk": member_sk(member.generation, f"NOTIFICATION#{notification_id}"),
                "notification_id": notification_id,
                "member_id": member.member_id,
                "type": type_,
                "status": "queued",
                "channel": None,
                "created_at": self.now_text,
                "sent_at": None,
                "data": data or None,
            },
            "notification",
        )
        self.notices.append(Notice(member.member_id, notification_id, member.generation))

    def set_tier(self, member: Member, tier: str) -> None:
        if tier != member.tier:
            self.stats[f"tier:{member.tier}"] -= 1
            self.stats[f"tier:{tier}"] += 1
            old = member.tier
            member.tier = tier
            self.notify(member, "tier_changed", old_tier=old, new_tier=tier)
        self.touch(member)

    def reevaluate_tier(self, member: Member) -> None:
        member.spend = pruned_spend(member.spend, self.now, self.program.timezone)
        self.set_tier(member, tier_at(self.program, member.spend, self.now))
        member.tier_review = tier_review_at(self.program, member.spend, member.tier, self.now)
        member.ladder = self.ladder

    def catch_up(self, member: Member) -> None:
        """A member last tiered under another tier ladder (the program's tiers
        changed since) is tiered again before anything is decided for it, so
        its tier is one the program has and an earn uses the tier §6 gives."""
        if member.erased or member.ladder == self.ladder:
            return
        self.caught_up[member.member_id] = member.tier
        self.reevaluate_tier(member)

    def stats_shard_key(self) -> dict:
        return {"pk": "STATS", "sk": f"SHARD#{random.randrange(self._shards):03d}"}


def profile_item(member: Member, schedule_shards: int) -> dict:
    record = member.to_record()
    shard = f"{int(hashlib.sha256(member.member_id.encode()).hexdigest(), 16) % schedule_shards}"
    item = {"pk": member_pk(member.member_id), "sk": PROFILE, **record}
    if record["next_expiry"]:
        item["expiry_shard"] = shard
    if record["tier_review"]:
        item["tier_shard"] = shard
    if member.birthday and not member.erased:
        item["birthday_key"] = member.birthday[5:]
    if not member.erased:
        item["member_shard"] = shard
    return item


def transaction_view(tx: dict) -> dict:
    view = {k: tx[k] for k in PUBLIC_TX_FIELDS if k in tx and tx[k] is not None}
    view["storefront"] = tx.get("storefront")
    return view


class Ledger:
    def __init__(self, store: Store, publisher, settings):
        self.store = store
        self.publisher = publisher
        self.settings = settings

    # -- reading ---------------------------------------------------------
    def program(self) -> Program:
        item = self.store.get(*PROGRAM_KEY)
        return _program_from(item)

    def put_program(self, program: Program) -> dict:
        ladder = ladder_signature(program)
        # Unless members were last passed over under this very ladder, a pass over all
        # of them is due (requests re-tier members in the meantime, so a ladder changed
        # and changed back still needs one). A fresh token each time: a pass that was
        # running meanwhile cannot mark its (older) ladder applied.
        self.store.update(
            LADDER_KEY["pk"], LADDER_KEY["sk"], "SET #l = :pending", {"#l": "ladder"},
            {":pending": f"pending:{new_id()}", ":new": ladder},
            condition="attribute_not_exists(pk) OR #l <> :new",
        )
        old = self.store.replace(
            {"pk": PROGRAM_KEY[0], "sk": PROGRAM_KEY[1], "config": program.model_dump_json(),
             "updated_at": format_instant(clock.now())}
        )
        if self.publisher is not None and ladder_signature(_program_from(old)) != ladder:
            # names or thresholds of tiers changed: every member's tier is evaluated
            # again, off the request (recompute_tiers also catches up if this is lost)
            try:
                self.publisher.publish([{"job": "recompute_tiers"}])
            except Exception:
                log.exception("could not queue the tier recompute; the daily run will do it")
        return program.model_dump(mode="json")

    def _read(self, member_ids: list[str], extra: list[tuple[str, str]] = ()) -> tuple[Program, dict[str, Member], dict]:
        keys = [PROGRAM_KEY] + [(member_pk(m), PROFILE) for m in member_ids] + list(extra)
        found = self.store.get_many(keys)
        program = _program_from(found.get(PROGRAM_KEY))
        members: dict[str, Member] = {}
        for member_id in member_ids:
            record = found.get((member_pk(member_id), PROFILE))
            if record is not None:
                members[member_id] = Member.from_record(record)
        return program, members, found

    def _live(self, members: dict[str, Member], member_id: str) -> Member:
        member = members.get(member_id)
        if member is None or member.erased:
            raise NotFoundError(f"member {member_id!r} not found")
        return member

    def get_member(self, member_id: str) -> dict:
        program, members, _ = self._read([member_id])
        return member_view(program, self._live(members, member_id), clock.now())

    def history(self, member_id: str, limit: int, cursor: Optional[str]) -> dict:
        generation = self._require_member(member_id)
        items, next_cursor = self.store.query_page(
            member_pk(member_id), member_sk(generation, "TX#"), limit, cursor, newest_first=True)
        return {"items": [transaction_view(i) for i in items], "next_cursor": next_cursor}

    def notifications(self, member_id: str, limit: int, cursor: Optional[str]) -> dict:
        generation = self._require_member(member_id)
        items, next_cursor = self.store.query_page(
            member_pk(member_id), member_sk(generation, "NOTIFICATION#"), limit, cursor, newest_first=True
        )
        fields = ("notification_id", "type", "channel", "status", "created_at", "sent_at")
        return {"items": [{k: i.get(k) for k in fields} for i in items], "next_cursor": next_cursor}

    def _require_member(self, member_id: str) -> int:
        """The member's generation; NotFoundError when there is no live member."""
        record = self.store.get(member_pk(member_id), PROFILE)
        if record is None or record.get("erased"):
            raise NotFoundError(f"member {member_id!r} not found")
        return int(record.get("generation", 0))

    def stats(self) -> dict:
        program = self.program()
        totals: Counter = Counter()
        for shard in self.store.query_all("STATS", "SHARD#"):
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

    # -- the write loop --------------------------------------------------
    def change(
        self,
        actor: Actor,
        idem: Optional[IdempotencyKey],
        read: Callable[[list[tuple[str, str]]], tuple[Program, dict[str, Member], dict]],
        decide: Callable[[Unit, dict[str, Member], dict], Result],
        conflicts: Optional[dict[str, Callable[[], DangolError]]] = None,
        subject: Optional[str | list[str]] = None,
        catch_up: bool = True,
    ) -> Result:
        """Read, decide, commit; again on a concurrent change.

        `read(also)` reads the program, the members and what the use case needs,
        plus the keys in `also` (the idempotency record) in the same request, so
        a replay is answered from that one read."""
        conflicts = conflicts or {}
        idem_key = [(idem.pk, "IDEMPOTENCY")] if idem is not None else []
        for attempt in range(self.settings.commit_attempts):
            program, members, found = read(idem_key)
            if idem is not None and idem_key[0] in found:
                return self._replay(idem, found[idem_key[0]], members)
            unit = Unit(self.store, program, clock.now(), actor, self.settings.stats_shards)
            for member in members.values() if catch_up else ():
                unit.catch_up(member)
            try:
                result = decide(unit, members, found)
            except DangolError:
                if idem is not None:
                    replay = self._stored_response(idem)
                    if replay is not None:
                        return replay
                raise
            for member in unit.members.values():
                unit.commit.put_versioned(
                    profile_item(member, self.settings.schedule_shards), member.version,
                    f"member:{member.member_id}",
                )
            unit.commit.add_counters(unit.stats_shard_key(), dict(unit.stats), "stats")
            if idem is not None:
                unit.commit.put_new(self._idempotency_item(idem, result, unit, subject, members),
                                    "idempotency")
            try:
                self.store.commit(unit.commit)
            except CommitConflict as conflict:
                if "idempotency" in conflict.failed:
                    return self._replay(idem, conflict.old_items.get("idempotency"))
                for label in conflict.failed:
                    if label in conflicts:
                        raise conflicts[label]()
                retry = conflict.contended or all(
                    label.startswith(("member:", "code:")) or label in RETRY_LABELS
                    for label in conflict.failed
                )
                if not retry:
                    raise
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** attempt)))
                continue
            self._publish(unit.notices)
            return result
        raise ConcurrentUpdateError("the member is being changed by other requests; retry")

    def _publish(self, notices: list[Notice]) -> None:
        if not notices or self.publisher is None:
            return
        try:
            self.publisher.publish([{"member_id": n.member_id, "notification_id": n.notification_id,
                                     "generation": n.generation} for n in notices])
        except Exception:  # the outbox item stays `queued` and is visible
            log.exception("could not queue %d notifications", len(notices))

    def _idempotency_item(self, idem: IdempotencyKey, result: Result, unit: Unit,
                          subject: Optional[str | list[str]], members: dict[str, Member]) -> dict:
        expires = unit.now + dt.timedelta(hours=self.settings.idempotency_hours)
        subjects = [subject] if isinstance(subject, str) else list(subject or [])
        shown = [unit.members.get(s) or members.get(s) for s in subjects]
        return {
            "pk": idem.pk,
            "sk": "IDEMPOTENCY",
            "request_hash": idem.request_hash,
            "status": result.status,
            "body": json.dumps(result.body, ensure_ascii=False),
            # the members the response shows: a replay answers 404 once one is erased
            "member_ids": subjects,
            # and which enrolment of each id: a replay answers 404 once the id is another member's
            "member_generations": [m.generation if m is not None else 0 for m in shown],
            "created_at": unit.now_text,
            "expires_at": int(expires.timestamp()),
        }

    def _stored_response(self, idem: IdempotencyKey) -> Optional[Result]:
        stored = self.store.get(idem.pk, "IDEMPOTENCY")
        return self._replay(idem, stored) if stored else None

    def _replay(self, idem: IdempotencyKey, stored: Optional[dict],
                members: Optional[dict[str, Member]] = None) -> Result:
        if stored is None:
            stored = self.store.get(idem.pk, "IDEMPOTENCY")
        if stored is None:
            raise ConcurrentUpdateError("idempotency record vanished; retry")
        if stored["request_hash"] != idem.request_hash:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was used with a different request"
            )
        subjects = stored.get("member_ids") or []
        generations = stored.get("member_generations") or [0] * len(subjects)
        for subject, generation in zip(subjects, generations):
            if members is not None and subject in members:
                current = self._live(members, subject).generation
            else:
                current = self._require_member(subject)
            if current != int(generation):
                raise NotFoundError(f"member {subject!r} not found")
        return Result(int(stored["status"]), json.loads(stored["body"]))

    # -- members ---------------------------------------------------------
    def create_member(self, actor: Actor, idem: IdempotencyKey, request: schemas.CreateMember) -> Result:
        member_id = request.member_id or new_id()
        code_given = request.referral_code.strip().upper() if request.referral_code else None
        extra = [(f"REFERRAL#{code_given}", "REFERRAL")] if code_given else []

        def read(also):
            return self._read([member_id], extra + also)

        def decide(unit: Unit, members, found) -> Result:
            earlier = members.get(member_id)
            if earlier is not None and not earlier.erased:
                raise MemberExistsError(f"member {member_id!r} already exists")
            referrer_id = None
            referrer_generation = 0
            if code_given:
                code_item = found.get(extra[0])
                if code_item is None:
                    raise ValidationError(f"unknown referral_code {request.referral_code!r}")
                referrer_id = code_item["member_id"]
                referrer_generation = int(code_item.get("generation", 0))
            code = referral_code()
            member = Member(
                member_id=member_id, name=request.name, email=request.email,
                phone=request.phone, birthday=request.birthday, referral_code=code,
                created_at=unit.now_text, tier=unit.program.base_tier,
                referrer_id=referrer_id, referral_pending=referrer_id is not None,
                enrolment_key=idem.pk, ladder=unit.ladder,
                referrer_generation=referrer_generation,
                # an id erased before is enrolled again as a new member: it replaces the
                # erased profile (conditioned on its version) and keeps apart from its items
                generation=earlier.generation + 1 if earlier is not None else 0,
                version=earlier.version if earlier is not None else None,
            )
            unit.touch(member)
            unit.stats["members"] += 1
            unit.stats[f"tier:{member.tier}"] += 1
            unit.commit.put_new({"pk": f"REFERRAL#{code}", "sk": "REFERRAL", "member_id": member_id,
                                 "generation": member.generation}, f"code:{code}")
            if unit.program.signup_bonus:
                unit.credit(member, "bonus", unit.program.signup_bonus, reason="signup")
            unit.notify(member, "welcome")
            return Result(201, member_view(unit.program, member, unit.now))

        return self.change(actor, idem, read, decide, {
            f"member:{member_id}": lambda: MemberExistsError(f"member {member_id!r} already exists"),
        }, subject=member_id)

    def erase_member(self, actor: Actor, member_id: str) -> None:
        def decide(unit: Unit, members, found) -> Result:
            member = self._live(members, member_id)
            forfeited = sum(d.points for d in member.lots.forfeit_all())
            if forfeited:
                unit.record(member, "expire", -forfeited, reason="erasure")
            for name in ("name", "email", "phone", "birthday"):
                setattr(member, name, None)
            member.erased = True
            member.tier_review = None
            unit.stats["members"] -= 1
            unit.stats[f"tier:{member.tier}"] -= 1
            if member.enrolment_key and self.store.get(member.enrolment_key, "IDEMPOTENCY"):
                # The stored enrolment reply (kept 48 h) holds the personal data: scrub
                # it. A replay of that request still answers 404: the member is erased.
                unit.commit.update(
                    {"pk": member.enrolment_key, "sk": "IDEMPOTENCY"},
                    "SET #b = :erased, #m = :m", {"#b": "body", "#m": "member_ids"},
                    {":erased": "null", ":m": [member_id]}, "enrolment-reply",
                    condition="attribute_exists(pk)",  # never a stub without its request
                )
            if member.referral_code:
                unit.commit.delete({"pk": f"REFERRAL#{member.referral_code}", "sk": "REFERRAL"},
                                   "referral-code")
            unit.touch(member)
            return Result(204, None)

        # no re-tiering first: the member's tier counter is simply released
        self.change(actor, None, lambda also: self._read([member_id], also), decide, catch_up=False)

    # -- points ----------------------------------------------------------
    def earn(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Earn) -> Result:
        def read(also):
            program, members, found = self._read([member_id], also)
            member = members.get(member_id)
            if (member and member.referral_pending and member.referrer_id
                    and program.referral.referrer_points):
                # the first earn of a referred member: the referrer is credited too, if
                # it is still the member that made the referral (not erased, not a new
                # member enrolled under the same id)
                record = self.store.get(member_pk(member.referrer_id), PROFILE)
                if (record is not None and not record.get("erased")
                        and int(record.get("generation", 0)) == member.referrer_generation):
                    members[member.referrer_id] = Member.from_record(record)
            return program, members, found

        def decide(unit: Unit, members, found) -> Result:
            member = self._live(members, member_id)
            occurred = parse_instant(request.occurred_at) if request.occurred_at else unit.now
            if occurred > unit.now:
                raise ValidationError("occurred_at lies in the future")
            if occurred < unit.now - EARN_WINDOW:
                raise ValidationError("occurred_at lies more than 90 days back")
            program = unit.program
            tier_before = member.tier
            items = [PurchaseItem(i.sku, i.category, i.amount) for i in request.items or []]
            breakdown = earning_breakdown(program, request.amount, items, occurred, tier_before)
            lifetime = program.lot_lifetime_days(tier_before)
            quarter = quarter_of(occurred, program.timezone)
            tx = unit.credit(
                member, "earn", breakdown.total,
                expires_at=format_instant(occurred + dt.timedelta(days=lifetime)),
                order_id=request.order_id,
                breakdown=[line.as_dict() for line in breakdown.lines],
                amount=request.amount,
                occurred_at=format_instant(occurred), quarter=quarter,
                refunded_amount=0, clawed_back=0,
            )
            unit.commit.put_new(
                {"pk": member_pk(member_id), "sk": member_sk(member.generation, f"ORDER#{request.order_id}"),
                 "transaction_id": tx["transaction_id"]},
                "order",
            )
            member.add_spend(quarter, request.amount)
            unit.reevaluate_tier(member)
            if breakdown.total:
                unit.notify(member, "points_earned", points=breakdown.total)
            if member.referral_pending:
                member.referral_pending = False
                referral = program.referral
                if referral.referee_points:
                    unit.credit(member, "bonus", referral.referee_points, reason="referral")
                referrer = members.get(member.referrer_id or "")  # read only when it is paid
                if referrer is not None:
                    unit.credit(referrer, "bonus", referral.referrer_points,
                                reason=f"referral:{member_id}")
            return Result(201, {**transaction_view(tx), "tier": member.tier})

        return self.change(actor, idem, read, decide, subject=member_id, conflicts={
            "order": lambda: DuplicateOrderError(
                f"order {request.order_id!r} already earned points for this member"),
        })

    def activity(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Activity) -> Result:
        # a digest keeps the sort key within DynamoDB's 1 KB for any 200-character type and reference
        reference = "ACTIVITY#" + hashlib.sha256(
            json.dumps([request.type, request.reference_id], ensure_ascii=False).encode()).hexdigest()

        def decide(unit: Unit, members, found) -> Result:
            member = self._live(members, member_id)
            points = unit.program.activities.get(request.type)
            if points is None:
                raise ValidationError(f"unknown activity type {request.type!r}")
            tx = unit.credit(member, "activity", points, reason=request.type,
                             reference_id=request.reference_id)
            unit.commit.put_new({"pk": member_pk(member_id), "sk": member_sk(member.generation, reference),
                                 "transaction_id": tx["transaction_id"]}, "activity")
            if points:
                unit.notify(member, "points_earned", points=points)
            return Result(201, {**transaction_view(tx), "reference_id": request.reference_id,
                                "activity_type": request.type})

        return self.change(actor, idem, lambda also: self._read([member_id], also), decide, subject=member_id, conflicts={
            "activity": lambda: DuplicateActivityError(
                f"activity {request.type!r} {request.reference_id!r} was already rewarded"),
        })

    def redeem(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Redeem) -> Result:
        reward_key = ("REWARD", request.reward_id) if request.reward_id else None

        def decide(unit: Unit, members, found) -> Result:
            member = self._live(members, member_id)
            reward = None
            points = request.points
            if reward_key:
                reward = found.get(reward_key)
                if reward is None:
                    raise NotFoundError(f"reward {request.reward_id!r} not found")
                if points is not None and points != reward["points_cost"]:
                    raise ValidationError(
                        f"points must equal the reward's points_cost ({reward['points_cost']})")
                points = int(reward["points_cost"])
                if reward.get("stock") is not None and reward["stock"] <= 0:
                    raise OutOfStockError(f"reward {request.reward_id!r} is out of stock")
            elif points < unit.program.redemption.min_points:
                raise BelowMinimumRedemptionError(
                    f"redemptions start at {unit.program.redemption.min_points} points")
            draws = member.lots.debit(points)
            extra: dict[str, Any] = {}
            body_extra: dict[str, Any] = {"cash_value": points * unit.program.point_value}
            if reward is not None:
                code = voucher_code()
                extra = {"reward_id": reward["reward_id"], "voucher_code": code,
                         "reward_stocked": reward.get("stock") is not None}
                body_extra["reward"] = {"reward_id": reward["reward_id"], "name": reward["name"],
                                        "code": code}
                if reward.get("stock") is not None:
                    unit.commit.update(
                        {"pk": "REWARD", "sk": reward["reward_id"]},
                        "SET #s = #s - :one", {"#s": "stock"}, {":one": 1, ":zero": 0}, "stock",
                        condition="#s > :zero",
                    )
            tx = unit.record(
                member, "redeem", -points, order_id=request.order_id,
                consumed=[{**d.as_dict(), "restored": 0} for d in draws],
                restored=0, cash_value=body_extra["cash_value"], **extra,
            )
            if reward is not None:
                unit.commit.put_new({"pk": f"VOUCHER#{extra['voucher_code']}", "sk": "VOUCHER",
                                     "member_id": member_id, "reward_id": reward["reward_id"],
                                     "transaction_id": tx["transaction_id"]},
                                    f"code:{extra['voucher_code']}")
            unit.notify(member, "points_redeemed", points=points)
            return Result(201, {**transaction_view(tx), **body_extra})

        return self.change(actor, idem, lambda also: self._read([member_id], ([reward_key] if reward_key else []) + also),
                           decide, subject=member_id, conflicts={"stock": lambda: OutOfStockError(
                               f"reward {request.reward_id!r} is out of stock")})

    def reverse(self, actor: Actor, idem: IdempotencyKey, member_id: str, tx_id: str,
                request: schemas.Reversal) -> Result:
        tx_key = (member_pk(member_id), f"TX#{tx_id}")

        def decide(unit: Unit, members, found) -> Result:
            member = self._live(members, member_id)
            if member.generation:
                # an id enrolled again: its transactions are under G<n># (one more read)
                original = self.store.get(tx_key[0], member_sk(member.generation, tx_key[1]))
            else:
                original = found.get(tx_key)
            if original is None:
                raise NotFoundError(f"transaction {tx_id!r} not found")
            if original["type"] == "earn":
                return self._refund(unit, member, original, request)
            if original["type"] == "redeem":
                return self._cancel_redemption(unit, member, original, request)
            raise ReversalNotAllowedError(f"a {original['type']} transaction cannot be reversed")

        return self.change(actor, idem, lambda also: self._read([member_id], [tx_key] + also), decide,
                           subject=member_id)

    def _refund(self, unit: Unit, member: Member, earn: dict, request: schemas.Reversal) -> Result:
        if request.points is not None:
            raise ValidationError("a refund takes `amount`, not `points`")
        order_amount = int(earn["amount"])
        refunded = int(earn.get("refunded_amount", 0))
        remaining = order_amount - refunded
        amount = request.amount if request.amount is not None else remaining
        if remaining <= 0 or amount > remaining:
            raise ReversalNotAllowedError(
                f"only {remaining} of this order's amount remains refundable")
        clawed = int(earn.get("clawed_back", 0))
        due = clawback_due(int(earn["points"]), order_amount, refunded + amount, clawed)
        taken = min(due, member.balance)
        member.lots.debit(taken, first=earn["transaction_id"])
        unit.commit.update(
            {"pk": earn["pk"], "sk": earn["sk"]},
            "SET #r = :r, #c = :c", {"#r": "refunded_amount", "#c": "clawed_back"},
            {":r": refunded + amount, ":c": clawed + due, ":was": refunded}, "original",
            # the earn was read beside the profile, not with it: a refund committed in
            # between changes this, and the use case runs again on fresh data
            condition="#r = :was",
        )
        if earn.get("quarter") in member.spend:
            member.spend[earn["quarter"]] = max(member.spend[earn["quarter"]] - amount, 0)
        unit.reevaluate_tier(member)
        tx = unit.record(member, "reversal", -taken, reversed_transaction_id=earn["transaction_id"],
                         order_id=earn.get("order_id"), amount=amount,
                         unrecovered_points=due - taken)
        return Result(201, {**transaction_view(tx), "unrecovered_points": due - taken,
                            "tier": member.tier})

    def _cancel_redemption(self, unit: Unit, member: Member, redeem: dict,
                           request: schemas.Reversal) -> Result:
        if request.amount is not None:
            raise ValidationError("cancelling a redemption takes `points`, not `amount`")
        redeemed = -int(redeem["points"])
        restored = int(redeem.get("restored", 0))
        remaining = redeemed - restored
        points = request.points if request.points is not None else remaining
        if remaining <= 0 or points > remaining:
            raise ReversalNotAllowedError(
                f"only {remaining} points of this redemption remain to restore")
        plan = plan_restoration(redeem.get("consumed") or [], points)
        for draw in plan.draws:
            member.lots.restore(draw)
        unit.commit.update(
            {"pk": redeem["pk"], "sk": redeem["sk"]},
            "SET #r = :r, #c = :c", {"#r": "restored", "#c": "consumed"},
            {":r": restored + points, ":c": list(plan.consumed_after), ":was": restored}, "original",
            condition="#r = :was",  # as for a refund: a cancel committed in between runs it again
        )
        if restored + points == redeemed and redeem.get("reward_stocked"):
            unit.commit.update(
                {"pk": "REWARD", "sk": redeem["reward_id"]}, "ADD #s :one",
                {"#s": "stock"}, {":one": 1}, "stock-return",
            )
        tx = unit.record(member, "reversal", points, reversed_transaction_id=redeem["transaction_id"],
                         order_id=redeem.get("order_id"), reward_id=redeem.get("reward_id"))
        return Result(201, transaction_view(tx))

    def transfer(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Transfer) -> Result:
        to_id = request.to_member_id

        def decide(unit: Unit, members, found) -> Result:
            sender = self._live(members, member_id)
            if to_id == member_id:
                raise TransferNotAllowedError("a member cannot transfer points to itself")
            recipient = self._live(members, to_id)
            rules = unit.program.transfer
            if sender.tier not in rules.allowed_tiers:
                raise TransferNotAllowedError(f"tier {sender.tier!r} may not transfer points")
            if request.points < rules.min_points:
                raise TransferNotAllowedError(f"transfers start at {rules.min_points} points")
            draws = sender.lots.debit(request.points)
            out_tx = unit.record(sender, "transfer_out", -request.points, counterparty_member_id=to_id)
            in_id = unit.next_id()
            for n, (expires_at, points) in enumerate(merge_by_expiry(draws)):
                recipient.lots.credit(f"{in_id}.{n}", points, expires_at, unit.now_text)
            in_tx = unit.record(recipient, "transfer_in", request.points, transaction_id=in_id,
                                counterparty_member_id=member_id)
            unit.notify(recipient, "transfer_received", points=request.points, sender=member_id)
            return Result(201, {"transfer_out": transaction_view(out_tx),
                                "transfer_in": transaction_view(in_tx)})

        return self.change(actor, idem, lambda also: self._read([member_id, to_id] if to_id != member_id
                                                                else [member_id], also), decide,
                           subject=[member_id, to_id])

    def adjust(self, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Adjustment) -> Result:
        def decide(unit: Unit, members, found) -> Result:
            member = self._live(members, member_id)
            if request.points > 0:
                tx = unit.credit(member, "adjust", request.points, reason=request.reason)
            else:
                member.lots.debit(-request.points)
                tx = unit.record(member, "adjust", request.points, reason=request.reason)
            return Result(201, transaction_view(tx))

        return self.change(actor, idem, lambda also: self._read([member_id], also), decide, subject=member_id)

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


def reward_view(item: dict) -> dict:
    return {"reward_id": item["reward_id"], "name": item["name"],
            "points_cost": int(item["points_cost"]), "stock": item.get("stock"),
            "created_at": item.get("created_at")}


def member_view(program: Program, member: Member, now: dt.datetime) -> dict:
    quarter_spend = member.spend.get(quarter_of(now, program.timezone), 0)
    tier = member.tier
    if member.ladder != ladder_signature(program):
        # the program's tiers changed and the member's stored tier is not yet
        # re-evaluated: show the tier §6 gives under the current tiers
        tier = tier_at(program, member.spend, now)
    upper = program.next_tier(tier)
    now_text = format_instant(now)
    horizon = format_instant(now + EXPIRING_WINDOW)
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
        "expiring": [
            {"points": lot.points, "expires_at": lot.expires_at}
            for lot in member.lots.expiring_between(now_text, horizon)
        ],
        "referral_code": member.referral_code,
        "created_at": member.created_at,
    }


def _program_from(item: Optional[dict]) -> Program:
    if item is None:
        return Program()
    return Program.model_validate_json(item["config"])

"""The read-decide-commit loop every change of a member goes through.

1. Read: one BatchGetItem holds the members' profiles, the items the command
   names (an original transaction, a reward, ...), the idempotency record and,
   when this container's copy is stale, the program.
2. Decide: the command's pure `decide(unit, members, found)` returns the
   response and leaves in the `Unit` what to write. When it needs lots it has
   not seen (`NeedLots`) or another item (`NeedItems`, `NeedMembers`), the
   loop reads them and decides again from the same records.
3. Commit: one TransactWriteItems. Every member's profile Put is conditioned
   on the version read, every history item on not existing yet. A condition
   that fails because something changed since the read sends the loop back to
   1; one that fails by a rule of the contract raises that rule's error.
   Contention (another transaction on the same items) is retried up to
   `commit_attempts` times, then 503 CONCURRENT_UPDATE; a transaction cancelled
   because a partition is throttling (nothing was written) is retried by
   `Store.commit` only `backoff.THROTTLED_COMMIT.attempts` times with jittered
   backoff, then 503 THROTTLED: retrying harder would only add load where
   there is too much.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Optional, Protocol

from chalicelib import clock
from chalicelib.auth import Actor
from chalicelib.domain import coupons
from chalicelib.domain import member as member_rules
from chalicelib.domain.calendar import format_instant, local_date
from chalicelib.domain.ids import new_id, voucher_code
from chalicelib.domain.member import Member
from chalicelib.domain.program import Program
from chalicelib.domain.tiers import ladder_signature, pruned_spend, tier_at, tier_review_at
from chalicelib.domain.wallet import NeedLots
from chalicelib.errors import (
    ConcurrentUpdateError,
    DangolError,
    IdempotencyKeyReusedError,
    LedgerInvariantError,
    MemberSuspendedError,
    NotFoundError,
    ValidationError,
)
from chalicelib.ledger.programs import Programs, Publisher
from chalicelib.notifications.outbox import OUTBOX_SHARD, outbox_shard
from chalicelib.settings import Settings
from chalicelib.storage.repository import (
    IDEMPOTENCY_SK,
    PENDING_ITEMS_PER_COMMIT,
    PROGRAM_KEY,
    WEBHOOK_COUNT_KEY,
    LotReader,
    bundle_item,
    coupon_code_key,
    coupon_sk,
    daily_shard_pk,
    idempotency_pk,
    lot_item,
    notification_sk,
    past_pending_days,
    pending_day_counters,
    pending_item_counters,
    pending_items_day,
    pending_stats_expiry,
    profile_item,
    profile_key,
    reply_pointer_sk,
    stats_shard_key,
    taken_key,
    template_key,
    tx_sk,
)
from chalicelib.storage.store import REPLAY, STALE, Commit, CommitConflict, Condition, Store, member_pk
from chalicelib.webhooks import events as webhook_events

log = logging.getLogger(__name__)

CREDIT_TYPES = ("earn", "bonus", "activity")
# §16: the daily figures that are also /stats totals (the others are counted in `Unit.daily`)
DAILY_FROM_STATS = ("points_earned", "points_redeemed", "points_expired", "coupons_used")
MISSING: dict[str, Any] = {}  # a template looked up and not found


@dataclass(frozen=True)
class IdempotencyKey:
    scope: str
    key: str
    request_hash: str

    @classmethod
    def for_request(cls, scope: str, key: Optional[str], method: str, path: str, body: Any) -> IdempotencyKey:
        if key is None:
            raise ValidationError("the Idempotency-Key header is required")
        if not 1 <= len(key) <= 64:
            raise ValidationError("Idempotency-Key must be 1-64 characters")
        canonical = json.dumps(
            {"method": method, "path": path, "body": body},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return cls(scope, key, hashlib.sha256(canonical.encode()).hexdigest())

    @property
    def pk(self) -> str:
        return idempotency_pk(self.scope, self.key)


Members = dict[str, Member]  # the members a decision is given, by id
Found = dict[Any, Any]  # every item read, by key (None: read, absent); ranges pieces by NeedRanges key


class Outcome(StrEnum):
    """What a command did; the HTTP edge chooses the status (chalicelib/api/edge.py)."""

    CREATED = "created"  # something new was recorded: a member, a transaction, a coupon ...
    DONE = "done"  # a change of something that was there (a suspension, a release)
    REMOVED = "removed"  # it is gone (an erasure)
    QUEUED = "queued"  # work handed to a job that will do it (an analytics refresh)


# stored replies written before outcomes replaced statuses (kept 48 h): status -> outcome
LEGACY_STATUS = {201: Outcome.CREATED, 200: Outcome.DONE, 204: Outcome.REMOVED}


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    body: Any

    @classmethod
    def created(cls, body: Any) -> Result:
        return cls(Outcome.CREATED, body)

    @classmethod
    def done(cls, body: Any) -> Result:
        return cls(Outcome.DONE, body)

    @classmethod
    def removed(cls) -> Result:
        return cls(Outcome.REMOVED, None)

    @classmethod
    def queued(cls, body: Any) -> Result:
        return cls(Outcome.QUEUED, body)


@dataclass(frozen=True)
class Notice:
    member_id: str
    notification_id: str
    generation: int


class EventPublisher(Protocol):
    def announce(self, events_pk: str) -> None: ...


class NeedItems(Exception):
    """A decision needs these items too (read them, then decide again)."""

    def __init__(self, keys: Iterable[tuple[str, str]]):
        super().__init__("need items")
        self.keys = list(keys)


class NeedRanges(Exception):
    """A decision needs the lots a debit drew (to give them back)."""

    def __init__(self, owner: str, key: tuple[str, str], ranges: list):
        super().__init__("need ranges")
        self.owner = owner
        self.key = key
        self.ranges = ranges


class NeedMembers(Exception):
    """A decision needs these members too (a referrer to pay)."""

    def __init__(self, member_ids: Iterable[str]):
        super().__init__("need members")
        self.member_ids = list(member_ids)


class WriteSet:
    """What one decision's commit sends, and nothing else: the Commit (items, updates
    and their conditions), the members whose profiles are written (and any condition
    other than the version read), the /stats and daily deltas, and the notifications
    to queue once it is committed."""

    def __init__(self, table: str, stats_key: tuple[str, str], daily_pk: str = daily_shard_pk(0)):
        self.commit = Commit(table)
        self.members: dict[str, Member] = {}
        self.profile_conditions: dict[str, Condition] = {}
        self.stats: Counter = Counter()
        self.daily: Counter = Counter()  # §16 figures of the program day that are not /stats totals
        self.notices: list[Notice] = []
        # §25: pending points by the instant they become available (+ earned, - refunded
        # or forfeited while pending), counted in the /stats shard by day, hour, minute
        # and second
        self.pending: Counter = Counter()
        # where the pending counters that do not fit in the transaction wait (an erasure's)
        self.pending_later: Optional[dict] = None
        self.events: list[dict] = []  # §24 webhook events, one item written with the change
        self.stats_key = stats_key
        self.daily_pk = daily_pk

    def daily_counters(self) -> dict:
        figures = Counter({name: self.stats[name] for name in DAILY_FROM_STATS})
        figures.update(self.daily)
        return {name: value for name, value in figures.items() if value}


class Unit:
    """One decision: the ledger's rules for writing a change (transactions, lots,
    notifications, coupons, tiers), filling a `WriteSet`. The write set's parts are
    reachable as attributes of the unit (`unit.commit`, `unit.stats`, ...)."""

    def __init__(
        self,
        table: str,
        program: Program,
        now: dt.datetime,
        actor: Actor,
        stats_key: tuple[str, str],
        outbox_shards: int,
        templates: Optional[dict] = None,
        daily_pk: str = daily_shard_pk(0),
    ):
        self.writes = WriteSet(table, stats_key, daily_pk)
        self.templates = templates if templates is not None else {}
        self.program = program
        self.now = now
        self.now_text = format_instant(now)
        self.actor = actor
        self.ladder = ladder_signature(program)
        self.outbox_shards = outbox_shards

    # the write set, as the commands name its parts
    @property
    def commit(self) -> Commit:
        return self.writes.commit

    @property
    def members(self) -> dict[str, Member]:
        return self.writes.members

    @property
    def profile_conditions(self) -> dict[str, Condition]:
        return self.writes.profile_conditions

    @property
    def stats(self) -> Counter:
        return self.writes.stats

    @property
    def daily(self) -> Counter:
        return self.writes.daily

    @property
    def notices(self) -> list[Notice]:
        return self.writes.notices

    @property
    def events(self) -> list[dict]:
        return self.writes.events

    @property
    def stats_key(self) -> tuple[str, str]:
        return self.writes.stats_key

    @property
    def daily_pk(self) -> str:
        return self.writes.daily_pk

    def daily_counters(self) -> dict:
        return self.writes.daily_counters()

    def next_id(self) -> str:
        return new_id()

    def touch(self, member: Member) -> Member:
        self.members[member.member_id] = member
        return member

    def record(self, member: Member, type_: str, points: int, **extra: Any) -> dict:
        """A ledger transaction for `member`, whose wallet already reflects it."""
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
        self.commit.put_new({"pk": member_pk(member.member_id), "sk": tx_sk(member.generation, tx_id), **tx}, STALE)
        event_type = webhook_events.TRANSACTION_EVENTS.get(type_)
        if event_type is not None:
            self.event(event_type, webhook_events.transaction_data(tx))
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

    def credit(
        self,
        member: Member,
        type_: str,
        points: int,
        expires_at: Optional[str] = None,
        available_at: Optional[str] = None,
        **extra: Any,
    ) -> dict:
        """A credit that forms a new lot (expiring per the member's tier); with an
        `available_at` still to come (§25), a pending lot: not spendable until then."""
        tx_id = self.next_id()
        if expires_at is None:
            days = self.program.lot_lifetime_days(member.tier)
            expires_at = format_instant(self.now + dt.timedelta(days=days))
        if available_at is not None:
            extra["available_at"] = available_at
        if available_at is not None and available_at > self.now_text:
            pending = member.wallet.add_pending(tx_id, points, available_at, expires_at, self.now_text)
            if pending is not None:
                extra["lot"] = {"key": pending.key, "pending": True}
                self.count_pending(available_at, points)
        else:
            lot = member.wallet.credit(tx_id, points, expires_at, self.now_text)
            if lot is not None:
                extra["lot"] = {"base": lot.base, "key": lot.key}
        return self.record(member, type_, points, transaction_id=tx_id, **extra)

    def count_pending(self, available_at: str, points: int) -> None:
        """§25: points that become available at `available_at` (negative: no longer pending)."""
        if points and available_at > self.now_text:
            self.writes.pending[available_at] += points

    def notify(self, member: Member, type_: str, **data: Any) -> None:
        notification_id = self.next_id()
        self.commit.put_new(
            {
                "pk": member_pk(member.member_id),
                "sk": notification_sk(member.generation, notification_id),
                "notification_id": notification_id,
                "member_id": member.member_id,
                "type": type_,
                "status": "queued",
                "channel": None,
                "created_at": self.now_text,
                "sent_at": None,
                "data": data or None,
                # in the pending-outbox index until delivery ends (the sweeper looks there)
                OUTBOX_SHARD: outbox_shard(notification_id, self.outbox_shards),
            },
            STALE,
        )
        self.notices.append(Notice(member.member_id, notification_id, member.generation))

    def event(self, type_: str, data: dict) -> dict:
        """A §24 webhook event of this change: written with it (chalicelib/webhooks/events.py)."""
        made = webhook_events.event(type_, data, self.now_text, self.next_id())
        self.events.append(made)
        return made

    def require_allowed(self, operation: str, *members: Member) -> None:
        """§15: an operation a suspended member may not do is refused."""
        for member in members:
            if not member_rules.may(member, operation):
                raise MemberSuspendedError(f"member {member.member_id!r} is suspended")

    def template(self, template_id: str) -> Optional[dict]:
        """A coupon template (immutable, so kept per container once read); None when
        there is no such template."""
        item = self.templates.get(template_id)
        if item is None:
            raise NeedItems([template_key(template_id)])
        return item or None

    def issue_coupon(self, member: Member, template: dict, source: str, campaign_id: Optional[str] = None) -> dict:
        """A coupon for `member` from `template` (§11): its item in the member's
        history, its code's item, the member's count, /stats and `coupon_issued`.
        A campaign's coupon (§22, `source` campaign) also names its `campaign_id`."""
        coupon_id = self.next_id()
        code = voucher_code()
        coupon = {
            "coupon_id": coupon_id,
            "code": code,
            "member_id": member.member_id,
            "template_id": template["template_id"],
            "name": template["name"],
            "discount": template["discount"],
            "min_order_amount": int(template.get("min_order_amount") or 0),
            "source": source,
            "status": "available",
            "issued_at": self.now_text,
            "expires_at": coupons.expires_at(self.now, int(template["valid_days"])),
            "used_at": None,
            "order_id": None,
            "discount_amount": None,
        }
        if campaign_id is not None:
            coupon["campaign_id"] = campaign_id
        stored = {**coupon, "generation": member.generation, "member_sk": coupon_sk(member.generation, coupon_id)}
        self.commit.put_new({"pk": member_pk(member.member_id), "sk": stored["member_sk"], **stored}, STALE)
        # a random code that is taken: decide again with another one
        code_pk, code_sk = coupon_code_key(code)
        self.commit.put_new({"pk": code_pk, "sk": code_sk, **stored}, STALE)
        member.open_coupon(coupon["expires_at"], self.now_text)
        self.stats["coupons_issued"] += 1
        self.event("coupon.issued", webhook_events.coupon_data(coupon))
        self.notify(
            member,
            "coupon_issued",
            coupon_id=coupon_id,
            template_id=template["template_id"],
            name=template["name"],
            expires_at=coupon["expires_at"],
        )
        self.touch(member)
        return coupon

    def auto_coupon(self, member: Member, template_id: Optional[str], source: str) -> Optional[dict]:
        """The program's automatic coupon, if one is configured and its template exists."""
        if not template_id:
            return None
        template = self.template(template_id)
        if template is None:
            log.warning("auto coupon template %r does not exist; none issued", template_id)
            return None
        return self.issue_coupon(member, template, source)

    def retier(self, member: Member) -> None:
        """The tier §6 gives now, kept: counters move and `tier_changed` is sent
        when it differs from the stored one."""
        member.spend = pruned_spend(member.spend, self.now, self.program.timezone)
        tier = tier_at(self.program, member.spend, self.now)
        review = tier_review_at(self.program, member.spend, tier, self.now)
        changed = tier != member.tier or review != member.tier_review or member.ladder != self.ladder
        if tier != member.tier:
            self.stats[f"tier:{member.tier}"] -= 1
            self.stats[f"tier:{tier}"] += 1
            old = member.tier
            member.tier = tier
            self.notify(member, "tier_changed", old_tier=old, new_tier=tier)
            self.event("tier.changed", {"member_id": member.member_id, "from": old, "to": tier})
            self._tier_up_coupon(member, old, tier)
        member.tier_review = review
        member.ladder = self.ladder
        if changed:
            self.touch(member)

    def _tier_up_coupon(self, member: Member, old: str, tier: str) -> None:
        """§11: the coupon a move up into `tier` earns (domain.coupons.tier_up_coupon)."""
        earned = coupons.tier_up_coupon(self.program, member.tier_up_years, old, tier, self.now)
        if earned is not None and self.auto_coupon(member, earned.template_id, "tier_up") is not None:
            member.tier_up_years[earned.tier] = earned.year


# what a decision may ask to read before it can decide
Need = NeedLots | NeedItems | NeedRanges | NeedMembers
NEEDS = (NeedLots, NeedItems, NeedRanges, NeedMembers)


@dataclass
class ChangeRequest:
    """One call of `MemberChanges.change`: what every attempt reads and decides.
    `member_ids` and `templates` grow as decisions ask for more (kept across attempts)."""

    actor: Actor
    idem: Optional[IdempotencyKey]
    member_ids: list[str]
    decide: Callable[[Unit, Members, Found], Result]
    extra: list[tuple[str, str]]
    subject: Optional[str | list[str]]
    retier: bool
    templates: dict
    prefetched: Optional[Reads] = None  # what the caller read already (for the first attempt)

    @property
    def idem_key(self) -> tuple[str, str]:
        assert self.idem is not None
        return (self.idem.pk, IDEMPOTENCY_SK)


@dataclass
class Reads:
    """What one attempt has read: the program, the members' profile records, every
    item read (None: read, absent) and the pages of lots read per member."""

    program: Program
    records: dict[str, dict]
    found: dict
    pages: dict[str, dict] = field(default_factory=dict)

    def members(self) -> dict[str, Member]:
        members = {mid: Member.from_record(rec, self.pages.setdefault(mid, {})) for mid, rec in self.records.items()}
        for mid, member in members.items():
            member.wallet.owner = mid
        return members

    def members_at(self, now_text: str) -> dict[str, Member]:
        """The members as of the decision's time (§25: pending points come due by time)."""
        members = self.members()
        for member in members.values():
            member.wallet.now = now_text
        return members


@dataclass
class Decision:
    unit: Unit
    members: dict[str, Member]
    result: Result


class MemberChanges:
    def __init__(self, store: Store, programs: Programs, publisher: Optional[Publisher], settings: Settings):
        self.store = store
        self.programs = programs
        self.publisher = publisher
        self.settings = settings
        # where committed webhook events are announced (runtime.py sets the webhook queue)
        self.event_publisher: Optional[EventPublisher] = None
        self.webhooks_seen = False  # whether any webhook exists (read with the program, as fresh)
        self._webhooks_known_until = 0.0
        self.lots = LotReader(store)
        self.templates: dict[str, dict] = {}  # coupon templates (immutable), per container

    # -- reading ---------------------------------------------------------
    def read(
        self, member_ids: Iterable[str], extra: Iterable[tuple[str, str]] = ()
    ) -> tuple[Program, dict[str, dict], dict]:
        """Program, profile records of the members (those that exist), and every
        item read, in one BatchGetItem."""
        member_ids = list(dict.fromkeys(member_ids))
        program = self.programs.cached()
        # whether there are webhooks (§24), known again with the same freshness as the program
        hooks = [WEBHOOK_COUNT_KEY] if self._webhooks_known_until <= time.monotonic() else []
        profiles = [profile_key(m) for m in member_ids]
        keys = ([] if program is not None else [PROGRAM_KEY]) + hooks + profiles + list(extra)
        found = self.store.get_many(keys) if keys else {}
        if program is None:
            program = self.programs.remember(found.get(PROGRAM_KEY))
        if hooks:
            self.webhooks_seen = int((found.get(WEBHOOK_COUNT_KEY) or {}).get("webhooks") or 0) > 0
            self._webhooks_known_until = time.monotonic() + self.settings.program_cache_seconds
        records = {m: found[profile_key(m)] for m in member_ids if profile_key(m) in found}
        return program, records, found

    def live(self, members: dict[str, Member], member_id: str) -> Member:
        member = members.get(member_id)
        if member is None or member.erased:
            raise NotFoundError(f"member {member_id!r} not found")
        return member

    # -- the loop --------------------------------------------------------
    def change(
        self,
        actor: Actor,
        idem: Optional[IdempotencyKey],
        member_ids: list[str],
        decide: Callable[[Unit, Members, Found], Result],
        extra: Iterable[tuple[str, str]] = (),
        subject: Optional[str | list[str]] = None,
        retier: bool = True,
        prefetched: Optional[Reads] = None,
    ) -> Result:
        """`prefetched`: the program and the members' records as the caller read them
        (several changes' members in one BatchGetItem, as an import does); the first
        attempt decides on them, a stale one reads again."""
        request = ChangeRequest(
            actor, idem, list(member_ids), decide, list(extra), subject, retier, dict(self.templates), prefetched
        )
        for attempt in range(self.settings.commit_attempts):
            result = self._attempt(request)
            if result is not None:
                return result
            time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise ConcurrentUpdateError("the member is being changed by other requests; retry")

    def _attempt(self, request: ChangeRequest) -> Optional[Result]:
        """Read, decide, commit once: the response, or None when what was read
        changed before the commit (read again)."""
        reads, request.prefetched = request.prefetched or self._read_for(request), None
        if request.idem is not None and request.idem_key in reads.found:
            return self._replay(request.idem, reads.found[request.idem_key], reads.records)
        decision = self._decision(request, reads)
        if isinstance(decision, Result):
            return decision  # refused, and answered meanwhile by the stored reply
        self._stage(request, decision, reads.program)
        try:
            self.store.commit(decision.unit.commit)
        except CommitConflict as conflict:
            return self._after_conflict(request.idem, conflict)
        self.publish(decision.unit.notices)
        self.announce(decision.unit.events)
        return decision.result

    def _read_for(self, request: ChangeRequest) -> Reads:
        idem_keys = [request.idem_key] if request.idem is not None else []
        program, records, found = self.read(request.member_ids, request.extra + idem_keys)
        return Reads(program, records, found)

    def _decision(self, request: ChangeRequest, reads: Reads) -> Decision | Result:
        """The decision from what was read, reading what it asks for until it has all."""
        while True:
            decision = self._decide_once(request, reads)
            if not isinstance(decision, NEEDS):
                return decision
            self._read_more(request, reads, decision)

    def _decide_once(self, request: ChangeRequest, reads: Reads) -> Decision | Result | Need:
        now = clock.now()
        members = reads.members_at(format_instant(now))
        unit = Unit(
            self.store.table,
            reads.program,
            now,
            request.actor,
            stats_shard_key(random.randrange(self.settings.stats_shards)),
            self.settings.outbox_shards,
            request.templates,
            daily_shard_pk(random.randrange(self.settings.daily_shards)),
        )
        try:
            if request.retier:
                for member in members.values():
                    if not member.erased:
                        unit.retier(member)
            result = request.decide(unit, members, reads.found)
            for member in unit.members.values():
                member.wallet.settle()
        except NEEDS as need:
            return need
        except DangolError:
            replay = self._stored_response(request.idem) if request.idem is not None else None
            if replay is None:
                raise
            return replay
        return Decision(unit, members, result)

    def _read_more(self, request: ChangeRequest, reads: Reads, need: Need) -> None:
        """Read what a decision asked for into `reads` (and `request`, for the next attempts)."""
        if isinstance(need, NeedLots):
            self._read_lots(reads.records[need.owner], need, reads.pages[need.owner])
        elif isinstance(need, NeedItems):
            self._read_items(request, reads, need)
        elif isinstance(need, NeedRanges):
            stored = Member.from_record(reads.records[need.owner])
            reads.found[need.key] = {
                r.run_id: self.lots.range_pieces(stored, r.base, r.kind, r.start, r.end) for r in need.ranges
            }
        else:
            self._read_members(request, reads, need)

    def _read_items(self, request: ChangeRequest, reads: Reads, need: NeedItems) -> None:
        got = self.store.get_many(need.keys)
        for key in need.keys:
            reads.found[key] = got.get(key)  # None: read, absent
            if key[0] == template_key("")[0]:
                request.templates[key[1]] = got.get(key) or MISSING  # absent: for this change only
                if got.get(key):
                    self.templates[key[1]] = got[key]

    def _read_members(self, request: ChangeRequest, reads: Reads, need: NeedMembers) -> None:
        more = self.store.get_many([profile_key(m) for m in need.member_ids])
        for mid in need.member_ids:
            reads.found[profile_key(mid)] = more.get(profile_key(mid))  # None: read, absent
            if reads.found[profile_key(mid)] is not None:
                reads.records[mid] = reads.found[profile_key(mid)]
        request.member_ids = list(dict.fromkeys(request.member_ids + need.member_ids))

    def _stage(self, request: ChangeRequest, decision: Decision, program: Program) -> None:
        """Everything the decision writes into its commit: profiles, lots, counters,
        and the stored reply with its pointers."""
        unit = decision.unit
        self._write_members(unit)
        unit.commit.add_counters(
            {"pk": unit.stats_key[0], "sk": unit.stats_key[1]},
            dict(unit.stats) | pending_day_counters(unit.writes.pending),
            remove=past_pending_days(unit.now_text[:10]) if program.pending_days else (),
        )
        # §25: the day's hours, the hour's minutes, the minute's seconds (one item each);
        # past PENDING_ITEMS_PER_COMMIT the rest is written right after the commit
        items = list(pending_item_counters(unit.writes.pending).items())
        for sk, counters in items[:PENDING_ITEMS_PER_COMMIT]:
            unit.commit.add_counters(
                {"pk": unit.stats_key[0], "sk": sk}, counters, expires_at=pending_stats_expiry(pending_items_day(sk))
            )
        if len(items) > PENDING_ITEMS_PER_COMMIT:
            if unit.writes.pending_later is None:
                raise LedgerInvariantError("only a change that says where may leave pending counters for later")
            later = [{"sk": sk, "counters": counters} for sk, counters in items[PENDING_ITEMS_PER_COMMIT:]]
            # (the profile's version condition makes this erasure the only one)
            unit.commit.put({**unit.writes.pending_later, "stats_pk": unit.stats_key[0], "counts": later, "version": 0})
        # §16: the program day's figures, in the same transaction (no extra request)
        unit.commit.add_counters(
            {"pk": unit.daily_pk, "sk": local_date(unit.now, program.timezone).isoformat()}, unit.daily_counters()
        )
        if unit.events:  # written once: an id that repeats decides again with new ones
            unit.commit.put_new(webhook_events.events_item(unit.events), STALE)
        if request.idem is not None:
            reply = self._idempotency_item(request.idem, decision.result, unit, request.subject, decision.members)
            unit.commit.put_new(reply, REPLAY)
            self._point_to_reply(unit, reply, decision.members)

    def _after_conflict(self, idem: Optional[IdempotencyKey], conflict: CommitConflict) -> Optional[Result]:
        """What a cancelled commit means: the stored reply of a twin request, a rule's
        error, or None when only what was read changed (contention included)."""
        replays = conflict.found("replay")
        if replays:
            assert idem is not None, "only a request with an Idempotency-Key stores a reply"
            return self._replay(idem, replays[0][1])
        refused = conflict.found("refuse")
        if refused:
            error = refused[0][0].error
            assert error is not None, "a refusing condition names its error"
            raise error()
        if not conflict.contended and len(conflict.found("stale")) != len(conflict.failed):
            raise conflict
        return None

    def _write_members(self, unit: Unit) -> None:
        for member in unit.members.values():
            unit.commit.put_versioned(
                profile_item(member, self.settings.schedule_shards),
                member.version,
                unit.profile_conditions.get(member.member_id, STALE),
            )
            for lot in member.wallet.new_lots:
                unit.commit.put_new(lot_item(member, lot), STALE)
            for bundle in member.wallet.new_bundles:
                unit.commit.put_new(bundle_item(member, bundle), STALE)
            for taken in member.wallet.taken:
                unit.commit.update(taken_key(member, taken), "SET #t = :t", {"#t": "taken"}, {":t": taken.taken_after})

    def publish(self, notices: list[Notice]) -> None:
        if not notices or self.publisher is None:
            return
        try:
            self.publisher.publish(
                [
                    {"member_id": n.member_id, "notification_id": n.notification_id, "generation": n.generation}
                    for n in notices
                ]
            )
        except Exception:  # the outbox item stays `queued` and is visible
            log.exception("could not queue %d notifications", len(notices))

    def announce(self, events: list[dict]) -> None:
        """The committed events' item to the webhook queue, to be fanned out at once, when
        there are webhooks (as of the last few seconds: no queue call at all for a program
        without any). Otherwise, or should this fail, the dispatcher finds the item in the
        `webhook-due` index within a minute or two."""
        if not events or self.event_publisher is None or not self.webhooks_seen:
            return
        try:
            self.event_publisher.announce(webhook_events.events_item(events)["pk"])
        except Exception:
            log.exception("could not queue webhook events")

    # -- idempotency -----------------------------------------------------
    def _idempotency_item(
        self,
        idem: IdempotencyKey,
        result: Result,
        unit: Unit,
        subject: Optional[str | list[str]],
        members: dict[str, Member],
    ) -> dict:
        expires = unit.now + dt.timedelta(hours=self.settings.idempotency_hours)
        subjects = [subject] if isinstance(subject, str) else list(subject or [])
        shown = [unit.members.get(s) or members.get(s) for s in subjects]
        return {
            "pk": idem.pk,
            "sk": IDEMPOTENCY_SK,
            "request_hash": idem.request_hash,
            "outcome": result.outcome.value,
            "body": json.dumps(result.body, ensure_ascii=False),
            # the members the response shows: a replay answers 404 once one is erased
            "member_ids": subjects,
            # and which enrolment of each id: a replay answers 404 once the id is another member's
            "member_generations": [m.generation if m is not None else 0 for m in shown],
            "created_at": unit.now_text,
            "expires_at": int(expires.timestamp()),
        }

    def _point_to_reply(self, unit: Unit, reply: dict, members: dict[str, Member]) -> None:
        """A pointer to the stored reply in each shown member's partition, written in
        the same transaction, so that an erasure finds the member's replies with one
        Query (the records themselves are keyed by API key and Idempotency-Key).

        Every shown member's profile is part of the transaction: a member the decision
        did not change is written too (conditioned on the version read), unless an
        action of the decision already names the profile (a coupon use's count,
        conditioned on the member not being erased). So a reply can never be stored
        after an erasure that did not see its pointer."""
        for member_id in reply["member_ids"]:
            member = unit.members.get(member_id) or members.get(member_id)
            if member is None or member.erased:
                continue
            pk, sk = profile_key(member_id)
            if member_id not in unit.members and not unit.commit.acts_on({"pk": pk, "sk": sk}):
                unit.commit.put_versioned(
                    profile_item(member, self.settings.schedule_shards),
                    member.version,
                    unit.profile_conditions.get(member_id, STALE),
                )
            unit.commit.put(
                {
                    "pk": member_pk(member_id),
                    "sk": reply_pointer_sk(reply["pk"]),
                    "reply_pk": reply["pk"],
                    "generation": member.generation,
                    "expires_at": reply["expires_at"],
                }
            )

    # for work that is no member change but answers like one (POST /imports)
    def stored_reply(self, idem: IdempotencyKey) -> Optional[Result]:
        """The stored answer to this key (IdempotencyKeyReusedError for another body); None when unanswered."""
        return self._stored_response(idem)

    def reply_item(self, idem: IdempotencyKey, result: Result, now: dt.datetime) -> dict:
        """The stored answer of a request that shows no member, to be written once (REPLAY)."""
        expires = now + dt.timedelta(hours=self.settings.idempotency_hours)
        return {
            "pk": idem.pk,
            "sk": IDEMPOTENCY_SK,
            "request_hash": idem.request_hash,
            "outcome": result.outcome.value,
            "body": json.dumps(result.body, ensure_ascii=False),
            "member_ids": [],
            "member_generations": [],
            "created_at": format_instant(now),
            "expires_at": int(expires.timestamp()),
        }

    def replay(self, idem: IdempotencyKey, stored: Optional[dict]) -> Result:
        return self._replay(idem, stored)

    def _stored_response(self, idem: IdempotencyKey) -> Optional[Result]:
        stored = self.store.get(idem.pk, IDEMPOTENCY_SK)
        return self._replay(idem, stored) if stored else None

    def _replay(
        self, idem: IdempotencyKey, stored: Optional[dict], records: Optional[dict[str, dict]] = None
    ) -> Result:
        if stored is None:
            stored = self.store.get(idem.pk, IDEMPOTENCY_SK)
        if stored is None:
            raise ConcurrentUpdateError("idempotency record vanished; retry")
        if stored["request_hash"] != idem.request_hash:
            raise IdempotencyKeyReusedError("this Idempotency-Key was used with a different request")
        self._require_shown_members(stored, records or {})
        outcome = Outcome(stored["outcome"]) if "outcome" in stored else LEGACY_STATUS[int(stored["status"])]
        return Result(outcome, json.loads(stored["body"]))

    def _require_shown_members(self, stored: dict, records: dict[str, dict]) -> None:
        """A stored reply answers only while every member it shows is the same live
        enrolment (NotFoundError once one is erased or the id is another member's)."""
        subjects = stored.get("member_ids") or []
        generations = stored.get("member_generations") or [0] * len(subjects)
        for subject, generation in zip(subjects, generations, strict=False):
            record = records[subject] if subject in records else self.store.get(*profile_key(subject))
            if record is None or record.get("erased") or int(record.get("generation", 0)) != int(generation):
                raise NotFoundError(f"member {subject!r} not found")

    def require_member(self, member_id: str) -> int:
        """The member's generation; NotFoundError when there is no live member."""
        record = self.store.get(*profile_key(member_id))
        if record is None or record.get("erased"):
            raise NotFoundError(f"member {member_id!r} not found")
        return int(record.get("generation", 0))

    def member_with_lots(self, member_id: str, needs: Callable[[Program, Member], Any]) -> tuple[Program, Member, Any]:
        """A read-only view of a member: `needs(member)` is retried with the
        lots it asks for (NeedLots), reading only those."""
        program, records, _ = self.read([member_id])
        record = records.get(member_id)
        if record is None or record.get("erased"):
            raise NotFoundError(f"member {member_id!r} not found")
        member, view = self.view_of(program, record, needs)
        return program, member, view

    def view_of(self, program: Program, record: dict, needs: Callable[[Program, Member], Any]) -> tuple[Member, Any]:
        """`needs(program, member)` of a profile record, reading the lots it asks for."""
        pages: dict = {}
        while True:
            member = Member.from_record(record, pages)
            member.wallet.owner = member.member_id
            try:
                return member, needs(program, member)
            except NeedLots as need:
                self._read_lots(record, need, pages)

    def _read_lots(self, record: dict, need: NeedLots, pages: dict) -> None:
        """The next page of the lots a decision asked for, of the run as stored."""
        stored = Member.from_record(record)
        run = stored.wallet.runs.get(need.run_id)
        if run is None:
            raise LedgerInvariantError(f"run {need.run_id} is not stored")
        pages[need.run_id] = self.lots.next_page(stored, run, pages.get(need.run_id), need.until)

"""DELETE /members/{id} (contract §3): the balance forfeited, personal data gone.

Personal data (name, email, phone, birthday) and the suspension reason live in
the profile and in the replies stored for Idempotency-Key replays (an enrolment's
201, a suspension's 200, ...; kept 48 hours). The erasure

1. forfeits the balance and blanks the profile (personal fields, suspension),
   drops it from every lookup index and deletes the referral code's item, in one
   transaction, as any change of the member;
2. then scrubs every stored reply that shows the member: each one left a pointer
   in the member's partition (`MEMBER#<id> / REPLY#<idempotency pk>`, see
   `MemberChanges._point_to_reply`), so one Query finds them, and each record
   keeps its request hash and member ids (a replay answers 404) but loses its
   body. The cost grows with the member's own replies, never with the table.

Pending points (§25) forfeited by the erasure leave its `/stats` counters: the shard's
day counters in the transaction of step 1, and the hour, minute and second items
(three a pending lot, up to 150) as many as fit there; the rest wait in
`MEMBER#<id> / PENDING_COUNTS#<generation>` and are written right after step 1,
`PENDING_ITEMS_PER_COMMIT` at a time, each batch in one transaction with the shrinking
of that item (under its version).

Once step 1 is committed no reply can be stored for the member any more (every
transaction storing one is conditioned on the member's profile as read), so the
Query of step 2 sees them all. When step 2 (or the writing of the pending
counters) is interrupted, calling DELETE again finishes it (and answers 404: the
member is gone).
"""

from __future__ import annotations

from chalicelib.auth import Actor
from chalicelib.errors import ConcurrentUpdateError, NotFoundError
from chalicelib.ledger.member_changes import Found, MemberChanges, Members, NeedItems, Result, Unit
from chalicelib.storage.repository import (
    IDEMPOTENCY_SK,
    PENDING_COUNTS,
    PENDING_ITEMS_PER_COMMIT,
    REPLY_POINTER,
    key_of,
    pending_counts_key,
    pending_item_counters,
    pending_items_day,
    pending_stats_expiry,
    referral_key,
)
from chalicelib.storage.store import STALE, Commit, CommitConflict, Store, member_pk

# replies scrubbed per transaction: an Update of the record and a Delete of its pointer each
REPLIES_PER_COMMIT = 40


def erase(changes: MemberChanges, actor: Actor, member_id: str) -> None:
    left_for_later = [False]  # whether the decision committed left pending counters to write

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        reply_key = (member.enrolment_key, IDEMPOTENCY_SK) if member.enrolment_key else None
        if reply_key and reply_key not in found:
            raise NeedItems([reply_key])
        for lot in member.wallet.still_pending():  # §25: forfeited too, no longer pending
            unit.count_pending(lot.available_at, -lot.left)
        left_for_later[0] = len(pending_item_counters(unit.writes.pending)) > PENDING_ITEMS_PER_COMMIT
        if left_for_later[0]:
            unit.writes.pending_later = pending_counts_key(member_id, member.generation)
        forfeited = member.wallet.forfeit_all()
        if forfeited:
            unit.record(member, "expire", -forfeited, reason="erasure")
        for name in ("name", "email", "phone", "birthday"):
            setattr(member, name, None)
        member.suspension = None  # the admin's reason is about the person
        member.erased = True
        unit.event("member.erased", {"member_id": member_id})
        member.tier_review = None
        unit.stats["members"] -= 1
        unit.stats[f"tier:{member.tier}"] -= 1
        if reply_key and found.get(reply_key) is not None:
            # The stored enrolment reply (kept 48 h) holds the personal data: scrub
            # it. A replay of that request still answers 404: the member is erased.
            # (Replies stored before pointers existed are found this way only.)
            unit.commit.update(
                {"pk": reply_key[0], "sk": IDEMPOTENCY_SK},
                "SET #b = :erased, #m = :m",
                {"#b": "body", "#m": "member_ids"},
                {":erased": "null", ":m": [member_id]},
                STALE,
                condition="attribute_exists(pk)",  # never a stub without its request
            )
        if member.referral_code:
            unit.commit.delete(key_of(referral_key(member.referral_code)))
        unit.touch(member)
        return Result.removed()

    try:
        # no re-tiering first: the member's tier counter is simply released
        changes.change(actor, None, [member_id], decide, retier=False)
    except NotFoundError:
        # already gone: an erasure interrupted before its replies were scrubbed is
        # finished by the next DELETE
        count_pending_later(changes.store, member_id)
        scrub_replies(changes.store, member_id)
        raise
    if left_for_later[0]:
        count_pending_later(changes.store, member_id)
    scrub_replies(changes.store, member_id)


def count_pending_later(store: Store, member_id: str) -> int:
    """Write the /stats pending counters an erasure left for later (see the module's
    notes); returns how many counter items were written."""
    written = 0
    for _ in range(10):  # a batch a round (two at most); a conflict reads again
        waiting = store.query_all(member_pk(member_id), PENDING_COUNTS)
        if not waiting:
            return written
        item = waiting[0]
        batch, rest = item["counts"][:PENDING_ITEMS_PER_COMMIT], item["counts"][PENDING_ITEMS_PER_COMMIT:]
        commit = Commit(store.table)
        for entry in batch:
            commit.add_counters(
                {"pk": item["stats_pk"], "sk": entry["sk"]},
                {name: int(value) for name, value in entry["counters"].items()},
                expires_at=pending_stats_expiry(pending_items_day(entry["sk"])),
            )
        key = {"pk": item["pk"], "sk": item["sk"]}
        version = int(item["version"])
        if rest:
            commit.update(
                key,
                "SET #c = :c, #v = :next",
                {"#c": "counts", "#v": "version"},
                {":c": rest, ":v": version, ":next": version + 1},
                STALE,
                condition="#v = :v",  # a batch is written once, even by two DELETEs at once
            )
        else:
            commit.delete(key, STALE, version=version)
        try:
            store.commit(commit)
        except CommitConflict:
            continue
        written += len(batch)
    raise ConcurrentUpdateError("the erased member's pending counters kept changing; retry the erasure")


def scrub_replies(store: Store, member_id: str) -> int:
    """Blank the body of every stored reply whose pointer is in the member's
    partition and delete the pointers; returns how many replies were scrubbed.
    Only for a member that is erased (or being erased: see the module's notes)."""
    pointers = store.query_all(member_pk(member_id), REPLY_POINTER)
    scrubbed = 0
    for start in range(0, len(pointers), REPLIES_PER_COMMIT):
        scrubbed += _scrub_some(store, pointers[start : start + REPLIES_PER_COMMIT])
    return scrubbed


def _scrub_some(store: Store, pointers: list[dict]) -> int:
    for _ in range(5):
        # the records that are still there (the TTL may have removed some)
        records = store.get_many([(p["reply_pk"], IDEMPOTENCY_SK) for p in pointers])
        commit = Commit(store.table)
        for pointer in pointers:
            if (pointer["reply_pk"], IDEMPOTENCY_SK) in records:
                commit.update(
                    {"pk": pointer["reply_pk"], "sk": IDEMPOTENCY_SK},
                    "SET #b = :erased",
                    {"#b": "body"},
                    {":erased": "null"},
                    STALE,
                    condition="attribute_exists(pk)",
                )
            commit.delete({"pk": pointer["pk"], "sk": pointer["sk"]})
        try:
            store.commit(commit)
        except CommitConflict:
            continue  # a record expired in between: read again
        return len(records)
    raise ConcurrentUpdateError("the member's stored replies kept changing; retry the erasure")

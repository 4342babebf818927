"""POST /members/{id}/transactions/{tx}/reversal (contract §4, §5): a refund of
an earn, or the cancellation of a redemption."""

from __future__ import annotations

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain.earning import clawback_due
from chalicelib.domain.member import Member
from chalicelib.domain.wallet import Piece, RunRange
from chalicelib.errors import NotFoundError, ReversalNotAllowedError, ValidationError
from chalicelib.ledger.member_changes import (
    Found,
    IdempotencyKey,
    MemberChanges,
    Members,
    NeedItems,
    NeedRanges,
    Result,
    Unit,
)
from chalicelib.ledger.views import transaction_view
from chalicelib.storage.repository import key_of, lot_sk, reward_key, tx_sk, voucher_key
from chalicelib.storage.store import STALE, member_pk


def reverse(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, tx_id: str, request: schemas.Reversal
) -> Result:
    first_key = (member_pk(member_id), tx_sk(0, tx_id))

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        key = (member_pk(member_id), tx_sk(member.generation, tx_id))
        if key not in found and member.generation:
            raise NeedItems([key])  # an id enrolled again: its transactions are under G<n>#
        original = found.get(key)
        if original is None:
            raise NotFoundError(f"transaction {tx_id!r} not found")
        if original["type"] == "earn":
            return refund(unit, member, original, request, found)
        if original["type"] == "redeem":
            return cancel_redemption(unit, member, original, request, found)
        raise ReversalNotAllowedError(f"a {original['type']} transaction cannot be reversed")

    return changes.change(actor, idem, [member_id], decide, extra=[first_key], subject=member_id)


def refund(unit: Unit, member: Member, earn: dict, request: schemas.Reversal, found: Found) -> Result:
    if request.points is not None:
        raise ValidationError("a refund takes `amount`, not `points`")
    order_amount = int(earn["amount"])
    refunded = int(earn.get("refunded_amount", 0))
    remaining = order_amount - refunded
    amount = request.amount if request.amount is not None else remaining
    if remaining <= 0 or amount > remaining:
        raise ReversalNotAllowedError(f"only {remaining} of this order's amount remains refundable")
    clawed = int(earn.get("clawed_back", 0))
    due = clawback_due(int(earn["points"]), order_amount, refunded + amount, clawed)
    lot = earn.get("lot")
    lot_taken = int(earn.get("lot_taken", 0))
    wallet = member.wallet
    pending = wallet.pending_lot(earn["transaction_id"]) if lot and lot.get("pending") else None
    if pending is not None:
        # §25: the earn's lot is still kept as pending (its time may have come): the
        # refund takes from it first, then from the spendable balance
        own = wallet.take_pending(pending.lot_id, due)
        unit.count_pending(pending.available_at, -own)  # no longer pending (if it still was)
        taken = own + min(due - own, wallet.balance)
        lot_taken_now = lot_taken + own
    else:
        taken = min(due, wallet.balance)
        own = 0
        base = lot.get("base") if lot else None
        if taken and lot and base is None:
            base = released_lot_base(member, lot["key"], found)
        if taken and lot and base is not None:
            # the earn's own lot: its points are the earn's, and only this earn's refunds
            # take from it, so the earn knows what was taken (no read of the lot)
            piece = Piece(lot["key"], int(earn["points"]), lot_taken)
            own = wallet.take_from_lot(base, piece, taken)
        lot_taken_now = next((t.taken_after for t in wallet.taken if lot and t.key == lot["key"]), lot_taken)
    wallet.debit(taken - own)
    unit.commit.update(
        {"pk": earn["pk"], "sk": earn["sk"]},
        "SET #r = :r, #c = :c, #l = :l",
        {"#r": "refunded_amount", "#c": "clawed_back", "#l": "lot_taken"},
        {":r": refunded + amount, ":c": clawed + due, ":l": lot_taken_now, ":was": refunded},
        STALE,
        # the earn was read beside the profile, not with it: a refund committed in
        # between changes this, and the use case runs again on fresh data
        condition="#r = :was",
    )
    if earn.get("quarter") in member.spend:
        member.spend[earn["quarter"]] = max(member.spend[earn["quarter"]] - amount, 0)
    unit.daily["purchase_amount"] -= amount  # §16: refunds net on the day they are recorded
    unit.retier(member)
    tx = unit.record(
        member,
        "reversal",
        -taken,
        reversed_transaction_id=earn["transaction_id"],
        order_id=earn.get("order_id"),
        amount=amount,
        unrecovered_points=due - taken,
    )
    return Result.created({**transaction_view(tx), "unrecovered_points": due - taken, "tier": member.tier})


def released_lot_base(member: Member, key: str, found: Found) -> str | None:
    """Where a pending lot went when its time came (§25): the base of a run it was
    credited into. The lot items under each base are read once; None when the lot
    is in none of them (its points are all spent)."""
    pk = member_pk(member.member_id)
    keys = {base: (pk, lot_sk(member.generation, base, key)) for base in member.wallet.lot_bases()}
    unread = [k for k in keys.values() if k not in found]
    if unread:
        raise NeedItems(unread)
    return next((base for base, k in keys.items() if found.get(k) is not None), None)


def cancel_redemption(unit: Unit, member: Member, redeem: dict, request: schemas.Reversal, found: Found) -> Result:
    if request.amount is not None:
        raise ValidationError("cancelling a redemption takes `points`, not `amount`")
    if redeem.get("coupon_id"):
        raise ReversalNotAllowedError("a coupon bought with points cannot be reversed")
    redeemed = -int(redeem["points"])
    restored = int(redeem.get("restored", 0))
    remaining = redeemed - restored
    points = request.points if request.points is not None else remaining
    if remaining <= 0 or points > remaining:
        raise ReversalNotAllowedError(f"only {remaining} points of this redemption remain to restore")
    if redeem.get("reward_id") and points != remaining:
        raise ReversalNotAllowedError("a reward redemption is cancelled whole or not at all")
    ranges = [RunRange.from_record(r) for r in redeem.get("drawn") or []]
    pieces_key = ("RANGES", redeem["transaction_id"])
    if pieces_key not in found:
        raise NeedRanges(member.member_id, pieces_key, ranges)
    member.wallet.restore(ranges, found[pieces_key], restored, points)
    unit.commit.update(
        {"pk": redeem["pk"], "sk": redeem["sk"]},
        "SET #r = :r",
        {"#r": "restored"},
        {":r": restored + points, ":was": restored},
        STALE,
        condition="#r = :was",  # as for a refund: a cancel committed in between runs it again
    )
    if restored + points == redeemed and redeem.get("reward_id"):
        if redeem.get("reward_stocked"):
            unit.commit.update(key_of(reward_key(redeem["reward_id"])), "ADD #s :one", {"#s": "stock"}, {":one": 1})
        if redeem.get("voucher_code"):
            unit.commit.update(
                key_of(voucher_key(redeem["voucher_code"])),
                "SET #s = :void, #v = :at",
                {"#s": "status", "#v": "voided_at"},
                {":void": "void", ":at": unit.now_text, ":issued": "issued"},
                STALE,
                condition="#s = :issued",
            )
    tx = unit.record(
        member,
        "reversal",
        points,
        reversed_transaction_id=redeem["transaction_id"],
        order_id=redeem.get("order_id"),
        reward_id=redeem.get("reward_id"),
    )
    return Result.created(transaction_view(tx))

"""POST /members/{id}/transfers (contract §4): points from one member to another,
keeping the expiry dates of the lots they came from."""

from __future__ import annotations

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain.wallet import lot_key, merge_by_expiry
from chalicelib.errors import TransferNotAllowedError
from chalicelib.ledger.member_changes import Found, IdempotencyKey, MemberChanges, Members, Result, Unit
from chalicelib.ledger.views import transaction_view

LOTS_PER_TRANSFER = 25  # up to this many expiries: lot items of their own
SEGMENTS_PER_BUNDLE = 2000  # beyond: bundles of this many (about 150 KB each)


def transfer(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Transfer
) -> Result:
    to_id = request.to_member_id

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        sender = changes.live(members, member_id)
        if to_id == member_id:
            raise TransferNotAllowedError("a member cannot transfer points to itself")
        recipient = changes.live(members, to_id)
        unit.require_allowed("transfer", sender, recipient)
        rules = unit.program.transfer
        if sender.tier not in rules.allowed_tiers:
            raise TransferNotAllowedError(f"tier {sender.tier!r} may not transfer points")
        if request.points < rules.min_points:
            raise TransferNotAllowedError(f"transfers start at {rules.min_points} points")
        draws, _ = sender.wallet.debit(request.points)
        out_tx = unit.record(sender, "transfer_out", -request.points, counterparty_member_id=to_id)
        in_id = unit.next_id()
        by_expiry = merge_by_expiry(draws)
        if len(by_expiry) <= LOTS_PER_TRANSFER:
            for n, (expires_at, points) in enumerate(by_expiry):
                recipient.wallet.credit(f"{in_id}.{n}", points, expires_at, unit.now_text)
        else:
            segments = [
                (lot_key(expires_at, unit.now_text, f"{in_id}.{n}"), points)
                for n, (expires_at, points) in enumerate(by_expiry)
            ]
            for start in range(0, len(segments), SEGMENTS_PER_BUNDLE):
                recipient.wallet.credit_bundle(
                    f"{in_id}.{start // SEGMENTS_PER_BUNDLE}", segments[start : start + SEGMENTS_PER_BUNDLE]
                )
        in_tx = unit.record(
            recipient, "transfer_in", request.points, transaction_id=in_id, counterparty_member_id=member_id
        )
        unit.notify(recipient, "transfer_received", points=request.points, sender=member_id)
        return Result.created({"transfer_out": transaction_view(out_tx), "transfer_in": transaction_view(in_tx)})

    ids = [member_id, to_id] if to_id != member_id else [member_id]
    return changes.change(actor, idem, ids, decide, subject=[member_id, to_id])

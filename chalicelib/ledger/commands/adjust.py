"""POST /members/{id}/adjustments (contract §4): an operator's credit or debit."""

from __future__ import annotations

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.ledger.member_changes import Found, IdempotencyKey, MemberChanges, Members, Result, Unit
from chalicelib.ledger.views import transaction_view


def adjust(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Adjustment
) -> Result:
    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        if request.points > 0:
            tx = unit.credit(member, "adjust", request.points, reason=request.reason)
        else:
            member.wallet.debit(-request.points)
            tx = unit.record(member, "adjust", request.points, reason=request.reason)
        return Result.created(transaction_view(tx))

    return changes.change(actor, idem, [member_id], decide, subject=member_id)

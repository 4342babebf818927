"""POST / DELETE /members/{id}/suspension (contract §15): an admin stops a
member's points and coupon operations, with a reason, and lifts it again."""

from __future__ import annotations

from typing import Optional

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.ledger.member_changes import Found, IdempotencyKey, MemberChanges, Members, Result, Unit
from chalicelib.ledger.views import member_view


def suspend(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Suspension
) -> Result:
    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        since = member.suspension["since"] if member.suspension else unit.now_text
        member.suspension = {"reason": request.reason, "since": since}
        unit.touch(member)
        return Result.done(member_view(unit.program, member, unit.now))

    return changes.change(actor, idem, [member_id], decide, subject=member_id)


def lift(changes: MemberChanges, actor: Actor, member_id: str, idem: Optional[IdempotencyKey] = None) -> Result:
    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        if member.suspension is not None:
            member.suspension = None
            unit.touch(member)
        return Result.done(member_view(unit.program, member, unit.now))

    return changes.change(actor, idem, [member_id], decide, subject=member_id)


def update_member(changes: MemberChanges, actor: Actor, member_id: str, request: schemas.UpdateMember) -> Result:
    """PATCH /members/{id}: the fields given are replaced; the lookup indexes
    (phone, email) follow from the profile itself."""
    given = request.model_dump(exclude_unset=True)

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        if "name" in given and given["name"] is None:
            from chalicelib.errors import ValidationError

            raise ValidationError("name: a member always has a name")
        for name, value in given.items():
            setattr(member, name, value)
        unit.touch(member)
        return Result.done(member_view(unit.program, member, unit.now))

    return changes.change(actor, None, [member_id], decide, subject=member_id)

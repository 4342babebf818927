"""POST /members (contract §3): a new member, its signup bonus and welcome."""

from __future__ import annotations

from typing import Optional

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain.ids import new_id, referral_code
from chalicelib.domain.member import Member
from chalicelib.errors import MemberExistsError, ReferralNotAllowedError, ValidationError
from chalicelib.ledger.member_changes import Found, IdempotencyKey, MemberChanges, Members, NeedMembers, Result, Unit
from chalicelib.ledger.views import member_view
from chalicelib.storage.repository import key_of, phone_digits, profile_key, referral_key
from chalicelib.storage.store import STALE, refuse


def enrol(changes: MemberChanges, actor: Actor, idem: IdempotencyKey, request: schemas.CreateMember) -> Result:
    member_id = request.member_id or new_id()
    code_given = request.referral_code.strip().upper() if request.referral_code else None
    code_key = referral_key(code_given or "")

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        earlier = members.get(member_id)
        if earlier is not None and not earlier.erased:
            raise MemberExistsError(f"member {member_id!r} already exists")
        referrer_id = None
        referrer_generation = 0
        if code_given:
            code_item = found.get(code_key)
            if code_item is None:
                raise ValidationError(f"unknown referral_code {request.referral_code!r}")
            referrer_id = code_item["member_id"]
            referrer_generation = int(code_item.get("generation", 0))
            if profile_key(referrer_id) not in found and referrer_id != member_id:
                raise NeedMembers([referrer_id])  # §15: is it the new member's own code?
            owner = members.get(referrer_id)
            if owner is not None and not owner.erased and same_person(owner, request):
                raise ReferralNotAllowedError("a member cannot be referred by a code of their own")
        member = new_member(
            unit,
            member_id,
            request,
            earlier,
            enrolment_key=idem.pk,
            referrer_id=referrer_id,
            referrer_generation=referrer_generation,
        )
        if unit.program.signup_bonus:
            unit.credit(member, "bonus", unit.program.signup_bonus, reason="signup")
        unit.notify(member, "welcome")
        unit.event("member.enrolled", {"member_id": member_id})
        unit.auto_coupon(member, unit.program.auto_coupons.signup, "signup")
        return Result.created(member_view(unit.program, member, unit.now))

    return changes.change(actor, idem, [member_id], decide, extra=[code_key] if code_given else [], subject=member_id)


def new_member(
    unit: Unit,
    member_id: str,
    request: schemas.CreateMember,
    earlier: Optional[Member],
    enrolment_key: Optional[str] = None,
    referrer_id: Optional[str] = None,
    referrer_generation: int = 0,
    imported_from: Optional[str] = None,
) -> Member:
    """A member enrolled now (POST /members, an import line): the profile in the
    base tier (written only if no live member has the id: `MemberExistsError`),
    its referral code's item, the /stats and daily counts. No bonus, notification
    or coupon: those are the caller's."""
    member = Member(
        member_id=member_id,
        name=request.name,
        email=request.email,
        phone=request.phone,
        birthday=request.birthday,
        referral_code=referral_code(),
        created_at=unit.now_text,
        tier=unit.program.base_tier,
        referrer_id=referrer_id,
        referral_pending=referrer_id is not None,
        enrolment_key=enrolment_key,
        ladder=unit.ladder,
        locale=request.locale,
        referrer_generation=referrer_generation,
        # an id erased before is enrolled again as a new member: it replaces the
        # erased profile (conditioned on its version) and keeps apart from its items
        generation=earlier.generation + 1 if earlier is not None else 0,
        version=earlier.version if earlier is not None else None,
        imported_from=imported_from,
    )
    member.wallet.owner = member_id
    unit.touch(member)
    exists = refuse(lambda: MemberExistsError(f"member {member_id!r} already exists"))
    unit.profile_conditions[member_id] = exists if earlier is None else STALE
    unit.stats["members"] += 1
    unit.stats[f"tier:{member.tier}"] += 1
    unit.daily["members_joined"] += 1
    # a random code that happens to be taken: decide again with another one
    unit.commit.put_new(
        {**key_of(referral_key(member.referral_code or "")), "member_id": member_id, "generation": member.generation},
        STALE,
    )
    return member


def same_person(owner: Member, request: schemas.CreateMember) -> bool:
    """§15: the code's owner has the new member's email (case-insensitive) or phone (digits only)."""
    if owner.email and request.email and owner.email.lower() == request.email.lower():
        return True
    return bool(owner.phone and request.phone and phone_digits(owner.phone) == phone_digits(request.phone))

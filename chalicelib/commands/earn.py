"""POST /members/{id}/earn and /activities (contract §4): points for a purchase
or an activity, and a referred member's first-earn bonuses."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from ..auth import Actor
from ..domain.calendar import format_instant, parse_instant, quarter_of
from ..domain.earning import PurchaseItem, earning_breakdown
from ..errors import DuplicateActivityError, DuplicateOrderError, ValidationError
from ..member_changes import IdempotencyKey, MemberChanges, NeedMembers, Result, Unit
from ..repository import profile_key
from ..store import member_pk, member_sk, refuse
from .. import schemas
from ..views import transaction_view

EARN_WINDOW = dt.timedelta(days=90)


def earn(changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str,
         request: schemas.Earn) -> Result:
    duplicate = refuse(lambda: DuplicateOrderError(
        f"order {request.order_id!r} already earned points for this member"))

    def decide(unit: Unit, members, found) -> Result:
        member = changes.live(members, member_id)
        occurred = parse_instant(request.occurred_at) if request.occurred_at else unit.now
        if occurred > unit.now:
            raise ValidationError("occurred_at lies in the future")
        if occurred < unit.now - EARN_WINDOW:
            raise ValidationError("occurred_at lies more than 90 days back")
        program = unit.program
        referrer = None
        if member.referral_pending and member.referrer_id and program.referral.referrer_points:
            # the referrer is credited too, if it is still the member that made the
            # referral (not erased, not a new member enrolled under the same id)
            if profile_key(member.referrer_id) not in found:
                raise NeedMembers([member.referrer_id])
            candidate = members.get(member.referrer_id)
            if (candidate is not None and not candidate.erased
                    and candidate.generation == member.referrer_generation):
                referrer = candidate
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
            duplicate,
        )
        member.add_spend(quarter, request.amount)
        unit.retier(member)
        if breakdown.total:
            unit.notify(member, "points_earned", points=breakdown.total)
        if member.referral_pending:
            member.referral_pending = False
            referral = program.referral
            if referral.referee_points:
                unit.credit(member, "bonus", referral.referee_points, reason="referral")
            if referrer is not None:
                unit.credit(referrer, "bonus", referral.referrer_points, reason=f"referral:{member_id}")
        return Result(201, {**transaction_view(tx), "tier": member.tier})

    return changes.change(actor, idem, [member_id], decide, subject=member_id)


def activity(changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str,
             request: schemas.Activity) -> Result:
    # a digest keeps the sort key within DynamoDB's 1 KB for any 200-character type and reference
    reference = "ACTIVITY#" + hashlib.sha256(
        json.dumps([request.type, request.reference_id], ensure_ascii=False).encode()).hexdigest()
    duplicate = refuse(lambda: DuplicateActivityError(
        f"activity {request.type!r} {request.reference_id!r} was already rewarded"))

    def decide(unit: Unit, members, found) -> Result:
        member = changes.live(members, member_id)
        points = unit.program.activities.get(request.type)
        if points is None:
            raise ValidationError(f"unknown activity type {request.type!r}")
        tx = unit.credit(member, "activity", points, reason=request.type,
                         reference_id=request.reference_id)
        unit.commit.put_new({"pk": member_pk(member_id), "sk": member_sk(member.generation, reference),
                             "transaction_id": tx["transaction_id"]}, duplicate)
        if points:
            unit.notify(member, "points_earned", points=points)
        return Result(201, {**transaction_view(tx), "reference_id": request.reference_id,
                            "activity_type": request.type})

    return changes.change(actor, idem, [member_id], decide, subject=member_id)

"""POST /members/{id}/earn and /activities (contract §4): points for a purchase
or an activity, and a referred member's first-earn bonuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain.calendar import format_instant, local_date, parse_instant, quarter_of
from chalicelib.domain.campaigns import campaign_lines
from chalicelib.domain.earning import PurchaseItem, earning_breakdown
from chalicelib.domain.member import Member
from chalicelib.errors import DuplicateActivityError, DuplicateOrderError, LimitExceededError, ValidationError
from chalicelib.ledger.member_changes import (
    Found,
    IdempotencyKey,
    MemberChanges,
    Members,
    NeedItems,
    NeedMembers,
    Result,
    Unit,
)
from chalicelib.ledger.views import transaction_view
from chalicelib.storage.repository import (
    COLD_RECOMMENDATIONS_KEY,
    activity_sk,
    earn_lines_sk,
    order_sk,
    profile_key,
    recommendations_key,
)
from chalicelib.storage.store import STALE, item_size, member_pk, refuse

EARN_WINDOW = dt.timedelta(days=90)
# A purchase's lines (sku, category, amount: up to 1,000 of up to 200 characters
# each) go on its transaction up to this size; beyond it, in parts of their own
# (`repository.earn_lines_sk`), each well within DynamoDB's 400 KB an item.
INLINE_LINES_BYTES = 32 * 1024
LINE_PART_BYTES = 256 * 1024


def earn(changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Earn) -> Result:
    duplicate = refuse(lambda: DuplicateOrderError(f"order {request.order_id!r} already earned points for this member"))
    # §23: with a recommendation bonus, the member's stored recommendations and the
    # cold-start list come with the profile in the one read (first generation's key:
    # a member enrolled again reads theirs once more)
    known = changes.programs.last_known()
    extra = recommendation_keys(member_id, 0) if known is not None and known.recommendation_bonus else []

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        occurred = parse_instant(request.occurred_at) if request.occurred_at else unit.now
        if occurred > unit.now:
            raise ValidationError("occurred_at lies in the future")
        if occurred < unit.now - EARN_WINDOW:
            raise ValidationError("occurred_at lies more than 90 days back")
        program = unit.program
        unit.require_allowed("earn", member)
        referrer = None
        if member.referral_pending and member.referrer_id and program.referral.referrer_points:
            # the referrer is credited too, if it is still the member that made the
            # referral (not erased, not a new member enrolled under the same id)
            if profile_key(member.referrer_id) not in found:
                raise NeedMembers([member.referrer_id])
            candidate = members.get(member.referrer_id)
            if candidate is not None and not candidate.erased and candidate.generation == member.referrer_generation:
                referrer = candidate
        tier_before = member.tier
        items = [PurchaseItem(i.sku, i.category, i.amount) for i in request.items or []]
        month = local_date(occurred, program.timezone).isoformat()[:7]
        month_earns = count_month_earn(member, month, unit)
        recommended = recommended_skus(member, unit, found, extra)
        # §22: the campaigns the member is in come with the profile (one read, one write)
        campaign_extra, bonuses_used = campaign_lines(
            member.campaigns, request.amount, program.base_rate, format_instant(occurred)
        )
        breakdown = earning_breakdown(
            program, request.amount, items, occurred, tier_before, month_earns, recommended, campaign_extra
        )
        use_campaign_bonuses(member, bonuses_used)
        count_day_earn(member, breakdown.total, unit)
        lifetime = program.lot_lifetime_days(tier_before)
        quarter = quarter_of(occurred, program.timezone)
        lines = [{"sku": i.sku, "category": i.category, "amount": i.amount} for i in items]
        lines_inline = item_size({"items": lines}) <= INLINE_LINES_BYTES
        # §25: pending until the return window closes; the lot's lifetime starts then
        available = occurred + dt.timedelta(days=program.pending_days)
        tx = unit.credit(
            member,
            "earn",
            breakdown.total,
            expires_at=format_instant(available + dt.timedelta(days=lifetime)),
            available_at=format_instant(available),
            order_id=request.order_id,
            breakdown=[line.as_dict() for line in breakdown.lines],
            amount=request.amount,
            occurred_at=format_instant(occurred),
            quarter=quarter,
            refunded_amount=0,
            clawed_back=0,
            # the purchase's lines, for the analytics facts (§17): on the transaction
            # when they are small (as nearly always), else in items of their own
            items=lines if lines and lines_inline else None,
        )
        if not lines_inline:
            put_line_parts(unit, member, tx, lines)
        unit.commit.put_new(
            {
                "pk": member_pk(member_id),
                "sk": order_sk(member.generation, request.order_id),
                "transaction_id": tx["transaction_id"],
            },
            duplicate,
        )
        member.add_spend(quarter, request.amount)
        member.record_activity(unit.now_text)
        unit.daily["earns"] += 1
        unit.daily["purchase_amount"] += request.amount
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
        return Result.created({**transaction_view(tx), "tier": member.tier})

    return changes.change(actor, idem, [member_id], decide, extra=extra, subject=member_id)


def use_campaign_bonuses(member: Member, campaign_ids: list[str]) -> None:
    """§22: a bonus arm's points go once per member and campaign: recorded on the profile,
    written under its version in the earn's own transaction (a concurrent earn decides again)."""
    if not campaign_ids:
        return
    used = set(campaign_ids)
    member.campaigns = [
        {**entry, "bonus_used": True} if entry["campaign_id"] in used else entry for entry in member.campaigns
    ]


def recommendation_keys(member_id: str, generation: int) -> list[tuple[str, str]]:
    return [recommendations_key(member_id, generation), COLD_RECOMMENDATIONS_KEY]


def recommended_skus(member: Member, unit: Unit, found: Found, read: list[tuple[str, str]]) -> list[str]:
    """§23: the skus of the member's current recommendations, as the last refresh
    stored them: the member's own list (possibly empty), else the cold-start list.
    None are needed without the program's recommendation_bonus."""
    if unit.program.recommendation_bonus is None:
        return []
    own = recommendations_key(member.member_id, member.generation)
    unread = [key for key in (own, COLD_RECOMMENDATIONS_KEY) if key not in read and key not in found]
    if unread:
        raise NeedItems(unread)  # the program was not known to have the bonus, or a later generation
    stored = found.get(own) or found.get(COLD_RECOMMENDATIONS_KEY) or {}
    return [entry["sku"] for entry in stored.get("items", [])]


def put_line_parts(unit: Unit, member: Member, tx: dict, lines: list[dict]) -> None:
    """The lines of a large purchase, in parts of at most LINE_PART_BYTES (written once)."""
    parts: list[list[dict]] = [[]]
    size = 0
    for line in lines:
        line_size = item_size({"l": [line]})
        if parts[-1] and size + line_size > LINE_PART_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += line_size
    first = 0
    for number, part in enumerate(parts):
        unit.commit.put_new(
            {
                "pk": member_pk(member.member_id),
                "sk": earn_lines_sk(member.generation, tx["transaction_id"], number),
                "transaction_id": tx["transaction_id"],
                "member_id": member.member_id,
                "occurred_at": tx["occurred_at"],
                "first_line": first,
                "items": part,
            },
            STALE,
        )
        first += len(part)


def count_month_earn(member: Member, month: str, unit: Unit) -> int:
    """§12: this earn counted in its calendar month; the count, itself included.
    Months more than four back are dropped (an earn lies at most 90 days back)."""
    oldest = local_date(unit.now - EARN_WINDOW - dt.timedelta(days=31), unit.program.timezone).isoformat()[:7]
    member.month_earns = {m: n for m, n in member.month_earns.items() if m >= oldest}
    member.month_earns[month] = member.month_earns.get(month, 0) + 1
    return int(member.month_earns[month])


def count_day_earn(member: Member, points: int, unit: Unit) -> None:
    """§15: the earn counted in the member's day (program timezone) of the request;
    beyond the program's limits it is refused and nothing changes."""
    today = local_date(unit.now, unit.program.timezone).isoformat()
    day: dict[str, Any] = (
        member.earn_day
        if member.earn_day and member.earn_day.get("day") == today
        else {"day": today, "earns": 0, "points": 0}
    )
    day = {"day": today, "earns": day["earns"] + 1, "points": day["points"] + points}
    limits = unit.program.limits
    if limits.max_earns_per_day is not None and day["earns"] > limits.max_earns_per_day:
        raise LimitExceededError(f"at most {limits.max_earns_per_day} earns a day")
    if limits.max_earn_points_per_day is not None and day["points"] > limits.max_earn_points_per_day:
        raise LimitExceededError(f"at most {limits.max_earn_points_per_day} points earned a day")
    member.earn_day = day


def activity(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.Activity
) -> Result:
    duplicate = refuse(
        lambda: DuplicateActivityError(f"activity {request.type!r} {request.reference_id!r} was already rewarded")
    )

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        unit.require_allowed("activity", member)
        points = unit.program.activities.get(request.type)
        if points is None:
            raise ValidationError(f"unknown activity type {request.type!r}")
        tx = unit.credit(member, "activity", points, reason=request.type, reference_id=request.reference_id)
        reference = activity_sk(member.generation, request.type, request.reference_id)
        unit.commit.put_new(
            {"pk": member_pk(member_id), "sk": reference, "transaction_id": tx["transaction_id"]}, duplicate
        )
        if points:
            unit.notify(member, "points_earned", points=points)
        return Result.created(
            {**transaction_view(tx), "reference_id": request.reference_id, "activity_type": request.type}
        )

    return changes.change(actor, idem, [member_id], decide, subject=member_id)

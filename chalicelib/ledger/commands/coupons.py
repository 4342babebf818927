"""Coupons (contract §11): given by an admin, bought with points, used at the
counter and released when the order is cancelled.

A coupon lives in two items written together: one in the member's history
(`COUPON#<ulid>`, listed newest first) and one under its code (`COUPON#<code>`,
found at the counter). A use or a release changes both in one transaction,
conditioned on the code item's status: whatever the concurrency, a coupon is
used at most once. The member's profile is not rewritten by a use: one update
moves its count of available coupons and its version (so a change that read the
profile before decides again); a use conditions it on the member not being
suspended (a use decided before a suspension decides again).
"""

from __future__ import annotations

from typing import Any, Optional

from chalicelib.api import schemas
from chalicelib.auth import Actor
from chalicelib.domain import coupons
from chalicelib.domain.member import Member
from chalicelib.errors import CouponNotForSaleError, CouponNotUsableError, NotFoundError
from chalicelib.ledger.member_changes import Found, IdempotencyKey, MemberChanges, Members, Result, Unit
from chalicelib.ledger.views import coupon_view, transaction_view
from chalicelib.storage.repository import coupon_code_key, coupon_sk, profile_key
from chalicelib.storage.store import STALE, encode_cursor, member_pk
from chalicelib.webhooks import events as webhook_events


def issue(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, member_id: str, request: schemas.IssueCoupon
) -> Result:
    """An admin gives the coupon (`manual`); a storefront's member buys it with points."""

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        template = unit.template(request.template_id)
        if template is None:
            raise NotFoundError(f"coupon template {request.template_id!r} not found")
        if actor.role == "admin":
            coupon = unit.issue_coupon(member, template, "manual")
            return Result.created(coupon_view(coupon, unit.now_text))
        unit.require_allowed("coupon_buy", member)
        cost = template.get("points_cost")
        if cost is None:
            raise CouponNotForSaleError(f"coupon template {request.template_id!r} is not for sale")
        cost = int(cost)
        _, ranges = member.wallet.debit(cost)
        coupon = unit.issue_coupon(member, template, "points")
        tx = unit.record(
            member,
            "redeem",
            -cost,
            coupon_id=coupon["coupon_id"],
            drawn=[r.as_record() for r in ranges],
            restored=0,
            cash_value=0,
            reason="coupon",
        )
        member.record_activity(unit.now_text)
        unit.notify(member, "points_redeemed", points=cost)
        return Result.created({**coupon_view(coupon, unit.now_text), "transaction": transaction_view(tx)})

    return changes.change(actor, idem, [member_id], decide, subject=member_id)


def _coupon_of(found: Found, code_key: tuple[str, str], member: Member, code: str) -> dict:
    coupon = found.get(code_key)
    if (
        coupon is None
        or coupon["member_id"] != member.member_id
        or int(coupon.get("generation", 0)) != member.generation
    ):
        raise NotFoundError(f"coupon {code[:80]!r} not found")  # another member's code too
    return dict(coupon)


def _set_state(unit: Unit, coupon: dict, expected: str, values: dict[str, Any]) -> None:
    """Both items of the coupon to `values`, if the code item is still `expected`:
    a use or release that lost a race decides again and finds it changed."""
    sets = {k: v for k, v in values.items() if v is not None}
    removes = [k for k, v in values.items() if v is None]
    names = {f"#f{i}": k for i, k in enumerate(values)}
    by_name = {k: f"#f{i}" for i, k in enumerate(values)}
    expression = "SET " + ", ".join(f"{by_name[k]} = :v{i}" for i, k in enumerate(sets))
    if removes:
        expression += " REMOVE " + ", ".join(by_name[k] for k in removes)
    bound = {f":v{i}": v for i, v in enumerate(sets.values())}
    code_pk, code_sk = coupon_code_key(coupon["code"])
    unit.commit.update(
        {"pk": code_pk, "sk": code_sk},
        expression,
        {**names, "#st": "status"},
        {**bound, ":expected": expected},
        STALE,
        condition="#st = :expected",
    )
    unit.commit.update({"pk": member_pk(coupon["member_id"]), "sk": coupon["member_sk"]}, expression, names, bound)


def _count_move(unit: Unit, member_id: str, expires_at: str, by: int, unsuspended: bool = False) -> None:
    """The member's count of available coupons of this expiry moves by `by`, and
    its version, so that a change that read the profile before decides again.
    With `unsuspended`, only while the member is not suspended (a use decided
    before a suspension decides again and is refused)."""
    pk, sk = profile_key(member_id)
    names = {"#v": "version", "#open": "coupons_open", "#at": expires_at, "#erased": "erased"}
    values: dict[str, Any] = {":one": 1, ":zero": 0, ":by": by, ":false": False}
    # never once the member is erased (an erasure that committed meanwhile: decide
    # again and find the member gone), so nothing is stored for it afterwards
    condition = "#erased = :false"
    if unsuspended:
        names["#sus"] = "suspension"
        values[":null"] = "NULL"
        condition += " AND (attribute_not_exists(#sus) OR attribute_type(#sus, :null))"
    unit.commit.update(
        {"pk": pk, "sk": sk},
        "SET #v = #v + :one, #open.#at = if_not_exists(#open.#at, :zero) + :by",
        names,
        values,
        STALE,
        condition=condition,
    )


def use(changes: MemberChanges, actor: Actor, idem: IdempotencyKey, code: str, request: schemas.UseCoupon) -> Result:
    code = code.strip().upper()
    code_key = coupon_code_key(code)
    member_id = request.member_id

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        coupon = _coupon_of(found, code_key, member, code)
        unit.require_allowed("coupon_use", member)
        reason = coupons.unusable_reason(coupon, unit.now_text, request.order_amount)
        if reason is not None:
            raise CouponNotUsableError(reason)
        discount = coupons.discount_amount(coupon["discount"], request.order_amount)
        used = {"status": "used", "used_at": unit.now_text, "order_id": request.order_id, "discount_amount": discount}
        _set_state(unit, coupon, "available", used)
        _count_move(unit, member_id, coupon["expires_at"], -1, unsuspended=True)
        unit.stats["coupons_used"] += 1
        shown = coupon_view({**coupon, **used}, unit.now_text)
        unit.event("coupon.used", webhook_events.coupon_data(shown))
        return Result.created(shown)

    # no re-tiering: a use writes no profile (see the module's note)
    return changes.change(actor, idem, [member_id], decide, extra=[code_key], subject=member_id, retier=False)


def release(
    changes: MemberChanges, actor: Actor, idem: IdempotencyKey, code: str, request: schemas.ReleaseCoupon
) -> Result:
    code = code.strip().upper()
    code_key = coupon_code_key(code)
    member_id = request.member_id

    def decide(unit: Unit, members: Members, found: Found) -> Result:
        member = changes.live(members, member_id)
        coupon = _coupon_of(found, code_key, member, code)
        if coupon.get("status") != "used":
            raise CouponNotUsableError("only a used coupon can be released")
        released = {
            "status": "available",
            "used_at": None,
            "order_id": None,
            "discount_amount": None,
            "released_at": unit.now_text,  # when, for the analytics facts (§17); not shown
        }
        _set_state(unit, coupon, "used", released)
        if coupon["expires_at"] > unit.now_text:
            _count_move(unit, member_id, coupon["expires_at"], 1)
        unit.stats["coupons_used"] -= 1
        return Result.done(coupon_view({**coupon, **released}, unit.now_text))

    return changes.change(actor, idem, [member_id], decide, extra=[code_key], subject=member_id, retier=False)


def member_coupons(
    changes: MemberChanges, member_id: str, status: Optional[str], limit: int, cursor: Optional[str], now_text: str
) -> dict:
    """The member's coupons, newest first; with `status`, only those in it (pages
    are read until `limit` are found or the history ends)."""
    generation = changes.require_member(member_id)
    store = changes.store
    shown: list[dict] = []
    while True:
        items, cursor = store.query_page(
            member_pk(member_id), coupon_sk(generation, ""), limit, cursor, newest_first=True
        )
        for item in items:
            view = coupon_view(item, now_text)
            if status is None or view["status"] == status:
                shown.append(view)
        if status is None or cursor is None or len(shown) >= limit:
            break
        # filtered: go on, but answer with at most `limit` (the cursor resumes after them)
    if len(shown) > limit:
        shown = shown[:limit]
        last = shown[-1]
        cursor = encode_cursor({"pk": member_pk(member_id), "sk": coupon_sk(generation, last["coupon_id"])})
    return {"items": shown, "next_cursor": cursor}

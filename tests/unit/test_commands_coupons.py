"""Coupons (§11): given, bought with points, used and released."""

from __future__ import annotations

import pytest

from chalicelib.errors import (
    CouponNotForSaleError,
    CouponNotUsableError,
    InsufficientPointsError,
    MemberSuspendedError,
    NotFoundError,
    ReversalNotAllowedError,
    TemplateExistsError,
)
from chalicelib.ledger.member_changes import Outcome

from .memory_shop import ADMIN

AMOUNT_OFF = {"type": "amount", "amount": 3_000}
TEN_PERCENT = {"type": "percent", "percent": 10, "max_amount": 2_000}


@pytest.fixture
def coupons(shop):
    shop.template("3k", AMOUNT_OFF, min_order_amount=10_000, points_cost=500)
    shop.template("10pct", TEN_PERCENT, valid_days=7)
    shop.enrol("m1")
    return shop


def test_an_admin_gives_a_coupon(coupons):
    body = coupons.issue_coupon("m1", "10pct", actor=ADMIN).body
    assert {
        k: body[k]
        for k in (
            "member_id",
            "template_id",
            "source",
            "status",
            "issued_at",
            "expires_at",
            "used_at",
            "order_id",
            "discount_amount",
            "discount",
        )
    } == {
        "member_id": "m1",
        "template_id": "10pct",
        "source": "manual",
        "status": "available",
        "issued_at": "2027-05-10T03:00:00Z",
        "expires_at": "2027-05-17T03:00:00Z",
        "used_at": None,
        "order_id": None,
        "discount_amount": None,
        "discount": TEN_PERCENT,
    }
    assert coupons.balance("m1") == 1000  # given, not bought
    assert coupons.member("m1")["coupons_available"] == 1
    assert coupons.notifications("m1")[-1] == "coupon_issued"
    listed = coupons.ledger.member_coupons("m1", None, 10, None)["items"]
    assert [c["code"] for c in listed] == [body["code"]]


def test_a_storefront_buys_a_coupon_with_points(coupons):
    body = coupons.issue_coupon("m1", "3k").body
    assert body["source"] == "points"
    tx = body["transaction"]
    assert (tx["type"], tx["points"], tx["balance_after"]) == ("redeem", -500, 500)
    assert coupons.stats()["coupons_issued"] == 1
    with pytest.raises(ReversalNotAllowedError):  # a bought coupon's redeem is not reversible
        coupons.reverse("m1", tx["transaction_id"])


def test_buying_refusals(coupons):
    before = coupons.snapshot()
    with pytest.raises(CouponNotForSaleError):
        coupons.issue_coupon("m1", "10pct")
    with pytest.raises(NotFoundError):
        coupons.issue_coupon("m1", "nope")
    coupons.adjust("m1", -600)
    before = coupons.snapshot()
    with pytest.raises(InsufficientPointsError):
        coupons.issue_coupon("m1", "3k")
    assert coupons.snapshot() == before
    with pytest.raises(TemplateExistsError):
        coupons.template("3k", AMOUNT_OFF)


def test_a_coupon_is_used_once_then_released(coupons):
    code = coupons.issue_coupon("m1", "3k").body["code"]
    used = coupons.use_coupon(code.lower(), "m1", "order-1", 20_000).body
    assert (used["status"], used["discount_amount"], used["order_id"], used["used_at"]) == (
        "used",
        3_000,
        "order-1",
        "2027-05-10T03:00:00Z",
    )
    assert coupons.member("m1")["coupons_available"] == 0
    assert coupons.stats()["coupons_used"] == 1
    before = coupons.snapshot()
    with pytest.raises(CouponNotUsableError):
        coupons.use_coupon(code, "m1", "order-2", 20_000)
    assert coupons.snapshot() == before
    released = coupons.release_coupon(code, "m1").body
    assert (released["status"], released["used_at"], released["order_id"], released["discount_amount"]) == (
        "available",
        None,
        None,
        None,
    )
    assert coupons.member("m1")["coupons_available"] == 1
    assert coupons.stats()["coupons_used"] == 0
    with pytest.raises(CouponNotUsableError):
        coupons.release_coupon(code, "m1")  # not used


@pytest.mark.parametrize("order_amount, discount", [(15_000, 1_500), (50_000, 2_000), (9, 0)])
def test_percent_discounts_floor_and_cap(coupons, order_amount, discount):
    code = coupons.issue_coupon("m1", "10pct", actor=ADMIN).body["code"]
    assert coupons.use_coupon(code, "m1", "o", order_amount).body["discount_amount"] == discount


def test_unusable_coupons(coupons, clock):
    code = coupons.issue_coupon("m1", "3k").body["code"]
    with pytest.raises(CouponNotUsableError):
        coupons.use_coupon(code, "m1", "o", 9_999)  # below min_order_amount
    coupons.enrol("m2")
    with pytest.raises(NotFoundError):
        coupons.use_coupon(code, "m2", "o", 20_000)  # another member's code
    with pytest.raises(NotFoundError):
        coupons.use_coupon("NOPE-NOPE-NOPE", "m1", "o", 20_000)
    clock.advance(days=30)
    with pytest.raises(CouponNotUsableError):
        coupons.use_coupon(code, "m1", "o", 20_000)  # expired
    assert coupons.ledger.member_coupons("m1", "expired", 10, None)["items"][0]["code"] == code


def test_a_suspended_member_neither_buys_nor_uses(coupons):
    code = coupons.issue_coupon("m1", "10pct", actor=ADMIN).body["code"]
    coupons.suspend("m1")
    with pytest.raises(MemberSuspendedError):
        coupons.issue_coupon("m1", "3k")
    with pytest.raises(MemberSuspendedError):
        coupons.use_coupon(code, "m1", "o", 20_000)
    assert coupons.issue_coupon("m1", "10pct", actor=ADMIN).outcome is Outcome.CREATED  # an admin still gives


def test_a_use_replayed_answers_the_same(coupons):
    code = coupons.issue_coupon("m1", "3k").body["code"]
    first = coupons.use_coupon(code, "m1", "o", 20_000, key="k")
    assert coupons.use_coupon(code, "m1", "o", 20_000, key="k").body == first.body
    assert coupons.stats()["coupons_used"] == 1


def test_signup_and_tier_up_coupons_are_issued_automatically(coupons):
    coupons.program(auto_coupons={"signup": "10pct", "tier_up": {"silver": "3k"}})
    coupons.enrol("m2")
    assert [c["source"] for c in coupons.ledger.member_coupons("m2", None, 10, None)["items"]] == ["signup"]
    coupons.earn("m2", "o1", 100_000)
    sources = [c["source"] for c in coupons.ledger.member_coupons("m2", None, 10, None)["items"]]
    assert sorted(sources) == ["signup", "tier_up"]

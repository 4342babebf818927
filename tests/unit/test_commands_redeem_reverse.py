"""Redeem (points and rewards, §4, §5) and reversals (refund and cancel, §4, §5)."""

from __future__ import annotations

import pytest

from chalicelib.errors import (
    BelowMinimumRedemptionError,
    InsufficientPointsError,
    MemberSuspendedError,
    NotFoundError,
    OutOfStockError,
    ReversalNotAllowedError,
    ValidationError,
)


@pytest.fixture
def member(shop):
    shop.enrol("m1")
    shop.earn("m1", "o1", 50_000)  # 500: balance 1500
    return "m1"


def earn_tx(shop, member):
    return next(t for t in shop.history(member) if t["type"] == "earn")


# -- redeem ---------------------------------------------------------------------
def test_redeem_points_for_cash(shop, member):
    body = shop.redeem(member, 1_200, order_id="p1").body
    assert (body["type"], body["points"], body["balance_after"], body["cash_value"]) == ("redeem", -1200, 300, 1200)
    assert shop.balance(member) == 300
    stats = shop.stats()
    assert (stats["points_redeemed"], stats["points_outstanding"]) == (1200, 300)
    assert shop.notifications(member)[-1] == "points_redeemed"


def test_point_value_sets_the_cash_value(shop, member):
    shop.program(point_value=5)
    assert shop.redeem(member, 1_000).body["cash_value"] == 5_000


def test_redeem_below_the_minimum_or_beyond_the_balance_is_refused(shop, member):
    before = shop.snapshot()
    with pytest.raises(BelowMinimumRedemptionError):
        shop.redeem(member, 999)
    with pytest.raises(InsufficientPointsError):
        shop.redeem(member, 1_501)
    assert shop.snapshot() == before
    with pytest.raises(NotFoundError):
        shop.redeem("nobody", 1_000)


def test_a_redeem_replayed_debits_once(shop, member):
    first = shop.redeem(member, 1_000, key="k")
    again = shop.redeem(member, 1_000, key="k")
    assert again.body == first.body
    assert shop.balance(member) == 500


def test_a_reward_takes_one_unit_of_stock_and_issues_a_voucher(shop, member):
    shop.reward("mug", 500, stock=1)
    body = shop.redeem(member, reward_id="mug").body
    assert (body["points"], body["cash_value"], body["reward"]["reward_id"]) == (-500, 500, "mug")
    assert shop.ledger.voucher(body["reward"]["code"]) == {
        "code": body["reward"]["code"],
        "member_id": member,
        "reward_id": "mug",
        "transaction_id": body["transaction_id"],
        "status": "issued",
        "issued_at": "2027-05-10T03:00:00Z",
    }
    assert shop.ledger.rewards(10, None)["items"][0]["stock"] == 0
    before = shop.snapshot()
    with pytest.raises(OutOfStockError):
        shop.redeem(member, reward_id="mug")
    assert shop.snapshot() == before


def test_reward_refusals(shop, member):
    shop.reward("mug", 500)
    with pytest.raises(ValidationError):
        shop.redeem(member, 400, reward_id="mug")  # points must equal the cost
    with pytest.raises(NotFoundError):
        shop.redeem(member, reward_id="nothing")
    shop.reward("bike", 100_000)
    with pytest.raises(InsufficientPointsError):
        shop.redeem(member, reward_id="bike")
    assert shop.redeem(member, 500, reward_id="mug").body["points"] == -500  # unlimited stock


def test_a_suspended_member_redeems_nothing(shop, member):
    shop.suspend(member)
    with pytest.raises(MemberSuspendedError):
        shop.redeem(member, 1_000)


# -- refunds -----------------------------------------------------------------------
def test_partial_refunds_claw_back_in_proportion(shop, member):
    tx = earn_tx(shop, member)["transaction_id"]
    first = shop.reverse(member, tx, amount=20_000).body
    # floor(500 × 20000 / 50000) = 200
    assert (first["type"], first["points"], first["unrecovered_points"], first["balance_after"]) == (
        "reversal",
        -200,
        0,
        1300,
    )
    second = shop.reverse(member, tx).body  # the rest: floor(500 × 50000/50000) − 200
    assert (second["points"], second["balance_after"]) == (-300, 1000)
    assert shop.member(member)["quarter_spend"] == 0
    with pytest.raises(ReversalNotAllowedError):
        shop.reverse(member, tx, amount=1)
    assert shop.stats()["points_reversed"] == -500


def test_a_refund_beyond_the_order_or_with_points_is_refused(shop, member):
    tx = earn_tx(shop, member)["transaction_id"]
    before = shop.snapshot()
    with pytest.raises(ReversalNotAllowedError):
        shop.reverse(member, tx, amount=50_001)
    with pytest.raises(ValidationError):
        shop.reverse(member, tx, points=10)
    assert shop.snapshot() == before


def test_a_refund_never_takes_the_balance_below_zero(shop, member):
    shop.redeem(member, 1_400)  # balance 100
    tx = earn_tx(shop, member)["transaction_id"]
    body = shop.reverse(member, tx).body
    assert (body["points"], body["unrecovered_points"], body["balance_after"]) == (-100, 400, 0)


def test_a_refund_re_evaluates_the_tier_at_once(shop, member):
    shop.earn(member, "o2", 60_000)  # spend 110_000: silver
    tx = next(t for t in shop.history(member) if t.get("order_id") == "o2")["transaction_id"]
    assert shop.reverse(member, tx, amount=20_000).body["tier"] == "basic"
    assert shop.member(member)["quarter_spend"] == 90_000


def test_refund_replayed_claws_back_once(shop, member):
    tx = earn_tx(shop, member)["transaction_id"]
    first = shop.reverse(member, tx, key="k", amount=10_000)
    assert shop.reverse(member, tx, key="k", amount=10_000).body == first.body
    assert shop.balance(member) == 1400


# -- cancellations ------------------------------------------------------------------
def test_a_redemption_is_cancelled_in_parts_then_refused(shop, member):
    redeem = shop.redeem(member, 1_200).body["transaction_id"]
    part = shop.reverse(member, redeem, points=500).body
    assert (part["type"], part["points"], part["balance_after"]) == ("reversal", 500, 800)
    rest = shop.reverse(member, redeem).body
    assert (rest["points"], rest["balance_after"]) == (700, 1500)
    with pytest.raises(ReversalNotAllowedError):
        shop.reverse(member, redeem, points=1)
    with pytest.raises(ValidationError):
        shop.reverse(member, redeem, amount=1)
    assert shop.stats()["points_outstanding"] == 1500


def test_cancelled_points_go_back_with_their_lot_expiry(shop, member, clock):
    redeem = shop.redeem(member, 1_500).body["transaction_id"]
    shop.reverse(member, redeem)
    clock.advance(days=350)  # both lots expire 365 days after they were made
    # one entry per lot: the signup bonus and the earn, both back whole
    assert shop.member(member)["expiring"] == [
        {"points": 1000, "expires_at": "2028-05-09T03:00:00Z"},
        {"points": 500, "expires_at": "2028-05-09T03:00:00Z"},
    ]


def test_cancelling_a_reward_redemption_is_whole_and_returns_stock(shop, member):
    shop.reward("mug", 500, stock=1)
    body = shop.redeem(member, reward_id="mug").body
    with pytest.raises(ReversalNotAllowedError):
        shop.reverse(member, body["transaction_id"], points=100)
    shop.reverse(member, body["transaction_id"])
    assert shop.ledger.voucher(body["reward"]["code"])["status"] == "void"
    assert shop.ledger.rewards(10, None)["items"][0]["stock"] == 1
    assert shop.balance(member) == 1500


def test_only_earns_and_redeems_are_reversible(shop, member):
    bonus = next(t for t in shop.history(member) if t["type"] == "bonus")["transaction_id"]
    with pytest.raises(ReversalNotAllowedError):
        shop.reverse(member, bonus)
    with pytest.raises(NotFoundError):
        shop.reverse(member, "01NOSUCHTRANSACTION0000000")
    shop.enrol("m2")
    with pytest.raises(NotFoundError):  # another member's transaction
        shop.reverse("m2", bonus)


def test_reversals_go_on_while_suspended(shop, member):
    tx = earn_tx(shop, member)["transaction_id"]
    shop.suspend(member)
    assert shop.reverse(member, tx, amount=10_000).body["points"] == -100

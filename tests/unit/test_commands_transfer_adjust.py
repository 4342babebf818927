"""Transfers and adjustments (§4), and suspension's effect on them (§15)."""

from __future__ import annotations

import pytest

from chalicelib.api import schemas
from chalicelib.errors import (
    InsufficientPointsError,
    MemberSuspendedError,
    NotFoundError,
    TransferNotAllowedError,
    ValidationError,
)
from chalicelib.ledger.member_changes import Outcome

from .memory_shop import ADMIN


@pytest.fixture
def pair(shop, clock):
    shop.enrol("giver")
    shop.earn("giver", "o1", 100_000)  # 1000 points, silver: balance 2000
    clock.advance(days=1)
    shop.enrol("taker")  # its signup lot expires a day after the giver's lots
    return "giver", "taker"


def test_a_transfer_moves_points_with_their_expiry(shop, clock, pair):
    body = shop.transfer("giver", "taker", 1_500).body
    out, into = body["transfer_out"], body["transfer_in"]
    assert (out["type"], out["points"], out["balance_after"]) == ("transfer_out", -1500, 500)
    assert (into["type"], into["points"], into["balance_after"]) == ("transfer_in", 1500, 2500)
    assert shop.notifications("taker")[-1] == "transfer_received"
    clock.advance(days=340)
    assert shop.member("taker")["expiring"] == [
        {"points": 1500, "expires_at": "2028-05-09T03:00:00Z"},
        {"points": 1000, "expires_at": "2028-05-10T03:00:00Z"},
    ]
    stats = shop.stats()
    assert (stats["points_earned"], stats["points_outstanding"]) == (3000, 3000)  # a transfer is neither


def test_transfer_refusals_change_nothing(shop, pair):
    shop.enrol("basic")
    before = shop.snapshot()
    with pytest.raises(TransferNotAllowedError):
        shop.transfer("basic", "taker", 500)  # tier not allowed
    with pytest.raises(TransferNotAllowedError):
        shop.transfer("giver", "giver", 500)
    with pytest.raises(TransferNotAllowedError):
        shop.transfer("giver", "taker", 99)  # below min_points
    with pytest.raises(InsufficientPointsError):
        shop.transfer("giver", "taker", 2_001)
    with pytest.raises(NotFoundError):
        shop.transfer("giver", "nobody", 500)
    assert shop.snapshot() == before


@pytest.mark.parametrize("suspended", ["giver", "taker"])
def test_a_suspended_sender_or_recipient_is_refused(shop, pair, suspended):
    shop.suspend(suspended)
    with pytest.raises(MemberSuspendedError):
        shop.transfer("giver", "taker", 500)


def test_a_transfer_replayed_moves_points_once(shop, pair):
    first = shop.transfer("giver", "taker", 500, key="k")
    assert shop.transfer("giver", "taker", 500, key="k").body == first.body
    assert (shop.balance("giver"), shop.balance("taker")) == (1500, 1500)


def test_an_erased_recipient_makes_the_replay_not_found(shop, pair):
    shop.transfer("giver", "taker", 500, key="k")
    shop.erase("taker")
    with pytest.raises(NotFoundError):
        shop.transfer("giver", "taker", 500, key="k")


def test_adjustments_credit_a_lot_or_debit(shop, pair):
    plus = shop.adjust("taker", 300, reason="apology").body
    assert (plus["type"], plus["points"], plus["reason"], plus["balance_after"]) == ("adjust", 300, "apology", 1300)
    minus = shop.adjust("taker", -1_200).body
    assert (minus["points"], minus["balance_after"]) == (-1200, 100)
    before = shop.snapshot()
    with pytest.raises(InsufficientPointsError):
        shop.adjust("taker", -101)
    assert shop.snapshot() == before
    assert shop.stats()["points_adjusted"] == -900
    assert shop.member("taker")["lifetime_points"] == 1000  # adjustments are not earned
    with pytest.raises(NotFoundError):
        shop.adjust("nobody", 10)


def test_an_adjustment_replayed_counts_once(shop, pair):
    first = shop.adjust("taker", 300, key="k")
    assert shop.adjust("taker", 300, key="k").body == first.body
    assert shop.balance("taker") == 1300


def test_suspension_stops_points_operations_until_lifted(shop, clock, pair):
    body = shop.suspend("giver", reason="chargebacks").body
    assert body["suspension"] == {"reason": "chargebacks", "since": "2027-05-11T03:00:00Z"}
    clock.advance(hours=1)
    again = shop.suspend("giver", reason="still").body  # the reason changes, the start stays
    assert again["suspension"] == {"reason": "still", "since": "2027-05-11T03:00:00Z"}
    for refused in (
        lambda: shop.earn("giver", "o2", 1_000),
        lambda: shop.redeem("giver", 1_000),
        lambda: shop.activity("giver", "review", "r1"),
        lambda: shop.transfer("taker", "giver", 100),
    ):
        with pytest.raises(MemberSuspendedError):
            refused()
    assert shop.adjust("giver", 50).body["balance_after"] == 2050  # adjustments go on
    assert shop.lift("giver").body["suspension"] is None
    assert shop.lift("giver").body["suspension"] is None  # lifting again is no change
    assert shop.earn("giver", "o2", 1_000).outcome is Outcome.CREATED
    with pytest.raises(NotFoundError):
        shop.suspend("nobody")


def test_a_transfer_of_many_expiries_keeps_each_one(shop, clock, pair):
    for _n in range(30):  # 30 lots, each expiring a minute after the one before
        clock.advance(minutes=1)
        shop.adjust("giver", 100)
    shop.transfer("giver", "taker", 5_000)  # all of them: beyond the 25 lot items of a transfer
    assert (shop.balance("giver"), shop.balance("taker")) == (0, 6_000)
    clock.advance(days=360)
    expiring = shop.member("taker")["expiring"]
    assert sum(e["points"] for e in expiring) == 6_000
    assert len(expiring) == 32  # the giver's two first lots, the 30 adjustments, the taker's own


def test_update_member_replaces_the_fields_given(shop, pair):
    body = shop.ledger.update_member(ADMIN, "taker", schemas.UpdateMember(name="Lee", email="lee@example.com")).body
    assert (body["name"], body["email"], body["balance"]) == ("Lee", "lee@example.com", 1000)
    cleared = shop.ledger.update_member(ADMIN, "taker", schemas.UpdateMember(email=None)).body
    assert (cleared["name"], cleared["email"]) == ("Lee", None)
    with pytest.raises(ValidationError):
        shop.ledger.update_member(ADMIN, "taker", schemas.UpdateMember(name=None))

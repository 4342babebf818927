"""LotBook, plan_restoration and merge_by_expiry (contract §4)."""

from __future__ import annotations

import copy

import pytest

from chalicelib.domain.wallet import merge_by_expiry
from chalicelib.errors import InsufficientPointsError, LedgerInvariantError
from tests.unit.lot_book import Lot, LotBook, LotDraw, plan_restoration

JAN = "2027-01-31T00:00:00Z"
FEB = "2027-02-28T00:00:00Z"
MAR = "2027-03-31T00:00:00Z"


def book(*lots: tuple[str, int, str, str]) -> LotBook:
    b = LotBook()
    for lot_id, points, expires_at, created_at in lots:
        b.credit(lot_id, points, expires_at, created_at)
    return b


def remaining(b: LotBook) -> dict[str, int]:
    return {lot_id: lot.points for lot_id, lot in b.lots.items()}


def draws(result: list[LotDraw]) -> list[tuple[str, int]]:
    return [(d.lot_id, d.points) for d in result]


# -- credit ------------------------------------------------------------------
def test_credit_forms_a_lot_and_raises_the_balance():
    b = LotBook()
    lot = b.credit("a", 500, MAR, "2027-01-01T00:00:00Z")
    assert lot == Lot("a", 500, MAR, "2027-01-01T00:00:00Z")
    assert b.balance == 500
    b.credit("b", 250, JAN, "2027-01-02T00:00:00Z")
    assert b.balance == 750


def test_zero_credit_keeps_no_lot():
    b = LotBook()
    b.credit("zero", 0, MAR, "2027-01-01T00:00:00Z")
    assert b.lots == {}
    assert b.balance == 0


def test_negative_or_duplicate_credit_is_refused():
    b = book(("a", 10, MAR, "t1"))
    with pytest.raises(LedgerInvariantError):
        b.credit("b", -1, MAR, "t2")
    with pytest.raises(LedgerInvariantError):
        b.credit("a", 5, MAR, "t2")
    assert remaining(b) == {"a": 10}


# -- debit order -------------------------------------------------------------
def test_debit_takes_soonest_expiring_first():
    b = book(
        ("mar", 100, MAR, "2027-01-01T00:00:00Z"),
        ("jan", 100, JAN, "2027-01-03T00:00:00Z"),
        ("feb", 100, FEB, "2027-01-02T00:00:00Z"),
    )
    taken = b.debit(150)
    # jan (100) then 50 of feb; mar untouched
    assert draws(taken) == [("jan", 100), ("feb", 50)]
    assert remaining(b) == {"feb": 50, "mar": 100}
    assert b.balance == 150


def test_equal_expiry_takes_oldest_created_first():
    b = book(
        ("newer", 100, FEB, "2027-01-05T00:00:00Z"),
        ("oldest", 100, FEB, "2027-01-01T00:00:00Z"),
        ("middle", 100, FEB, "2027-01-03T00:00:00Z"),
    )
    assert draws(b.debit(250)) == [("oldest", 100), ("middle", 100), ("newer", 50)]
    assert remaining(b) == {"newer": 50}


def test_draws_carry_the_lot_expiry_and_creation():
    b = book(("a", 30, JAN, "2027-01-01T00:00:00Z"))
    [draw] = b.debit(20)
    assert draw == LotDraw("a", 20, JAN, "2027-01-01T00:00:00Z")


def test_named_first_lot_is_drawn_before_the_rest():
    b = book(
        ("jan", 100, JAN, "2027-01-01T00:00:00Z"),
        ("earn", 60, MAR, "2027-01-02T00:00:00Z"),
        ("feb", 100, FEB, "2027-01-03T00:00:00Z"),
    )
    # earn's own lot (60) first, then soonest-expiring: jan
    assert draws(b.debit(90, first="earn")) == [("earn", 60), ("jan", 30)]
    assert remaining(b) == {"jan": 70, "feb": 100}


def test_named_first_lot_that_is_gone_falls_back_to_the_usual_order():
    b = book(("jan", 100, JAN, "t1"), ("feb", 100, FEB, "t2"))
    assert draws(b.debit(120, first="spent-already")) == [("jan", 100), ("feb", 20)]


def test_debit_of_the_whole_balance_empties_the_book():
    b = book(("a", 10, JAN, "t1"), ("b", 20, FEB, "t2"))
    assert draws(b.debit(30)) == [("a", 10), ("b", 20)]
    assert b.lots == {}
    assert b.balance == 0


def test_debit_of_zero_takes_nothing():
    b = book(("a", 10, JAN, "t1"))
    assert b.debit(0) == []
    assert remaining(b) == {"a": 10}


def test_insufficient_points_leaves_the_book_unchanged():
    b = book(("a", 10, JAN, "t1"), ("b", 20, FEB, "t2"))
    before = copy.deepcopy(b.lots)
    with pytest.raises(InsufficientPointsError):
        b.debit(31)
    with pytest.raises(InsufficientPointsError):
        b.debit(31, first="b")
    assert b.lots == before
    assert b.balance == 30


def test_negative_debit_is_refused():
    b = book(("a", 10, JAN, "t1"))
    with pytest.raises(LedgerInvariantError):
        b.debit(-1)
    assert remaining(b) == {"a": 10}


# -- restore -----------------------------------------------------------------
def test_restore_recreates_a_spent_lot_with_its_original_expiry():
    b = book(("a", 40, JAN, "2027-01-01T00:00:00Z"), ("b", 40, FEB, "2027-01-02T00:00:00Z"))
    taken = b.debit(50)
    assert "a" not in b.lots
    for draw in taken:
        b.restore(draw)
    assert b.lots["a"] == Lot("a", 40, JAN, "2027-01-01T00:00:00Z")
    assert b.lots["b"] == Lot("b", 40, FEB, "2027-01-02T00:00:00Z")
    assert b.balance == 80


def test_restore_into_a_live_lot_adds_to_it_and_keeps_its_expiry():
    b = book(("a", 40, JAN, "2027-01-01T00:00:00Z"))
    [draw] = b.debit(15)
    b.restore(LotDraw("a", 5, draw.expires_at, draw.created_at))
    assert b.lots["a"] == Lot("a", 30, JAN, "2027-01-01T00:00:00Z")  # 40 − 15 + 5


def test_restore_must_be_positive():
    b = book(("a", 40, JAN, "t1"))
    with pytest.raises(LedgerInvariantError):
        b.restore(LotDraw("a", 0, JAN, "t1"))
    assert remaining(b) == {"a": 40}


# -- expiry ------------------------------------------------------------------
def test_expire_due_takes_lots_expiring_at_or_before_now():
    b = book(
        ("past", 10, "2027-01-31T02:59:59Z", "t1"),
        ("now", 20, "2027-01-31T03:00:00Z", "t2"),
        ("later", 40, "2027-01-31T03:00:01Z", "t3"),
    )
    gone = b.expire_due("2027-01-31T03:00:00Z")
    # expires_at <= now: "past" and "now" (the boundary itself) expire
    assert draws(gone) == [("past", 10), ("now", 20)]
    assert remaining(b) == {"later": 40}
    assert b.balance == 40


def test_expire_due_with_nothing_due_changes_nothing():
    b = book(("later", 40, MAR, "t1"))
    assert b.expire_due(FEB) == []
    assert remaining(b) == {"later": 40}


def test_expiring_between_is_after_exclusive_until_inclusive():
    b = book(("a", 1, JAN, "t1"), ("b", 2, FEB, "t2"), ("c", 3, MAR, "t3"))
    assert [lot.lot_id for lot in b.expiring_between(JAN, MAR)] == ["b", "c"]


def test_forfeit_all_empties_the_book_and_reports_every_lot():
    b = book(("a", 1, FEB, "t1"), ("b", 2, JAN, "t2"))
    assert draws(b.forfeit_all()) == [("b", 2), ("a", 1)]
    assert b.balance == 0 and b.lots == {}


def test_next_expiry_is_the_soonest_live_lot():
    b = book(("a", 1, FEB, "t1"), ("b", 2, JAN, "t2"))
    assert b.next_expiry() == JAN
    b.debit(2)
    assert b.next_expiry() == FEB
    b.debit(1)
    assert b.next_expiry() is None


def test_balance_is_always_the_sum_of_lots():
    b = book(("a", 100, JAN, "t1"), ("b", 200, FEB, "t2"), ("c", 300, MAR, "t3"))
    steps = [
        lambda: b.debit(150),
        lambda: b.credit("d", 70, JAN, "t4"),
        lambda: b.restore(LotDraw("a", 25, JAN, "t1")),
        lambda: b.expire_due(JAN),
        lambda: b.debit(10, first="c"),
    ]
    for step in steps:
        step()
        assert b.balance == sum(lot.points for lot in b.lots.values())
        assert all(lot.points > 0 for lot in b.lots.values())
    # 600 − 150 + 70 + 25 − (jan lots: a 25 + d 70) − 10 = 440
    assert b.balance == 440


# -- restoration plans -------------------------------------------------------
def consumed(*entries: tuple[str, int, str, str]) -> list[dict]:
    return [{"lot_id": i, "points": p, "expires_at": e, "created_at": c, "restored": 0} for i, p, e, c in entries]


REDEEMED = consumed(
    ("jan", 100, JAN, "2027-01-01T00:00:00Z"),
    ("feb", 100, FEB, "2027-01-02T00:00:00Z"),
    ("mar", 50, MAR, "2027-01-03T00:00:00Z"),
)


def test_restoration_goes_latest_expiring_first():
    plan = plan_restoration(REDEEMED, 120)
    # mar (50) then 70 of feb
    assert draws(list(plan.draws)) == [("mar", 50), ("feb", 70)]
    assert plan.draws[0].expires_at == MAR and plan.draws[1].expires_at == FEB
    assert {e["lot_id"]: e["restored"] for e in plan.consumed_after} == {"jan": 0, "feb": 70, "mar": 50}
    # the input is not changed
    assert all(e["restored"] == 0 for e in REDEEMED)


def test_restoration_equal_expiry_restores_newest_created_first():
    entries = consumed(("old", 10, FEB, "2027-01-01T00:00:00Z"), ("new", 10, FEB, "2027-01-05T00:00:00Z"))
    assert draws(list(plan_restoration(entries, 15).draws)) == [("new", 10), ("old", 5)]


def test_partial_restorations_accumulate():
    first = plan_restoration(REDEEMED, 30)
    assert draws(list(first.draws)) == [("mar", 30)]
    second = plan_restoration(first.consumed_after, 100)
    # mar has 50 − 30 = 20 left, then 80 of feb
    assert draws(list(second.draws)) == [("mar", 20), ("feb", 80)]
    third = plan_restoration(second.consumed_after, 120)
    # feb 20 left, jan 100
    assert draws(list(third.draws)) == [("feb", 20), ("jan", 100)]
    assert {e["lot_id"]: e["restored"] for e in third.consumed_after} == {"jan": 100, "feb": 100, "mar": 50}
    with pytest.raises(LedgerInvariantError):
        plan_restoration(third.consumed_after, 1)


def test_restoring_more_than_was_redeemed_raises():
    with pytest.raises(LedgerInvariantError):
        plan_restoration(REDEEMED, 251)  # 100 + 100 + 50 = 250 were redeemed
    partly = plan_restoration(REDEEMED, 200).consumed_after
    with pytest.raises(LedgerInvariantError):
        plan_restoration(partly, 51)
    assert draws(list(plan_restoration(partly, 50).draws)) == [("jan", 50)]


def test_full_restoration_then_restore_gives_back_the_same_lots():
    b = book(
        ("jan", 100, JAN, "2027-01-01T00:00:00Z"),
        ("feb", 100, FEB, "2027-01-02T00:00:00Z"),
        ("mar", 100, MAR, "2027-01-03T00:00:00Z"),
    )
    before = copy.deepcopy(b.lots)
    taken = b.debit(250)
    plan = plan_restoration([{**d.as_dict(), "restored": 0} for d in taken], 250)
    for draw in plan.draws:
        b.restore(draw)
    assert b.lots == before


# -- merge -------------------------------------------------------------------
def test_merge_by_expiry_sums_equal_expiries_soonest_first():
    merged = merge_by_expiry(
        [
            LotDraw("a", 10, FEB, "t1"),
            LotDraw("b", 5, JAN, "t2"),
            LotDraw("c", 7, FEB, "t3"),
            LotDraw("d", 1, MAR, "t4"),
        ]
    )
    assert merged == [(JAN, 5), (FEB, 17), (MAR, 1)]


def test_merge_by_expiry_of_nothing_is_empty():
    assert merge_by_expiry([]) == []

"""Properties of LotBook under random credits, debits, restores and expiries."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib.errors import InsufficientPointsError
from tests.unit.lot_book import LotBook

# a handful of expiries so that ties (equal expires_at) are common
EXPIRIES = [f"2027-0{m}-01T00:00:00Z" for m in range(1, 8)]
expiries = st.sampled_from(EXPIRIES)


class LotBookMachine(RuleBasedStateMachine):
    """A book plus the plain running total every operation should add up to."""

    @initialize()
    def start(self):
        self.book = LotBook()
        self.expected_balance = 0
        self.serial = 0
        self.outstanding = []  # draws taken by debits and not yet restored

    def _created(self) -> str:
        self.serial += 1
        minutes, seconds = divmod(self.serial, 60)
        return f"2026-12-01T{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}Z"

    @rule(points=st.integers(0, 500), expires_at=expiries)
    def credit(self, points, expires_at):
        created = self._created()
        self.book.credit(f"lot{self.serial}", points, expires_at, created)
        self.expected_balance += points

    @rule(data=st.data(), with_first=st.booleans())
    def debit(self, data, with_first):
        points = data.draw(st.integers(0, self.book.balance + 50), label="points")
        first = None
        if with_first and self.book.lots:
            first = data.draw(st.sampled_from(sorted(self.book.lots)), label="first")
        before = copy.deepcopy(self.book.lots)
        if points > self.book.balance:
            try:
                self.book.debit(points, first=first)
            except InsufficientPointsError:
                pass
            else:
                raise AssertionError("a debit beyond the balance must raise")
            assert self.book.lots == before
            return
        taken = self.book.debit(points, first=first)
        assert sum(d.points for d in taken) == points
        assert all(d.points > 0 for d in taken)
        # the draws follow the order: `first` (when given), then soonest expiry, oldest created
        order = sorted(before.values(), key=lambda lot: (lot.expires_at, lot.created_at, lot.lot_id))
        if first is not None:
            order = [before[first]] + [lot for lot in order if lot.lot_id != first]
        assert [d.lot_id for d in taken] == [lot.lot_id for lot in order[: len(taken)]]
        # every drawn lot but the last is emptied
        for d in taken[:-1]:
            assert d.points == before[d.lot_id].points and d.lot_id not in self.book.lots
        for d in taken:
            assert (d.expires_at, d.created_at) == (before[d.lot_id].expires_at, before[d.lot_id].created_at)
        self.expected_balance -= points
        self.outstanding.extend(taken)

    @precondition(lambda self: self.outstanding)
    @rule(data=st.data())
    def restore(self, data):
        index = data.draw(st.integers(0, len(self.outstanding) - 1), label="draw")
        draw = self.outstanding.pop(index)
        live = self.book.lots.get(draw.lot_id)
        held = live.points if live else 0
        self.book.restore(draw)
        lot = self.book.lots[draw.lot_id]
        assert lot.points == held + draw.points
        assert (lot.expires_at, lot.created_at) == (draw.expires_at, draw.created_at)
        self.expected_balance += draw.points

    @rule(now=expiries)
    def expire(self, now):
        due_before = sum(l.points for l in self.book.lots.values() if l.expires_at <= now)
        gone = self.book.expire_due(now)
        assert sum(d.points for d in gone) == due_before
        assert all(l.expires_at > now for l in self.book.lots.values())
        self.expected_balance -= due_before

    @invariant()
    def balance_is_sum_of_lots(self):
        assert self.book.balance == sum(l.points for l in self.book.lots.values())
        assert self.book.balance == self.expected_balance
        assert self.book.balance >= 0

    @invariant()
    def no_lot_is_empty_or_negative(self):
        assert all(l.points > 0 for l in self.book.lots.values())
        assert all(l.lot_id == key for key, l in self.book.lots.items())


LotBookMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLotBook = LotBookMachine.TestCase


lots_strategy = st.lists(
    st.tuples(st.integers(1, 300), expiries),
    min_size=0,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(lots=lots_strategy, data=st.data())
def test_debit_then_restoring_every_draw_gives_back_the_same_lots(lots, data):
    book = LotBook()
    for n, (points, expires_at) in enumerate(lots):
        book.credit(f"lot{n}", points, expires_at, f"2026-12-01T00:00:{n:02d}Z")
    before = copy.deepcopy(book.lots)
    points = data.draw(st.integers(0, book.balance))
    first = data.draw(st.none() | st.sampled_from(sorted(book.lots) or ["absent"]))
    taken = book.debit(points, first=first)
    assert book.balance == sum(p for p, _ in lots) - points
    for draw in data.draw(st.permutations(taken)):
        book.restore(draw)
    assert book.lots == before


@settings(max_examples=200, deadline=None)
@given(lots=lots_strategy, extra=st.integers(1, 1000))
def test_debit_beyond_the_balance_raises_and_changes_nothing(lots, extra):
    book = LotBook()
    for n, (points, expires_at) in enumerate(lots):
        book.credit(f"lot{n}", points, expires_at, f"2026-12-01T00:00:{n:02d}Z")
    before = copy.deepcopy(book.lots)
    try:
        book.debit(book.balance + extra)
    except InsufficientPointsError:
        pass
    else:
        raise AssertionError("a debit beyond the balance must raise")
    assert book.lots == before

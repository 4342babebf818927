"""Random sequences of points operations on the ledger over the in-memory table:
every balance is the sum of its ledger entries, never negative, and /stats
adds up to the members' balances."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import clock as service_clock
from chalicelib.errors import DangolError
from devtools.memory_ledger import FixedClock, memory_ledger

from .memory_shop import Shop

MEMBERS = ("a", "b", "c")
member = st.sampled_from(MEMBERS)
operation = st.one_of(
    st.tuples(st.just("earn"), member, st.integers(1, 300_000)),
    st.tuples(st.just("redeem"), member, st.integers(1, 5_000)),
    st.tuples(st.just("adjust"), member, st.integers(-3_000, 3_000).filter(bool)),
    st.tuples(st.just("transfer"), member, member, st.integers(1, 3_000)),
    st.tuples(st.just("refund"), member, st.integers(0, 10), st.integers(1, 300_000)),
    st.tuples(st.just("cancel"), member, st.integers(0, 10), st.integers(1, 5_000)),
    st.tuples(st.just("later"), st.integers(1, 200)),
)


def play(shop: Shop, step: tuple, orders: list) -> None:
    kind = step[0]
    if kind == "earn":
        tx = shop.earn(step[1], f"o{len(orders)}", step[2]).body
        orders.append((step[1], "earn", tx["transaction_id"]))
    elif kind == "redeem":
        tx = shop.redeem(step[1], max(step[2], 1_000)).body
        orders.append((step[1], "redeem", tx["transaction_id"]))
    elif kind == "adjust":
        shop.adjust(step[1], step[2])
    elif kind == "transfer":
        shop.transfer(step[1], step[2], max(step[3], 100))
    elif kind in ("refund", "cancel"):
        mine = [o for o in orders if o[0] == step[1] and o[1] == ("earn" if kind == "refund" else "redeem")]
        if mine:
            tx = mine[step[2] % len(mine)][2]
            shop.reverse(step[1], tx, **({"amount": step[3]} if kind == "refund" else {"points": step[3]}))
    else:
        shop.clock.advance(days=step[1])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(operation, max_size=25))
def test_balances_are_their_ledger_entries_and_stats_add_up(steps):
    fixed = FixedClock(dt.datetime(2027, 5, 10, 3, tzinfo=dt.UTC))
    original = service_clock.now
    service_clock.now = fixed.now
    try:
        shop = Shop(memory_ledger(), fixed)
        shop.program(
            transfer={"allowed_tiers": ["basic", "silver", "gold"], "min_points": 100}, expiry_days=3650
        )  # no lot expires within a run (expiry is a job's)
        for name in MEMBERS:
            shop.enrol(name)
        orders: list = []
        for step in steps:
            try:
                play(shop, step, orders)
            except DangolError:
                pass  # a refusal (insufficient points, nothing left to reverse, ...) changes nothing
        total = 0
        for name in MEMBERS:
            view = shop.member(name)
            history = shop.history(name)
            assert view["balance"] == sum(t["points"] for t in history) >= 0
            assert all(t["balance_after"] >= 0 for t in history)
            assert [t["balance_after"] for t in history] == [
                sum(t["points"] for t in history[: n + 1]) for n in range(len(history))
            ]
            total += view["balance"]
        stats = shop.stats()
        assert stats["points_outstanding"] == total
        assert stats["points_earned"] == sum(
            t["points"] for n in MEMBERS for t in shop.history(n) if t["type"] in ("earn", "bonus", "activity")
        )
        assert stats["members"] == len(MEMBERS)
    finally:
        service_clock.now = original

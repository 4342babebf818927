"""§23: the `recommendations` query on hand-made facts, every number computed by hand."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from chalicelib.analytics import refresh

from .analytics_facts import FactsEngine

AS_OF = dt.datetime(2027, 5, 10, 3, 0, 0, tzinfo=dt.UTC)  # 12:00 in Seoul: as_of's date 2027-05-10
AS_OF_DATE = dt.date(2027, 5, 10)
WINDOW_START = dt.date(2026, 5, 11)  # the 365 dates ending with 2027-05-10


def lists(facts: FactsEngine) -> refresh.Recommendations:
    rows = refresh.run(facts, "recommendations", as_of_time=AS_OF, as_of_date=AS_OF_DATE, window_start=WINDOW_START)
    return refresh.recommendation_lists(rows)


def short(items: list[dict]) -> list[tuple]:
    return [(i["sku"], i["category"], i["score"]) for i in items]


def shop() -> FactsEngine:
    """Bought within the window: A {P,Q}, B {P,Q,R}, C {P,R} (fully refunded: still a purchase),
    D {Q,S}, E {P,S} (erased since), F {X}; O bought P the day before the window; N nothing.

    buyers: P 4 (A,B,C,E), Q 3 (A,B,D), R 2 (B,C), S 2 (D,E), X 1 (F)
    co: P-Q 2 (A,B), P-R 2 (B,C), P-S 1 (E), Q-R 1 (B), Q-S 1 (D), R-S 0, X-anything 0
    """
    facts = FactsEngine()
    for member_id in "ABCDEFNO":
        facts.member(member_id, "2026-01-05")
    facts.purchase("A", "2027-05-01", 300, items=[("P", "coffee", 100), ("Q", "cake", 200)])
    c = facts.purchase("C", "2027-05-03", 300, items=[("P", "tea", 100), ("R", "beans", 200)])
    # B's P on the same date as C's, recorded after it: B's category is P's (C's refund below is
    # a later row of C's earn, not a later recording)
    facts.purchase("B", "2027-05-03", 100, items=[("P", "drinks", 100)])
    facts.purchase("B", "2027-04-20", 300, items=[("Q", "cake", 100), ("R", "beans", 100), ("P", "old", 100)])
    facts.refund(c, 300, on="2027-05-04")
    facts.purchase("D", "2027-02-01", 200, items=[("Q", "cake", 100), ("S", "mugs", 100)])
    facts.purchase("D", "2027-02-02", 100, items=[("Q", "cake", 100)])  # bought twice: one buyer
    facts.purchase("E", "2026-05-11", 200, items=[("P", "coffee", 100), ("S", "cups", 100)])  # the window's first date
    facts.erase("E", on="2027-05-05")
    facts.purchase("F", "2027-05-09", 100, items=[("X", "gift", 100)])
    facts.purchase("O", "2026-05-10", 100, items=[("P", "coffee", 100)])  # a day before the window
    return facts


def test_member_lists_sum_co_occurrences_over_what_the_member_bought():
    found = lists(shop())
    # A {P,Q}: R = co(P,R) + co(Q,R) = 2 + 1 = 3; S = co(P,S) + co(Q,S) = 1 + 1 = 2
    assert short(found.members[("A", 0)]) == [("R", "beans", 3), ("S", "mugs", 2)]
    # B {P,Q,R}: S = 1 + 1 + 0 = 2
    assert short(found.members[("B", 0)]) == [("S", "mugs", 2)]
    # C {P,R}: Q = co(P,Q) + co(R,Q) = 2 + 1 = 3; S = 1 + 0 = 1
    assert short(found.members[("C", 0)]) == [("Q", "cake", 3), ("S", "mugs", 1)]
    # D {Q,S}: P = co(Q,P) + co(S,P) = 2 + 1 = 3; R = 1 + 0 = 1
    assert short(found.members[("D", 0)]) == [("P", "drinks", 3), ("R", "beans", 1)]


def test_a_buyer_whose_candidates_all_score_zero_gets_an_empty_list():
    assert lists(shop()).members[("F", 0)] == []


def test_erased_buyers_count_but_get_no_list_and_non_buyers_none():
    found = lists(shop())
    assert set(found.members) == {("A", 0), ("B", 0), ("C", 0), ("D", 0), ("F", 0)}
    assert found.erased == {("E", 0)}


def test_cold_list_orders_by_buyers_then_sku():
    # P 4 (E's purchase counts; O's is before the window), Q 3, R 2 and S 2 (sku asc), X 1
    assert short(lists(shop()).cold) == [
        ("P", "drinks", 4),
        ("Q", "cake", 3),
        ("R", "beans", 2),
        ("S", "mugs", 2),
        ("X", "gift", 1),
    ]


def test_equal_scores_are_ordered_by_buyers_then_sku():
    facts = FactsEngine()
    for member_id in "MUVW":
        facts.member(member_id, "2027-01-05")
    facts.purchase("M", "2027-05-01", 100, items=[("A1", "c", 100)])
    facts.purchase("U", "2027-05-01", 300, items=[("A1", "c", 100), ("T2", "c", 100), ("T1", "c", 100)])
    facts.purchase("V", "2027-05-01", 200, items=[("A1", "c", 100), ("T3", "c", 100)])
    facts.purchase("W", "2027-05-01", 100, items=[("T3", "c", 100)])
    # M {A1}: T1, T2, T3 each score 1; buyers T3 2, T1 1, T2 1
    assert [(i["sku"], i["score"]) for i in lists(facts).members[("M", 0)]] == [("T3", 1), ("T1", 1), ("T2", 1)]


def test_at_most_ten_and_no_null_skus_or_other_transactions():
    facts = FactsEngine()
    facts.member("M", "2027-01-05")
    facts.purchase("M", "2027-05-01", 100, items=[("K", "c", 100), (None, "c", 100)])
    for n in range(12):
        facts.member(f"U{n:02d}", "2027-01-05")
        facts.purchase(f"U{n:02d}", "2027-05-01", 200, items=[("K", "c", 100), (f"T{n:02d}", "c", 100)])
    found = lists(facts)
    assert [i["sku"] for i in found.members[("M", 0)]] == [f"T{n:02d}" for n in range(10)]
    assert [(i["sku"], i["score"]) for i in found.cold] == [("K", 13)] + [(f"T{n:02d}", 1) for n in range(9)]


def test_a_purchase_recorded_after_as_of_is_left_out_though_dated_in_the_window():
    facts = FactsEngine()
    for member_id in "MUV":
        facts.member(member_id, "2027-01-05")
    facts.purchase("M", "2027-05-01", 100, items=[("K", "c", 100)])
    facts.purchase("V", "2027-05-01", 100, items=[("K", "c", 100)])
    # dated the day before as_of's date, recorded the day after it (noon in Seoul: after as_of)
    facts.purchase("U", "2027-05-09", 200, items=[("K", "c", 100), ("T", "c", 100)], created="2027-05-11")
    found = lists(facts)
    assert set(found.members) == {("M", 0), ("V", 0)}  # U bought nothing yet, as of the refresh
    assert found.members[("M", 0)] == []  # T's co-occurrence with K is not counted
    assert short(found.cold) == [("K", "c", 2)]


def test_no_purchases_no_lists():
    facts = FactsEngine()
    facts.member("M", "2027-01-05")
    found = lists(facts)
    assert (found.members, found.erased, found.cold) == ({}, set(), [])


def expected_lists(bought: dict[str, set[str]], erased: set[str]) -> dict[str, list[tuple[str, int]]]:
    """§23 by its definition, in Python: the lists of the live buyers."""
    buyers = {sku: sum(sku in skus for skus in bought.values()) for skus in bought.values() for sku in skus}

    def co(s: str, t: str) -> int:
        return sum(s in skus and t in skus for skus in bought.values())

    lists = {}
    for member_id, skus in bought.items():
        if member_id in erased:
            continue
        scores = {t: sum(co(s, t) for s in skus) for t in buyers if t not in skus}
        ordered = sorted((t for t in scores if scores[t] > 0), key=lambda t: (-scores[t], -buyers[t], t))
        lists[member_id] = [(t, scores[t]) for t in ordered[:10]]
    return lists


@pytest.mark.parametrize("seed", range(6))
def test_lists_match_the_definition_for_members_who_bought_few_or_most_skus(seed):
    """The query counts a member who bought more than half the skus through the skus it did not
    buy (inclusion-exclusion); random shops, where both kinds of member are common, give the
    lists of the definition (worked out above in Python)."""
    chooser = random.Random(seed)
    catalogue = [f"S{n:02d}" for n in range(chooser.choice([3, 6, 13]))]
    facts = FactsEngine()
    bought: dict[str, set[str]] = {}
    erased: set[str] = set()
    for n in range(30):
        member_id = f"M{n:02d}"
        facts.member(member_id, "2027-01-05")
        share = chooser.choice([0.1, 0.3, 0.7, 0.95])
        skus = sorted(sku for sku in catalogue if chooser.random() < share)
        for index in range(0, len(skus), 2):  # in purchases of up to two items
            part = skus[index : index + 2]
            facts.purchase(member_id, "2027-05-01", 100 * len(part), items=[(sku, "c", 100) for sku in part])
        if skus:
            bought[member_id] = set(skus)
        if chooser.random() < 0.1:
            facts.erase(member_id, on="2027-05-05")
            erased.add(member_id)
    found = lists(facts)
    assert {m: [(i["sku"], i["score"]) for i in items] for (m, _), items in found.members.items()} == expected_lists(
        bought, erased
    )
    assert found.erased == {(m, 0) for m in erased}

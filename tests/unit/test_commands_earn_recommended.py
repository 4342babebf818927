"""§23's recommendation bonus on the earn, through the ledger's commands: the
member's stored recommendations (or the cold-start list) read with the profile."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.ledger.service import Ledger
from chalicelib.storage.repository import COLD_RECOMMENDATIONS_KEY, recommendations_key
from tests.unit.memory_shop import Shop

BONUS = {"recommendation_bonus": {"extra_rate": "0.05"}}
LATTE = {"sku": "latte", "category": "coffee", "amount": 4_510}
SCONE = {"sku": "scone", "category": "bakery", "amount": 2_990}
MOCHA = {"sku": "mocha", "category": "coffee", "amount": 5_000}


def stored_list(shop, key: tuple[str, str], *skus: str) -> None:
    """What the refresh stores (§23): {"items": [{"sku", "category", "score"}...], "as_of"}."""
    items = [{"sku": sku, "category": "coffee", "score": 10 - n} for n, sku in enumerate(skus)]
    shop.store.replace({"pk": key[0], "sk": key[1], "items": items, "as_of": "2027-05-10T00:00:00Z"})


def rules(body: dict) -> dict[str, int]:
    return {line["rule"]: line["points"] for line in body["breakdown"]}


@pytest.fixture
def member(shop):
    shop.enrol("m1")
    stored_list(shop, recommendations_key("m1", 0), "latte", "scone")
    stored_list(shop, COLD_RECOMMENDATIONS_KEY, "mocha", "americano")
    return "m1"


def test_the_recommended_items_of_the_members_list_get_one_line(shop, member):
    shop.program(**BONUS)
    body = shop.earn(member, "o1", 12_500, items=[LATTE, SCONE, MOCHA]).body
    # base 12,500 × 0.01 = 125; recommended (latte + scone) 7,500 × 0.05 = 375; mocha is only on the cold list
    assert body["breakdown"] == [{"rule": "base", "points": 125}, {"rule": "recommended", "points": 375}]
    assert (body["points"], body["balance_after"]) == (500, 1500)
    assert shop.member(member)["lifetime_points"] == 1500


def test_a_member_without_a_list_gets_the_cold_start_list(shop, member):
    shop.program(**BONUS)
    shop.enrol("m2")
    body = shop.earn("m2", "o1", 12_500, items=[LATTE, SCONE, MOCHA]).body
    # mocha 5,000 × 0.05 = 250
    assert rules(body) == {"base": 125, "recommended": 250}


def test_a_member_with_an_empty_list_does_not_get_the_cold_list(shop, member):
    shop.program(**BONUS)
    shop.enrol("m3")
    stored_list(shop, recommendations_key("m3", 0))
    assert rules(shop.earn("m3", "o1", 12_500, items=[LATTE, SCONE, MOCHA]).body) == {"base": 125}


def test_no_line_without_the_program_field_and_no_extra_read(shop, member):
    shop.store.client.calls.clear()
    body = shop.earn(member, "o1", 12_500, items=[LATTE, SCONE, MOCHA]).body
    assert rules(body) == {"base": 125}
    assert shop.store.client.calls == ["BatchGetItem", "TransactWriteItems"]


def test_with_the_bonus_the_earn_stays_one_read_and_one_write(shop, member):
    shop.program(**BONUS)
    shop.store.client.calls.clear()
    shop.earn(member, "o1", 12_500, items=[LATTE])
    assert shop.store.client.calls == ["BatchGetItem", "TransactWriteItems"]


def test_a_later_generation_reads_its_own_list(shop, member):
    shop.program(**BONUS)
    shop.erase(member)
    shop.enrol(member)  # generation 1: the first generation's list is not theirs
    stored_list(shop, recommendations_key(member, 1), "mocha")
    shop.store.client.calls.clear()
    body = shop.earn(member, "o1", 12_500, items=[LATTE, SCONE, MOCHA]).body
    assert rules(body) == {"base": 125, "recommended": 250}
    # a member enrolled again reads their own key once more
    assert shop.store.client.calls == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"]


def test_a_refund_claws_back_the_recommended_line_in_proportion(shop, member):
    shop.program(**BONUS)
    tx = shop.earn(member, "o1", 12_500, items=[LATTE, SCONE, MOCHA]).body
    assert tx["points"] == 500
    # floor(500 × 5,000 / 12,500) = 200
    first = shop.reverse(member, tx["transaction_id"], amount=5_000).body
    assert (first["points"], first["balance_after"]) == (-200, 1300)
    second = shop.reverse(member, tx["transaction_id"]).body
    assert (second["points"], second["balance_after"]) == (-300, 1000)


def test_a_container_that_has_not_seen_the_bonus_yet_reads_the_lists_once_more(shop, member):
    # another container, whose copy of the program is always stale (read with every request)
    settings = dataclasses.replace(shop.world.settings, program_cache_seconds=0)
    other = Shop(shop.world, shop.clock)
    other.ledger = Ledger(shop.store, shop.world.publisher, settings)
    other._keys = shop._keys
    other.earn(member, "o0", 1_000)  # its last copy of the program: without the bonus
    shop.program(**BONUS)
    shop.store.client.calls.clear()
    body = other.earn(member, "o1", 12_500, items=[LATTE]).body
    assert rules(body) == {"base": 125, "recommended": 225}
    assert shop.store.client.calls == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"]
    shop.store.client.calls.clear()
    other.earn(member, "o2", 12_500, items=[LATTE])
    assert shop.store.client.calls == ["BatchGetItem", "TransactWriteItems"]

"""The read-decide-commit loop (member_changes.MemberChanges.change): another
change committed between a request's read and its commit, two requests with
one Idempotency-Key, contention, and the extra reads a decision asks for.

`interleave` commits another request inside the first one's transaction, just
before it is applied: its conditions then meet what a concurrent request
would have left.
"""

from __future__ import annotations

import pytest

from chalicelib.errors import (
    ConcurrentUpdateError,
    CouponNotUsableError,
    DuplicateOrderError,
    IdempotencyKeyReusedError,
    MemberSuspendedError,
    OutOfStockError,
    ReversalNotAllowedError,
)
from chalicelib.ledger.member_changes import Outcome
from devtools.memory_ledger import memory_ledger, memory_settings
from devtools.memory_store import contention

from .memory_shop import ADMIN, STOREFRONT, Shop


def interleave(shop: Shop, other, when=lambda actions: True):
    """Run `other()` once, inside the first transaction `when` accepts."""
    ran = []

    def hook(actions):
        if not ran and when(actions):
            ran.append(True)
            shop.store.before_commit.remove(hook)
            ran.append(other())

    shop.store.before_commit.append(hook)
    return ran


def writes(fragment: str):
    """A transaction that writes an item whose sk contains `fragment`."""

    def matches(actions):
        for action in actions:
            body = next(iter(action.values()))
            key = body.get("Item") or body.get("Key")
            if fragment in key["sk"]["S"]:
                return True
        return False

    return matches


def transactions(shop: Shop) -> int:
    return shop.store.client.calls.count("TransactWriteItems")


@pytest.fixture
def member(shop):
    shop.enrol("m1")
    return "m1"


def test_a_change_committed_in_between_makes_the_loop_decide_again(shop, member):
    before = transactions(shop)
    interleave(shop, lambda: shop.adjust(member, 100), when=writes("ORDER#"))
    body = shop.earn(member, "o1", 50_000).body
    assert body["balance_after"] == 1000 + 100 + 500  # decided on the adjusted balance
    assert transactions(shop) - before == 3  # the earn, the adjustment inside it, the earn again
    assert [(t["type"], t["balance_after"]) for t in shop.history(member)] == [
        ("bonus", 1000),
        ("adjust", 1100),
        ("earn", 1600),
    ]
    assert shop.stats()["points_outstanding"] == 1600


def test_two_requests_with_one_key_answer_the_same_and_credit_once(shop, member):
    inner = interleave(shop, lambda: shop.earn(member, "o1", 50_000, key="k"), when=writes("ORDER#"))
    outer = shop.earn(member, "o1", 50_000, key="k")
    assert (outer.outcome, outer.body) == (inner[1].outcome, inner[1].body)  # the stored answer, no 409
    assert [t["type"] for t in shop.history(member)] == ["bonus", "earn"]
    assert shop.balance(member) == 1500


def test_one_key_with_two_bodies_at_once_is_refused(shop, member):
    interleave(shop, lambda: shop.earn(member, "o1", 50_000, key="k"), when=writes("ORDER#"))
    with pytest.raises(IdempotencyKeyReusedError):
        shop.earn(member, "o2", 10_000, key="k")
    assert shop.balance(member) == 1500


def test_the_same_order_at_once_with_two_keys_earns_once(shop, member):
    interleave(shop, lambda: shop.earn(member, "o1", 50_000), when=writes("ORDER#"))
    with pytest.raises(DuplicateOrderError):
        shop.earn(member, "o1", 50_000)
    assert shop.balance(member) == 1500


def test_the_last_unit_of_stock_goes_to_one_member(shop, member):
    shop.enrol("m2")
    shop.reward("mug", 500, stock=1)
    interleave(shop, lambda: shop.redeem("m2", reward_id="mug"), when=writes("TX#"))
    with pytest.raises(OutOfStockError):
        shop.redeem(member, reward_id="mug")
    assert (shop.balance(member), shop.balance("m2")) == (1000, 500)
    assert shop.ledger.rewards(10, None)["items"][0]["stock"] == 0


def test_a_coupon_used_twice_at_once_is_used_once(shop, member):
    shop.template("3k", {"type": "amount", "amount": 3_000}, points_cost=100)
    code = shop.issue_coupon(member, "3k").body["code"]
    interleave(shop, lambda: shop.use_coupon(code, member, "order-a", 20_000))
    with pytest.raises(CouponNotUsableError):
        shop.use_coupon(code, member, "order-b", 20_000)
    coupon = shop.ledger.member_coupons(member, None, 10, None)["items"][0]
    assert (coupon["status"], coupon["order_id"]) == ("used", "order-a")
    assert shop.stats()["coupons_used"] == 1


def test_two_full_refunds_at_once_claw_back_once(shop, member):
    tx = shop.earn(member, "o1", 50_000).body["transaction_id"]
    interleave(shop, lambda: shop.reverse(member, tx))
    with pytest.raises(ReversalNotAllowedError):
        shop.reverse(member, tx)
    assert shop.balance(member) == 1000
    assert shop.stats()["points_reversed"] == -500


def test_two_cancellations_at_once_restore_once(shop, member):
    tx = shop.redeem(member, 1_000).body["transaction_id"]
    interleave(shop, lambda: shop.reverse(member, tx))
    with pytest.raises(ReversalNotAllowedError):
        shop.reverse(member, tx)
    assert shop.balance(member) == 1000


def test_a_suspension_in_between_refuses_a_coupon_use(shop, member):
    shop.template("gift", {"type": "amount", "amount": 1_000})
    code = shop.issue_coupon(member, "gift", actor=ADMIN).body["code"]
    interleave(shop, lambda: shop.suspend(member))
    with pytest.raises(MemberSuspendedError):
        shop.use_coupon(code, member, "o", 5_000)
    assert shop.ledger.member_coupons(member, None, 10, None)["items"][0]["status"] == "available"


def test_contention_is_retried(shop, member):
    def conflict(actions):
        if len(failures) < 3:
            failures.append(1)
            raise contention()

    failures: list = []
    shop.store.before_commit.append(conflict)
    assert shop.earn(member, "o1", 10_000).body["balance_after"] == 1100
    assert len(failures) == 3


def test_a_member_that_keeps_changing_gives_up_with_concurrent_update(clock):
    shop = Shop(memory_ledger(memory_settings(commit_attempts=3)), clock)
    shop.enrol("m1")

    def always(actions):
        raise contention()

    shop.store.before_commit.append(always)
    before = shop.snapshot()
    with pytest.raises(ConcurrentUpdateError):
        shop.earn("m1", "o1", 10_000)
    assert shop.snapshot() == before


# -- the reads a decision asks for -------------------------------------------------
def test_need_items_finds_a_transaction_of_an_id_enrolled_again(shop, member):
    shop.erase(member)
    shop.enrol(member)
    tx = shop.earn(member, "o1", 50_000).body["transaction_id"]  # stored under G1#TX#
    assert shop.reverse(member, tx).body["points"] == -500


def test_need_ranges_restores_into_the_lots_the_redeem_drew(shop, member, clock):
    clock.advance(days=10)
    shop.adjust(member, 600)  # a later lot: 1000 (NOW+365) and 600 (NOW+375)
    tx = shop.redeem(member, 1_300).body["transaction_id"]  # 1000, then 300 of the later lot
    shop.reverse(member, tx, points=400)  # latest-expiring first: 300 back to the later lot, 100 to the first
    clock.advance(days=345)
    assert shop.member(member)["expiring"] == [
        {"points": 100, "expires_at": "2028-05-09T03:00:00Z"},
        {"points": 600, "expires_at": "2028-05-19T03:00:00Z"},
    ]


def test_need_lots_reads_further_pages_for_a_large_debit(shop, member, clock):
    for _n in range(40):  # 41 lots, more than the first page of 25
        clock.advance(minutes=1)
        shop.adjust(member, 10)
    assert shop.adjust(member, -1_395).body["balance_after"] == 5
    clock.advance(days=360)
    expiring = shop.member(member)["expiring"]
    assert [e["points"] for e in expiring] == [5]
    assert expiring[0]["expires_at"] == "2028-05-09T03:40:00Z"


def test_need_members_pays_a_referrer_read_only_when_needed(shop, member):
    code = shop.member(member)["referral_code"]
    shop.enrol("new", referral_code=code)
    gets_before = shop.store.client.calls.count("BatchGetItem")
    shop.earn("new", "o1", 10_000)
    assert shop.store.client.calls.count("BatchGetItem") - gets_before == 2  # the member, then the referrer
    assert shop.balance(member) == 2000


def test_an_enrolment_reply_expiring_during_an_erasure_leaves_no_stub(shop):
    shop.enrol("m1", key="enrol-m1")
    reply = next(i for i in shop.store.items("IDEMPOTENCY#"))

    def expire_reply():  # DynamoDB's TTL deletes the stored reply meanwhile
        shop.store.client.delete_item(
            TableName=shop.store.table, Key={"pk": {"S": reply["pk"]}, "sk": {"S": "IDEMPOTENCY"}}
        )

    interleave(shop, expire_reply)
    shop.erase("m1")
    assert shop.store.items("IDEMPOTENCY#") == []


def test_a_replay_answers_with_the_outcome_it_stored_and_reads_replies_stored_as_statuses(shop, member):
    """Commands say what they did (created, done, removed); the edge picks the HTTP status. A
    reply stored before outcomes replaced statuses (kept 48 h) replays as the same outcome."""
    from chalicelib.storage.repository import IDEMPOTENCY_SK, idempotency_pk

    first = shop.earn(member, "o1", 50_000, key="k")
    assert first.outcome is Outcome.CREATED
    pk = idempotency_pk(STOREFRONT.key_id, "k")
    stored = shop.store.get(pk, IDEMPOTENCY_SK)
    assert stored["outcome"] == "created" and "status" not in stored
    legacy = {k: v for k, v in stored.items() if k != "outcome"}
    shop.store.replace({**legacy, "status": 201})
    again = shop.earn(member, "o1", 50_000, key="k")
    assert (again.outcome, again.body) == (Outcome.CREATED, first.body)

"""Regression tests: ids that collide, tiers read after the quarter turned,
a refund that drops the tier, reward vouchers on cancellation, and history
that can never be overwritten."""

from __future__ import annotations

import json

import pytest

from tests.checks import assert_error, earn, history, redeem, stats

TRANSFERS = {"transfer": {"allowed_tiers": ["basic"], "min_points": 1}, "signup_bonus": 1000}


def ledger_sum(api, member_id):
    return sum(tx["points"] for tx in history(api, member_id))


# -- 1. ids: one per item, whatever the clock -------------------------------------
def test_transactions_made_in_the_same_millisecond_all_stay_in_the_history(api, clock, monkeypatch):
    """With the wall clock frozen (as a test or two requests in one millisecond
    see it), every id is still new: ids come from a monotonic source one at a
    time, never as successors handed out ahead."""
    import time

    frozen_ns = time.time_ns()
    monkeypatch.setattr(time, "time_ns", lambda: frozen_ns)
    api.program(TRANSFERS)
    api.member("h0")
    api.member("h1")
    moved = api.post("/members/h0/transfers", {"to_member_id": "h1", "points": 386})
    assert moved.status == 201, moved
    earned = earn(api, "h1", "o-1", 10000)
    ids = [tx["transaction_id"] for tx in history(api, "h1")]
    assert len(ids) == len(set(ids)) == 3  # signup bonus, transfer_in, earn
    assert moved.json["transfer_in"]["transaction_id"] in ids and earned["transaction_id"] in ids
    assert ledger_sum(api, "h1") == api.balance("h1") == 1000 + 386 + 100


def test_an_id_that_is_already_taken_never_overwrites_history(api, clock, monkeypatch):
    """Should two requests ever draw the same id, the second is written with new
    ids: a ledger entry, lot or outbox item is put only where none exists."""
    from chalicelib.ledger import member_changes

    api.member("m1")
    first = earn(api, "m1", "o-1", 10000)
    taken = first["transaction_id"]
    real = member_changes.new_id
    handed = []

    def colliding():
        if not handed:
            handed.append(taken)
            return taken
        return real()

    monkeypatch.setattr(member_changes, "new_id", colliding)
    second = earn(api, "m1", "o-2", 20000)
    assert handed and second["transaction_id"] != taken
    txs = {tx["transaction_id"]: tx for tx in history(api, "m1")}
    assert txs[taken]["order_id"] == "o-1" and txs[taken]["points"] == 100
    assert ledger_sum(api, "m1") == api.balance("m1") == 1000 + 100 + 200


def test_every_history_item_is_written_only_where_none_exists(demo, clock):
    """Each Put of a ledger entry, lot, outbox item, order, activity, voucher or
    bundle in every transaction carries attribute_not_exists."""
    from chalicelib import aws

    puts = []

    def record(params, **_):
        for action in json.loads(params["body"]).get("TransactItems", []):
            if "Put" in action:
                puts.append(action["Put"])

    client = aws.client("dynamodb")
    client.meta.events.register("before-call.dynamodb.TransactWriteItems", record)
    demo.program(
        {
            **json.loads(json.dumps(demo.get("/program", key="admin").json)),
            "transfer": {"allowed_tiers": ["새싹"], "min_points": 1},
        }
    )
    assert (
        demo.post("/rewards", {"reward_id": "mug", "name": "Mug", "points_cost": 1000, "stock": 3}, key="admin").status
        == 201
    )
    demo.member("a", email="a@example.com")
    demo.member("b")
    tx = earn(demo, "a", "o-1", 200000)
    demo.post("/members/a/activities", {"type": "review", "reference_id": "r-1"})
    redeem(demo, "a", 1000, reward_id="mug")
    spent = redeem(demo, "a", 1000)
    demo.post(f"/members/a/transactions/{spent['transaction_id']}/reversal", {})
    demo.post(f"/members/a/transactions/{tx['transaction_id']}/reversal", {"amount": 1000})
    demo.post("/members/a/transfers", {"to_member_id": "b", "points": 100})
    client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", record)
    history_kinds = ("TX#", "LOT#", "NOTIFICATION#", "ORDER#", "ACTIVITY#", "BUNDLE#")
    checked = 0
    for put in puts:
        pk, sk = put["Item"]["pk"]["S"], put["Item"]["sk"]["S"]
        if sk.startswith(history_kinds) or pk.startswith(("VOUCHER#", "REFERRAL#", "IDEMPOTENCY#")):
            assert put.get("ConditionExpression") == "attribute_not_exists(pk)", (pk, sk)
            checked += 1
    assert checked >= 20


# -- 2. the tier is right at every read ---------------------------------------------
def test_a_tier_earned_in_q1_is_gone_on_2_july_before_any_job_runs(demo, clock):
    clock.set("2027-02-10T03:00:00Z")
    demo.member("forest")
    earn(demo, "forest", "big", 1_000_000)
    assert demo.get("/members/forest").json["tier"] == "숲"
    clock.set("2027-04-10T03:00:00Z")  # Q2: Q1's spend still counts
    assert demo.get("/members/forest").json["tier"] == "숲"
    clock.set("2027-07-02T03:00:00Z")  # Q3: nothing spent in Q2 or Q3
    assert demo.get("/members/forest").json["tier"] == "새싹"
    refused = demo.post("/members/forest/transfers", {"to_member_id": "forest2", "points": 1000})
    assert refused.status in (404, 422)
    demo.member("friend")
    refused = demo.post("/members/forest/transfers", {"to_member_id": "friend", "points": 1000})
    assert_error(refused, 422, "TRANSFER_NOT_ALLOWED")
    got = earn(demo, "forest", "small", 10000)
    assert got["breakdown"] == [{"rule": "base", "points": 100}], got  # no 숲 multiplier
    assert got["tier"] == "새싹"
    by_tier = stats(demo)["members_by_tier"]
    assert by_tier["숲"] == 0 and by_tier["새싹"] == 2
    kinds = [n["type"] for n in demo.get("/members/forest/notifications?limit=100", key="admin").json["items"]]
    assert kinds.count("tier_changed") == 2  # up in Q1, down when first touched in Q3


# -- 3. a refund that drops the tier says so -----------------------------------------
def test_a_refund_that_drops_the_tier_sends_tier_changed(demo, clock):
    demo.member("m1", email="m1@example.com")
    tx = earn(demo, "m1", "o-1", 400_000)
    assert tx["tier"] == "열매"
    back = demo.post(f"/members/m1/transactions/{tx['transaction_id']}/reversal", {"amount": 200_000})
    assert back.status == 201 and back.json["tier"] == "새싹", back
    kinds = [n["type"] for n in demo.get("/members/m1/notifications?limit=100", key="admin").json["items"]]
    assert kinds.count("tier_changed") == 2, kinds
    assert stats(demo)["members_by_tier"] == {"새싹": 1, "열매": 0, "나무": 0, "숲": 0}


# -- 4. reward vouchers are voided with their redemption -------------------------------
@pytest.fixture
def mug(api):
    api.program({"redemption": {"min_points": 1}})
    assert (
        api.post("/rewards", {"reward_id": "mug", "name": "Mug", "points_cost": 1000, "stock": 2}, key="admin").status
        == 201
    )
    api.member("m1")
    return redeem(api, "m1", 1000, reward_id="mug")


def test_a_reward_redemption_is_cancelled_whole_or_not_at_all(api, clock, mug):
    code = mug["reward"]["code"]
    voucher = api.get(f"/vouchers/{code}")
    assert voucher.status == 200 and voucher.json == {
        "code": code,
        "member_id": "m1",
        "reward_id": "mug",
        "transaction_id": mug["transaction_id"],
        "status": "issued",
        "issued_at": "2027-01-15T03:00:00Z",
    }
    part = api.post(f"/members/m1/transactions/{mug['transaction_id']}/reversal", {"points": 999})
    assert_error(part, 422, "REVERSAL_NOT_ALLOWED")
    assert api.get(f"/vouchers/{code}").json["status"] == "issued"
    assert api.balance("m1") == 0
    whole = api.post(f"/members/m1/transactions/{mug['transaction_id']}/reversal", {})
    assert whole.status == 201 and whole.json["points"] == 1000
    assert api.get(f"/vouchers/{code}").json["status"] == "void"
    assert api.get("/rewards").json["items"][0]["stock"] == 2
    again = api.post(f"/members/m1/transactions/{mug['transaction_id']}/reversal", {})
    assert_error(again, 422, "REVERSAL_NOT_ALLOWED")


def test_an_unknown_voucher_is_not_found(api, clock, mug):
    assert_error(api.get("/vouchers/AAAA-BBBB-CCCC"), 404, "NOT_FOUND")
    assert_error(api.get(f"/vouchers/{mug['reward']['code']}", key=None), 401, "UNAUTHORIZED")


# -- no partition every request touches -------------------------------------------------
def test_stats_shards_are_partitions_of_their_own(demo, clock):
    from chalicelib import settings
    from chalicelib.runtime import services

    demo.member("a")
    earn(demo, "a", "o-1", 10000)
    store = services().store
    shards = [store.get(f"STATS#{n:03d}", "STATS") for n in range(settings.load().stats_shards)]
    found = [s for s in shards if s]
    assert found and sum(int(s.get("members", 0)) for s in found) == 1
    assert store.query_all("STATS") == []  # nothing left under one shared key


def test_a_program_change_reaches_other_containers_within_the_cache_time(demo, clock, monkeypatch):
    """Each container keeps the program a few seconds; the one that changed it sees
    the change at once, another one after its copy expires."""
    from chalicelib.ledger import programs as programs_module
    from chalicelib.runtime import services

    ledger = services().ledger
    other = programs_module.Programs(ledger.store, None, cache_seconds=5)
    assert other.current().base_rate == "0.01"
    ticks = [1000.0]
    monkeypatch.setattr(programs_module.time, "monotonic", lambda: ticks[0])
    other._cached = None
    assert other.current().base_rate == "0.01"
    changed = demo.get("/program", key="admin").json | {"base_rate": "0.02"}
    demo.program(changed)
    assert ledger.program().base_rate == "0.02"  # the container that changed it
    ticks[0] += 4
    assert other.current().base_rate == "0.01"  # within its cache time
    ticks[0] += 2
    assert other.current().base_rate == "0.02"


def test_a_refund_of_last_quarters_purchase_that_drops_the_tier_sends_tier_changed(demo, clock):
    clock.set("2027-03-20T03:00:00Z")
    demo.member("m2", email="m2@example.com")
    tx = earn(demo, "m2", "o-1", 700_000)
    assert tx["tier"] == "나무"
    clock.set("2027-04-20T03:00:00Z")  # Q2: the tier holds on Q1's spend
    assert demo.get("/members/m2").json["tier"] == "나무"
    back = demo.post(f"/members/m2/transactions/{tx['transaction_id']}/reversal", {"amount": 500_000})
    assert back.status == 201 and back.json["tier"] == "새싹", back
    notes = demo.get("/members/m2/notifications?limit=100", key="admin").json["items"]
    assert [n["type"] for n in notes].count("tier_changed") == 2
    assert stats(demo)["members_by_tier"]["나무"] == 0

"""§22 campaigns through the API and the launch job: validation (400 / 409), the
campaign's status and audience, each member's arm (by hand with hashlib), the launch
(assignment, `campaign_offer` to rewarded arms only, coupons with source campaign),
reruns, the earn's campaign lines (multiplier, bonus once), DELETE before and after
the launch."""

from __future__ import annotations

import copy
import hashlib

import pytest

from chalicelib import local
from chalicelib.runtime import services
from chalicelib.storage.repository import (
    campaign_assignment_sk,
    profile_key,
    segment_listing_key,
    segment_member_key,
)
from chalicelib.storage.store import member_pk
from tests.checks import assert_error
from tests.conftest import DEMO_PROGRAM

PROGRAM = {**copy.deepcopy(DEMO_PROGRAM), "base_rate": "0.01", "promotions": [], "category_multipliers": {}}
START = "2027-01-15T03:00:00Z"
TEMPLATE = {"template_id": "welcome5", "name": "5,000 off", "discount": {"type": "amount", "amount": 5000}}


def expected_bucket(campaign_id: str, member_id: str) -> int:
    return int(hashlib.sha256(f"{campaign_id}:{member_id}".encode()).hexdigest()[:8], 16) % 100


def expected_arm(campaign_id: str, member_id: str, weights: list[tuple[str, int]]) -> str:
    b, upper = expected_bucket(campaign_id, member_id), 0
    for name, weight in weights:
        upper += weight
        if b < upper:
            return name
    raise AssertionError("weights do not sum to 100")


def campaign(campaign_id="spring", **fields):
    body = {
        "campaign_id": campaign_id,
        "name": "Spring test",
        "starts_at": "2027-01-15T00:00:00Z",
        "ends_at": "2027-02-15T00:00:00Z",
        "arms": [
            {"name": "control", "weight": 10, "reward": None},
            {"name": "double", "weight": 45, "reward": {"type": "multiplier", "multiplier": "2"}},
            {"name": "bonus", "weight": 45, "reward": {"type": "bonus", "points": 500, "min_amount": 10000}},
        ],
    }
    body.update(fields)
    return body


def create(api, body, status=201):
    response = api.post("/campaigns", body, key="admin")
    assert response.status == status, response
    return response.json


def notifications(api, member_id, type_="campaign_offer"):
    items = api.get(f"/members/{member_id}/notifications?limit=100", key="admin").json["items"]
    return [n for n in items if n["type"] == type_]


def coupons(api, member_id):
    return api.get(f"/members/{member_id}/coupons?limit=100").json["items"]


def arm_of(api, member_id, campaign_id="spring"):
    items = api.get(f"/members/{member_id}/campaigns", key="admin").json["items"]
    arms = [i["arm"] for i in items if i["campaign_id"] == campaign_id]
    return arms[0] if arms else None


@pytest.fixture
def shop(api, clock):
    clock.set(START)
    api.program(PROGRAM)
    return api


# -- validation ---------------------------------------------------------------------
def arms_with(*weights, reward=None):
    return [{"name": f"a{i}", "weight": w, "reward": reward} for i, w in enumerate(weights)]


BAD = {
    "no arms": {"arms": []},
    "six arms": {"arms": arms_with(10, 10, 20, 20, 20, 20)},
    "names repeat": {
        "arms": [{"name": "x", "weight": 50, "reward": None}, {"name": "x", "weight": 50, "reward": None}]
    },
    "weights sum to 99": {"arms": arms_with(49, 50)},
    "weights sum to 101": {"arms": arms_with(51, 50)},
    "a zero weight": {"arms": arms_with(0, 100)},
    "a negative weight": {"arms": arms_with(-10, 110)},
    "a fractional weight": {
        "arms": [{"name": "a", "weight": 50.5, "reward": None}, {"name": "b", "weight": 49.5, "reward": None}]
    },
    "a weight as text": {"arms": [{"name": "a", "weight": "100", "reward": None}]},
    "no reward key": {"arms": [{"name": "a", "weight": 100}]},
    "unknown reward type": {"arms": arms_with(100, reward={"type": "cashback", "amount": 5})},
    "multiplier as a number": {"arms": arms_with(100, reward={"type": "multiplier", "multiplier": 2})},
    "multiplier not decimal": {"arms": arms_with(100, reward={"type": "multiplier", "multiplier": "two"})},
    "bonus of 0 points": {"arms": arms_with(100, reward={"type": "bonus", "points": 0})},
    "bonus negative min_amount": {"arms": arms_with(100, reward={"type": "bonus", "points": 5, "min_amount": -1})},
    "unknown coupon template": {"arms": arms_with(100, reward={"type": "coupon", "template_id": "nope"})},
    "unknown segment": {"segment_id": "nobody"},
    "ends before it starts": {"starts_at": "2027-02-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"},
    "ends when it starts": {"starts_at": "2027-02-01T00:00:00Z", "ends_at": "2027-02-01T00:00:00Z"},
    "a bad time": {"starts_at": "tomorrow"},
    "a fraction of a second": {"starts_at": "2027-01-15T00:00:00.5Z"},
    "an unknown field": {"budget": 100},
    "notify as text": {"notify": "yes"},
    "no name": {"name": None},
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_campaign_is_400_and_stores_nothing(shop, case):
    body = {k: v for k, v in campaign().items()}
    body.update(BAD[case])
    body = {k: v for k, v in body.items() if v is not None or k != "name"}
    assert_error(shop.post("/campaigns", body, key="admin"), 400, "VALIDATION_ERROR")
    assert shop.get("/campaigns", key="admin").json["items"] == []


def test_create_read_list_and_an_existing_id_is_409(shop):
    shop.post("/coupon-templates", TEMPLATE, key="admin")
    created = create(
        shop,
        campaign(
            arms=[
                {"name": "control", "weight": 50, "reward": None},
                {"name": "coupon", "weight": 50, "reward": {"type": "coupon", "template_id": "welcome5"}},
            ]
        ),
    )
    assert created["status"] == "scheduled" and created["audience"] is None
    assert created["segment_id"] is None and created["notify"] is True
    assert created["arms"][1]["reward"] == {"type": "coupon", "template_id": "welcome5"}
    assert shop.get("/campaigns/spring", key="admin").json == created
    assert_error(shop.post("/campaigns", campaign(name="Other"), key="admin"), 409, "CAMPAIGN_EXISTS")
    assert shop.get("/campaigns/spring", key="admin").json["name"] == "Spring test"
    create(shop, campaign("autumn"))
    page = shop.get("/campaigns?limit=1", key="admin").json
    assert [c["campaign_id"] for c in page["items"]] == ["autumn"] and page["next_cursor"]
    rest = shop.get(f"/campaigns?limit=1&cursor={page['next_cursor']}", key="admin").json
    assert [c["campaign_id"] for c in rest["items"]] == ["spring"]
    assert_error(shop.get("/campaigns/none", key="admin"), 404, "NOT_FOUND")
    assert_error(shop.get("/campaigns", key="storefront"), 403, "FORBIDDEN")
    bonus = shop.get("/campaigns/autumn", key="admin").json["arms"][2]["reward"]
    assert bonus == {"type": "bonus", "points": 500, "min_amount": 10000}


# -- arms ---------------------------------------------------------------------------
def test_the_arm_of_a_member_is_the_documented_hash_of_the_ids():
    from chalicelib.domain.campaigns import arm_for, bucket

    # a fixed example an analyst can check by hand:
    # sha256("spring:m1").hexdigest()[:8] -> int -> % 100
    assert bucket("spring", "m1") == expected_bucket("spring", "m1") == FIXED_BUCKET
    arms = [{"name": "control", "weight": 10}, {"name": "a", "weight": 45}, {"name": "b", "weight": 45}]
    for member_id in [f"m{i}" for i in range(200)]:
        weights = [(a["name"], a["weight"]) for a in arms]
        assert arm_for("spring", member_id, arms)["name"] == expected_arm("spring", member_id, weights)
    # the ranges are consecutive in the listed order: 0-9, 10-54, 55-99
    found = {arm_for("spring", f"m{i}", arms)["name"]: None for i in range(200)}
    assert set(found) == {"control", "a", "b"}


FIXED_BUCKET = int(hashlib.sha256(b"spring:m1").hexdigest()[:8], 16) % 100


def test_fixed_literal_bucket():
    from chalicelib.domain.campaigns import bucket

    assert hashlib.sha256(b"spring:m1").hexdigest()[:8] == LITERAL_PREFIX
    assert bucket("spring", "m1") == LITERAL_BUCKET


LITERAL_PREFIX = "7ceb0752"  # int("7ceb0752", 16) = 2095777618
LITERAL_BUCKET = 18  # 2095777618 % 100: with weights 10/45/45, the second arm (10-54)


# -- launch ---------------------------------------------------------------------------
# buckets for "spring" (see expected_bucket): m13 8, m23 0, m31 3 (control, 0-9);
# m1 18, m5 35, m10 42 (10-54); m2 93, m3 82, m9 66 (55-99)
MEMBERS = ("m1", "m2", "m3", "m5", "m9", "m10", "m13", "m23", "m31")
WEIGHTS = [("control", 10), ("double", 45), ("coupon", 45)]


def coupon_campaign(campaign_id="spring", **fields):
    return campaign(
        campaign_id,
        arms=[
            {"name": "control", "weight": 10, "reward": None},
            {"name": "double", "weight": 45, "reward": {"type": "multiplier", "multiplier": "2"}},
            {"name": "coupon", "weight": 45, "reward": {"type": "coupon", "template_id": "welcome5"}},
        ],
        **fields,
    )


@pytest.fixture
def enrolled(shop):
    shop.post("/coupon-templates", TEMPLATE, key="admin")
    for member_id in MEMBERS:
        shop.member(member_id, email=f"{member_id}@example.com")
    return shop


def test_launch_assigns_every_member_its_arm_notifies_rewarded_arms_and_issues_coupons(enrolled, clock):
    api = enrolled
    api.member("gone")
    assert api.delete("/members/gone", key="admin").status == 204
    create(api, coupon_campaign())
    local.run_job("launch_campaigns")
    shown = api.get("/campaigns/spring", key="admin").json
    assert shown["status"] == "running" and shown["audience"] == len(MEMBERS) and shown["launched_at"]
    for member_id in MEMBERS:
        arm = expected_arm("spring", member_id, WEIGHTS)
        assert api.get(f"/members/{member_id}/campaigns", key="admin").json == {
            "items": [{"campaign_id": "spring", "arm": arm}]
        }
        offers = notifications(api, member_id)
        assert len(offers) == (0 if arm == "control" else 1), member_id
        given = [c for c in coupons(api, member_id) if c["source"] == "campaign"]
        assert len(given) == (1 if arm == "coupon" else 0), member_id
        if given:
            assert given[0]["campaign_id"] == "spring" and given[0]["template_id"] == "welcome5"
    assert {expected_arm("spring", m, WEIGHTS) for m in MEMBERS} == {"control", "double", "coupon"}
    # a second run (and a refresh's run) changes nothing: each member once, audience exact
    local.run_job("launch_campaigns")
    local.run_job("refresh_analytics")
    assert api.get("/campaigns/spring", key="admin").json["audience"] == len(MEMBERS)
    for member_id in MEMBERS:
        arm = expected_arm("spring", member_id, WEIGHTS)
        assert len(notifications(api, member_id)) == (0 if arm == "control" else 1)
        assert len([c for c in coupons(api, member_id) if c["source"] == "campaign"]) == (arm == "coupon")
    assert_error(api.get("/members/gone/campaigns", key="admin"), 404, "NOT_FOUND")
    # the offer's text (the member's language: Korean by default)
    local.drain_queues()
    assert api.get("/members/m2/notifications", key="admin").json["items"][0]["status"] == "sent"


def test_a_campaign_not_yet_started_is_not_launched_and_notify_false_sends_nothing(enrolled, clock):
    api = enrolled
    create(api, coupon_campaign(starts_at="2027-01-20T00:00:00Z", notify=False))
    local.run_job("launch_campaigns")
    shown = api.get("/campaigns/spring", key="admin").json
    assert shown["status"] == "scheduled" and shown["audience"] is None
    assert arm_of(api, "m1") is None
    clock.set("2027-01-20T00:00:00Z")
    local.run_job("launch_campaigns")
    assert api.get("/campaigns/spring", key="admin").json["audience"] == len(MEMBERS)
    assert all(notifications(api, m) == [] for m in MEMBERS)
    assert len([c for c in coupons(api, "m2") if c["source"] == "campaign"]) == 1  # the coupon still comes


def set_segment(segment_id: str, members: list[str]) -> None:
    """What a refresh stores for a segment: its listing's figures, the M# items, profiles' `segments`."""
    store = services().store
    pk, sk = segment_listing_key(segment_id)
    store.put(
        {
            "pk": pk,
            "sk": sk,
            "segment_id": segment_id,
            "name": segment_id,
            "rules": [],
            "members": len(members),
            "avg_clv": 0,
            "as_of": "2027-01-15T00:00:00Z",
        }
    )
    for member_id in members:
        mpk, msk = segment_member_key(segment_id, member_id)
        store.put({"pk": mpk, "sk": msk, "member_id": member_id})
        store.update(
            *profile_key(member_id),
            "SET #s = :s, #v = #v + :one",
            {"#s": "segments", "#v": "version"},
            {":s": [segment_id], ":one": 1},
        )


def test_a_segment_campaign_launches_to_the_segment_as_of_the_refresh(enrolled, clock):
    api = enrolled
    set_segment("regulars", ["m1", "m2", "m13", "m31"])
    create(api, coupon_campaign(segment_id="regulars"))
    # m31 erased since the refresh: not in the audience
    assert api.delete("/members/m31", key="admin").status == 204
    local.run_job("launch_campaigns")
    assert api.get("/campaigns/spring", key="admin").json["audience"] == 3
    assert [m for m in MEMBERS if m != "m31" and arm_of(api, m)] == ["m1", "m2", "m13"]


def test_delete_before_launch_is_204_and_after_is_409(enrolled, clock):
    api = enrolled
    create(api, coupon_campaign(starts_at="2027-01-20T00:00:00Z"))
    create(api, coupon_campaign("now"))
    assert api.delete("/campaigns/spring", key="admin").status == 204
    assert_error(api.get("/campaigns/spring", key="admin"), 404, "NOT_FOUND")
    assert_error(api.delete("/campaigns/spring", key="admin"), 404, "NOT_FOUND")
    local.run_job("launch_campaigns")
    assert_error(api.delete("/campaigns/now", key="admin"), 409, "CAMPAIGN_STARTED")
    assert api.get("/campaigns/now", key="admin").json["status"] == "running"


def test_delete_is_refused_once_the_launch_has_begun_even_before_it_finished(enrolled, clock):
    """The delete is conditioned on `launch_started_at`: a launch that is under way
    (planned, members not all reached) cannot lose its campaign."""
    api = enrolled
    create(api, coupon_campaign())
    services().job_plans.launch_campaigns()  # planned: tasks queued, not yet worked
    assert api.get("/campaigns/spring", key="admin").json["status"] == "running"
    assert api.get("/campaigns/spring", key="admin").json["audience"] is None
    assert_error(api.delete("/campaigns/spring", key="admin"), 409, "CAMPAIGN_STARTED")


def test_status_is_ended_after_ends_at_with_no_job(enrolled, clock):
    api = enrolled
    create(api, coupon_campaign(starts_at="2027-01-16T00:00:00Z", ends_at="2027-01-17T00:00:00Z"))
    assert api.get("/campaigns/spring", key="admin").json["status"] == "scheduled"
    clock.set("2027-01-17T00:00:00Z")
    assert api.get("/campaigns/spring", key="admin").json["status"] == "ended"
    assert api.get("/campaigns", key="admin").json["items"][0]["status"] == "ended"


def test_a_member_enrolled_again_is_assigned_once_by_the_written_once_assignment(enrolled, clock):
    """A later generation's assignment is not read ahead: the assignment item's
    attribute_not_exists is what keeps a second run from assigning, notifying and
    counting it again."""
    api = enrolled
    assert api.delete("/members/m2", key="admin").status == 204
    api.member("m2", email="m2@example.com")
    create(api, coupon_campaign(campaign_id="spring"))
    local.run_job("launch_campaigns")
    steps = services().job_worker.definitions["launch_campaigns"].step
    params = {"campaign": {**api.get("/campaigns/spring", key="admin").json}}
    params["campaign"].pop("status")
    assert steps("m2", params) is False  # once: the second assignment is refused
    assert len(notifications(api, "m2")) == 1
    assert len([c for c in coupons(api, "m2") if c["source"] == "campaign"]) == 1
    item = services().store.get(member_pk("m2"), campaign_assignment_sk(1, "spring"))
    assert item["arm"] == expected_arm("spring", "m2", WEIGHTS) and item["generation"] == 1


# -- the earn's lines -------------------------------------------------------------------
def bonus_campaign(campaign_id="spring", points=500, min_amount=10000, **fields):
    return campaign(
        campaign_id,
        arms=[
            {"name": "control", "weight": 10, "reward": None},
            {"name": "double", "weight": 45, "reward": {"type": "multiplier", "multiplier": "2.5"}},
            {"name": "bonus", "weight": 45, "reward": {"type": "bonus", "points": points, "min_amount": min_amount}},
        ],
        **fields,
    )


def earn(api, member_id, order_id, amount, **fields):
    response = api.post(f"/members/{member_id}/earn", {"order_id": order_id, "amount": amount, **fields})
    assert response.status == 201, response
    return response.json


def lines(tx):
    return {line["rule"]: line["points"] for line in tx["breakdown"]}


def test_multiplier_and_bonus_lines_within_the_window_and_the_bonus_once(enrolled, clock):
    api = enrolled
    create(api, bonus_campaign())
    # m1: double (18); m2: bonus (93); m13: control (8)
    before = earn(api, "m1", "before-launch", 12345)
    assert "campaign:spring" not in lines(before)  # recorded before the launch: nothing
    local.run_job("launch_campaigns")
    clock.advance(hours=1)
    tx = earn(api, "m1", "o1", 12345)
    # floor(12345 x 0.01 x 1.5) = floor(185.175) = 185
    assert lines(tx)["campaign:spring"] == 185
    assert tx["points"] == sum(lines(tx).values())
    small = earn(api, "m2", "o2", 9999)
    assert "campaign:spring" not in lines(small)  # below min_amount: not used up
    first = earn(api, "m2", "o3", 10000)
    assert lines(first)["campaign:spring"] == 500
    again = earn(api, "m2", "o4", 50000)
    assert "campaign:spring" not in lines(again)  # once per member and campaign
    control = earn(api, "m13", "o5", 50000)
    assert "campaign:spring" not in lines(control)
    # occurred before starts_at (recorded after the launch): outside the window
    old = earn(api, "m1", "o6", 10000, occurred_at="2027-01-14T23:59:59Z")
    assert "campaign:spring" not in lines(old)
    # after ends_at: nothing
    clock.set("2027-02-15T00:00:00Z")
    late = earn(api, "m1", "o7", 10000)
    assert "campaign:spring" not in lines(late)
    inside = earn(api, "m1", "o8", 10000, occurred_at="2027-02-14T23:59:59Z")
    assert lines(inside)["campaign:spring"] == 150


def test_a_refused_earn_does_not_use_the_bonus(enrolled, clock):
    api = enrolled
    create(api, bonus_campaign())
    local.run_job("launch_campaigns")
    earn(api, "m2", "o1", 10000)
    clock.advance(minutes=1)
    # m9 (66): bonus arm. A duplicate order is refused: its bonus stays for the next earn
    earn(api, "m9", "dup", 100)
    assert_error(api.post("/members/m9/earn", {"order_id": "dup", "amount": 20000}), 409, "DUPLICATE_ORDER")
    assert lines(earn(api, "m9", "o2", 20000))["campaign:spring"] == 500


def test_a_refund_claws_back_the_campaign_line_with_the_rest(enrolled, clock):
    api = enrolled
    create(api, bonus_campaign())
    local.run_job("launch_campaigns")
    tx = earn(api, "m1", "o1", 10000)  # base 100 + campaign 150
    assert tx["points"] == 250
    reversal = api.post(f"/members/m1/transactions/{tx['transaction_id']}/reversal", {"amount": 5000})
    assert reversal.status == 201 and reversal.json["points"] == -125


def test_two_earns_at_once_get_the_bonus_once(enrolled, clock):
    """Earn B runs whole while earn A sits between its read and its commit (the
    interleaving style of tests/crash/test_interleaving.py): A's profile write is
    conditioned on the version it read, so A decides again, sees the bonus used and
    gets no bonus line; both earns count."""
    from tests.crash.test_interleaving import run_a, while_committing

    api = enrolled
    create(api, bonus_campaign())
    local.run_job("launch_campaigns")
    plan, done = while_committing(api, lambda: earn(api, "m2", "b", 20000))
    a = run_a(api, plan, "POST", "/members/m2/earn", {"order_id": "a", "amount": 30000})
    assert a.status == 201, a
    (b,) = done
    assert lines(b)["campaign:spring"] == 500
    assert "campaign:spring" not in lines(a.json)
    history = api.get("/members/m2/transactions?limit=100").json["items"]
    assert sum(1 for tx in history if "campaign:spring" in lines(tx | {"breakdown": tx.get("breakdown") or []})) == 1


def test_a_campaign_deleted_after_the_planner_listed_it_is_not_launched(enrolled, clock, monkeypatch):
    """The launch mark is conditioned on the campaign existing and not marked: a campaign
    deleted between the planner's listing and its mark stays deleted."""
    api = enrolled
    create(api, coupon_campaign())
    store = services().store
    original = store.query_all

    def listing_then_delete(pk, prefix=""):
        items = original(pk, prefix)
        if pk == "CAMPAIGNS":
            assert api.delete("/campaigns/spring", key="admin").status == 204
        return items

    monkeypatch.setattr(store, "query_all", listing_then_delete)
    assert services().job_plans.launch_campaigns() == []
    monkeypatch.setattr(store, "query_all", original)
    assert_error(api.get("/campaigns/spring", key="admin"), 404, "NOT_FOUND")
    assert arm_of(api, "m1") is None


def test_the_audience_and_launched_at_are_set_once(enrolled, clock):
    from chalicelib.jobs.plans import finish_launch

    api = enrolled
    create(api, coupon_campaign())
    local.run_job("launch_campaigns")
    first = api.get("/campaigns/spring", key="admin").json
    clock.advance(hours=5)
    api.member("late")
    local.run_job("launch_campaigns")
    finish_launch(services().store, "spring", clock())
    assert api.get("/campaigns/spring", key="admin").json == first
    assert arm_of(api, "late") is None  # the audience is fixed at launch


def test_a_launch_whose_completion_died_is_finished_by_the_next_run(enrolled, clock):
    """The run closed (every member done) but the completion died before it set the
    audience: the next run of launch_campaigns sees the closed run and finishes it."""
    api = enrolled
    create(api, coupon_campaign())
    local.run_job("launch_campaigns")
    store = services().store
    store.update("CAMPAIGNS", "spring", "REMOVE #a, #l", {"#a": "audience", "#l": "launched_at"})
    assert api.get("/campaigns/spring", key="admin").json["audience"] is None
    local.run_job("launch_campaigns")
    assert api.get("/campaigns/spring", key="admin").json["audience"] == len(MEMBERS)

"""§22 campaigns through the API and the launch job: validation (400 / 409), the
campaign's status and audience, each member's arm (by hand with hashlib), the launch
(assignment, `campaign_offer` to rewarded arms only, coupons with source campaign),
reruns, the earn's campaign lines (multiplier, bonus once), DELETE before and after
the launch."""

from __future__ import annotations

import copy
import hashlib

import pytest

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

"""Contract §3 (create, get) and the referral rules of §4."""

from __future__ import annotations

import re

from tests.checks import assert_error, history

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

TIERS = [
    {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None},
    {"name": "silver", "min_spend": 100000, "earn_multiplier": "1.5", "expiry_days": None},
    {"name": "gold", "min_spend": 300000, "earn_multiplier": "2", "expiry_days": None},
]

MEMBER_FIELDS = {
    "member_id",
    "name",
    "email",
    "phone",
    "birthday",
    "tier",
    "balance",
    "lifetime_points",
    "quarter_spend",
    "next_tier",
    "expiring",
    "referral_code",
    "created_at",
}


def members_count(api):
    return api.get("/stats", key="admin").json["members"]


# -- create -------------------------------------------------------------------
def test_create_with_member_id_returns_the_member(api, clock):
    response = api.post("/members", {"member_id": "m-1.A_z", "name": "Kim Minji"})
    assert response.status == 201, response
    member = response.json
    assert MEMBER_FIELDS <= set(member)
    assert member["member_id"] == "m-1.A_z"
    assert member["name"] == "Kim Minji"
    assert (member["email"], member["phone"], member["birthday"]) == (None, None, None)
    assert member["tier"] == "basic"
    assert member["balance"] == 1000  # default signup_bonus
    assert member["created_at"] == "2027-01-15T03:00:00Z"
    # the stored member reads back the same at the same instant
    assert api.get("/members/m-1.A_z").json == member


def test_create_without_member_id_generates_one(api, clock):
    first = api.post("/members", {"name": "Lee"})
    second = api.post("/members", {"name": "Park"})
    assert first.status == 201 and second.status == 201, (first, second)
    ids = [first.json["member_id"], second.json["member_id"]]
    for member_id in ids:
        assert isinstance(member_id, str) and ID_PATTERN.match(member_id), member_id
    assert ids[0] != ids[1]
    fetched = api.get(f"/members/{ids[0]}")
    assert fetched.status == 200, fetched
    assert fetched.json["name"] == "Lee"


def test_member_id_of_64_chars_is_accepted(api):
    member_id = "a" * 64
    assert api.post("/members", {"member_id": member_id, "name": "Long"}).status == 201
    assert api.get(f"/members/{member_id}").status == 200


def test_bad_member_id_is_400_and_creates_nothing(api):
    for member_id in ["", "a" * 65, "has space", "slash/id", "colon:id", "ünïcode", "m#1", 17]:
        response = api.post("/members", {"member_id": member_id, "name": "Bad"})
        assert_error(response, 400, "VALIDATION_ERROR")
    assert members_count(api) == 0


def test_invalid_member_bodies_are_400(api):
    for body in [
        {},  # name missing
        {"name": ""},  # empty name
        {"name": "x" * 201},  # over 200 chars
        {"name": 5},  # wrong type
        {"name": "Kim", "birthday": "1990-02-30"},  # bad date
        {"name": "Kim", "birthday": "17 May 1990"},
        {"name": "Kim", "nickname": "K"},  # unknown field
    ]:
        assert_error(api.post("/members", body), 400, "VALIDATION_ERROR")
    assert members_count(api) == 0


def test_existing_member_id_is_409_member_exists(api, clock):
    original = api.member("m1", name="First", email="first@example.com")
    response = api.post("/members", {"member_id": "m1", "name": "Second"})
    assert_error(response, 409, "MEMBER_EXISTS")
    assert api.get("/members/m1").json == original
    assert members_count(api) == 1
    assert len(history(api, "m1")) == 1  # only the first signup bonus


def test_signup_bonus_is_a_bonus_transaction(api, clock):
    api.program({"signup_bonus": 1500})
    member = api.member("m1")
    assert member["balance"] == 1500
    assert member["lifetime_points"] == 1500
    [tx] = history(api, "m1")
    assert tx["type"] == "bonus"
    assert tx["points"] == 1500
    assert tx["balance_after"] == 1500
    assert tx["member_id"] == "m1"
    assert tx["created_at"] == "2027-01-15T03:00:00Z"


def test_zero_signup_bonus_records_no_transaction(api, clock):
    api.program({"signup_bonus": 0})
    member = api.member("m1")
    assert member["balance"] == 0
    assert history(api, "m1") == []


def test_unknown_member_is_404(api):
    assert_error(api.get("/members/nobody"), 404, "NOT_FOUND")


# -- referral -----------------------------------------------------------------
REFERRAL_PROGRAM = {
    "signup_bonus": 1000,
    "referral": {"referrer_points": 300, "referee_points": 200},
    "activities": {"review": 100},
}


def test_unknown_referral_code_is_400_and_creates_nothing(api, clock):
    api.program(REFERRAL_PROGRAM)
    api.member("m1")
    response = api.post("/members", {"member_id": "m2", "name": "Two", "referral_code": "NOPE42"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert api.get("/members/m2").status == 404
    assert members_count(api) == 1


def test_referral_codes_are_distinct_strings(api):
    codes = [api.member(f"m{n}")["referral_code"] for n in range(3)]
    assert all(isinstance(code, str) and code for code in codes)
    assert len(set(codes)) == 3


def test_referral_bonus_on_the_referees_first_earn_only(api, clock):
    api.program(REFERRAL_PROGRAM)
    code = api.member("ref")["referral_code"]
    response = api.post("/members", {"member_id": "new", "name": "New", "referral_code": code})
    assert response.status == 201, response
    # joining alone grants only the signup bonus
    assert api.balance("new") == 1000
    assert api.balance("ref") == 1000

    # an activity is not an earn: no referral bonus yet
    assert api.post("/members/new/activities", {"type": "review", "reference_id": "r1"}).status == 201
    assert api.balance("new") == 1100
    assert api.balance("ref") == 1000

    first = api.post("/members/new/earn", {"order_id": "o1", "amount": 10000})
    assert first.status == 201, first
    # referee: 1100 + 100 earned + 200 referee bonus; referrer: 1000 + 300
    assert api.balance("new") == 1400
    assert api.balance("ref") == 1300
    new_bonuses = [t for t in history(api, "new") if t["type"] == "bonus"]
    assert sorted(t["points"] for t in new_bonuses) == [200, 1000]
    ref_bonuses = [t for t in history(api, "ref") if t["type"] == "bonus"]
    assert sorted(t["points"] for t in ref_bonuses) == [300, 1000]
    assert api.get("/members/new").json["lifetime_points"] == 1400
    assert api.get("/members/ref").json["lifetime_points"] == 1300

    second = api.post("/members/new/earn", {"order_id": "o2", "amount": 10000})
    assert second.status == 201, second
    assert api.balance("new") == 1500  # + 100 earned, no second bonus
    assert api.balance("ref") == 1300
    assert len([t for t in history(api, "new") if t["type"] == "bonus"]) == 2
    assert len([t for t in history(api, "ref") if t["type"] == "bonus"]) == 2


def test_referrers_own_earn_triggers_nothing(api, clock):
    api.program(REFERRAL_PROGRAM)
    code = api.member("ref")["referral_code"]
    api.member("new", referral_code=code)
    assert api.post("/members/ref/earn", {"order_id": "o1", "amount": 10000}).status == 201
    assert api.balance("ref") == 1100  # 1000 + 100, no referral bonus
    assert api.balance("new") == 1000


def test_member_without_referral_gets_no_bonus_on_first_earn(api, clock):
    api.program(REFERRAL_PROGRAM)
    api.member("m1")
    assert api.post("/members/m1/earn", {"order_id": "o1", "amount": 10000}).status == 201
    assert api.balance("m1") == 1100
    assert [t["type"] for t in history(api, "m1")] == ["earn", "bonus"]


# -- GET shape ------------------------------------------------------------------
SHAPE_PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "expiry_days": 40,
    "redemption": {"min_points": 100},
    "activities": {"review": 100},
    "tiers": TIERS,
}


def test_get_member_reports_every_field(api, clock):
    api.program(SHAPE_PROGRAM)
    clock.set("2026-12-10T03:00:00Z")
    api.member("m1", name="Kim Minji", email="minji@example.com", phone="+82 10-1234-5678", birthday="1990-05-17")
    # signup lot: 1000 expiring 2026-12-10T03:00 + 40 days = 2027-01-19T03:00:00Z
    clock.set("2027-01-15T03:00:00Z")  # the window is (now, 2027-02-14T03:00:00Z]
    o1 = api.post("/members/m1/earn", {"order_id": "o1", "amount": 120000, "occurred_at": "2027-01-05T03:00:00Z"})
    assert o1.status == 201, o1
    # basic before: 120000 * 0.01 = 1200; expires 01-05T03:00 + 40d = 2027-02-14T03:00:00Z (the
    # window's last instant, included); 120000 >= 100000 -> silver
    assert o1.json["points"] == 1200
    assert o1.json["tier"] == "silver"
    o2 = api.post("/members/m1/earn", {"order_id": "o2", "amount": 30000, "occurred_at": "2027-01-02T00:00:00Z"})
    assert o2.status == 201, o2
    # silver before: 300 base + 30000 * 0.01 * 0.5 = 150 -> 450; expires 2027-02-11T00:00:00Z
    assert o2.json["points"] == 450
    review = api.post("/members/m1/activities", {"type": "review", "reference_id": "r1"})
    assert review.status == 201, review
    # 100 expiring 2027-01-15T03:00 + 40d = 2027-02-24T03:00:00Z: outside the window
    redeemed = api.post("/members/m1/redeem", {"points": 200})
    assert redeemed.status == 201, redeemed
    # the soonest lot (signup, 01-19) gives the 200 -> 800 left

    member = api.get("/members/m1")
    assert member.status == 200, member
    got = member.json
    assert MEMBER_FIELDS <= set(got)
    assert {k: got[k] for k in MEMBER_FIELDS - {"referral_code"}} == {
        "member_id": "m1",
        "name": "Kim Minji",
        "email": "minji@example.com",
        "phone": "+82 10-1234-5678",
        "birthday": "1990-05-17",
        "tier": "silver",
        "balance": 2550,  # 1000 + 1200 + 450 + 100 - 200
        "lifetime_points": 2750,  # 1000 + 1200 + 450 + 100 (redeem not subtracted)
        "quarter_spend": 150000,  # 120000 + 30000, both in 2027Q1 (Seoul)
        "next_tier": {"name": "gold", "spend_needed": 150000},  # 300000 - 150000
        "expiring": [
            {"points": 800, "expires_at": "2027-01-19T03:00:00Z"},
            {"points": 450, "expires_at": "2027-02-11T00:00:00Z"},
            {"points": 1200, "expires_at": "2027-02-14T03:00:00Z"},
        ],
        "created_at": "2026-12-10T03:00:00Z",
    }
    assert isinstance(got["referral_code"], str) and got["referral_code"]


def test_expiring_excludes_lots_beyond_30_days(api, clock):
    api.program(SHAPE_PROGRAM)
    api.member("m1")
    # signup lot expires now + 40 days
    assert api.get("/members/m1").json["expiring"] == []
    clock.advance(days=10)  # exactly 30 days left: included
    assert api.get("/members/m1").json["expiring"] == [{"points": 1000, "expires_at": "2027-02-24T03:00:00Z"}]
    clock.advance(seconds=-1)  # 30 days and 1 second left: not yet
    assert api.get("/members/m1").json["expiring"] == []


def test_next_tier_is_null_at_the_top_tier(api, clock):
    api.program(SHAPE_PROGRAM)
    api.member("m1")
    assert api.get("/members/m1").json["next_tier"] == {"name": "silver", "spend_needed": 100000}
    earned = api.post("/members/m1/earn", {"order_id": "o1", "amount": 300000})
    assert earned.status == 201, earned
    assert earned.json["tier"] == "gold"
    member = api.get("/members/m1").json
    assert member["tier"] == "gold"
    assert member["quarter_spend"] == 300000
    assert member["next_tier"] is None


def test_quarter_spend_follows_the_program_timezone_seoul(api, clock):
    api.program({**SHAPE_PROGRAM, "timezone": "Asia/Seoul"})
    clock.set("2027-03-31T16:00:00Z")  # 2027-04-01 01:00 in Seoul: 2027Q2
    api.member("m1")
    api.post(
        "/members/m1/earn", {"order_id": "o1", "amount": 20000, "occurred_at": "2027-03-31T14:59:59Z"}
    )  # 23:59:59 Seoul, Q1
    api.post("/members/m1/earn", {"order_id": "o2", "amount": 50000})  # now: Q2
    assert api.get("/members/m1").json["quarter_spend"] == 50000


def test_quarter_spend_follows_the_program_timezone_utc(api, clock):
    api.program({**SHAPE_PROGRAM, "timezone": "UTC"})
    clock.set("2027-03-31T16:00:00Z")  # still 2027Q1 in UTC
    api.member("m1")
    api.post("/members/m1/earn", {"order_id": "o1", "amount": 20000, "occurred_at": "2027-03-31T14:59:59Z"})
    api.post("/members/m1/earn", {"order_id": "o2", "amount": 50000})
    assert api.get("/members/m1").json["quarter_spend"] == 70000  # 20000 + 50000, both Q1
    clock.set("2027-04-01T00:00:00Z")  # Q2 begins in UTC
    assert api.get("/members/m1").json["quarter_spend"] == 0


def test_a_birthday_may_be_today_wherever_it_is_already_today(api, clock):
    clock.set("2027-01-15T11:00:00Z")  # already 2027-01-16 at UTC+14 (Kiribati)
    assert api.member("b1", birthday="2027-01-16")["birthday"] == "2027-01-16"
    late = api.post("/members", {"member_id": "b2", "name": "B", "birthday": "2027-01-17"})
    assert late.status == 400 and late.error == "VALIDATION_ERROR", late

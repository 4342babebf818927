"""Scheduled jobs (contract §6 tiers over quarters, §7 jobs), run as EventBridge
would through chalicelib.local.run_job with a frozen wall clock.

Program timezone is Asia/Seoul (UTC+9, no daylight saving): local midnight is
15:00Z of the previous UTC day.
"""

from __future__ import annotations

from chalicelib import local
from tests.checks import earn, stats

BASIC_TIER = {"name": "basic", "min_spend": 0, "earn_multiplier": "1", "expiry_days": None}
SILVER_TIER = {"name": "silver", "min_spend": 100000, "earn_multiplier": "1", "expiry_days": None}


# -- helpers ------------------------------------------------------------------
def transactions(api, member_id: str) -> list[dict]:
    response = api.get(f"/members/{member_id}/transactions?limit=100")
    assert response.status == 200, response
    return response.json["items"]


def of_type(items: list[dict], type_: str) -> list[dict]:
    return [item for item in items if item["type"] == type_]


def notifications(api, member_id: str) -> list[dict]:
    response = api.get(f"/members/{member_id}/notifications?limit=100", key="admin")
    assert response.status == 200, response
    return response.json["items"]


def member(api, member_id: str) -> dict:
    response = api.get(f"/members/{member_id}")
    assert response.status == 200, response
    return response.json


def raw_profile(member_id: str) -> dict:
    """The member's stored profile item, to prove a job did not write it."""
    from chalicelib.runtime import services

    return services().store.get(f"MEMBER#{member_id}", "PROFILE")


# -- expire_points ------------------------------------------------------------
EXPIRY_PROGRAM = {
    "timezone": "Asia/Seoul",
    "base_rate": "0.01",
    "signup_bonus": 1000,
    "expiry_days": 30,
    "redemption": {"min_points": 1},
    "activities": {"review": 100},
}


def test_expire_points_takes_every_due_lot_in_one_transaction_per_member(api, clock):
    api.program(EXPIRY_PROGRAM)

    clock.set("2027-01-15T03:00:00Z")
    api.member("m1")  # lot A: 1000, expires 2027-02-14T03:00:00Z
    api.member("m3")  # 1000, expires 2027-02-14T03:00:00Z
    clock.set("2027-01-16T03:00:00Z")
    earn(api, "m1", "o1", 50000)  # lot B: 50000 * 0.01 = 500, expires 2027-02-15T03:00:00Z
    clock.set("2027-01-16T03:00:01Z")
    assert api.post("/members/m1/activities", {"type": "review", "reference_id": "r1"}).status == 201
    # lot C: 100, expires 2027-02-15T03:00:01Z (one second after the run below)
    clock.set("2027-01-20T03:00:00Z")
    assert api.post("/members/m1/redeem", {"points": 300}).status == 201  # lot A: 1000 - 300 = 700
    clock.set("2027-02-01T03:00:00Z")
    assert (
        api.post("/members/m1/adjustments", {"points": 200, "reason": "goodwill"}, key="admin").status == 201
    )  # lot D: 200, expires 2027-03-03T03:00:00Z
    api.member("m2")  # 1000, expires 2027-03-03T03:00:00Z: nothing due for m2

    before = stats(api)
    # earned 3 * 1000 + 500 + 100 = 3600, redeemed 300, adjusted +200 -> 3500
    assert before["points_expired"] == 0
    assert before["points_outstanding"] == 3500
    m2_history, m2_notes, m2_profile = transactions(api, "m2"), notifications(api, "m2"), raw_profile("m2")
    m1_before = transactions(api, "m1")

    clock.set("2027-02-15T03:00:00Z")  # lot B's expires_at == now: due
    local.run_job("expire_points")

    m1_after = transactions(api, "m1")
    assert len(m1_after) == len(m1_before) + 1
    expired = of_type(m1_after, "expire")
    assert len(expired) == 1
    tx = expired[0]
    assert tx["points"] == -(700 + 500)  # remaining of lot A + lot B
    assert tx["balance_after"] == 100 + 200  # lots C and D remain
    assert tx["storefront"] is None
    assert tx["created_at"] == "2027-02-15T03:00:00Z"
    assert m1_after[0]["transaction_id"] == tx["transaction_id"]  # newest first
    assert api.balance("m1") == 300
    assert member(api, "m1")["expiring"] == [
        {"points": 100, "expires_at": "2027-02-15T03:00:01Z"},
        {"points": 200, "expires_at": "2027-03-03T03:00:00Z"},
    ]

    m3_expired = of_type(transactions(api, "m3"), "expire")
    assert [(t["points"], t["balance_after"], t["storefront"]) for t in m3_expired] == [(-1000, 0, None)]
    assert api.balance("m3") == 0

    # nothing was due for m2: not written at all
    assert transactions(api, "m2") == m2_history
    assert notifications(api, "m2") == m2_notes
    assert raw_profile("m2") == m2_profile
    assert api.balance("m2") == 1000

    after = stats(api)
    assert after["points_expired"] == 1200 + 1000
    assert after["points_outstanding"] == 3500 - 2200 == 300 + 1000 + 0

    # a second run at the same instant changes nothing
    snapshot = {m: transactions(api, m) for m in ("m1", "m2", "m3")}
    local.run_job("expire_points")
    assert {m: transactions(api, m) for m in ("m1", "m2", "m3")} == snapshot
    assert stats(api) == after

    # one second later lot C is due: a new run, a new single transaction
    clock.set("2027-02-15T03:00:01Z")
    local.run_job("expire_points")
    expired = of_type(transactions(api, "m1"), "expire")
    assert [t["points"] for t in expired] == [-100, -1200]
    assert expired[0]["balance_after"] == 200
    assert len(of_type(transactions(api, "m3"), "expire")) == 1
    assert raw_profile("m2") == m2_profile
    assert stats(api)["points_expired"] == 2200 + 100


def test_expire_points_with_nothing_due_changes_nothing(api, clock):
    api.program(EXPIRY_PROGRAM)
    api.member("m1")  # expires 2027-02-14T03:00:00Z
    profile = raw_profile("m1")
    before = stats(api)
    clock.set("2027-02-14T02:59:59Z")
    local.run_job("expire_points")
    assert of_type(transactions(api, "m1"), "expire") == []
    assert raw_profile("m1") == profile
    assert stats(api) == before
    assert api.balance("m1") == 1000


# -- recompute_tiers ----------------------------------------------------------
TIER_PROGRAM = {
    "timezone": "Asia/Seoul",
    "base_rate": "0.01",
    "signup_bonus": 0,
    "tiers": [BASIC_TIER, SILVER_TIER],
}


def tiers_of(api, *member_ids: str) -> dict[str, str]:
    return {m: member(api, m)["tier"] for m in member_ids}


def tier_notices(api, member_id: str) -> int:
    return len([n for n in notifications(api, member_id) if n["type"] == "tier_changed"])


def test_tier_lasts_through_the_next_quarter_and_falls_when_it_ends(api, clock):
    api.program(TIER_PROGRAM)
    everyone = ("u0", "u1", "u2", "u3")

    # Q1 2027 (Seoul)
    clock.set("2027-02-10T03:00:00Z")
    for m in ("u0", "u1", "u2"):
        api.member(m)
    assert earn(api, "u1", "q1", 100000)["tier"] == "silver"  # Q1 spend 100000 >= 100000
    assert earn(api, "u2", "q1", 120000)["tier"] == "silver"
    assert stats(api)["members_by_tier"] == {"basic": 1, "silver": 2}

    # last second of Q1 in Seoul (2027-03-31 23:59:59 +09:00)
    clock.set("2027-03-31T14:59:59Z")
    local.run_job("recompute_tiers")
    assert tiers_of(api, "u0", "u1", "u2") == {"u0": "basic", "u1": "silver", "u2": "silver"}

    # Q2 begins at Seoul midnight: Q1 spend still counts
    clock.set("2027-03-31T15:00:00Z")
    local.run_job("recompute_tiers")
    assert tiers_of(api, "u0", "u1", "u2") == {"u0": "basic", "u1": "silver", "u2": "silver"}

    # 2027-04-01 01:00 in Seoul (still 03-31 in UTC): this purchase is Q2 spend
    clock.set("2027-03-31T16:00:00Z")
    api.member("u3")
    assert earn(api, "u3", "q2", 100000)["tier"] == "silver"

    clock.set("2027-05-10T03:00:00Z")
    assert earn(api, "u1", "q2", 50000)["tier"] == "silver"  # Q2 50000 < 100000; Q1 still counts
    assert earn(api, "u2", "q2", 100000)["tier"] == "silver"  # Q2 100000 qualifies on its own
    local.run_job("recompute_tiers")
    assert stats(api)["members_by_tier"] == {"basic": 1, "silver": 3}

    # last second of Q2 in Seoul
    clock.set("2027-06-30T14:59:59Z")
    local.run_job("recompute_tiers")
    assert tiers_of(api, *everyone) == {"u0": "basic", "u1": "silver", "u2": "silver", "u3": "silver"}

    # Q3 begins at Seoul midnight (2027-07-01 00:00 +09:00, still 06-30 in UTC):
    # u1's qualifying spend is max(Q3 0, Q2 50000) = 50000 -> basic;
    # u2 keeps silver on Q2 = 100000; u3 keeps silver on Q2 = 100000.
    clock.set("2027-06-30T15:00:00Z")
    local.run_job("recompute_tiers")
    assert tiers_of(api, *everyone) == {"u0": "basic", "u1": "basic", "u2": "silver", "u3": "silver"}
    assert stats(api)["members_by_tier"] == {"basic": 2, "silver": 2}
    u1 = member(api, "u1")
    assert u1["quarter_spend"] == 0
    assert u1["next_tier"] == {"name": "silver", "spend_needed": 100000}
    assert tier_notices(api, "u1") == 2  # up in Q1, down now
    assert tier_notices(api, "u2") == 1
    assert tier_notices(api, "u0") == 0

    # a second run the same day changes nothing
    local.run_job("recompute_tiers")
    assert tiers_of(api, *everyone) == {"u0": "basic", "u1": "basic", "u2": "silver", "u3": "silver"}
    assert stats(api)["members_by_tier"] == {"basic": 2, "silver": 2}
    assert tier_notices(api, "u1") == 2

    # Q4 begins: Q3 spend is 0 for everyone, so silver ends for u2 and u3
    clock.set("2027-09-30T14:59:59Z")
    local.run_job("recompute_tiers")
    assert tiers_of(api, "u2", "u3") == {"u2": "silver", "u3": "silver"}
    clock.set("2027-09-30T15:00:00Z")
    local.run_job("recompute_tiers")
    assert tiers_of(api, *everyone) == {"u0": "basic", "u1": "basic", "u2": "basic", "u3": "basic"}
    assert stats(api)["members_by_tier"] == {"basic": 4, "silver": 0}
    assert tier_notices(api, "u2") == 2
    assert tier_notices(api, "u3") == 2
    assert tier_notices(api, "u1") == 2


# -- send_expiry_warnings -----------------------------------------------------
WARNING_PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 1000,
    "expiry_days": 30,
    "expiry_warning_days": 7,
}


def warnings(api, member_id: str) -> list[dict]:
    return [n for n in notifications(api, member_id) if n["type"] == "points_expiring"]


def test_expiry_warning_once_per_member_per_program_day(api, clock):
    api.program(WARNING_PROGRAM)
    clock.set("2027-01-15T03:00:00Z")
    api.member("w1")  # 1000 points expiring 2027-02-14T03:00:00Z
    api.member("w3")  # same, but redeemed away below: nothing left to expire
    assert api.post("/members/w3/redeem", {"points": 1000}).status == 201
    clock.set("2027-01-25T03:00:00Z")
    api.member("w2")  # expiring 2027-02-24T03:00:00Z

    # 7 days 23 hours before w1's expiry: outside the 7-day window
    clock.set("2027-02-06T04:00:00Z")
    local.run_job("send_expiry_warnings")
    assert [len(warnings(api, m)) for m in ("w1", "w2", "w3")] == [0, 0, 0]

    # 6 days 23 hours before (Seoul 2027-02-07 13:00): one warning for w1 only
    clock.set("2027-02-07T04:00:00Z")
    local.run_job("send_expiry_warnings")
    first = warnings(api, "w1")
    assert len(first) == 1
    assert first[0]["created_at"] == "2027-02-07T04:00:00Z"
    assert [len(warnings(api, m)) for m in ("w2", "w3")] == [0, 0]

    # same Seoul day (2027-02-07 23:00): nothing more
    clock.set("2027-02-07T14:00:00Z")
    local.run_job("send_expiry_warnings")
    assert len(warnings(api, "w1")) == 1

    # Seoul midnight: 2027-02-08 there (still 02-07 in UTC) -> a new day, a new warning
    clock.set("2027-02-07T15:00:00Z")
    local.run_job("send_expiry_warnings")
    second = warnings(api, "w1")
    assert len(second) == 2
    assert second[0]["created_at"] == "2027-02-07T15:00:00Z"  # newest first

    # later the same Seoul day: nothing more; w2 (16 days out) and w3 (no points) still none
    clock.set("2027-02-08T10:00:00Z")
    local.run_job("send_expiry_warnings")
    assert [len(warnings(api, m)) for m in ("w1", "w2", "w3")] == [2, 0, 0]

    # warnings move no points
    assert [t["type"] for t in transactions(api, "w1")] == ["bonus"]
    assert api.balance("w1") == 1000


# -- grant_birthday_bonuses ---------------------------------------------------
BIRTHDAY_PROGRAM = {
    "timezone": "Asia/Seoul",
    "signup_bonus": 0,
    "birthday_bonus": 500,
    "expiry_days": 1000,
}


def birthday_credits(api, member_id: str) -> list[dict]:
    return of_type(transactions(api, member_id), "bonus")


def test_birthday_bonus_on_the_program_timezone_birthday_once_per_year(api, clock):
    api.program(BIRTHDAY_PROGRAM)
    api.member("b1", birthday="1990-05-05")
    api.member("b2", birthday="1990-05-06")
    api.member("gone", birthday="1985-05-05")
    assert api.delete("/members/gone", key="admin").status == 204
    assert stats(api)["points_earned"] == 0

    # 2027-05-04 23:59:59 in Seoul: not yet
    clock.set("2027-05-04T14:59:59Z")
    local.run_job("grant_birthday_bonuses")
    assert birthday_credits(api, "b1") == []

    # 2027-05-05 00:30 in Seoul, still 05-04 in UTC: b1's birthday
    clock.set("2027-05-04T15:30:00Z")
    local.run_job("grant_birthday_bonuses")
    credits = birthday_credits(api, "b1")
    assert [(t["points"], t["balance_after"], t["storefront"], t["created_at"]) for t in credits] == [
        (500, 500, None, "2027-05-04T15:30:00Z")
    ]
    assert birthday_credits(api, "b2") == []
    # only b1 was credited: the erased member born on 05-05 got nothing
    assert stats(api)["points_earned"] == 500
    assert stats(api)["points_outstanding"] == 500

    # the same day again: nothing more
    clock.set("2027-05-05T10:00:00Z")
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "b1")) == 1

    # next Seoul day: b2's birthday, b1 nothing more
    clock.set("2027-05-05T15:30:00Z")
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "b1")) == 1
    assert [t["points"] for t in birthday_credits(api, "b2")] == [500]
    assert stats(api)["points_earned"] == 1000

    # next year: again
    clock.set("2028-05-04T15:30:00Z")
    local.run_job("grant_birthday_bonuses")
    assert [t["points"] for t in birthday_credits(api, "b1")] == [500, 500]
    assert api.balance("b1") == 1000
    clock.set("2028-05-05T03:00:00Z")
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "b1")) == 2
    assert stats(api)["points_earned"] == 500 + 500 + 500


def test_birthday_bonus_once_per_year_even_when_the_timezone_moves(api, clock):
    api.program(BIRTHDAY_PROGRAM)
    api.member("b1", birthday="1990-05-05")
    clock.set("2027-05-04T15:30:00Z")  # 2027-05-05 00:30 in Seoul
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "b1")) == 1

    api.program({**BIRTHDAY_PROGRAM, "timezone": "America/Los_Angeles"})
    clock.set("2027-05-05T08:00:00Z")  # 2027-05-05 01:00 in Los Angeles (UTC-7)
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "b1")) == 1
    assert api.balance("b1") == 500


def test_zero_birthday_bonus_records_nothing(api, clock):
    api.program({**BIRTHDAY_PROGRAM, "birthday_bonus": 0})
    api.member("b1", birthday="1990-01-15")
    clock.set("2027-01-15T03:00:00Z")  # 12:00 on 01-15 in Seoul
    local.run_job("grant_birthday_bonuses")
    assert transactions(api, "b1") == []
    assert [n["type"] for n in notifications(api, "b1") if n["type"] == "birthday_bonus"] == []
    assert stats(api)["points_earned"] == 0


def test_29_february_birthday_on_28_february_in_common_years(api, clock):
    api.program(BIRTHDAY_PROGRAM)
    api.member("leap", birthday="2000-02-29")
    api.member("eve", birthday="1999-02-28")

    clock.set("2027-02-27T14:00:00Z")  # 2027-02-27 23:00 in Seoul
    local.run_job("grant_birthday_bonuses")
    assert birthday_credits(api, "leap") == []

    clock.set("2027-02-27T15:30:00Z")  # 2027-02-28 00:30 in Seoul; 2027 is a common year
    local.run_job("grant_birthday_bonuses")
    assert [t["points"] for t in birthday_credits(api, "leap")] == [500]
    assert [t["points"] for t in birthday_credits(api, "eve")] == [500]

    clock.set("2027-02-28T15:30:00Z")  # 2027-03-01 in Seoul: not again
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "leap")) == 1

    clock.set("2028-02-27T15:30:00Z")  # 2028-02-28 in Seoul; 2028 has a 29 February
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "leap")) == 1
    assert len(birthday_credits(api, "eve")) == 2

    clock.set("2028-02-28T15:30:00Z")  # 2028-02-29 in Seoul
    local.run_job("grant_birthday_bonuses")
    assert len(birthday_credits(api, "leap")) == 2
    assert len(birthday_credits(api, "eve")) == 2
    assert stats(api)["points_earned"] == 4 * 500

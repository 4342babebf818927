"""Member erasure (§3), /stats (§8) and transaction history (§4)."""

from __future__ import annotations

import base64
import json
import re

from chalicelib import local
from tests.checks import earn, history, stats
from tests.conftest import DEMO_PROGRAM

TIERS = [
    {"name": "basic", "min_spend": 0, "earn_multiplier": "1"},
    {"name": "silver", "min_spend": 1000, "earn_multiplier": "1"},
    {"name": "gold", "min_spend": 5000, "earn_multiplier": "1"},
]
# 1 point per 10 won, 100-point signup bonus, each point worth 2 won.
PROGRAM = {
    "base_rate": "0.1",
    "point_value": 2,
    "signup_bonus": 100,
    "referral": {"referrer_points": 50, "referee_points": 40},
    "activities": {"review": 7},
    "redemption": {"min_points": 1},
    "expiry_days": 30,
    "transfer": {"allowed_tiers": ["basic", "silver"], "min_points": 1},
    "tiers": TIERS,
}
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TX_TYPES = {"earn", "bonus", "activity", "redeem", "expire", "adjust", "reversal", "transfer_in", "transfer_out"}


def ok(response, status=201):
    assert response.status == status, response
    return response.json


def assert_consistent(s, balances):
    """§8: outstanding = earned − redeemed − expired + adjusted + reversed =
    sum of balances; liability = outstanding × point_value (2)."""
    formula = (
        s["points_earned"] - s["points_redeemed"] - s["points_expired"] + s["points_adjusted"] + s["points_reversed"]
    )
    assert s["points_outstanding"] == formula, s
    assert s["points_outstanding"] == sum(balances), (s, balances)
    assert s["liability"] == s["points_outstanding"] * 2, s


def mixed_scenario(api):
    """Three members with every kind of money movement; returns nothing,
    the expected numbers are derived in the tests."""
    api.program(PROGRAM)
    for member_id in ("m1", "m2", "m3"):
        api.member(member_id)  # bonus 100 each
    earned = earn(api, "m1", "o1", 2400)  # 240 points, spend 2400: silver
    assert earned["tier"] == "silver"
    ok(api.post("/members/m2/activities", {"type": "review", "reference_id": "rv1"}))  # +7
    ok(api.post("/members/m1/redeem", {"points": 50}))  # −50
    ok(api.post("/members/m2/adjustments", {"points": 30, "reason": "goodwill"}, key="admin"))
    ok(api.post("/members/m3/adjustments", {"points": -40, "reason": "correction"}, key="admin"))
    # refund 600 of 2400: floor(240 × 600 / 2400) = 60; spend 1800: still silver
    ok(api.post(f"/members/m1/transactions/{earned['transaction_id']}/reversal", {"amount": 600}))
    redeemed = ok(api.post("/members/m2/redeem", {"points": 20}))  # −20
    ok(api.post(f"/members/m2/transactions/{redeemed['transaction_id']}/reversal", {}))  # +20
    ok(api.post("/members/m1/transfers", {"to_member_id": "m3", "points": 15}))


# -- stats -------------------------------------------------------------------------


def test_stats_of_an_empty_program_list_every_tier(demo):
    s = stats(demo)
    assert s == {
        "members": 0,
        "members_by_tier": {t["name"]: 0 for t in DEMO_PROGRAM["tiers"]},
        "points_earned": 0,
        "points_redeemed": 0,
        "points_expired": 0,
        "points_adjusted": 0,
        "points_reversed": 0,
        "points_outstanding": 0,
        "points_pending": 0,  # v3 (§25)
        "liability": 0,
        "coupons_issued": 0,
        "coupons_used": 0,
    }


def test_stats_require_admin(api):
    refused = api.get("/stats")
    assert refused.status == 403 and refused.error == "FORBIDDEN", refused


def test_stats_after_a_mixed_scenario(api, clock):
    mixed_scenario(api)
    s = stats(api)
    # earned: bonuses 3 × 100 + earn 240 + activity 7 = 547
    # redeemed: 50 + 20 = 70; adjusted: +30 − 40 = −10; reversed: −60 + 20 = −40
    # outstanding: 547 − 70 − 0 − 10 − 40 = 427; liability 427 × 2 = 854
    assert s == {
        "members": 3,
        "members_by_tier": {"basic": 2, "silver": 1, "gold": 0},
        "points_earned": 547,
        "points_redeemed": 70,
        "points_expired": 0,
        "points_adjusted": -10,
        "points_reversed": -40,
        "points_outstanding": 427,
        "points_pending": 0,  # v3 (§25): pending_days is 0
        "liability": 854,
        "coupons_issued": 0,
        "coupons_used": 0,
    }
    # m1: 100 + 240 − 50 − 60 − 15 = 215; m2: 100 + 7 + 30 − 20 + 20 = 137;
    # m3: 100 − 40 + 15 = 75; 215 + 137 + 75 = 427
    balances = [api.balance(m) for m in ("m1", "m2", "m3")]
    assert balances == [215, 137, 75]
    assert_consistent(s, balances)


def test_stats_count_expiry(api, clock):
    mixed_scenario(api)  # every lot made now expires 2027-02-14T03:00:00Z
    clock.set("2027-02-14T03:00:00Z")
    local.run_job("expire_points")
    s = stats(api)
    # everything outstanding (427) expired
    assert s["points_expired"] == 427
    assert s["points_outstanding"] == 0
    assert s["liability"] == 0
    assert_consistent(s, [api.balance(m) for m in ("m1", "m2", "m3")])


def test_stats_follow_the_program_tiers(api, clock):
    mixed_scenario(api)
    renamed = [*TIERS, {"name": "platinum", "min_spend": 10000, "earn_multiplier": "1"}]
    api.program({**PROGRAM, "tiers": renamed})
    by_tier = stats(api)["members_by_tier"]
    assert by_tier == {"basic": 2, "silver": 1, "gold": 0, "platinum": 0}


# -- erasure -------------------------------------------------------------------------


def test_erasure_forfeits_the_balance_and_hides_the_member(api, clock):
    mixed_scenario(api)
    before = stats(api)
    m3 = api.get("/members/m3").json
    assert m3["balance"] == 75

    erased = api.delete("/members/m3", key="admin")
    assert erased.status == 204, erased
    assert not erased.body

    gone = api.get("/members/m3")
    assert gone.status == 404 and gone.error == "NOT_FOUND", gone
    gone = api.get("/members/m3/transactions")
    assert gone.status == 404 and gone.error == "NOT_FOUND", gone
    again = api.delete("/members/m3", key="admin")
    assert again.status == 404 and again.error == "NOT_FOUND", again
    for path, body in (
        ("/members/m3/earn", {"order_id": "o9", "amount": 100}),
        ("/members/m3/redeem", {"points": 1}),
        ("/members/m3/adjustments", {"points": 5, "reason": "x"}),
    ):
        refused = api.post(path, body, key="admin")
        assert refused.status == 404 and refused.error == "NOT_FOUND", (path, refused)

    s = stats(api)
    # the forfeited 75 count as expired; m3 (basic) leaves the counts
    assert s == {
        **before,
        "members": 2,
        "members_by_tier": {"basic": 1, "silver": 1, "gold": 0},
        "points_expired": before["points_expired"] + 75,
        "points_outstanding": 427 - 75,
        "liability": (427 - 75) * 2,
    }
    assert_consistent(s, [api.balance("m1"), api.balance("m2")])


def test_erasing_a_higher_tier_member(api, clock):
    mixed_scenario(api)
    assert ok(api.delete("/members/m1", key="admin"), 204) is None
    s = stats(api)
    # m1 was the silver member, holding 215
    assert s["members"] == 2
    assert s["members_by_tier"] == {"basic": 2, "silver": 0, "gold": 0}
    assert s["points_expired"] == 215
    assert s["points_outstanding"] == 427 - 215
    assert_consistent(s, [api.balance("m2"), api.balance("m3")])


def test_erasing_an_empty_balance_expires_nothing(api, clock):
    api.program({**PROGRAM, "signup_bonus": 0})
    api.member("m1")
    api.member("m2")
    assert api.delete("/members/m1", key="admin").status == 204
    s = stats(api)
    assert s["members"] == 1
    assert s["members_by_tier"] == {"basic": 1, "silver": 0, "gold": 0}
    assert s["points_expired"] == 0
    assert s["points_outstanding"] == 0


def test_erasure_is_admin_only_and_unknown_members_are_not_found(api, clock):
    api.program(PROGRAM)
    api.member("m1")
    before = stats(api)
    refused = api.delete("/members/m1")
    assert refused.status == 403 and refused.error == "FORBIDDEN", refused
    assert api.get("/members/m1").json["balance"] == 100
    missing = api.delete("/members/ghost", key="admin")
    assert missing.status == 404 and missing.error == "NOT_FOUND", missing
    assert stats(api) == before


def test_erased_members_referral_code_is_no_longer_usable(api, clock):
    api.program(PROGRAM)
    code = api.member("m1")["referral_code"]
    api.member("m2", referral_code=code)  # a code works while its member exists
    assert api.delete("/members/m1", key="admin").status == 204
    before = stats(api)

    refused = api.post("/members", {"member_id": "m3", "name": "M3", "referral_code": code})
    assert refused.status == 400 and refused.error == "VALIDATION_ERROR", refused
    assert api.get("/members/m3").status == 404
    assert stats(api) == before


def test_erased_referrer_gets_nothing(api, clock):
    api.program(PROGRAM)
    code = api.member("m1")["referral_code"]
    api.member("m2", referral_code=code)
    assert api.delete("/members/m1", key="admin").status == 204  # forfeits 100

    earn(api, "m2", "o1", 1000)  # 100 + referee 40
    assert api.balance("m2") == 240  # signup 100 + 100 + 40
    s = stats(api)
    # earned: 2 signups (200) + earn 100 + referee 40 = 340; m1's 100 expired
    assert s["points_earned"] == 340
    assert s["points_expired"] == 100
    assert s["members"] == 1
    assert s["points_outstanding"] == 240


# -- history -----------------------------------------------------------------------


def build_history(api, clock, count):
    """m1 with `count` transactions (a signup bonus then earns); returns their ids
    in the order they were made."""
    api.program({**PROGRAM, "signup_bonus": 5})
    api.member("m1")
    made = [history(api, "m1")[0]["transaction_id"]]  # the signup bonus
    for n in range(count - 1):
        made.append(earn(api, "m1", f"o{n}", 10 * (n + 1))["transaction_id"])
    return made


def walk(api, member_id, limit):
    pages, cursor = [], None
    while True:
        path = f"/members/{member_id}/transactions?limit={limit}"
        if cursor is not None:
            path += f"&cursor={cursor}"
        page = ok(api.get(path), 200)
        assert set(page) == {"items", "next_cursor"}
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and cursor
        assert len(pages) < 100, "the cursor never ends"


def test_history_is_newest_first_and_the_cursor_pages_through_everything_once(api, clock):
    made = build_history(api, clock, 25)
    newest_first = made[::-1]

    first = ok(api.get("/members/m1/transactions"), 200)  # default limit 20
    assert [t["transaction_id"] for t in first["items"]] == newest_first[:20]
    assert first["next_cursor"]
    rest = ok(api.get(f"/members/m1/transactions?cursor={first['next_cursor']}"), 200)
    assert [t["transaction_id"] for t in rest["items"]] == newest_first[20:]

    for limit in (1, 7, 20, 24, 25, 100):
        pages = walk(api, "m1", limit)
        ids = [t["transaction_id"] for page in pages for t in page]
        assert ids == newest_first, limit
        assert all(len(page) == limit for page in pages[:-1]), limit
        assert len(pages[-1]) <= limit


def test_cursor_of_a_list_that_fits_one_page(api, clock):
    made = build_history(api, clock, 3)
    page = ok(api.get("/members/m1/transactions?limit=3"), 200)
    assert [t["transaction_id"] for t in page["items"]] == made[::-1]
    # either no cursor, or one that leads to an empty last page
    if page["next_cursor"] is not None:
        rest = ok(api.get(f"/members/m1/transactions?limit=3&cursor={page['next_cursor']}"), 200)
        assert rest["items"] == [] and rest["next_cursor"] is None


def test_bad_limit(api, clock):
    build_history(api, clock, 2)
    for limit in ("0", "101", "abc", "-1", "1.5", "1e2"):
        refused = api.get(f"/members/m1/transactions?limit={limit}")
        assert refused.status == 400 and refused.error == "VALIDATION_ERROR", (limit, refused)
    for limit in ("1", "100"):
        assert api.get(f"/members/m1/transactions?limit={limit}").status == 200


def test_bad_cursor(api, clock):
    build_history(api, clock, 5)
    api.member("m2")
    good = ok(api.get("/members/m1/transactions?limit=2"), 200)["next_cursor"]
    forged = base64.urlsafe_b64encode(json.dumps({"pk": "MEMBER#m2", "sk": "PROFILE"}).encode())
    for cursor in ("not-a-cursor", "!!!", "x" * 50, good[:-3] + "@@@", forged.decode().rstrip("=")):
        refused = api.get(f"/members/m1/transactions?limit=2&cursor={cursor}")
        assert refused.status == 400 and refused.error == "VALIDATION_ERROR", (cursor, refused)
    # m1's cursor is no cursor of m2's list
    refused = api.get(f"/members/m2/transactions?limit=2&cursor={good}")
    assert refused.status == 400 and refused.error == "VALIDATION_ERROR", refused


def test_history_of_an_unknown_member(api, clock):
    missing = api.get("/members/ghost/transactions")
    assert missing.status == 404 and missing.error == "NOT_FOUND", missing


def test_transactions_carry_the_contract_fields(api, clock):
    mixed_scenario(api)
    clock.set("2027-02-14T03:00:00Z")
    local.run_job("expire_points")
    for member_id in ("m1", "m2", "m3"):
        items = history(api, member_id)
        for tx in items:
            for name in ("transaction_id", "member_id", "type", "points", "balance_after", "created_at", "storefront"):
                assert name in tx, (name, tx)
            assert tx["member_id"] == member_id
            assert tx["type"] in TX_TYPES
            assert isinstance(tx["points"], int) and not isinstance(tx["points"], bool)
            assert INSTANT.match(tx["created_at"]), tx
            if tx["type"] == "expire":
                assert tx["storefront"] is None, tx  # made by a job
                assert tx["points"] < 0
            elif tx["type"] == "adjust":
                assert tx["storefront"] == "hq", tx
                assert tx["reason"]
            else:
                assert tx["storefront"] == "pos-1", tx
            if tx["type"] == "earn":
                assert tx["order_id"] == "o1"
                assert tx["breakdown"] == [{"rule": "base", "points": 240}]
            if tx["type"] in ("redeem", "transfer_out"):
                assert tx["points"] < 0
            if tx["type"] in ("earn", "bonus", "activity", "transfer_in"):
                assert tx["points"] >= 0
        # oldest to newest, each balance_after follows from the one before
        balance = 0
        for tx in reversed(items):
            balance += tx["points"]
            assert tx["balance_after"] == balance, (member_id, tx)
        assert balance == 0  # everything expired

    m1_types = [t["type"] for t in history(api, "m1")]
    assert m1_types == ["expire", "transfer_out", "reversal", "redeem", "earn", "bonus"]
    m2_types = [t["type"] for t in history(api, "m2")]
    assert m2_types == ["expire", "reversal", "redeem", "adjust", "activity", "bonus"]
    m3_types = [t["type"] for t in history(api, "m3")]
    assert m3_types == ["expire", "transfer_in", "adjust", "bonus"]
    m1 = history(api, "m1")
    assert [t["points"] for t in m1] == [-215, -15, -60, -50, 240, 100]

"""POST /program/preview (issue #13): the breakdown of a sample purchase under a
program configuration that is not saved; an invalid one is a 400 naming the field."""

from __future__ import annotations

from tests.conftest import DEMO_PROGRAM


def preview(api, body, key="admin"):
    return api.post("/program/preview", body, key=key, idem=None)


def test_the_preview_matches_a_real_earn_under_the_same_rules(demo, clock):
    clock.set("2027-01-05T03:00:00Z")  # during the demo's grand-opening promotion
    purchase = {"amount": 80000, "items": [{"sku": "a", "category": "new-arrivals", "amount": 30000}]}
    shown = preview(demo, {"program": DEMO_PROGRAM, "purchase": purchase})
    assert shown.status == 200, shown
    demo.member("kim")
    earned = demo.post("/members/kim/earn", {"order_id": "o1", **purchase})
    assert earned.status == 201, earned
    assert shown.json["points"] == earned.json["points"] == 800 + 300 + 800
    assert shown.json["breakdown"] == earned.json["breakdown"]
    assert shown.json["tier"] == "새싹"


def test_the_preview_uses_the_edited_rules_and_saves_nothing(demo, clock):
    edited = {**DEMO_PROGRAM, "base_rate": "0.05", "promotions": []}
    before = demo.get("/program", key="admin").json
    shown = preview(demo, {"program": edited, "purchase": {"amount": 10000, "tier": "숲"}})
    assert shown.status == 200, shown
    # base 5% = 500; 숲 earns x2: another 500
    assert shown.json == {
        "points": 1000,
        "tier": "숲",
        "breakdown": [{"rule": "base", "points": 500}, {"rule": "tier:숲", "points": 500}],
    }
    assert demo.get("/program", key="admin").json == before


def test_the_preview_takes_the_purchase_time_and_defaults(demo, clock):
    inside = preview(
        demo, {"program": DEMO_PROGRAM, "purchase": {"amount": 10000, "occurred_at": "2027-01-02T00:00:00Z"}}
    ).json
    outside = preview(
        demo, {"program": DEMO_PROGRAM, "purchase": {"amount": 10000, "occurred_at": "2027-01-08T00:00:00Z"}}
    ).json
    assert inside["points"] == 200 and outside["points"] == 100
    # no program: the contract's defaults (base rate 1%)
    assert preview(demo, {"purchase": {"amount": 10000}}).json["points"] == 100


def test_an_invalid_program_is_a_400_naming_the_field(demo):
    tiers = [dict(t) for t in DEMO_PROGRAM["tiers"]]
    tiers[1]["min_spend"] = -5
    answer = preview(demo, {"program": {**DEMO_PROGRAM, "tiers": tiers}, "purchase": {"amount": 1000}})
    assert answer.status == 400 and answer.error == "VALIDATION_ERROR"
    assert answer.json["error"]["message"].startswith("program.tiers.1.min_spend:")
    unsorted = [tiers[0], DEMO_PROGRAM["tiers"][2], DEMO_PROGRAM["tiers"][1]]
    answer = preview(demo, {"program": {**DEMO_PROGRAM, "tiers": unsorted}, "purchase": {"amount": 1000}})
    assert answer.status == 400 and "ascending" in answer.json["error"]["message"]


def test_an_invalid_purchase_is_a_400(demo):
    for purchase, where in (
        ({"amount": 0}, "purchase.amount"),
        ({"amount": 100, "tier": "gold"}, "purchase.tier"),
        ({"amount": 100, "month_earns": 0}, "purchase.month_earns"),
        ({"amount": 100, "occurred_at": "yesterday"}, "purchase.occurred_at"),
        ({"amount": 100, "items": [{"sku": "a", "category": "c", "amount": 101}]}, "purchase"),
        ({"amount": 100, "extra": 1}, "purchase.extra"),
    ):
        answer = preview(demo, {"program": DEMO_PROGRAM, "purchase": purchase})
        assert answer.status == 400, (purchase, answer)
        assert answer.json["error"]["message"].startswith(where), (purchase, answer)
    assert preview(demo, {"program": DEMO_PROGRAM}).status == 400


def test_only_admins_preview(demo):
    body = {"purchase": {"amount": 100}}
    assert preview(demo, body, key="storefront").status == 403
    assert preview(demo, body, key=None).status == 401


def test_the_frequency_line_counts_the_earns_of_the_month_given(demo):
    program = {**DEMO_PROGRAM, "promotions": [], "frequency_bonus": {"min_purchases": 3, "extra_rate": "0.02"}}
    second = preview(demo, {"program": program, "purchase": {"amount": 10000, "month_earns": 2}})
    third = preview(demo, {"program": program, "purchase": {"amount": 10000, "month_earns": 3}})
    assert second.status == third.status == 200, (second, third)
    assert [line["rule"] for line in second.json["breakdown"]] == ["base"]
    assert {"rule": "frequency", "points": 200} in third.json["breakdown"]
    assert third.json["points"] == 300
    # the default is the first earn of the month
    assert preview(demo, {"program": program, "purchase": {"amount": 10000}}).json["points"] == 100

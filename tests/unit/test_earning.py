"""earning_breakdown and clawback_due (contract §4, earn and refund)."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.domain.earning import PurchaseItem, clawback_due, earning_breakdown
from chalicelib.domain.program import Program

UTC = dt.UTC
NOON = dt.datetime(2027, 5, 10, 12, 0, 0, tzinfo=UTC)

TIERS = [
    {"name": "basic", "min_spend": 0, "earn_multiplier": "1"},
    {"name": "silver", "min_spend": 100_000, "earn_multiplier": "1.5"},
    {"name": "gold", "min_spend": 300_000, "earn_multiplier": "2"},
]


def program(**fields) -> Program:
    return Program.model_validate({"tiers": TIERS, **fields})


def lines(breakdown) -> dict[str, int]:
    return {line.rule: line.points for line in breakdown.lines}


def item(category: str, amount: int, sku: str = "sku") -> PurchaseItem:
    return PurchaseItem(sku=sku, category=category, amount=amount)


# -- base line ---------------------------------------------------------------
def test_base_line_floors_exact_decimal_product():
    # 999 × 0.015 = 14.985 → 14
    result = earning_breakdown(program(base_rate="0.015"), 999, [], NOON, "basic")
    assert lines(result) == {"base": 14}
    assert result.total == 14


def test_base_line_uses_exact_decimals_not_binary_floats():
    # 100 × 0.29 = 29 exactly (a binary float gives 28.999999999999996 and floors to 28)
    result = earning_breakdown(program(base_rate="0.29"), 100, [], NOON, "basic")
    assert lines(result) == {"base": 29}
    # 100 × 0.57 = 57 exactly (float: 56.99999999999999)
    result = earning_breakdown(program(base_rate="0.57"), 100, [], NOON, "basic")
    assert lines(result) == {"base": 57}


def test_base_line_first_and_as_dict_shape():
    # 12000 × 0.01 = 120
    result = earning_breakdown(program(), 12_000, [], NOON, "basic")
    assert [line.as_dict() for line in result.lines] == [{"rule": "base", "points": 120}]


def test_zero_point_lines_are_dropped_and_total_is_zero():
    # 50 × 0.01 = 0.5 → 0: no line at all
    result = earning_breakdown(program(), 50, [], NOON, "basic")
    assert result.lines == ()
    assert result.total == 0


# -- category lines ----------------------------------------------------------
def test_category_line_is_computed_on_the_summed_amount_of_the_category():
    cfg = program(category_multipliers={"new-arrivals": "2"})
    items = [item("new-arrivals", 150, "a"), item("new-arrivals", 150, "b"), item("coffee", 700)]
    result = earning_breakdown(cfg, 1000, items, NOON, "basic")
    # base: 1000 × 0.01 = 10
    # category:new-arrivals: (150 + 150) × 0.01 × (2 − 1) = 3
    #   (per item it would be 1.5 → 1 twice = 2: the line is on the sum)
    assert lines(result) == {"base": 10, "category:new-arrivals": 3}
    assert result.total == 13


def test_one_line_per_category_each_floored_on_its_own():
    cfg = program(category_multipliers={"new-arrivals": "2", "seasonal": "1.5", "plain": "1"})
    items = [
        item("new-arrivals", 250),
        item("seasonal", 330),
        item("seasonal", 10),
        item("plain", 400),
        item("unlisted", 10),
    ]
    result = earning_breakdown(cfg, 1000, items, NOON, "basic")
    # base: 1000 × 0.01 = 10
    # new-arrivals: 250 × 0.01 × 1 = 2.5 → 2
    # seasonal: 340 × 0.01 × 0.5 = 1.7 → 1
    # plain: multiplier 1 → 0 → dropped; unlisted: no multiplier → no line
    assert lines(result) == {"base": 10, "category:new-arrivals": 2, "category:seasonal": 1}
    assert result.total == 13


# -- promotions --------------------------------------------------------------
WEEK = {"starts_at": "2027-05-01T00:00:00Z", "ends_at": "2027-05-08T00:00:00Z"}


def test_whole_purchase_promotion_covers_the_amount():
    cfg = program(promotions=[{"name": "double", "multiplier": "2", **WEEK, "categories": None}])
    at = dt.datetime(2027, 5, 3, tzinfo=UTC)
    result = earning_breakdown(cfg, 12_345, [item("coffee", 345)], at, "basic")
    # base: 12345 × 0.01 = 123.45 → 123; promotion: 12345 × 0.01 × 1 = 123.45 → 123
    assert lines(result) == {"base": 123, "promotion:double": 123}
    assert result.total == 246


def test_category_promotion_covers_only_items_of_its_categories():
    cfg = program(
        promotions=[
            {"name": "bakery-fest", "multiplier": "3", **WEEK, "categories": ["bakery", "cake"]},
        ]
    )
    at = dt.datetime(2027, 5, 3, tzinfo=UTC)
    items = [item("bakery", 1_250), item("cake", 1_000), item("coffee", 4_000)]
    result = earning_breakdown(cfg, 9_000, items, at, "basic")
    # base: 9000 × 0.01 = 90
    # promotion: (1250 + 1000) × 0.01 × (3 − 1) = 45
    assert lines(result) == {"base": 90, "promotion:bakery-fest": 45}


def test_category_promotion_without_matching_items_adds_nothing():
    cfg = program(promotions=[{"name": "bakery-fest", "multiplier": "3", **WEEK, "categories": ["bakery"]}])
    at = dt.datetime(2027, 5, 3, tzinfo=UTC)
    result = earning_breakdown(cfg, 9_000, [item("coffee", 9_000)], at, "basic")
    assert lines(result) == {"base": 90}


@pytest.mark.parametrize(
    ("occurred_at", "active"),
    [
        ("2027-04-30T23:59:59Z", False),
        ("2027-05-01T00:00:00Z", True),  # starts_at is inside
        ("2027-05-07T23:59:59Z", True),
        ("2027-05-08T00:00:00Z", False),  # ends_at is outside
    ],
)
def test_promotion_window_is_half_open(occurred_at, active):
    cfg = program(promotions=[{"name": "double", "multiplier": "2", **WEEK}])
    at = dt.datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
    result = earning_breakdown(cfg, 10_000, [], at, "basic")
    # base 10000 × 0.01 = 100; promotion (when active) 10000 × 0.01 × 1 = 100
    expected = {"base": 100, "promotion:double": 100} if active else {"base": 100}
    assert lines(result) == expected


def test_every_active_promotion_gets_its_own_line():
    cfg = program(
        promotions=[
            {"name": "double", "multiplier": "2", **WEEK},
            {"name": "plus-half", "multiplier": "1.5", **WEEK, "categories": ["cake"]},
            {
                "name": "later",
                "multiplier": "5",
                "starts_at": "2027-06-01T00:00:00Z",
                "ends_at": "2027-06-02T00:00:00Z",
            },
        ]
    )
    at = dt.datetime(2027, 5, 2, tzinfo=UTC)
    result = earning_breakdown(cfg, 3_333, [item("cake", 333)], at, "basic")
    # base: 3333 × 0.01 = 33.33 → 33
    # double: 3333 × 0.01 × 1 = 33.33 → 33
    # plus-half: 333 × 0.01 × 0.5 = 1.665 → 1
    # later: not active
    assert lines(result) == {"base": 33, "promotion:double": 33, "promotion:plus-half": 1}
    assert result.total == 67


# -- tier line ---------------------------------------------------------------
def test_tier_line_uses_the_given_tier():
    cfg = program()
    # silver: 10001 × 0.01 × 0.5 = 50.005 → 50; base 100.01 → 100
    assert lines(earning_breakdown(cfg, 10_001, [], NOON, "silver")) == {"base": 100, "tier:silver": 50}
    # gold: 10001 × 0.01 × 1 = 100.01 → 100
    assert lines(earning_breakdown(cfg, 10_001, [], NOON, "gold")) == {"base": 100, "tier:gold": 100}
    # basic: multiplier 1 → 0 → no line
    assert lines(earning_breakdown(cfg, 10_001, [], NOON, "basic")) == {"base": 100}


def test_lines_are_floored_separately_not_as_a_total():
    cfg = program()
    result = earning_breakdown(cfg, 150, [], NOON, "silver")
    # base: 150 × 0.01 = 1.5 → 1; tier: 150 × 0.01 × 0.5 = 0.75 → 0 (dropped)
    # (flooring the sum 2.25 would give 2)
    assert lines(result) == {"base": 1}
    assert result.total == 1


def test_all_kinds_of_lines_together():
    cfg = program(
        base_rate="0.03",
        category_multipliers={"new-arrivals": "2"},
        promotions=[{"name": "double", "multiplier": "2", **WEEK}],
    )
    at = dt.datetime(2027, 5, 7, 23, tzinfo=UTC)
    result = earning_breakdown(cfg, 4_321, [item("new-arrivals", 1_111)], at, "silver")
    # base: 4321 × 0.03 = 129.63 → 129
    # category: 1111 × 0.03 × 1 = 33.33 → 33
    # promotion: 4321 × 0.03 × 1 = 129.63 → 129
    # tier: 4321 × 0.03 × 0.5 = 64.815 → 64
    assert lines(result) == {"base": 129, "category:new-arrivals": 33, "promotion:double": 129, "tier:silver": 64}
    assert result.total == 129 + 33 + 129 + 64


# -- clawback ----------------------------------------------------------------
def test_clawback_is_a_running_floor_of_the_refunded_share():
    # earned 100 on an order of 3000, refunded in three parts of 1000
    # 1st: floor(100 × 1000 / 3000) = 33 − 0 = 33
    assert clawback_due(100, 3000, 1000, 0) == 33
    # 2nd: floor(100 × 2000 / 3000) = 66 − 33 = 33
    assert clawback_due(100, 3000, 2000, 33) == 33
    # 3rd: floor(100 × 3000 / 3000) = 100 − 66 = 34 (the parts add up to all 100)
    assert clawback_due(100, 3000, 3000, 66) == 34


def test_clawback_of_small_refunds_catches_up():
    # earned 7 on 1000; refunds of 100 each: floors of 0.7, 1.4, 2.1 → 0, 1, 2
    assert clawback_due(7, 1000, 100, 0) == 0
    assert clawback_due(7, 1000, 200, 0) == 1
    assert clawback_due(7, 1000, 300, 1) == 1


def test_clawback_of_a_zero_point_earn_is_zero():
    assert clawback_due(0, 5000, 5000, 0) == 0


def test_clawback_never_negative():
    assert clawback_due(100, 3000, 1000, 50) == 0


@pytest.mark.parametrize(("order_amount", "refunded_total"), [(3000, 3001), (3000, -1), (0, 0)])
def test_clawback_rejects_refunds_out_of_range(order_amount, refunded_total):
    with pytest.raises(ValueError):
        clawback_due(100, order_amount, refunded_total, 0)


# -- exactness at the edges of the program's decimal strings ----------------------
def test_thirty_digit_rates_are_not_rounded_before_the_floor():
    # 12,000 × 0.033333333333333333333333333333 = 399.999999999999999999999999996 → 399
    rate = "0.033333333333333333333333333333"
    assert lines(earning_breakdown(program(base_rate=rate), 12_000, [], NOON, "basic")) == {"base": 399}
    # (1.99999999999999999999999999999 − 1) × 100 × 0.01 = 0.99999999999999999999999999999 → 0
    p = program(category_multipliers={"tea": "1.99999999999999999999999999999"})
    assert lines(earning_breakdown(p, 100, [item("tea", 100)], NOON, "basic")) == {"base": 1}


def test_lines_below_zero_in_sum_get_a_minimum_line_to_zero():
    # base floor(1.5) = 1; category:gift-card floor(150 × 0.01 × (0 − 1)) = floor(−1.5) = −2
    p = program(category_multipliers={"gift-card": "0"})
    breakdown = earning_breakdown(p, 150, [item("gift-card", 150)], NOON, "basic")
    assert lines(breakdown) == {"base": 1, "category:gift-card": -2, "minimum": 1}
    assert breakdown.total == 0


def test_a_half_multiplier_that_stays_positive_needs_no_minimum_line():
    # base floor(1000 × 0.01) = 10; category:gift-card floor(1000 × 0.01 × −0.5) = −5
    p = program(category_multipliers={"gift-card": "0.5"})
    breakdown = earning_breakdown(p, 1000, [item("gift-card", 1000)], NOON, "basic")
    assert lines(breakdown) == {"base": 10, "category:gift-card": -5}
    assert breakdown.total == 5


# -- §23: the recommendation bonus --------------------------------------------
RECOMMENDING = {"recommendation_bonus": {"extra_rate": "0.05"}}


def test_recommended_items_get_one_line_on_their_summed_amount():
    # recommended: 4,510 + 2,990 = 7,500 × 0.05 = 375 (each floored alone: 225 + 149 = 374);
    # base 12,500 × 0.01 = 125
    purchase = [item("coffee", 4_510, "latte"), item("bakery", 2_990, "scone"), item("coffee", 5_000, "mocha")]
    result = earning_breakdown(program(**RECOMMENDING), 12_500, purchase, NOON, "basic", recommended={"latte", "scone"})
    assert lines(result) == {"base": 125, "recommended": 375}
    assert [line.rule for line in result.lines] == ["base", "recommended"]
    assert result.total == 500


def test_recommended_line_floors_the_sum_not_each_item():
    # 10 + 10 = 20 × 0.05 = 1 (each item alone: 0.5 → 0)
    purchase = [item("coffee", 10, "latte"), item("coffee", 10, "scone")]
    result = earning_breakdown(program(**RECOMMENDING), 20, purchase, NOON, "basic", recommended=["latte", "scone"])
    assert lines(result) == {"recommended": 1}


def test_no_recommended_line_without_the_program_field():
    purchase = [item("coffee", 4_500, "latte")]
    result = earning_breakdown(program(), 4_500, purchase, NOON, "basic", recommended={"latte"})
    assert lines(result) == {"base": 45}


def test_no_recommended_line_when_no_item_is_recommended_or_it_floors_to_zero():
    purchase = [item("coffee", 4_500, "latte"), item("bakery", 19, "cookie")]
    # nothing recommended bought
    result = earning_breakdown(program(**RECOMMENDING), 4_519, purchase, NOON, "basic", recommended={"scone"})
    assert lines(result) == {"base": 45}
    # 19 × 0.05 = 0.95 → 0: omitted like any zero line
    result = earning_breakdown(program(**RECOMMENDING), 4_519, purchase, NOON, "basic", recommended={"cookie"})
    assert lines(result) == {"base": 45}
    # a purchase without items has nothing recommended
    result = earning_breakdown(program(**RECOMMENDING), 4_519, [], NOON, "basic", recommended={"latte"})
    assert lines(result) == {"base": 45}


def test_recommended_line_counts_an_sku_bought_twice_and_stacks_with_the_other_lines():
    # latte twice: 3,000 + 3,000 = 6,000 × 0.05 = 300; silver tier 6,000 × 0.01 × 0.5 = 30;
    # category coffee × 2: 6,000 × 0.01 × 1 = 60
    purchase = [item("coffee", 3_000, "latte"), item("coffee", 3_000, "latte")]
    result = earning_breakdown(
        program(category_multipliers={"coffee": "2"}, **RECOMMENDING),
        6_000,
        purchase,
        NOON,
        "silver",
        recommended=("latte",),
    )
    assert lines(result) == {"base": 60, "category:coffee": 60, "tier:silver": 30, "recommended": 300}
    assert result.total == 450

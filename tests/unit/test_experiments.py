"""§22 comparisons: the interval arithmetic on hand-computed examples, rounding, the all-null case."""

from decimal import Decimal
from fractions import Fraction

import pytest

from chalicelib.domain.experiments import ArmFigures, baseline_of, comparisons, interval, results, rounded


def test_two_arms_of_200_with_50_and_30_purchasers_by_hand():
    # p_a = 50/200 = 0.25, p_b = 30/200 = 0.15, diff = 0.10
    # se² = 0.25·0.75/200 + 0.15·0.85/200 = 0.0009375 + 0.0006375 = 0.001575
    # se = √0.001575 = 0.03968626966596886; 1.96·se = 0.07778508854529896
    # ci95 = [0.10 − 0.07778508854529896, 0.10 + 0.07778508854529896] = [0.02221491145470104, 0.17778508854529896]
    found = interval(50, 200, 30, 200)
    assert found is not None
    assert (found.purchase_rate, found.baseline_rate, found.diff) == (Fraction(1, 4), Fraction(3, 20), Fraction(1, 10))
    assert found.variance == Fraction(1575, 1_000_000)
    assert abs(found.low - Decimal("0.02221491145470104")) < Decimal("1e-16")
    assert abs(found.high - Decimal("0.17778508854529896")) < Decimal("1e-16")
    assert found.significant

    arms = [
        ArmFigures("control", 200, 30, purchases=41, purchase_amount=800_399, control=True),
        ArmFigures("double", 200, 50, purchases=77, purchase_amount=1_000_001, points_awarded=12_000),
    ]
    assert comparisons(arms) == [
        {
            "arm": "double",
            "baseline": "control",
            "purchase_rate": "0.2500",
            "baseline_rate": "0.1500",
            "diff": "0.1000",
            "ci95": ["0.0222", "0.1778"],
            "significant": True,
            # floor(1,000,001 / 200) − floor(800,399 / 200) = 5000 − 4001
            "revenue_per_member_diff": 999,
        }
    ]


def test_an_interval_that_straddles_zero_is_not_significant():
    # 12/100 vs 10/100: diff 0.02; se² = 0.12·0.88/100 + 0.10·0.90/100 = 0.001056 + 0.0009 = 0.001956
    # se = 0.04422668877499196; 1.96·se = 0.08668431; ci95 = [-0.06668431, 0.10668431]
    arms = [ArmFigures("control", 100, 10, control=True), ArmFigures("bonus", 100, 12)]
    (item,) = comparisons(arms)
    assert (item["purchase_rate"], item["baseline_rate"], item["diff"]) == ("0.1200", "0.1000", "0.0200")
    assert item["ci95"] == ["-0.0667", "0.1067"]
    assert item["significant"] is False
    assert item["revenue_per_member_diff"] == 0


def test_a_worse_arm_is_significant_below_zero():
    # 10/200 vs 40/200: diff −0.15; se² = 0.05·0.95/200 + 0.2·0.8/200 = 0.0010375; se = 0.0322102...
    # 1.96·se = 0.06313207; ci95 = [-0.21313207, -0.08686793]
    arms = [ArmFigures("control", 200, 40, control=True), ArmFigures("coupon", 200, 10)]
    (item,) = comparisons(arms)
    assert item["diff"] == "-0.1500"
    assert item["ci95"] == ["-0.2131", "-0.0869"]
    assert item["significant"] is True


def test_an_exact_square_root_gives_exact_bounds():
    # 25/50 vs 25/50: se² = 0.25/50 + 0.25/50 = 0.01, se = 0.1 exactly: ci95 = [-0.196, 0.196]
    found = interval(25, 50, 25, 50)
    assert found is not None and found.low == Decimal("-0.196") and found.high == Decimal("0.196")
    assert not found.significant


def test_no_purchasers_anywhere_gives_a_zero_width_interval_not_significant():
    (item,) = comparisons([ArmFigures("control", 10, 0, control=True), ArmFigures("x", 5, 0)])
    assert item["ci95"] == ["0.0000", "0.0000"] and item["significant"] is False and item["diff"] == "0.0000"


@pytest.mark.parametrize("empty", ["arm", "baseline", "both"])
def test_an_arm_without_members_makes_every_figure_null(empty):
    control = ArmFigures("control", 0 if empty in ("baseline", "both") else 10, 0, control=True)
    other = ArmFigures("double", 0 if empty in ("arm", "both") else 10, 0, purchase_amount=0)
    assert comparisons([control, other]) == [
        {
            "arm": "double",
            "baseline": "control",
            "purchase_rate": None,
            "baseline_rate": None,
            "diff": None,
            "ci95": None,
            "significant": False,
            "revenue_per_member_diff": None,
        }
    ]
    assert interval(0, 0, 0, 10) is None


def test_the_baseline_is_the_first_control_arm_else_the_first_arm():
    a, b, c = ArmFigures("a", 1, 0), ArmFigures("b", 1, 0, control=True), ArmFigures("c", 1, 0, control=True)
    assert baseline_of([a, b, c]) is b
    assert [item["arm"] for item in comparisons([a, b, c])] == ["a", "c"]
    assert baseline_of([a, ArmFigures("d", 1, 1)]) is a
    assert [item["arm"] for item in comparisons([a, ArmFigures("d", 1, 1)])] == ["d"]
    assert comparisons([a]) == [] and comparisons([]) == []


def test_rates_round_half_away_from_zero_to_four_places():
    assert rounded(Fraction(1, 3)) == "0.3333"
    assert rounded(Fraction(1, 2)) == "0.5000"
    assert rounded(Fraction(-867, 10_000)) == "-0.0867"
    assert rounded(Fraction(-86_65, 100_000)) == "-0.0867"  # −0.08665: the half goes away from zero
    assert rounded(Decimal("-0.08665")) == "-0.0867"
    assert rounded(Decimal("0.00005")) == "0.0001"
    assert rounded(Decimal("-0.00004")) == "0.0000"  # never "-0.0000"
    assert rounded(Fraction(-1, 100_000)) == "0.0000"
    assert rounded(Decimal("1")) == "1.0000"


def test_the_answer_lists_every_arm_in_order():
    arms = [ArmFigures("control", 3, 1, 2, 900, 0, 0, control=True), ArmFigures("gift", 2, 2, 3, 1500, 40, 2)]
    answer = results("spring", "2027-05-10T03:00:00Z", arms)
    assert answer["campaign_id"] == "spring" and answer["as_of"] == "2027-05-10T03:00:00Z"
    assert answer["arms"] == [
        {
            "name": "control",
            "members": 3,
            "purchasers": 1,
            "purchases": 2,
            "purchase_amount": 900,
            "points_awarded": 0,
            "coupons_used": 0,
        },
        {
            "name": "gift",
            "members": 2,
            "purchasers": 2,
            "purchases": 3,
            "purchase_amount": 1500,
            "points_awarded": 40,
            "coupons_used": 2,
        },
    ]
    (item,) = answer["comparisons"]
    # p_a = 1, p_b = 1/3; se² = 0 + (1/3)(2/3)/3 = 2/27; se = 0.27216553; 1.96·se = 0.53344444
    assert item["diff"] == "0.6667" and item["ci95"] == ["0.1332", "1.2001"] and item["significant"] is True
    assert item["revenue_per_member_diff"] == 750 - 300

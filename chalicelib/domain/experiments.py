"""A campaign's results as an experiment (contract §22): each arm against the baseline. Pure.

For arms a (the one compared) and b (the baseline), with n members and x purchasers each:

    p = x / n,  diff = p_a − p_b,
    se = sqrt(p_a(1 − p_a)/n_a + p_b(1 − p_b)/n_b) = sqrt(x_a(n_a − x_a)/n_a³ + x_b(n_b − x_b)/n_b³),
    ci95 = [diff − 1.96·se, diff + 1.96·se],  significant = low > 0 or high < 0,
    revenue_per_member_diff = floor(amount_a / n_a) − floor(amount_b / n_b).

p, diff and se² are exact fractions; se is their square root in a 60-digit Decimal context
(exact when se² is a perfect square), so the bounds are decided before anything is rounded.
Rates are then written as §17 says: 4 places, rounded half away from zero. When either arm has
no members every figure is null (`ci95` null, `significant` false).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

Z95 = decimal.Decimal("1.96")
PRECISION = 60  # digits of the square root: far beyond the 4 places the bounds are written with
PLACES = decimal.Decimal("0.0001")


@dataclass(frozen=True)
class ArmFigures:
    """What the refresh counted for one arm."""

    name: str
    members: int
    purchasers: int
    purchases: int = 0
    purchase_amount: int = 0
    points_awarded: int = 0
    coupons_used: int = 0
    control: bool = False  # the arm's reward is null

    def answer(self) -> dict:
        return {
            "name": self.name,
            "members": self.members,
            "purchasers": self.purchasers,
            "purchases": self.purchases,
            "purchase_amount": self.purchase_amount,
            "points_awarded": self.points_awarded,
            "coupons_used": self.coupons_used,
        }


def baseline_of(arms: list[ArmFigures]) -> Optional[ArmFigures]:
    """The first arm whose reward is null, else the first arm (None: no arms)."""
    for arm in arms:
        if arm.control:
            return arm
    return arms[0] if arms else None


def _context() -> decimal.Context:
    return decimal.Context(prec=PRECISION, rounding=decimal.ROUND_HALF_EVEN)


def _decimal(value: Fraction, context: decimal.Context) -> decimal.Decimal:
    return context.divide(decimal.Decimal(value.numerator), decimal.Decimal(value.denominator))


def rounded(value: decimal.Decimal | Fraction) -> str:
    """A rate as §17 writes it: exactly 4 places, rounded half away from zero ("-0.0867");
    a value that rounds to zero is "0.0000", never "-0.0000"."""
    if isinstance(value, Fraction):
        negative = value < 0
        quotient, remainder = divmod(abs(value.numerator) * 10_000, value.denominator)
        if 2 * remainder >= value.denominator:
            quotient += 1
    else:
        negative = value < 0
        quotient = int(abs(value).quantize(PLACES, rounding=decimal.ROUND_HALF_UP) * 10_000)
    whole, places = divmod(quotient, 10_000)
    sign = "-" if negative and quotient else ""
    return f"{sign}{whole}.{places:04d}"


@dataclass(frozen=True)
class Interval:
    """The exact figures of one comparison (before rounding)."""

    purchase_rate: Fraction
    baseline_rate: Fraction
    diff: Fraction
    variance: Fraction  # se²
    low: decimal.Decimal
    high: decimal.Decimal

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def interval(purchasers_a: int, members_a: int, purchasers_b: int, members_b: int) -> Optional[Interval]:
    """The difference of two purchase rates and its 95% interval; None when either arm has no members."""
    if members_a <= 0 or members_b <= 0:
        return None
    if not (0 <= purchasers_a <= members_a and 0 <= purchasers_b <= members_b):
        raise ValueError("purchasers must lie between 0 and the arm's members")
    p_a = Fraction(purchasers_a, members_a)
    p_b = Fraction(purchasers_b, members_b)
    diff = p_a - p_b
    variance = p_a * (1 - p_a) / members_a + p_b * (1 - p_b) / members_b
    context = _context()
    se = context.sqrt(_decimal(variance, context))
    margin = context.multiply(Z95, se)
    centre = _decimal(diff, context)
    return Interval(p_a, p_b, diff, variance, context.subtract(centre, margin), context.add(centre, margin))


def comparison(arm: ArmFigures, baseline: ArmFigures) -> dict:
    """One item of `comparisons`: arm against the baseline."""
    found = interval(arm.purchasers, arm.members, baseline.purchasers, baseline.members)
    if found is None:
        return {
            "arm": arm.name,
            "baseline": baseline.name,
            "purchase_rate": None,
            "baseline_rate": None,
            "diff": None,
            "ci95": None,
            "significant": False,
            "revenue_per_member_diff": None,
        }
    return {
        "arm": arm.name,
        "baseline": baseline.name,
        "purchase_rate": rounded(found.purchase_rate),
        "baseline_rate": rounded(found.baseline_rate),
        "diff": rounded(found.diff),
        "ci95": [rounded(found.low), rounded(found.high)],
        "significant": found.significant,
        "revenue_per_member_diff": arm.purchase_amount // arm.members - baseline.purchase_amount // baseline.members,
    }


def comparisons(arms: list[ArmFigures]) -> list[dict]:
    """One comparison per arm other than the baseline, in the arms' order."""
    baseline = baseline_of(arms)
    if baseline is None:
        return []
    return [comparison(arm, baseline) for arm in arms if arm.name != baseline.name]


def results(campaign_id: str, as_of: Optional[str], arms: list[ArmFigures]) -> dict:
    """The §22 answer of GET /campaigns/{id}/results."""
    return {
        "campaign_id": campaign_id,
        "as_of": as_of,
        "arms": [arm.answer() for arm in arms],
        "comparisons": comparisons(arms),
    }

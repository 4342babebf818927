"""Points earned for a purchase (contract §4, "earn").

Each breakdown line is computed exactly with `Decimal` (a context wide enough
that no product or difference of the program's decimal strings rounds, and
that raises rather than round) and floored on its own; the total is the sum of
the floored lines. Multipliers below 1 give negative lines; should the lines
come to less than zero, a `minimum` line brings the earn to 0 points, so an
earn never debits and its lines always add up to its points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, Inexact, localcontext

from chalicelib.domain.program import Program


@dataclass(frozen=True)
class PurchaseItem:
    sku: str
    category: str
    amount: int


@dataclass(frozen=True)
class BreakdownLine:
    rule: str
    points: int

    def as_dict(self) -> dict:
        return {"rule": self.rule, "points": self.points}


@dataclass(frozen=True)
class EarningBreakdown:
    lines: tuple[BreakdownLine, ...]

    @property
    def total(self) -> int:
        return sum(line.points for line in self.lines)


def floor_points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def earning_breakdown(
    program: Program,
    amount: int,
    items: Sequence[PurchaseItem],
    occurred_at: dt.datetime,
    tier_before: str,
    month_earns: int = 0,
    recommended: Collection[str] = (),
    campaign_lines: Sequence[tuple[str, int]] = (),
) -> EarningBreakdown:
    """`month_earns`: the member's earns whose occurred_at lies in this purchase's
    calendar month (program timezone), this one included (§12). `recommended`:
    the skus of the member's current recommendations (§23: their stored list, or
    the cold-start list), which the program's `recommendation_bonus` rewards.
    `campaign_lines`: (rule, points) of the member's campaigns (§22), already floored."""
    with localcontext() as exact:
        exact.prec = 200
        exact.traps[Inexact] = True
        breakdown = _breakdown(program, amount, items, occurred_at, tier_before, month_earns, frozenset(recommended))
    if not campaign_lines:
        return breakdown
    # §22: the campaigns' lines (domain.campaigns.campaign_lines), each floored already
    lines = [line for line in breakdown.lines if line.rule != "minimum"]
    lines += [BreakdownLine(rule, points) for rule, points in campaign_lines]
    total = sum(line.points for line in lines)
    if total < 0:
        lines.append(BreakdownLine("minimum", -total))
    return EarningBreakdown(tuple(line for line in lines if line.points != 0))


def _breakdown(
    program: Program,
    amount: int,
    items: Sequence[PurchaseItem],
    occurred_at: dt.datetime,
    tier_before: str,
    month_earns: int,
    recommended: frozenset[str],
) -> EarningBreakdown:
    rate = Decimal(program.base_rate)
    lines: list[BreakdownLine] = [BreakdownLine("base", floor_points(amount * rate))]

    by_category: dict[str, int] = {}
    for item in items:
        by_category[item.category] = by_category.get(item.category, 0) + item.amount
    for category, spent in by_category.items():
        multiplier = program.category_multipliers.get(category)
        if multiplier is not None:
            extra = spent * rate * (Decimal(multiplier) - 1)
            lines.append(BreakdownLine(f"category:{category}", floor_points(extra)))

    for promotion in program.promotions:
        if not promotion.active_at(occurred_at):
            continue
        if promotion.categories is None:
            covered = amount
        else:
            wanted = set(promotion.categories)
            covered = sum(i.amount for i in items if i.category in wanted)
        extra = covered * rate * (Decimal(promotion.multiplier) - 1)
        lines.append(BreakdownLine(f"promotion:{promotion.name}", floor_points(extra)))

    tier = program.tier(tier_before)
    extra = amount * rate * (Decimal(tier.earn_multiplier) - 1)
    lines.append(BreakdownLine(f"tier:{tier.name}", floor_points(extra)))

    bonus = program.frequency_bonus
    if bonus is not None and month_earns >= bonus.min_purchases:
        lines.append(BreakdownLine("frequency", floor_points(amount * Decimal(bonus.extra_rate))))

    recommendation = program.recommendation_bonus
    if recommendation is not None and recommended:
        spent = sum(i.amount for i in items if i.sku in recommended)
        lines.append(BreakdownLine("recommended", floor_points(spent * Decimal(recommendation.extra_rate))))

    total = sum(line.points for line in lines)
    if total < 0:
        lines.append(BreakdownLine("minimum", -total))
    return EarningBreakdown(tuple(line for line in lines if line.points != 0))


def clawback_due(earned: int, order_amount: int, refunded_total: int, clawed_so_far: int) -> int:
    """Points a refund claws back: the running floor of the refunded share of
    the earn, less what earlier refunds of the order already clawed back (what
    each was due; a part it could not take stays unrecovered, not carried on)."""
    if not 0 <= refunded_total <= order_amount or order_amount <= 0:
        raise ValueError("refunded total out of range")
    due = (earned * refunded_total) // order_amount - clawed_so_far
    return max(due, 0)

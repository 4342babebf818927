"""`POST /program/preview` (admin): the points a sample purchase would earn
under a program configuration that is not saved — the operator console shows
it before `PUT /program`. Nothing is read or written but the request.
"""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field, model_validator

from chalicelib import clock
from chalicelib.api.schemas import Amount, InstantText, Item, Request, Text
from chalicelib.domain.calendar import parse_instant
from chalicelib.domain.earning import PurchaseItem, earning_breakdown
from chalicelib.domain.program import Program
from chalicelib.errors import ValidationError


class SamplePurchase(Request):
    amount: Amount
    items: Optional[list[Item]] = Field(default=None, max_length=1000)
    occurred_at: Optional[InstantText] = None
    tier: Optional[Text] = Field(
        default=None, description="the tier held before the purchase (default: the first tier)"
    )
    month_earns: Annotated[int, Field(ge=1, le=100000)] = Field(
        default=1, description="earns in the calendar month including this one (for the frequency bonus line)"
    )

    @model_validator(mode="after")
    def _items_fit(self):
        if self.items and sum(i.amount for i in self.items) > self.amount:
            raise ValueError("item amounts add up to more than the purchase amount")
        return self


class ProgramPreview(Request):
    """A program configuration (the `PUT /program` body) and a sample purchase."""

    program: Program = Field(default_factory=Program)
    purchase: SamplePurchase


def preview(request: ProgramPreview) -> dict:
    program, purchase = request.program, request.purchase
    tier = purchase.tier if purchase.tier is not None else program.base_tier
    if tier not in [t.name for t in program.tiers]:
        raise ValidationError(f"purchase.tier: {tier[:80]!r} is not a tier of the program")
    occurred = parse_instant(purchase.occurred_at) if purchase.occurred_at else clock.now()
    items = [PurchaseItem(i.sku, i.category, i.amount) for i in purchase.items or []]
    breakdown = earning_breakdown(program, purchase.amount, items, occurred, tier, month_earns=purchase.month_earns)
    return {"points": breakdown.total, "breakdown": [line.as_dict() for line in breakdown.lines], "tier": tier}

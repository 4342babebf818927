"""Request bodies (pydantic v2, strict): what the API accepts, nothing more."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from chalicelib import clock
from chalicelib.domain.calendar import format_instant, parse_date, parse_instant

MAX_POINTS = 10**12
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

Text = Annotated[str, Field(min_length=1, max_length=200)]
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
Points = Annotated[int, Field(ge=1, le=MAX_POINTS)]
Amount = Annotated[int, Field(ge=1, le=MAX_POINTS)]


def _birthday(text: str) -> str:
    day = parse_date(text)
    # up to today where it is latest (UTC+14): a birthday entered at midnight anywhere
    if day.year < 1900 or day > (clock.now() + dt.timedelta(hours=14)).date():
        raise ValueError("a birthday is a past date (1900 or later)")
    return day.isoformat()


def _instant(text: str) -> str:
    return format_instant(parse_instant(text))


def _email(text: str) -> str:
    """An address as given, once the maintained `email-validator` accepts its syntax
    (no deliverability lookup: no network on a request). Imported here, on the
    first address: most requests carry none, and a cold start need not load it."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as error:
        raise ValueError(f"not an email address: {error}") from None
    return text


def _nonzero(value: int) -> int:
    if value == 0:
        raise ValueError("points must not be zero")
    return value


Birthday = Annotated[str, Field(max_length=10), AfterValidator(_birthday)]
InstantText = Annotated[str, Field(max_length=40), AfterValidator(_instant)]
Email = Annotated[str, Field(min_length=3, max_length=200), AfterValidator(_email)]


def _phone(text: str) -> str:
    # read in the default region here; delivery reads it in the program's phone_region
    from chalicelib.domain.phones import InvalidPhoneError, to_e164

    try:
        to_e164(text)
    except InvalidPhoneError:
        raise ValueError("not a phone number (such as 010-1234-5678 or +821012345678)") from None
    return text


Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ().-]{2,31}$"), AfterValidator(_phone)]


class Request(BaseModel):
    # defer_build: a body model's validator is built on its first request, not when
    # the app is imported (a cold start builds none of the ~20 it may never use)
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class CreateMember(Request):
    member_id: Optional[Identifier] = None
    name: Text
    email: Optional[Email] = None
    phone: Optional[Phone] = None
    birthday: Optional[Birthday] = None
    referral_code: Optional[Text] = None
    locale: Optional[Literal["ko", "en"]] = None  # the language of the member's notifications


class Item(Request):
    sku: Text
    category: Text
    amount: Amount


class Earn(Request):
    order_id: Text
    amount: Amount
    items: Optional[list[Item]] = Field(default=None, max_length=1000)
    occurred_at: Optional[InstantText] = None

    @model_validator(mode="after")
    def _items_fit(self):
        if self.items and sum(i.amount for i in self.items) > self.amount:
            raise ValueError("item amounts add up to more than the purchase amount")
        return self


class Activity(Request):
    type: Text
    reference_id: Text


class Redeem(Request):
    points: Optional[Points] = None
    order_id: Optional[Text] = None
    reward_id: Optional[Text] = None

    @model_validator(mode="after")
    def _points_or_reward(self):
        if self.points is None and self.reward_id is None:
            raise ValueError("points is required for a cash redemption")
        return self


class Reversal(Request):
    amount: Optional[Amount] = None
    points: Optional[Points] = None


class Transfer(Request):
    to_member_id: Identifier
    points: Points


class Adjustment(Request):
    points: Annotated[int, Field(ge=-MAX_POINTS, le=MAX_POINTS), AfterValidator(_nonzero)]
    reason: Text


class CreateReward(Request):
    reward_id: Text
    name: Text
    points_cost: Points
    stock: Optional[Annotated[int, Field(ge=0, le=MAX_POINTS)]] = None


class AmountOff(Request):
    type: Literal["amount"]
    amount: Amount


class PercentOff(Request):
    type: Literal["percent"]
    percent: Annotated[int, Field(ge=1, le=100)]
    max_amount: Optional[Amount] = None


class CreateCouponTemplate(Request):
    template_id: Text
    name: Text
    discount: Annotated[Union[AmountOff, PercentOff], Field(discriminator="type")]
    min_order_amount: Annotated[int, Field(ge=0, le=MAX_POINTS)] = 0
    valid_days: Annotated[int, Field(ge=1, le=36500)] = 30
    points_cost: Optional[Points] = None


class IssueCoupon(Request):
    template_id: Text


class UseCoupon(Request):
    member_id: Identifier
    order_id: Text
    order_amount: Amount


class ReleaseCoupon(Request):
    member_id: Identifier


class Suspension(Request):
    reason: Text


class UpdateMember(Request):
    """PATCH /members/{id}: the fields given are replaced (null clears email, phone,
    birthday or locale); lookups by phone and email follow at once."""

    name: Optional[Text] = None
    email: Optional[Email] = None
    phone: Optional[Phone] = None
    birthday: Optional[Birthday] = None
    locale: Optional[Literal["ko", "en"]] = None


class CreateSegment(Request):
    """§21: `rules` (1-10) must all hold; each `{"field", "op", "value"}` is checked
    by chalicelib/domain/segments.py (a 400 names the rule: `rules[0].op: ...`)."""

    segment_id: Text
    name: Text
    rules: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=10)]


class CreateWebhook(Request):
    """§24: `url` https:// (http://127.0.0.1 and http://localhost only outside AWS);
    `events` one or more event types (chalicelib/webhooks/registry.py checks both)."""

    url: Annotated[str, Field(min_length=1, max_length=2000)]
    events: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=24)]

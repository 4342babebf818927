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


class ImportLine(CreateMember):
    """§25: one line of an import: a member as POST /members takes it (the same fields and
    rules), with an id always given, no referral code, and its opening figures."""

    member_id: Identifier
    opening_balance: Annotated[int, Field(ge=0, le=MAX_POINTS)] = 0
    opening_expires_at: Optional[InstantText] = None
    lifetime_spend: Annotated[int, Field(ge=0, le=MAX_POINTS)] = 0

    @model_validator(mode="after")
    def _no_referral(self):
        if self.referral_code is not None:
            raise ValueError("referral_code is not taken by an import")
        return self


MAX_IMPORT_BYTES = 5 * 1024 * 1024  # §25: the data of one POST /imports, in UTF-8
S3_KEY_PATTERN = r"^uploads/[A-Za-z0-9!_.*'()/-]{1,900}$"


class CreateImport(Request):
    """§25: `data` (JSON lines, at most 5 MiB) or `s3_key` (a file uploaded to the imports
    bucket under `uploads/`), exactly one of them."""

    format: Literal["jsonl"]
    data: Optional[str] = None
    s3_key: Optional[Annotated[str, Field(pattern=S3_KEY_PATTERN)]] = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.data is None) == (self.s3_key is None):
            raise ValueError("give exactly one of data and s3_key")
        if self.data is not None and len(self.data.encode("utf-8", "surrogatepass")) > MAX_IMPORT_BYTES:
            raise ValueError(f"data is larger than {MAX_IMPORT_BYTES} bytes (5 MiB); upload it and give s3_key")
        return self


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


def _campaign_instant(text: str) -> str:
    """A campaign's starts_at / ends_at: whole seconds (an earn's time is kept in whole seconds)."""
    moment = parse_instant(text)
    if "." in text:
        raise ValueError("campaign times are whole seconds, such as 2027-03-01T00:00:00Z")
    return format_instant(moment)


def _multiplier(text: str) -> str:
    from chalicelib.domain.program import _decimal_string

    return _decimal_string(text)


CampaignInstant = Annotated[str, Field(max_length=40), AfterValidator(_campaign_instant)]


class MultiplierReward(Request):
    type: Literal["multiplier"]
    multiplier: Annotated[str, AfterValidator(_multiplier)]


class BonusReward(Request):
    type: Literal["bonus"]
    points: Points
    min_amount: Annotated[int, Field(ge=0, le=MAX_POINTS)] = 0


class CouponReward(Request):
    type: Literal["coupon"]
    template_id: Text


class CampaignArm(Request):
    name: Text
    weight: Annotated[int, Field(ge=1, le=100)]
    reward: Optional[Annotated[Union[MultiplierReward, BonusReward, CouponReward], Field(discriminator="type")]]


class CreateCampaign(Request):
    """§22: 1-5 arms with unique names and weights summing to 100; the segment and the
    coupon templates must exist (checked against the table, chalicelib/ledger/campaigns.py)."""

    campaign_id: Text
    name: Text
    segment_id: Optional[Text] = None
    starts_at: CampaignInstant
    ends_at: CampaignInstant
    arms: Annotated[list[CampaignArm], Field(min_length=1, max_length=5)]
    notify: bool = True

    @model_validator(mode="after")
    def _campaign_rules(self):
        from chalicelib.domain.campaigns import validate_arms

        if parse_instant(self.ends_at) <= parse_instant(self.starts_at):
            raise ValueError("ends_at must be after starts_at")
        validate_arms([{"name": arm.name, "weight": arm.weight} for arm in self.arms])
        return self


class CreateWebhook(Request):
    """§24: `url` https:// (http://127.0.0.1 and http://localhost only outside AWS);
    `events` one or more event types (chalicelib/webhooks/registry.py checks both)."""

    url: Annotated[str, Field(min_length=1, max_length=2000)]
    events: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=24)]

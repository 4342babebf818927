"""The program configuration (contract §2) and its validation.

A program is validated in full where one comes in (`PUT /program`, the preview).
The stored one, which only `Programs.replace` writes (the JSON of a validated
program), is read back by `stored_program` without pydantic validating it again:
a cold start then never builds the validators of these models (about 20 ms of
CPU), only the first `PUT /program` of a container does (`defer_build`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import types
import typing
from decimal import Decimal
from typing import Annotated, Any, Optional, Self, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from chalicelib.domain.calendar import format_instant, parse_instant, zone

MAX_POINTS = 10**12
Name = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0, le=MAX_POINTS)]


DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
MAX_RATE = 1000


def _decimal_string(text: str) -> str:
    """A rate or multiplier: a plain decimal string from "0" to "1000"."""
    if len(text) > 32:
        raise ValueError("decimal string too long")
    if not DECIMAL.fullmatch(text):
        raise ValueError('expected a decimal string such as "1.5" (digits, an optional fraction)')
    if Decimal(text) > MAX_RATE:
        raise ValueError(f"rates and multipliers are at most {MAX_RATE}")
    return text


Rate = Annotated[str, AfterValidator(_decimal_string)]


def _whole_second_instant(text: str) -> str:
    """A promotion boundary. Purchase times are compared in whole seconds, so a
    boundary must be one: a fraction would be moved, changing the window."""
    moment = parse_instant(text)
    if "." in text:
        raise ValueError("promotion times are whole seconds, such as 2027-03-01T00:00:00Z")
    return format_instant(moment)


Instant = Annotated[str, Field(max_length=40), AfterValidator(_whole_second_instant)]


class _Strict(BaseModel):
    # defer_build: the validator is built on the first validation (a PUT /program),
    # not on import; a stored program is read by `stored_program` without one
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class Referral(_Strict):
    referrer_points: Count = 1000
    referee_points: Count = 1000


class Redemption(_Strict):
    min_points: Count = 1000


class TransferRules(_Strict):
    """Which members may gift points (POST /members/{member_id}/transfers)."""

    allowed_tiers: list[Name] = Field(default_factory=list, max_length=100)
    min_points: Count = 1  # transfers are of 1 point or more anyway


class Promotion(_Strict):
    name: Name
    multiplier: Rate
    starts_at: Instant
    ends_at: Instant
    categories: Optional[list[Name]] = None

    @model_validator(mode="after")
    def _window(self) -> Self:
        if parse_instant(self.ends_at) <= parse_instant(self.starts_at):
            raise ValueError("ends_at must be after starts_at")
        return self

    def active_at(self, moment: dt.datetime) -> bool:
        return parse_instant(self.starts_at) <= moment < parse_instant(self.ends_at)


class FrequencyBonus(_Strict):
    """§12: the `min_purchases`-th earn of a calendar month and later ones get
    `frequency` = floor(amount × extra_rate)."""

    min_purchases: Annotated[int, Field(ge=1, le=1000)]
    extra_rate: Rate


class RecommendationBonus(_Strict):
    """§23: an earn's items whose sku is among the member's current recommendations
    get `recommended` = floor(sum of their amounts × extra_rate)."""

    extra_rate: Rate


class Dormancy(_Strict):
    """§14: a member is dormant from `last_activity_at` + `after_days`."""

    after_days: Annotated[int, Field(ge=1, le=36500)]


class Limits(_Strict):
    """§15: per member and calendar day (program timezone) of the request."""

    max_earns_per_day: Optional[Annotated[int, Field(ge=1, le=MAX_POINTS)]] = None
    max_earn_points_per_day: Optional[Annotated[int, Field(ge=0, le=MAX_POINTS)]] = None


TemplateId = Name  # as a reward_id


class AutoCoupons(_Strict):
    """§11: coupon templates issued automatically."""

    signup: Optional[TemplateId] = None
    birthday: Optional[TemplateId] = None
    tier_up: dict[Name, TemplateId] = Field(default_factory=dict, max_length=50)
    win_back: Optional[TemplateId] = None

    def template_ids(self) -> set[str]:
        named = {self.signup, self.birthday, self.win_back, *self.tier_up.values()}
        return {t for t in named if t is not None}


class Tier(_Strict):
    name: Name
    min_spend: Count
    earn_multiplier: Rate = "1"
    expiry_days: Optional[Annotated[int, Field(ge=1, le=36500)]] = None


MAX_PENDING_DAYS = 365


class Program(_Strict):
    currency: Annotated[str, Field(min_length=1, max_length=16)] = "KRW"
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "Asia/Seoul"
    point_value: Count = 1
    base_rate: Rate = "0.01"
    category_multipliers: dict[Name, Rate] = Field(default_factory=dict)
    promotions: list[Promotion] = Field(default_factory=list, max_length=100)
    signup_bonus: Count = 1000
    referral: Referral = Field(default_factory=Referral.model_construct)
    birthday_bonus: Count = 0
    activities: dict[Name, Count] = Field(default_factory=lambda: {"review": 100})
    expiry_days: Annotated[int, Field(ge=1, le=36500)] = 365
    expiry_warning_days: Annotated[int, Field(ge=0, le=36500)] = 7
    # where a phone written without a country code is read (ISO 3166 region, for SMS)
    phone_region: Annotated[str, Field(min_length=2, max_length=3)] = "KR"
    redemption: Redemption = Field(default_factory=Redemption.model_construct)
    transfer: TransferRules = Field(default_factory=TransferRules.model_construct)
    tiers: list[Tier] = Field(
        default_factory=lambda: [Tier.model_construct(name="basic", min_spend=0)],
        min_length=1,
        max_length=50,
    )
    frequency_bonus: Optional[FrequencyBonus] = None
    dormancy: Optional[Dormancy] = None
    limits: Limits = Field(default_factory=Limits.model_construct)
    auto_coupons: AutoCoupons = Field(default_factory=AutoCoupons.model_construct)
    recommendation_bonus: Optional[RecommendationBonus] = None
    # §25: an earn's points are pending (not spendable) for this many days after the
    # purchase: the return window. A year at most.
    pending_days: Annotated[int, Field(ge=0, le=MAX_PENDING_DAYS)] = 0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except Exception:
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        from chalicelib.domain.phones import is_known_region

        if not is_known_region(value):
            raise ValueError(f'unknown phone region {value!r} (an ISO 3166 code such as "KR")')
        return value

    @model_validator(mode="after")
    def _tiers_ascending(self) -> Self:
        if self.tiers[0].min_spend != 0:
            raise ValueError("the first tier must have min_spend 0")
        for lower, upper in zip(self.tiers, self.tiers[1:], strict=False):
            if upper.min_spend <= lower.min_spend:
                raise ValueError("tiers must be in strictly ascending min_spend")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        unknown = sorted(set(self.auto_coupons.tier_up) - set(names))
        if unknown:
            raise ValueError(f"auto_coupons.tier_up names a tier that is not configured: {unknown[0]!r}")
        return self

    # -- reading helpers -------------------------------------------------
    def tier(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        return self.tiers[0]

    @property
    def base_tier(self) -> str:
        return self.tiers[0].name

    def tier_for_spend(self, spend: int) -> str:
        held = self.tiers[0].name
        for tier in self.tiers:
            if tier.min_spend <= spend:
                held = tier.name
        return held

    def tier_rank(self, name: str) -> int:
        for index, tier in enumerate(self.tiers):
            if tier.name == name:
                return index
        return 0

    def next_tier(self, name: str) -> Optional[Tier]:
        rank = self.tier_rank(name)
        return self.tiers[rank + 1] if rank + 1 < len(self.tiers) else None

    def lot_lifetime_days(self, tier_name: str) -> int:
        days = self.tier(tier_name).expiry_days
        return days if days is not None else self.expiry_days


# -- the stored program ----------------------------------------------------
class _NotAsWritten(Exception):
    """The stored JSON is not what `model_dump_json` of a program writes."""


_Nested = tuple[str, type[BaseModel]]  # ("one" | "optional" | "list", the model)
_NESTED: dict[type[BaseModel], dict[str, _Nested]] = {}


def _mentions_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_mentions_model(arg) for arg in typing.get_args(annotation))


def _nested_shape(annotation: Any) -> Optional[_Nested]:
    """How a field holds other models: `Model`, `Optional[Model]` or `list[Model]`;
    None when it holds none (its JSON value is the value). Any other shape holding a
    model is refused: `stored_program` would not rebuild it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("one", annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = args[0] if args[1] is type(None) else args[1]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return ("optional", inner)
    if origin is list and len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return ("list", args[0])
    if _mentions_model(annotation):
        raise TypeError(f"stored_program cannot rebuild a field of type {annotation!r}")
    return None


def nested_fields(model: type[BaseModel]) -> dict[str, _Nested]:
    """The fields of `model` that hold models, and how (worked out once per model)."""
    plan = _NESTED.get(model)
    if plan is None:
        plan = {}
        for name, field in model.model_fields.items():
            shape = _nested_shape(field.annotation)
            if shape is not None:
                plan[name] = shape
        _NESTED[model] = plan
    return plan


def _rebuilt(model: type[BaseModel], data: Any) -> BaseModel:
    if not isinstance(data, dict) or not data.keys() <= model.model_fields.keys():
        raise _NotAsWritten
    values = dict(data)
    for name, (kind, inner) in nested_fields(model).items():
        if name not in values:
            continue
        value = values[name]
        if kind == "list":
            if not isinstance(value, list):
                raise _NotAsWritten
            values[name] = [_rebuilt(inner, item) for item in value]
        elif value is not None or kind == "one":
            values[name] = _rebuilt(inner, value)
    return model.model_construct(**values)


def stored_program(config: str) -> Program:
    """The program stored as `config`, the `model_dump_json()` of a validated program
    (`Programs.replace` is its only writer; fields added since it was written take
    their defaults). Its values were validated when it was written, and the JSON
    holds them as they are (strings, integers, lists, objects, null), so the models
    are made from it directly: equal to `Program.model_validate_json(config)`, field
    for field and type for type (tests/unit/test_program.py), without building a
    validator. JSON of any other shape (an unknown field, a list where a model
    goes) is validated in full, and fails as it always did."""
    try:
        return typing.cast(Program, _rebuilt(Program, json.loads(config)))
    except (_NotAsWritten, ValueError):
        return Program.model_validate_json(config)


def default_program() -> Program:
    """The program before any `PUT /program`: `Program()`, made without building a validator."""
    return Program.model_construct()

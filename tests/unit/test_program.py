"""The program configuration (contract §2): defaults and validation."""

from __future__ import annotations

import json
import pathlib

import pydantic
import pytest

from chalicelib.domain.program import Program, Tier, default_program, nested_fields, stored_program
from tests.checks import CONTRACT_DEFAULTS

DEMO = json.loads((pathlib.Path(__file__).resolve().parents[2] / "examples" / "cafe-program-v1.json").read_text())

PROMO = {
    "name": "double",
    "multiplier": "2",
    "starts_at": "2027-03-01T00:00:00Z",
    "ends_at": "2027-03-08T00:00:00Z",
    "categories": None,
}


def dumped(program: Program) -> dict:
    return json.loads(program.model_dump_json())


def test_empty_configuration_takes_exactly_the_contract_defaults():
    assert dumped(Program()) == CONTRACT_DEFAULTS
    assert dumped(Program.model_validate({})) == CONTRACT_DEFAULTS


def test_omitted_fields_take_defaults_and_given_ones_are_kept():
    program = Program.model_validate({"signup_bonus": 0, "timezone": "UTC"})
    expected = {**CONTRACT_DEFAULTS, "signup_bonus": 0, "timezone": "UTC"}
    assert dumped(program) == expected


def test_nested_objects_take_their_own_defaults():
    program = Program.model_validate({"referral": {"referrer_points": 5}, "transfer": {"min_points": 10}})
    assert dumped(program)["referral"] == {"referrer_points": 5, "referee_points": 1000}
    assert dumped(program)["transfer"] == {"allowed_tiers": [], "min_points": 10}


def test_defaults_are_not_shared_between_programs():
    a = Program()
    b = Program()
    assert a.activities is not b.activities
    assert a.tiers is not b.tiers


def test_demo_program_is_valid_and_round_trips():
    program = Program.model_validate(DEMO)
    v2_defaults = {
        k: CONTRACT_DEFAULTS[k]
        for k in ("frequency_bonus", "dormancy", "limits", "auto_coupons", "recommendation_bonus", "pending_days")
    }
    # the v1 demo leaves the default region and the v2 fields
    assert dumped(program) == {"phone_region": "KR", **v2_defaults, **DEMO}
    assert Program.model_validate_json(program.model_dump_json()) == program


def test_v2_demo_program_is_valid_and_round_trips():
    demo = json.loads((pathlib.Path(__file__).resolve().parents[2] / "examples" / "cafe-program.json").read_text())
    program = Program.model_validate(demo)
    assert dumped(program) == {"phone_region": "KR", "recommendation_bonus": None, "pending_days": 0, **demo}
    assert program.frequency_bonus.min_purchases == 3 and program.dormancy.after_days == 180


def test_promotion_instants_are_stored_as_utc_with_z():
    program = Program.model_validate(
        {
            "promotions": [
                {**PROMO, "starts_at": "2027-03-01T09:00:00+09:00", "ends_at": "2027-03-08T09:00:00+09:00"},
            ]
        }
    )
    assert dumped(program)["promotions"][0]["starts_at"] == "2027-03-01T00:00:00Z"
    assert dumped(program)["promotions"][0]["ends_at"] == "2027-03-08T00:00:00Z"


def invalid(config: dict) -> None:
    with pytest.raises(pydantic.ValidationError):
        Program.model_validate(config)


@pytest.mark.parametrize(
    "tiers",
    [
        # unsorted
        [{"name": "basic", "min_spend": 0}, {"name": "gold", "min_spend": 300}, {"name": "silver", "min_spend": 100}],
        # equal thresholds
        [{"name": "basic", "min_spend": 0}, {"name": "silver", "min_spend": 0}],
        # the first tier must start at 0
        [{"name": "silver", "min_spend": 100}, {"name": "gold", "min_spend": 300}],
        # duplicate names
        [{"name": "basic", "min_spend": 0}, {"name": "basic", "min_spend": 100}],
        # no tier at all
        [],
        # negative spend or multiplier, bad expiry
        [{"name": "basic", "min_spend": -1}],
        [{"name": "basic", "min_spend": 0, "earn_multiplier": "-1"}],
        [{"name": "basic", "min_spend": 0, "expiry_days": 0}],
        [{"name": "basic", "min_spend": 0, "expiry_days": -30}],
        # empty name, unknown field
        [{"name": "", "min_spend": 0}],
        [{"name": "basic", "min_spend": 0, "colour": "green"}],
    ],
)
def test_invalid_tiers_are_rejected(tiers):
    invalid({"tiers": tiers})


def test_sorted_tiers_are_accepted():
    program = Program.model_validate(
        {
            "tiers": [
                {"name": "basic", "min_spend": 0},
                {"name": "silver", "min_spend": 100, "earn_multiplier": "1.25", "expiry_days": 500},
            ]
        }
    )
    assert [t.name for t in program.tiers] == ["basic", "silver"]
    assert program.lot_lifetime_days("silver") == 500
    assert program.lot_lifetime_days("basic") == 365  # falls back to expiry_days


@pytest.mark.parametrize(
    "config",
    [
        {"point_value": -1},
        {"signup_bonus": -1},
        {"birthday_bonus": -5},
        {"referral": {"referrer_points": -1}},
        {"referral": {"referee_points": -1}},
        {"activities": {"review": -100}},
        {"expiry_days": -1},
        {"expiry_days": 0},
        {"expiry_warning_days": -1},
        {"redemption": {"min_points": -1}},
        {"transfer": {"min_points": -1}},
        {"base_rate": "-0.01"},
        {"category_multipliers": {"new-arrivals": "-2"}},
        {"promotions": [{**PROMO, "multiplier": "-1"}]},
        {"signup_bonus": 10**12 + 1},
    ],
)
def test_negative_or_out_of_range_numbers_are_rejected(config):
    invalid(config)


@pytest.mark.parametrize(
    "config",
    [
        {"base_rate": "abc"},
        {"base_rate": "NaN"},
        {"base_rate": "Infinity"},
        {"base_rate": 0.01},  # rates are decimal strings, not JSON numbers
        {"signup_bonus": "1000"},  # points are integers, not strings
        {"signup_bonus": 10.5},
        {"timezone": "Mars/Olympus"},
        {"currency": ""},
        {"unknown_field": 1},
        {"referral": {"referrer_points": 1, "bonus": 2}},
    ],
)
def test_wrong_types_and_unknown_fields_are_rejected(config):
    invalid(config)


@pytest.mark.parametrize(
    "changes",
    [
        {"starts_at": "2027-13-01T00:00:00Z"},
        {"starts_at": "2027-02-30T00:00:00Z"},
        {"starts_at": "not a date"},
        {"ends_at": "2027-03-08"},  # a date, not an instant
        {"ends_at": "2027-03-08T00:00:00"},  # no zone
        {"starts_at": 1767225600},
        {"ends_at": "2027-03-01T00:00:00Z"},  # ends_at == starts_at
        {"ends_at": "2027-02-28T23:59:59Z"},  # ends_at < starts_at
        {"ends_at": "2027-03-01T08:59:59+09:00"},  # before starts_at once in UTC
        {"name": ""},
        {"categories": "bakery"},
    ],
)
def test_invalid_promotions_are_rejected(changes):
    invalid({"promotions": [{**PROMO, **changes}]})


def test_one_second_promotion_is_valid():
    program = Program.model_validate({"promotions": [{**PROMO, "ends_at": "2027-03-01T00:00:01Z"}]})
    assert len(program.promotions) == 1


def test_program_is_immutable():
    program = Program()
    with pytest.raises(pydantic.ValidationError):
        program.signup_bonus = 5  # type: ignore[misc]


def test_tier_helpers():
    program = Program.model_validate(DEMO)
    assert program.base_tier == "새싹"
    assert program.tier_for_spend(299_999) == "새싹"
    assert program.tier_for_spend(300_000) == "열매"
    assert program.tier_for_spend(999_999) == "나무"
    assert program.tier_for_spend(1_000_000) == "숲"
    assert program.next_tier("열매").name == "나무"
    assert program.next_tier("숲") is None
    assert program.lot_lifetime_days("새싹") == 365
    assert program.lot_lifetime_days("나무") == 540
    assert program.lot_lifetime_days("숲") == 730


@pytest.mark.parametrize(
    "rate",
    [
        "1e2",
        "1E-2",
        " 1.5",
        "1.5 ",
        "+1",
        "-0.5",
        ".5",
        "1.",
        "1,5",
        "NaN",
        "Infinity",
        "1000.0000001",
        "0x10",
        "１.５",
        "",
    ],
)
def test_rates_are_plain_decimal_strings_from_0_to_1000(rate):
    with pytest.raises(pydantic.ValidationError):
        Program.model_validate({"base_rate": rate})


@pytest.mark.parametrize("rate", ["0", "0.5", "1000", "0.033333333333333333333333333333"])
def test_rates_within_the_range_are_kept_as_written(rate):
    assert Program.model_validate({"base_rate": rate}).base_rate == rate


def test_a_transfer_minimum_of_zero_is_a_valid_configuration():
    assert Program.model_validate({"transfer": {"min_points": 0}}).transfer.min_points == 0


def test_recommendation_bonus_takes_a_decimal_rate_and_defaults_to_null():
    assert Program().recommendation_bonus is None
    program = Program.model_validate({"recommendation_bonus": {"extra_rate": "0.05"}})
    assert dumped(program)["recommendation_bonus"] == {"extra_rate": "0.05"}
    for bad in (
        {"extra_rate": "-0.05"},
        {"extra_rate": 0.05},
        {"extra_rate": "five"},
        {},
        {"extra_rate": "0.05", "x": 1},
    ):
        with pytest.raises(pydantic.ValidationError):
            Program.model_validate({"recommendation_bonus": bad})


# -- the stored program: read without validating again (stored_program) ------
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
EVERY_FIELD = {  # every field away from its default, every nested model present
    "currency": "USD",
    "timezone": "America/New_York",
    "point_value": 2,
    "base_rate": "0.05",
    "category_multipliers": {"bakery": "1.5", "새 상품": "2"},
    "promotions": [
        {**PROMO, "starts_at": "2027-03-01T09:00:00+09:00", "categories": ["bakery", "coffee"]},
        {**PROMO, "name": "second"},
    ],
    "signup_bonus": 0,
    "referral": {"referrer_points": 5, "referee_points": 7},
    "birthday_bonus": 300,
    "activities": {"review": 10, "survey": 0},
    "expiry_days": 30,
    "expiry_warning_days": 0,
    "phone_region": "US",
    "redemption": {"min_points": 10},
    "transfer": {"allowed_tiers": ["gold"], "min_points": 5},
    "tiers": [
        {"name": "basic", "min_spend": 0},
        {"name": "gold", "min_spend": 100, "earn_multiplier": "1.25", "expiry_days": 500},
    ],
    "frequency_bonus": {"min_purchases": 3, "extra_rate": "0.5"},
    "dormancy": {"after_days": 90},
    "limits": {"max_earns_per_day": 5, "max_earn_points_per_day": 0},
    "auto_coupons": {"signup": "welcome", "birthday": None, "tier_up": {"gold": "gold-gift"}, "win_back": "back"},
    "recommendation_bonus": {"extra_rate": "0.1"},
}
STORED = {
    "defaults": {},
    "every field": EVERY_FIELD,
    "the demo café": json.loads((EXAMPLES / "cafe-program.json").read_text()),
    "the demo café (v1)": DEMO,
}


def assert_same(read, validated, where="program"):
    """Equal, and of the same type all the way down (a model's fields set too)."""
    assert type(read) is type(validated), where
    if isinstance(validated, pydantic.BaseModel):
        assert read.model_fields_set == validated.model_fields_set, where
        assert list(vars(read)) == list(vars(validated)), where
        for name, value in vars(validated).items():
            assert_same(getattr(read, name), value, f"{where}.{name}")
    elif isinstance(validated, (list, dict)):
        assert len(read) == len(validated), where
        if isinstance(validated, dict):
            assert list(read) == list(validated), where
            for key, value in validated.items():
                assert_same(read[key], value, f"{where}[{key!r}]")
        else:
            for index, (one, other) in enumerate(zip(read, validated, strict=True)):
                assert_same(one, other, f"{where}[{index}]")
    else:
        assert read == validated, where


@pytest.mark.parametrize("config", STORED.values(), ids=STORED.keys())
def test_the_stored_program_is_read_as_validation_would_make_it(config):
    stored = Program.model_validate(config).model_dump_json()  # what PUT /program stores
    read = stored_program(stored)
    assert_same(read, Program.model_validate_json(stored))
    assert read.model_dump_json() == stored


@pytest.mark.parametrize("config", STORED.values(), ids=STORED.keys())
def test_a_program_stored_before_fields_were_added_takes_their_defaults(config):
    """A program written by an earlier version lacks the fields added since: it reads
    as validation reads it (their defaults), nested objects too."""
    stored = json.loads(Program.model_validate(config).model_dump_json())
    for name in ("limits", "auto_coupons", "recommendation_bonus", "dormancy", "phone_region", "tiers"):
        stored.pop(name)
    stored["referral"].pop("referee_points")
    stored["auto_coupons"] = {"signup": None}
    text = json.dumps(stored)
    assert_same(stored_program(text), Program.model_validate_json(text))


def test_the_default_program_is_program():
    assert_same(default_program(), Program())


@pytest.mark.parametrize(
    "stored",
    [
        {"unknown_field": 1},  # not written by this code: validated, and refused as before
        {"referral": {"referrer_points": 1, "bonus": 2}},
        {"referral": None},
        {"referral": [1]},
        {"promotions": {"name": "x"}},
        {"promotions": [None]},
        {"frequency_bonus": "yes"},
        [],
    ],
)
def test_json_of_another_shape_is_validated_in_full(stored):
    text = json.dumps(stored)
    with pytest.raises(pydantic.ValidationError) as refused:
        stored_program(text)
    with pytest.raises(pydantic.ValidationError) as validated:
        Program.model_validate_json(text)
    assert refused.value.errors() == validated.value.errors()


def test_json_that_does_not_parse_is_refused_as_before():
    with pytest.raises(pydantic.ValidationError):
        stored_program('{"currency": ')


def test_every_model_field_of_the_program_is_one_the_reader_rebuilds():
    """A field holding models in a shape `stored_program` does not rebuild (a dict of
    models, a union of two) is refused when the reader first meets its model."""

    class Holder(pydantic.BaseModel):
        by_name: dict[str, Tier]

    with pytest.raises(TypeError, match="cannot rebuild"):
        nested_fields(Holder)
    models = [Program]
    for model in models:
        models += [inner for _, inner in nested_fields(model).values() if inner not in models]
    assert {model.__name__ for model in models} == {
        "Program", "Promotion", "Referral", "Redemption", "TransferRules", "Tier", "FrequencyBonus",
        "Dormancy", "Limits", "AutoCoupons", "RecommendationBonus",
    }  # fmt: skip

"""store.to_attrs / from_attrs make strings, integers, booleans, lists and maps themselves (the
refresh and imports make millions): they must give exactly what boto3's TypeSerializer /
TypeDeserializer give (whole numbers as int), and refuse what those refuse."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.storage.store import _plain, from_attrs, to_attrs

serializer, deserializer = TypeSerializer(), TypeDeserializer()

scalars = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6),
    st.sets(st.text(min_size=1, max_size=3), min_size=1, max_size=3),
    st.binary(min_size=1, max_size=4),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
items = st.dictionaries(st.text(min_size=1, max_size=5), values, max_size=5)


def boto3_to_attrs(item: dict) -> dict:
    return {k: serializer.serialize(v) for k, v in item.items() if v is not None}


def boto3_from_attrs(attrs: dict) -> dict:
    return {k: _plain(deserializer.deserialize(v)) for k, v in attrs.items()}


def outcome(function, value):
    try:
        return ("ok", function(value))
    except Exception as error:  # the same refusal: same exception type
        return ("refused", type(error))


@settings(max_examples=400, deadline=None)
@given(items)
def test_to_attrs_is_the_type_serializer(item):
    assert outcome(to_attrs, item) == outcome(boto3_to_attrs, item)


@settings(max_examples=400, deadline=None)
@given(items)
def test_from_attrs_is_the_type_deserializer(item):
    made = outcome(boto3_to_attrs, item)
    if made[0] == "ok":
        assert from_attrs(made[1]) == boto3_from_attrs(made[1])


@pytest.mark.parametrize(
    "number",
    ["0", "-0", "7", "-12", "007", "1.0", "1.50", "1E+2", "-3e2", "0.001", "9" * 38, "9" * 39, "1" + "0" * 40, "١٢"],
)
def test_numbers_as_dynamodb_writes_them(number):
    expected = outcome(boto3_from_attrs, {"n": {"N": number}})
    assert outcome(from_attrs, {"n": {"N": number}}) == expected


def test_what_dynamodb_cannot_hold_is_refused_as_boto3_refuses_it():
    for value in (1.5, 10**38, -(10**39), object()):
        assert outcome(to_attrs, {"v": value}) == outcome(boto3_to_attrs, {"v": value})
        assert outcome(to_attrs, {"v": [value]})[0] == "refused"
    others = {"b": Binary(b"x"), "d": Decimal("1.5")}
    assert to_attrs(others) == boto3_to_attrs(others)
    assert to_attrs({"a": None, "m": {"x": None}}) == {"m": {"M": {"x": {"NULL": True}}}}

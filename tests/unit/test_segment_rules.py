"""§21 segment rules: what validate_rules accepts/refuses, and how rules evaluate."""

from decimal import Decimal

import pytest

from chalicelib.domain.segments import MemberValues, assign, assigner, matches, validate_rules, validate_segment_id
from chalicelib.errors import ValidationError


def values(**overrides):
    base = dict(
        member_id="m1",
        recency_days=10,
        frequency=3,
        monetary=3000,
        clv=5000,
        balance=120,
        days_since_joined=400,
        tier="gold",
        rfm_segment="loyal",
        dormant=False,
        categories=frozenset({"shoes"}),
        skus=frozenset({"SKU-1"}),
    )
    base.update(overrides)
    return MemberValues(**base)


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "clv", "op": "gte", "value": 1000},
        {"field": "recency_days", "op": "lt", "value": 0},
        {"field": "tier", "op": "in", "value": ["gold", "silver"]},
        {"field": "rfm_segment", "op": "ne", "value": "at_risk"},
        {"field": "bought_sku", "op": "eq", "value": "SKU-1"},
        {"field": "dormant", "op": "eq", "value": False},
    ],
)
def test_valid_rules_pass_through(rule):
    assert validate_rules([rule]) == [rule]


@pytest.mark.parametrize(
    "rules",
    [
        [],
        [{"field": "clv", "op": "gte", "value": 1}] * 11,
        "clv>1",
        [{"field": "email", "op": "eq", "value": "x"}],
        [{"field": "clv", "op": "in", "value": [1]}],
        [{"field": "clv", "op": "gte", "value": 1.5}],
        [{"field": "clv", "op": "gte", "value": True}],
        [{"field": "clv", "op": "gte", "value": "1"}],
        [{"field": "clv", "op": "gte"}],
        [{"field": "clv", "op": "gte", "value": 1, "extra": 1}],
        [{"field": "tier", "op": "gt", "value": "gold"}],
        [{"field": "tier", "op": "in", "value": []}],
        [{"field": "tier", "op": "in", "value": "gold"}],
        [{"field": "rfm_segment", "op": "eq", "value": "vip"}],
        [{"field": "rfm_segment", "op": "in", "value": ["loyal", "vip"]}],
        [{"field": "bought_category", "op": "ne", "value": "shoes"}],
        [{"field": "bought_category", "op": "eq", "value": ""}],
        [{"field": "dormant", "op": "eq", "value": "true"}],
        [{"field": "dormant", "op": "ne", "value": True}],
    ],
)
def test_invalid_rules_are_refused(rules):
    with pytest.raises(ValidationError):
        validate_rules(rules)


def test_segment_id_dormant_is_reserved():
    assert validate_segment_id("vip") == "vip"
    for bad in ("dormant", "", 5, "x" * 201):
        with pytest.raises(ValidationError):
            validate_segment_id(bad)


def test_never_purchased_and_unscored_satisfy_no_rule():
    never = values(recency_days=None, rfm_segment=None)
    assert not matches([{"field": "recency_days", "op": "ne", "value": 5}], never)
    assert not matches([{"field": "rfm_segment", "op": "ne", "value": "loyal"}], never)
    assert matches([{"field": "frequency", "op": "eq", "value": 3}], never)


def test_all_rules_must_hold_and_stored_decimals_compare_as_integers():
    rules = [
        {"field": "clv", "op": "gte", "value": Decimal("5000")},
        {"field": "bought_category", "op": "eq", "value": "shoes"},
        {"field": "tier", "op": "in", "value": ["gold"]},
    ]
    assert matches(rules, values())
    assert not matches(rules, values(clv=4999))
    assert not matches(rules, values(categories=frozenset()))
    assert assign({"b": rules, "a": rules[:1], "c": [{"field": "dormant", "op": "eq", "value": True}]}, values()) == [
        "a",
        "b",
    ]


def test_the_assigner_a_refresh_uses_assigns_as_the_rules_say():
    segments = {
        "rich": [{"field": "clv", "op": "gte", "value": Decimal("5000")}],
        "shoes": [
            {"field": "bought_category", "op": "eq", "value": "shoes"},
            {"field": "dormant", "op": "eq", "value": False},
        ],
        "gold-or-silver": [{"field": "tier", "op": "in", "value": ["gold", "silver"]}],
        "not-loyal": [{"field": "rfm_segment", "op": "ne", "value": "loyal"}],
        "recent": [{"field": "recency_days", "op": "lte", "value": 10}],
        "sku": [{"field": "bought_sku", "op": "eq", "value": "SKU-1"}],
    }
    assign_member = assigner(segments)
    members = [
        values(),
        values(clv=4999, tier="bronze", dormant=True),
        values(recency_days=None, rfm_segment=None, categories=frozenset(), skus=frozenset()),
        values(rfm_segment="at_risk", recency_days=11, tier="silver"),
    ]
    assert [assign_member(m) for m in members] == [assign(segments, m) for m in members]
    assert [assign_member(m) for m in members] == [
        ["gold-or-silver", "recent", "rich", "shoes", "sku"],
        ["recent", "sku"],
        ["gold-or-silver", "rich"],
        ["gold-or-silver", "not-loyal", "rich", "shoes", "sku"],
    ]

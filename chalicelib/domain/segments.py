"""Segments (§21): rule validation and evaluation over a member's analytics values.

Pure: no storage, no engine. The API validates a `POST /segments` body with
`validate_rules` (a `ValidationError` is a 400 that changes nothing); the
`refresh_analytics` job evaluates the stored rules with `matches` over the
values its queries computed for each member not erased.

A member's values (`MemberValues`) are: `recency_days` (None: never purchased),
`frequency`, `monetary`, `clv`, `balance`, `days_since_joined`, `tier`,
`rfm_segment` (None: unscored), `dormant`, and the sets `categories` / `skus`
bought within the 365 dates ending with `as_of`'s date (refunded or not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple, Optional

from chalicelib.errors import ValidationError

RFM_SEGMENTS = ("champions", "loyal", "promising", "at_risk", "hibernating", "needs_attention")
RESERVED_SEGMENT_IDS = frozenset({"dormant"})  # §10's own segment

NUMERIC_FIELDS = ("recency_days", "frequency", "monetary", "clv", "balance", "days_since_joined")
NUMERIC_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
CHOICE_FIELDS = ("tier", "rfm_segment")
CHOICE_OPS = ("eq", "ne", "in")
BOUGHT_FIELDS = ("bought_category", "bought_sku")
FIELDS = NUMERIC_FIELDS + CHOICE_FIELDS + BOUGHT_FIELDS + ("dormant",)

MIN_RULES, MAX_RULES = 1, 10
MAX_TEXT = 200  # as every other name in the API
MAX_CHOICES = 100
NUMBER_LIMIT = 10**38  # DynamoDB keeps at most 38 significant digits


class MemberValues(NamedTuple):
    """Immutable; a named tuple rather than a frozen dataclass: a refresh makes one per member
    (a million), and a frozen dataclass takes ~2.5 times as long to make."""

    member_id: str
    recency_days: Optional[int]
    frequency: int
    monetary: int
    clv: int
    balance: int
    days_since_joined: int
    tier: str
    rfm_segment: Optional[str]
    dormant: bool
    categories: frozenset = frozenset()
    skus: frozenset = frozenset()


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < NUMBER_LIMIT


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_TEXT


def _rule_error(index: int, message: str) -> ValidationError:
    return ValidationError(f"rules[{index}]: {message}")


def validate_rule(rule: Any, index: int = 0) -> dict:
    """One rule `{"field", "op", "value"}` checked against §21; returns it as a plain dict."""
    if not isinstance(rule, dict):
        raise _rule_error(index, "a rule is an object {field, op, value}")
    if set(rule) != {"field", "op", "value"}:
        raise _rule_error(index, "a rule has exactly the keys field, op and value")
    name, op, value = rule["field"], rule["op"], rule["value"]
    if not isinstance(name, str) or name not in FIELDS:
        raise _rule_error(index, f"field must be one of {', '.join(FIELDS)}")
    if not isinstance(op, str):
        raise _rule_error(index, "op must be a string")
    if name in NUMERIC_FIELDS:
        if op not in NUMERIC_OPS:
            raise _rule_error(index, f"op for {name} must be one of {', '.join(NUMERIC_OPS)}")
        if not _is_integer(value):
            raise _rule_error(index, f"value for {name} must be an integer")
    elif name in CHOICE_FIELDS:
        if op not in CHOICE_OPS:
            raise _rule_error(index, f"op for {name} must be one of {', '.join(CHOICE_OPS)}")
        choices = value if op == "in" else [value]
        if op == "in" and (not isinstance(value, list) or not 1 <= len(value) <= MAX_CHOICES):
            raise _rule_error(index, f"value for {name} with op in must be a list of 1-{MAX_CHOICES} strings")
        for choice in choices:
            if not _is_text(choice):
                raise _rule_error(index, f"value for {name} must be a string of 1-{MAX_TEXT} characters")
            if name == "rfm_segment" and choice not in RFM_SEGMENTS:
                raise _rule_error(index, f"rfm_segment must be one of {', '.join(RFM_SEGMENTS)}")
    elif name in BOUGHT_FIELDS:
        if op != "eq":
            raise _rule_error(index, f"op for {name} must be eq")
        if not _is_text(value):
            raise _rule_error(index, f"value for {name} must be a string of 1-{MAX_TEXT} characters")
    else:  # dormant
        if op != "eq":
            raise _rule_error(index, "op for dormant must be eq")
        if not isinstance(value, bool):
            raise _rule_error(index, "value for dormant must be true or false")
    return {"field": name, "op": op, "value": list(value) if isinstance(value, list) else value}


def validate_rules(rules: Any) -> list[dict]:
    """§21: 1-10 rules, each valid; returns them as plain dicts (raises ValidationError)."""
    if not isinstance(rules, list) or not MIN_RULES <= len(rules) <= MAX_RULES:
        raise ValidationError(f"rules must be a list of {MIN_RULES}-{MAX_RULES} rules")
    return [validate_rule(rule, index) for index, rule in enumerate(rules)]


def validate_segment_id(segment_id: Any) -> str:
    """`segment_id` as a reward_id (a string of 1-200 characters); `dormant` is reserved."""
    if not _is_text(segment_id):
        raise ValidationError(f"segment_id must be a string of 1-{MAX_TEXT} characters")
    if segment_id in RESERVED_SEGMENT_IDS:
        raise ValidationError(f"segment_id {segment_id!r} is reserved")
    return str(segment_id)


def _plain(value: Any) -> Any:
    """Stored rules come back from DynamoDB with Decimal numbers: integers again."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def rule_test(rule: dict) -> Callable[[MemberValues], bool]:
    """The rule as a test of a member (the rule read once: a refresh tests a million members)."""
    name, op, value = rule["field"], rule["op"], _plain(rule["value"])
    if name in NUMERIC_FIELDS or (name in CHOICE_FIELDS and op != "in"):
        compare = _COMPARE[op]
        numeric = name in NUMERIC_FIELDS
        get = attrgetter(name)

        def compared(member: MemberValues) -> bool:
            actual = get(member)
            if actual is None:  # recency_days of a member who never purchased, an unscored rfm_segment
                return False
            return compare(int(actual) if numeric else actual, value)

        return compared
    if name in CHOICE_FIELDS:

        def chosen(member: MemberValues) -> bool:
            actual = getattr(member, name)
            return actual is not None and bool(actual in value)

        return chosen
    if name == "bought_category":
        return lambda member: value in member.categories
    if name == "bought_sku":
        return lambda member: value in member.skus
    if name == "dormant":
        return lambda member: bool(member.dormant) is value
    raise ValidationError(f"unknown field {name!r}")


def matches(rules: Iterable[dict], member: MemberValues) -> bool:
    """Every rule holds (§21)."""
    return all(rule_test(rule)(member) for rule in rules)


def assigner(segments: dict[str, list[dict]]) -> Callable[[MemberValues], list[str]]:
    """`assign` with the rules read once, for testing many members (a refresh)."""
    tests = [(segment_id, [rule_test(rule) for rule in segments[segment_id]]) for segment_id in sorted(segments)]

    def assign_member(member: MemberValues) -> list[str]:
        chosen = []
        for segment_id, checks in tests:  # loops, not all(...) of a generator: a million members
            for check in checks:
                if not check(member):
                    break
            else:
                chosen.append(segment_id)
        return chosen

    return assign_member


def assign(segments: dict[str, list[dict]], member: MemberValues) -> list[str]:
    """The sorted ids of the segments (id -> rules) whose rules `member` satisfies."""
    return assigner(segments)(member)

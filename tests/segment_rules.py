"""A minimal stand-in for chalicelib/domain/segments.py's `validate_rules`, used by
the segment tests only where that module is not there: 1-10 rules, each
{field, op, value} with a known field, an op that field takes, and a value of its
type; a 400 names the rule (`rules[<i>]: ...`)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types

NUMERIC = ("recency_days", "frequency", "monetary", "clv", "balance", "days_since_joined")
RFM_SEGMENTS = ("champions", "loyal", "promising", "at_risk", "hibernating", "needs_attention")


def validate_rules(rules):
    from chalicelib.errors import ValidationError

    if not isinstance(rules, list) or not 1 <= len(rules) <= 10:
        raise ValidationError("rules must be a list of 1-10 rules")
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or set(rule) != {"field", "op", "value"}:
            raise ValidationError(f"rules[{index}]: a rule has exactly the keys field, op and value")
        name, op, value = rule["field"], rule["op"], rule["value"]
        if name in NUMERIC:
            ok = op in ("eq", "ne", "gt", "gte", "lt", "lte") and isinstance(value, int) and not isinstance(value, bool)
        elif name in ("tier", "rfm_segment"):
            choices = value if op == "in" and isinstance(value, list) else [value]
            ok = op in ("eq", "ne", "in") and all(isinstance(c, str) and c for c in choices)
            if ok and name == "rfm_segment" and not set(choices) <= set(RFM_SEGMENTS):
                raise ValidationError(f"rules[{index}]: rfm_segment must be one of {', '.join(RFM_SEGMENTS)}")
        elif name in ("bought_category", "bought_sku"):
            ok = op == "eq" and isinstance(value, str) and bool(value)
        elif name == "dormant":
            ok = op == "eq" and isinstance(value, bool)
        else:
            raise ValidationError(f"rules[{index}]: unknown field")
        if not ok:
            raise ValidationError(f"rules[{index}]: op {op!r} or its value does not fit field {name!r}")
    return [dict(rule) for rule in rules]


@contextlib.contextmanager
def available():
    """chalicelib.domain.segments as it is, or this stand-in while it is missing."""
    if importlib.util.find_spec("chalicelib.domain.segments") is not None:
        yield
        return
    module = types.ModuleType("chalicelib.domain.segments")
    module.validate_rules = validate_rules  # type: ignore[attr-defined]
    sys.modules["chalicelib.domain.segments"] = module
    try:
        yield
    finally:
        sys.modules.pop("chalicelib.domain.segments", None)

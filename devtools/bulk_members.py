"""Many members quickly, for load tests: copies of one member made through the
API, written straight into the embedded moto's table.

A copy is the template member's items with the template's id replaced by the
new id wherever it occurs (keys and string values: its profile, ledger,
orders, notifications, and the idempotency records of requests whose keys
carry the id), its referral code item copied under a fresh code, and its
share of the `/stats` counters added once per copy, so every copy reads like
a member the API made and `/stats` still adds up. The copies take the index
shards of the template, so the jobs' index queries see them all in the
template's shards.

This walks moto's own memory for the template's items (a development tool on
the local service; the app never scans).
"""

from __future__ import annotations

import copy
import random
import string
from decimal import Decimal
from typing import cast

ACCOUNT = "123456789012"
TEMPLATE_HINT = "a member id that occurs nowhere else, e.g. 'tmpl-7f3a9c'"


class BulkError(ValueError):
    pass


def _table():
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib import settings

    config = settings.load()
    return dynamodb_backends[ACCOUNT][config.region].tables[config.table_name]


def _replace(value, swaps: tuple):
    """A DynamoType tree with each (old, new) of `swaps` replaced in every string."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if isinstance(value, DynamoType):
        out = DynamoType.__new__(DynamoType)
        out.type = value.type
        out.value = _replace(value.value, swaps)
        return out
    if isinstance(value, str):
        for old, new in swaps:
            if old in value:
                value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace(v, swaps) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, swaps) for k, v in value.items()}
    return value


_before: dict[str, dict] = {}  # template -> the STATS counters before it was made
_shares: dict[str, dict] = {}  # template -> its change to the STATS counters


def begin(template: str) -> None:
    """Note the `/stats` counters before the template member is made through the API."""
    _before[template] = stats_counters(_table())
    _shares.pop(template, None)


def stats_counters(table) -> dict:
    """{(pk, sk, attribute): number} of every numeric attribute of the STATS items."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    from devtools import moto_patches

    out = {}
    for pk in moto_patches.partition_keys(table):
        if not pk.startswith("STATS#"):
            continue
        for sk, item in table.items[DynamoType({"S": pk})].items():
            for name, value in item.attrs.items():
                if value.type == "N":
                    out[(pk, sk.value, name)] = value.value
    return out


def copy_member(template: str, count: int, prefix: str = "bulk") -> int:
    """Make `count` copies of member `template` (ids f"{prefix}{n:07d}"); returns count."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from devtools import moto_patches

    if count < 1 or count > 1_000_000:
        raise BulkError("count must be from 1 to 1,000,000")
    if len(template) < 6:
        raise BulkError(f"the template id must be distinctive: {TEMPLATE_HINT}")
    table = _table()
    pk = DynamoType({"S": f"MEMBER#{template}"})
    member_items = list((table.items.get(pk) or {}).values())
    profile = next((i for i in member_items if i.range_key.value == "PROFILE"), None)
    if profile is None:
        raise BulkError(f"no member {template!r}")
    # the template's other items: idempotency records whose key carries its id, its referral code
    code = profile.attrs.get("referral_code")
    related = []
    keys = moto_patches.partition_keys(table)
    for text in keys:
        if (text.startswith("IDEMPOTENCY#") and template in text) or (
            code is not None and text == f"REFERRAL#{code.value}"
        ):
            related.extend(table.items[DynamoType({"S": text})].values())
    share = _template_share(table, template)
    existing = {k for k in keys if k.startswith(f"MEMBER#{prefix}")}
    rng = random.Random(f"{prefix}:{template}")
    made = 0
    n = 0
    while made < count:
        n += 1
        member_id = f"{prefix}{n:07d}"
        if f"MEMBER#{member_id}" in existing:
            continue
        new_code = (
            "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(len(code.value)))
            if code is not None
            else None
        )
        for source in member_items + related:
            swaps = ((template, member_id),) if code is None else ((template, member_id), (code.value, new_code))
            attrs = {name: _replace(value, swaps) for name, value in source.attrs.items()}
            item = cast(Item, Item.__new__(Item))  # moto's BaseModel.__new__ says BaseModel, not Self
            item.hash_key = copy.copy(attrs[table.hash_key_attr])
            item.range_key = attrs.get(table.range_key_attr)
            item.attrs = type(source.attrs)()
            dict.update(item.attrs, attrs)
            collection = table.items[item.hash_key]
            if collection:  # one hash-key object per partition
                item.hash_key = next(iter(collection.values())).hash_key
            collection[item.range_key] = item
            if moto_patches.applied():
                moto_patches._index_item(table, item)
        made += 1
        if made % 1000 == 0:
            moto_patches.compact()
    _add_share(table, share, count)
    moto_patches.compact()
    return made


def _template_share(table, template: str) -> dict:
    """The template's change to the STATS counters (between begin() and its first copy)."""
    if template not in _shares:
        if template not in _before:
            raise BulkError(f"call begin first, then make member {template!r} through the API")
        before = _before.pop(template)
        now = stats_counters(table)
        _shares[template] = {
            k: str(Decimal(v) - Decimal(before.get(k, "0")))
            for k, v in now.items()
            if Decimal(v) != Decimal(before.get(k, "0"))
        }
    return _shares[template]


def _add_share(table, share: dict, times: int) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    for (pk, sk, name), delta in share.items():
        item = table.items[DynamoType({"S": pk})][DynamoType({"S": sk})]
        before = Decimal(item.attrs[name].value)
        item.attrs[name] = DynamoType({"N": str(before + Decimal(delta) * times)})

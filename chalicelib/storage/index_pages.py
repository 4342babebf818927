"""One page of a keys-only index at a time, resumable from where it stopped.

The job workers walk an index in pages of a bounded size and carry the
page's `LastEvaluatedKey` in their queue messages as the checkpoint, so a
walk can stop after any page and go on in another invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from boto3.dynamodb.types import TypeSerializer

_serializer = TypeSerializer()


@dataclass(frozen=True)
class Source:
    """One partition of an index: every entry whose hash key is `hash_value`,
    or, with `range_name`, only those whose range key is at most `upto`. An
    empty `index` names the table itself (a partition of items, e.g. a segment's members)."""

    index: str
    hash_name: str
    hash_value: str
    range_name: Optional[str] = None
    upto: Optional[str] = None

    def to_message(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_message(cls, data: dict) -> Source:
        return cls(**data)


class IndexPages:
    def __init__(self, client, table: str):
        self.client = client
        self.table = table

    def page(self, source: Source, limit: int, start: Optional[dict]) -> tuple[list[tuple[str, str]], Optional[dict]]:
        """Up to `limit` table keys (pk, sk) from `source` after `start` (a
        previous page's `LastEvaluatedKey`, as DynamoDB JSON), and the key to
        start the next page from (None: the walk is over)."""
        names = {"#h": source.hash_name}
        values: dict[str, Any] = {":h": source.hash_value}
        condition = "#h = :h"
        if source.range_name is not None:
            names["#r"] = source.range_name
            values[":upto"] = source.upto
            condition += " AND #r <= :upto"
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {k: _serializer.serialize(v) for k, v in values.items()},
            "Limit": limit,
        }
        if source.index:
            kwargs["IndexName"] = source.index
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self.client.query(**kwargs)
        keys = [(item["pk"]["S"], item["sk"]["S"]) for item in response.get("Items", [])]
        return keys, response.get("LastEvaluatedKey") or None

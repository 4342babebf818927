"""The pending-outbox index and the sweeper that re-drives what it holds.

An outbox item (`MEMBER#<id> / NOTIFICATION#<ulid>`) carries `outbox_shard`
from the moment it is written until its delivery ends (`sent`, `failed`,
`skipped`): the sparse `pending-outbox` index (outbox_shard, created_at) holds
exactly the notifications not yet done. The sweeper (scheduled) looks there
for items older than the lease:
- `queued` (the enqueue after the commit failed, or the message reached the
  DLQ after passing errors): a new queue message points at it again, at most
  once per lease (`redriven_at`), so a backlog is not multiplied;
- `sending` whose claim is older than the lease (the handler died between the
  claim and the status write): the provider may or may not have accepted it,
  and delivery is at most once, so it is `failed` with the code
  DELIVERY_UNCONFIRMED rather than sent again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from typing import Any, Optional

from botocore.exceptions import ClientError

from chalicelib.domain.calendar import format_instant
from chalicelib.storage.index_pages import IndexPages, Source
from chalicelib.storage.store import OUTBOX_INDEX

log = logging.getLogger(__name__)

OUTBOX_SHARD = "outbox_shard"


def outbox_shard(notification_id: str, shards: int) -> str:
    return str(int(hashlib.sha256(notification_id.encode()).hexdigest(), 16) % shards)


def generation_of(sk: str) -> int:
    return int(sk[1 : sk.index("#")]) if sk.startswith("G") else 0


class OutboxSweeper:
    def __init__(
        self,
        client,
        table: str,
        publisher,
        clock: Callable[[], dt.datetime],
        shards: int,
        lease: dt.timedelta,
        page_size: int = 100,
    ):
        self.client = client
        self.table = table
        self.pages = IndexPages(client, table)
        self.publisher = publisher
        self.clock = clock
        self.shards = shards
        self.lease = lease
        self.page_size = page_size

    def sweep(self, remaining_ms: Callable[[], int], reserve_ms: int = 10_000) -> dict[str, int]:
        """Re-drive or settle every outbox item pending for longer than the lease
        (as far as time allows; the next sweep goes on)."""
        now = self.clock()
        before = format_instant(now - self.lease)
        counts = {"redriven": 0, "unconfirmed": 0}
        for shard in range(self.shards):
            cursor: Optional[dict] = None
            while True:
                if remaining_ms() < reserve_ms:
                    return counts
                keys, cursor = self.pages.page(
                    Source(OUTBOX_INDEX, OUTBOX_SHARD, str(shard), "created_at", before), self.page_size, cursor
                )
                redrive = []
                for pk, sk in keys:
                    outcome = self._settle(pk, sk, now, before)
                    if outcome is not None:
                        counts[outcome[0]] += 1
                        if outcome[1]:
                            redrive.append(outcome[1])
                if redrive:
                    self.publisher.publish(redrive)
                if cursor is None:
                    break
        return counts

    def _settle(self, pk: str, sk: str, now: dt.datetime, before: str) -> Optional[tuple[str, Any]]:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        status = item.get("status", {}).get("S")
        notification_id = item.get("notification_id", {}).get("S")
        if status == "queued":
            if item.get("retry_at", {}).get("S", "") > format_instant(now):
                return None  # released after a passing error; SQS retries it first
            # once per lease: a message re-driven a moment ago may just be waiting its turn
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": pk}, "sk": {"S": sk}},
                    UpdateExpression="SET #r = :now",
                    ConditionExpression="#s = :queued AND (attribute_not_exists(#r) OR #r <= :before)",
                    ExpressionAttributeNames={"#r": "redriven_at", "#s": "status"},
                    ExpressionAttributeValues={
                        ":now": {"S": format_instant(now)},
                        ":queued": {"S": "queued"},
                        ":before": {"S": before},
                    },
                )
            except ClientError as error:
                if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return None
                raise
            return "redriven", {
                "member_id": item["member_id"]["S"],
                "notification_id": notification_id,
                "generation": generation_of(sk),
            }
        if status == "sending" and item.get("claimed_at", {}).get("S", "") <= before:
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": pk}, "sk": {"S": sk}},
                    UpdateExpression="SET #s = :failed, #e = :code REMOVE #o",
                    ConditionExpression="#s = :sending",
                    ExpressionAttributeNames={"#s": "status", "#e": "error_code", "#o": OUTBOX_SHARD},
                    ExpressionAttributeValues={
                        ":failed": {"S": "failed"},
                        ":sending": {"S": "sending"},
                        ":code": {"S": "DELIVERY_UNCONFIRMED"},
                    },
                )
            except ClientError as error:
                if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return None
                raise
            log.warning("notification %s: DELIVERY_UNCONFIRMED", notification_id)
            return "unconfirmed", None
        if status in ("sent", "failed", "skipped"):  # done: out of the index
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression="REMOVE #o",
                ExpressionAttributeNames={"#o": OUTBOX_SHARD},
            )
        return None

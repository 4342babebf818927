"""DynamoDB adapter: one table, items addressed by (pk, sk); plain reads and
writes, Queries, and one TransactWriteItems per change (`Commit`) whose
actions each say what a failed condition means. The item layout is in
`repository.py`."""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Optional

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib import backoff
from chalicelib.errors import ThrottledError, ValidationError

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

EXPIRY_INDEX = "expiry"
TIER_REVIEW_INDEX = "tier-review"
BIRTHDAY_INDEX = "birthday"
MEMBERS_INDEX = "members"
OUTBOX_INDEX = "pending-outbox"  # notifications not yet done (see outbox.py)
PHONE_INDEX = "phone"
EMAIL_INDEX = "email"
TIER_INDEX = "tier"
DORMANT_INDEX = "dormant"
ACTIVITY_INDEX = "activity"
WEBHOOK_DUE_INDEX = "webhook-due"  # webhook events to fan out, deliveries due (chalicelib/webhooks/)


def to_attrs(item: dict) -> dict:
    """An item as DynamoDB's attribute values (a None field left out), exactly as boto3's
    TypeSerializer makes them; strings, integers, booleans, lists and maps are made here
    (the refresh and the import make millions), anything else by the TypeSerializer (which
    also refuses what DynamoDB cannot hold: a float, a number of more than 38 digits)."""
    return {k: _attr(v) for k, v in item.items() if v is not None}


def _attr(value: Any) -> dict:
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int and -_NUMBER_LIMIT < value < _NUMBER_LIMIT:
        return {"N": str(value)}
    if kind is dict:
        return {"M": {k: _attr(v) for k, v in value.items()}}
    if kind is list:
        return {"L": [_attr(v) for v in value]}
    if value is None:
        return {"NULL": True}
    return _serializer.serialize(value)


_NUMBER_LIMIT = 10**38  # an integer of up to 38 digits is exact in DynamoDB


def from_attrs(attrs: dict) -> dict:
    """An item from DynamoDB's attribute values: numbers as int when whole, else Decimal
    (exactly what boto3's TypeDeserializer gives, with whole Decimals made int)."""
    return {k: _value(v) for k, v in attrs.items()}


def _value(attr: dict) -> Any:
    if len(attr) != 1:
        return _plain(_deserializer.deserialize(attr))  # not one type: the deserializer says why
    for kind, value in attr.items():
        if kind == "S":
            return value
        if kind == "N":
            if value.isdigit() and value.isascii() and len(value) <= 38 and (value[0] != "0" or value == "0"):
                return int(value)
            return _plain(_deserializer.deserialize(attr))  # signed, fractional or odd: as boto3
        if kind == "M":
            return {k: _value(v) for k, v in value.items()}
        if kind == "L":
            return [_value(v) for v in value]
        if kind == "BOOL" and type(value) is bool:
            return value
        if kind == "NULL" and value is True:
            return None
    return _plain(_deserializer.deserialize(attr))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def member_sk(generation: int, sk: str) -> str:
    """Sort key of an item a member owns (`TX#...`, `ORDER#...`). A member id
    enrolled again after an erasure is generation 1, 2, ...: its items are
    `G<n>#TX#...`, apart from those the erased member left."""
    return f"G{generation}#{sk}" if generation else sk


PROFILE = "PROFILE"
STREAM_SPECIFICATION = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def table_definition(name: str) -> dict:
    """The table as `create_table` takes it (also mirrored in the SAM template)."""

    def index(index_name: str, hash_key: str, range_key: str) -> dict:
        return {
            "IndexName": index_name,
            "KeySchema": [
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": range_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }

    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"}
            for a in (
                "pk",
                "sk",
                "expiry_shard",
                "next_expiry",
                "tier_shard",
                "tier_review",
                "birthday_key",
                "member_shard",
                "outbox_shard",
                "created_at",
                "member_id",
                "phone_digits",
                "email_lower",
                "listed_tier",
                "dormant_segment",
                "activity_shard",
                "last_activity_at",
                "webhook_due",
                "due_at",
            )
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            index(EXPIRY_INDEX, "expiry_shard", "next_expiry"),
            index(TIER_REVIEW_INDEX, "tier_shard", "tier_review"),
            index(BIRTHDAY_INDEX, "birthday_key", "pk"),
            index(MEMBERS_INDEX, "member_shard", "pk"),
            index(OUTBOX_INDEX, "outbox_shard", "created_at"),
            index(PHONE_INDEX, "phone_digits", "member_id"),
            index(EMAIL_INDEX, "email_lower", "member_id"),
            index(TIER_INDEX, "listed_tier", "member_id"),
            index(DORMANT_INDEX, "dormant_segment", "member_id"),
            index(ACTIVITY_INDEX, "activity_shard", "last_activity_at"),
            index(WEBHOOK_DUE_INDEX, "webhook_due", "due_at"),
        ],
        # every change, with the item before and after: the analytics facts (§17,
        # chalicelib/analytics/stream.py) are made from it
        "StreamSpecification": STREAM_SPECIFICATION,
    }


# Cancellation reasons of a TransactWriteItems refused for throughput.
THROTTLING_REASONS = ("ThrottlingError", "ProvisionedThroughputExceeded")
# DynamoDB's limit on one item, as it counts sizes (see `item_size`).
MAX_ITEM_BYTES = 400 * 1024


def item_size(item: dict) -> int:
    """The size of `item` as DynamoDB counts it against its 400 KB limit: each
    attribute's name (UTF-8) plus its value (strings in UTF-8, numbers by their
    significant digits, 1 byte per boolean or null, 3 bytes of overhead per
    list or map plus 1 per element)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in to_attrs(item).items())


def _value_size(value: dict) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0")
    return 1 + (len(digits) + 1) // 2 + (1 if text.startswith("-") else 0)


def too_large(error: ClientError) -> Optional[ValidationError]:
    """DynamoDB's refusal of an item over 400 KB, as the 400 it is: what the
    caller sent does not fit (nothing was written)."""
    details = error.response.get("Error", {})
    if details.get("Code") == "ValidationException" and "Item size has exceeded" in details.get("Message", ""):
        return ValidationError("the item is too large to store (DynamoDB takes at most 400 KB per item)")
    return None


@dataclass(frozen=True)
class Condition:
    """What it means when an action's condition fails: `stale` (the item changed
    since it was read: decide again on fresh data), `refuse` (a rule of the
    contract: raise `error()`), `replay` (the request was already answered)."""

    kind: str
    error: Optional[Callable[[], Exception]] = None


STALE = Condition("stale")
REPLAY = Condition("replay")
NONE = Condition("none")


def refuse(error: Callable[[], Exception]) -> Condition:
    return Condition("refuse", error)


@dataclass
class CommitConflict(Exception):
    """A transaction was cancelled: the conditions that failed, each with the
    item it found (when the action asked for it)."""

    failed: list[tuple[Condition, Optional[dict]]] = field(default_factory=list)
    contended: bool = False  # another transaction held an item (TransactionConflict)
    throttled: bool = False  # a partition refused for throughput: nothing was written

    def __str__(self) -> str:
        return f"commit cancelled: {[c.kind for c, _ in self.failed]}"

    def found(self, kind: str) -> list[tuple[Condition, Optional[dict]]]:
        return [(c, item) for c, item in self.failed if c.kind == kind]


class Commit:
    """The actions of one TransactWriteItems, each with what its condition means."""

    def __init__(self, table: str):
        self.table = table
        self.actions: list[dict] = []
        self.conditions: list[Condition] = []

    def __len__(self) -> int:
        return len(self.actions)

    def put_versioned(self, item: dict, expected_version: Optional[int], on_fail: Condition = STALE) -> None:
        """Put `item`; the stored one must still be at `expected_version`
        (None: must not exist yet)."""
        put: dict[str, Any] = {"TableName": self.table, "Item": to_attrs(item)}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        self._add({"Put": put}, on_fail)

    def put_new(self, item: dict, on_fail: Condition) -> None:
        """Write an item once: history (ledger entries, lots, outbox items,
        vouchers, orders) is never overwritten."""
        self._add(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_attrs(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            on_fail,
        )

    def put(self, item: dict) -> None:
        """Put `item` whatever is stored (bookkeeping such as a pointer, never history)."""
        self._add({"Put": {"TableName": self.table, "Item": to_attrs(item)}}, NONE)

    def delete(
        self, key: dict, on_fail: Condition = NONE, must_exist: bool = False, version: Optional[int] = None
    ) -> None:
        """Delete the item `key`; with `must_exist`, only if it is there, with
        `version`, only if that is its version (else `on_fail`)."""
        delete: dict[str, Any] = {"TableName": self.table, "Key": to_attrs(key)}
        if must_exist:
            delete["ConditionExpression"] = "attribute_exists(pk)"
        if version is not None:
            delete["ConditionExpression"] = "#v = :v"
            delete["ExpressionAttributeNames"] = {"#v": "version"}
            delete["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
        self._add({"Delete": delete}, on_fail)

    def update(
        self,
        key: dict,
        expression: str,
        names: dict,
        values: Optional[dict],
        on_fail: Condition = NONE,
        condition: Optional[str] = None,
    ) -> None:
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_attrs(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
        }
        if values:
            update["ExpressionAttributeValues"] = to_attrs(values)
        if condition:
            update["ConditionExpression"] = condition
        self._add({"Update": update}, on_fail)

    def add_counters(
        self, key: dict, deltas: dict[str, int], expires_at: Optional[int] = None, remove: Sequence[str] = ()
    ) -> None:
        """ADD each delta to its counter; with `expires_at`, the item's TTL too; the
        attributes named in `remove` (none of the counters) go."""
        deltas = {k: v for k, v in deltas.items() if v}
        if not deltas:
            return
        names = {f"#c{i}": name for i, name in enumerate(deltas)}
        values: dict[str, Any] = {f":c{i}": value for i, value in enumerate(deltas.values())}
        expression = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(deltas)))
        if expires_at is not None:
            names["#ttl"] = "expires_at"
            values[":ttl"] = expires_at
            expression += " SET #ttl = :ttl"
        gone = [name for name in remove if name not in deltas]
        if gone:
            names.update({f"#r{i}": name for i, name in enumerate(gone)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(gone)))
        self.update(key, expression, names, values)

    def acts_on(self, key: dict) -> bool:
        """Whether an action of this commit already names the item `key`."""
        wanted = to_attrs(key)
        for action in self.actions:
            body = next(iter(action.values()))
            item = body.get("Key") or body.get("Item") or {}
            if all(item.get(name) == value for name, value in wanted.items()):
                return True
        return False

    def _add(self, action: dict, on_fail: Condition) -> None:
        self.actions.append(action)
        self.conditions.append(on_fail)


def key_condition(pk: str, prefix: str) -> dict[str, Any]:
    """Query key condition for one partition, optionally narrowed to a sort-key prefix.

    DynamoDB rejects an empty string in begins_with, so an empty prefix means
    the whole partition."""
    if not prefix:
        return {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": to_attrs({":pk": pk})}
    return {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": to_attrs({":pk": pk, ":prefix": prefix}),
    }


BATCH_GET_LIMIT = 100  # keys a BatchGetItem may ask for
BATCH_WRITE_LIMIT = 25  # puts and deletes a BatchWriteItem may carry


class Store:
    def __init__(self, client, table: str):
        self.client = client
        self.table = table

    # -- plain reads and writes -----------------------------------------
    def get(self, pk: str, sk: str, consistent: bool = True) -> Optional[dict]:
        response = self.client.get_item(
            TableName=self.table,
            Key=to_attrs({"pk": pk, "sk": sk}),
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return from_attrs(item) if item else None

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """The items of `keys` (strongly consistent): up to 100 in one BatchGetItem,
        more in one BatchGetItem per 100 (DynamoDB's limit a request).

        Keys DynamoDB leaves unprocessed (throttled partitions) are asked for
        again with jittered backoff, in at most `backoff.UNPROCESSED_KEYS.attempts`
        requests; then ThrottledError."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], dict] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            found.update(self._get_batch(wanted[start : start + BATCH_GET_LIMIT]))
        return found

    def _get_batch(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        found: dict[tuple[str, str], dict] = {}
        request = {self.table: {"Keys": [to_attrs({"pk": pk, "sk": sk}) for pk, sk in keys], "ConsistentRead": True}}
        policy = backoff.UNPROCESSED_KEYS
        for attempt in range(1, policy.attempts + 1):
            response = self.client.batch_get_item(RequestItems=request)
            for attrs in response.get("Responses", {}).get(self.table, []):
                item = from_attrs(attrs)
                found[(item["pk"], item["sk"])] = item
            unprocessed = response.get("UnprocessedKeys")
            if not unprocessed:
                return found
            request = unprocessed
            if attempt < policy.attempts:
                policy.wait(attempt)
        raise ThrottledError("the database is throttling reads; retry shortly")

    def replace(self, item: dict) -> Optional[dict]:
        """Put `item` unconditionally; returns the item it replaced (same request)."""
        try:
            response = self.client.put_item(TableName=self.table, Item=to_attrs(item), ReturnValues="ALL_OLD")
        except ClientError as error:
            refusal = too_large(error)
            if refusal is None:
                raise
            raise refusal from error
        old = response.get("Attributes")
        return from_attrs(old) if old else None

    def put(self, item: dict, condition: Optional[str] = None) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": to_attrs(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            self.client.put_item(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            refusal = too_large(error)
            if refusal is None:
                raise
            raise refusal from error
        return True

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: dict,
        values: Optional[dict] = None,
        condition: Optional[str] = None,
    ) -> Optional[dict]:
        """Conditional update; returns the new item, or None if the condition failed."""
        response = self._update(pk, sk, expression, names, values, condition, "ALL_NEW")
        return None if response is None else from_attrs(response["Attributes"])

    def update_if(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: dict,
        values: Optional[dict] = None,
        condition: Optional[str] = None,
    ) -> bool:
        """`update` that says only whether it was made (False: the condition failed): nothing is
        read back, for a caller that does not need the item (a job's millions of updates)."""
        return self._update(pk, sk, expression, names, values, condition, "NONE") is not None

    def _update(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: dict,
        values: Optional[dict],
        condition: Optional[str],
        returns: str,
    ) -> Optional[dict]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_attrs({"pk": pk, "sk": sk}),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ReturnValues": returns,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = to_attrs(values)
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            response: dict = self.client.update_item(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            refusal = too_large(error)
            if refusal is None:
                raise
            raise refusal from error
        return response

    def query_page(
        self,
        pk: str,
        prefix: str,
        limit: int,
        cursor: Optional[str],
        newest_first: bool,
    ) -> tuple[list[dict], Optional[str]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            **key_condition(pk, prefix),
            "ScanIndexForward": not newest_first,
            "Limit": limit,
            "ConsistentRead": True,  # a page read right after a write shows it
        }
        if cursor:
            start = decode_cursor(cursor)
            if start.get("pk") != pk or not str(start.get("sk", "")).startswith(prefix):
                raise ValidationError("cursor does not belong to this list")
            kwargs["ExclusiveStartKey"] = to_attrs(start)
        response = self.client.query(**kwargs)
        items = [from_attrs(a) for a in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, encode_cursor(from_attrs(last)) if last else None

    def query_all(self, pk: str, prefix: str = "") -> list[dict]:
        items: list[dict] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            **key_condition(pk, prefix),
            "ConsistentRead": True,
        }
        while True:
            response = self.client.query(**kwargs)
            items.extend(from_attrs(a) for a in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def query_range(self, pk: str, first: str, last: str) -> list[dict]:
        """Every item of the partition with first <= sk <= last."""
        items: list[dict] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": to_attrs({":pk": pk, ":a": first, ":b": last}),
        }
        while True:
            response = self.client.query(**kwargs)
            items.extend(from_attrs(a) for a in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- transactions ----------------------------------------------------
    def commit(self, commit: Commit) -> None:
        """One TransactWriteItems. A cancellation only for throughput (nothing
        was written, no condition failed) is sent again with jittered backoff,
        in at most `backoff.THROTTLED_COMMIT.attempts` requests; then
        ThrottledError. Any other cancellation raises CommitConflict."""
        if not commit.actions:
            return
        if len(commit.actions) > 100:
            raise ValueError("a commit holds at most 100 actions")
        policy = backoff.THROTTLED_COMMIT
        for attempt in range(1, policy.attempts + 1):
            try:
                self._transact(commit)
                return
            except CommitConflict as conflict:
                if not conflict.throttled or conflict.failed or conflict.contended:
                    raise
            if attempt < policy.attempts:
                policy.wait(attempt)
        raise ThrottledError("the database is throttling these writes; retry shortly")

    def _transact(self, commit: Commit) -> None:
        try:
            self.client.transact_write_items(TransactItems=commit.actions)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            failed: list[tuple[Condition, Optional[dict]]] = []
            contended = throttled = False
            for condition, reason in zip(commit.conditions, reasons, strict=False):
                code = reason.get("Code")
                if code == "ConditionalCheckFailed":
                    failed.append((condition, from_attrs(reason["Item"]) if reason.get("Item") else None))
                elif code == "TransactionConflict":
                    contended = True
                elif code in THROTTLING_REASONS:
                    throttled = True
            if not failed and not contended and not throttled:
                raise
            raise CommitConflict(failed, contended, throttled) from None


class BatchWrites:
    """Unconditional puts and deletes sent BATCH_WRITE_LIMIT to one BatchWriteItem request, not
    one request each: for items a job derives and rewrites freely (the analytics refresh's
    results), never for history or for a write that needs a condition.

    A request names a key at most once (DynamoDB refuses one that names it twice): a write of a
    key already pending replaces the pending one (the later write is the one that stays).
    Writes the table leaves unprocessed (a throttled partition) are sent again with jittered
    backoff, in at most `backoff.UNPROCESSED_ITEMS.attempts` requests; then ThrottledError.

    With `senders` > 1 the requests go out from that many threads while the caller goes on
    (on AWS a request is mostly waiting for the network), at most two a sender in flight; the
    first error is raised by the next write or by `flush()`. `flush()` sends what is pending
    and waits for every request sent: call it before a write that must come after these, and
    at the end (what is still pending when the process dies is not written).

    `run(call)` sends a write a batch cannot carry (a conditional UpdateItem) the same way:
    from a sender thread when there are several, waited for by `flush()`, its error raised as a
    batch's; at once when there is one sender."""

    def __init__(self, store: Any, senders: int = 1):
        self.store = store
        self.senders = max(1, senders)
        self.requests = 0  # BatchWriteItem requests sent
        self._pending: dict[tuple[str, str], dict] = {}
        self._count = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._sent: deque[Future] = deque()  # requests in flight, oldest first

    def put(self, item: dict) -> None:
        self._add((item["pk"], item["sk"]), {"PutRequest": {"Item": to_attrs(item)}})

    def put_attrs(self, attrs: dict) -> None:
        """`put` of an item already made attribute values (as `to_attrs` makes them)."""
        self._add((attrs["pk"]["S"], attrs["sk"]["S"]), {"PutRequest": {"Item": attrs}})

    def delete(self, pk: str, sk: str) -> None:
        self._add((pk, sk), {"DeleteRequest": {"Key": to_attrs({"pk": pk, "sk": sk})}})

    def _add(self, key: tuple[str, str], request: dict) -> None:
        self._pending[key] = request  # a pending write of the key is replaced
        if len(self._pending) >= BATCH_WRITE_LIMIT:
            self._send_pending()

    def run(self, call: Callable[[], Any]) -> None:
        """`call` sent as a request of its own (see the class)."""
        if self.senders == 1:
            call()
            return
        self._submit(call)

    def _send_pending(self) -> None:
        if not self._pending:
            return
        request = {self.store.table: list(self._pending.values())}
        self._pending = {}
        if self.senders == 1:
            self._send(request)
            return
        self._submit(lambda: self._send(request))

    def _submit(self, call: Callable[[], Any]) -> None:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # jobs only: not at the API's cold start

            self._pool = ThreadPoolExecutor(max_workers=self.senders, thread_name_prefix="batch-writes")
        while len(self._sent) >= 2 * self.senders:
            self._sent.popleft().result()
        self._sent.append(self._pool.submit(call))

    def flush(self) -> None:
        self._send_pending()
        try:
            while self._sent:
                self._sent.popleft().result()
        finally:
            if self._pool is not None and not self._sent:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _send(self, request: dict) -> None:
        policy = backoff.UNPROCESSED_ITEMS
        for attempt in range(1, policy.attempts + 1):
            with self._count:
                self.requests += 1
            response = self.store.client.batch_write_item(RequestItems=request)
            unprocessed = response.get("UnprocessedItems")
            if not unprocessed:
                return
            request = unprocessed
            if attempt < policy.attempts:
                policy.wait(attempt)
        raise ThrottledError("the database is throttling writes; retry shortly")


def encode_cursor(key: dict) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if (
            not isinstance(key, dict)
            or set(key) != {"pk", "sk"}
            or not all(isinstance(v, str) and v for v in key.values())
        ):
            raise ValueError
        return key
    except Exception:
        raise ValidationError("cursor is not valid") from None

"""An in-memory DynamoDB table for the unit tier: the ledger's `Store` over it
runs every command in microseconds, with DynamoDB's semantics where the ledger
relies on them.

`MemoryDynamoDB` answers the low-level client calls the service makes
(get_item, batch_get_item, put_item, update_item, delete_item, query,
transact_write_items) on tables created from a `create_table` definition.
Conditions and updates are evaluated for real (`dynamodb_expressions`), and
what DynamoDB refuses is refused the same way (botocore `ClientError` with the
same codes): a transaction with two actions on one item or more than 100
actions, a key attribute in an update, an index key that is not a non-empty
string, unused or undefined `#names`/`:values`, a consistent read of an index.
A cancelled transaction carries `CancellationReasons` (with the item found
when `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`) and writes nothing.
A Query page stops at `Limit` items (and then carries a `LastEvaluatedKey`,
even when nothing follows, as DynamoDB does) or at about 1 MB.

Interleavings: every function in `before_commit` is called with the
`TransactItems` of a transaction before it is applied; a test makes another
change there (the loop's read is then stale) or raises `contention()` (a
`TransactionConflict` cancellation).

`MemoryStore` is the service's `Store` over one such table, so the code that
turns cancellations into `CommitConflict` is the real one.
"""

from __future__ import annotations

import bisect
import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Optional

from botocore.exceptions import ClientError

from chalicelib.storage.store import Store, from_attrs, table_definition

from .dynamodb_expressions import (
    ExpressionError,
    Expressions,
    apply_update,
    evaluate,
    parse_condition,
    parse_update,
    type_of,
    values_equal,
)

MAX_ITEM_BYTES = 400 * 1024
MAX_PAGE_BYTES = 1024 * 1024
MAX_TRANSACTION_ACTIONS = 100


def client_error(code: str, message: str, operation: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, **extra}, operation)


def _validation(message: str, operation: str) -> ClientError:
    return client_error("ValidationException", message, operation)


def item_size(item: dict) -> int:
    """Roughly DynamoDB's item size: names plus values."""
    return len(json.dumps(item, separators=(",", ":")).encode())


def _key_order(value: dict) -> Any:
    kind = type_of(value)
    return Decimal(value["N"]) if kind == "N" else value[kind]


class _Table:
    def __init__(self, definition: dict):
        self.name = definition["TableName"]
        self.types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}
        self.hash_key, self.range_key = _key_schema(definition["KeySchema"])
        self.indexes = {
            index["IndexName"]: _key_schema(index["KeySchema"])
            for index in definition.get("GlobalSecondaryIndexes", [])
        }
        self.partitions: dict[Any, dict[Any, dict]] = {}
        self.sort_keys: dict[Any, list] = {}

    def key_of(self, item: dict) -> tuple:
        return (_key_order(item[self.hash_key]), _key_order(item[self.range_key]) if self.range_key else None)

    def key_attrs(self, item: dict) -> dict:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        return {n: item[n] for n in names}

    def check_key(self, key: dict, operation: str) -> tuple:
        names = {self.hash_key} | ({self.range_key} if self.range_key else set())
        if set(key) != names:
            raise _validation("The provided key element does not match the schema", operation)
        for name in names:
            if type_of(key[name]) != self.types[name] or key[name][type_of(key[name])] in ("", b""):
                raise _validation(f"One or more parameter values are not valid: key {name}", operation)
        return self.key_of(key)

    def check_item(self, item: dict, operation: str) -> None:
        self.check_key(
            self.key_attrs(item) if self.hash_key in item and (not self.range_key or self.range_key in item) else {},
            operation,
        )
        for hash_key, range_key in self.indexes.values():
            for name in (hash_key, range_key):
                if name and name in item:
                    value = item[name]
                    if type_of(value) != self.types[name] or value[type_of(value)] in ("", b""):
                        raise _validation(
                            f"One or more parameter values were invalid: Type mismatch or "
                            f"empty value for Index Key {name}",
                            operation,
                        )
        for value in _all_values(item):
            kind = type_of(value)
            if kind in ("SS", "NS", "BS") and not value[kind]:
                raise _validation(
                    "One or more parameter values were invalid: An number set or string set may not be empty", operation
                )
        if item_size(item) > MAX_ITEM_BYTES:
            raise _validation("Item size has exceeded the maximum allowed size", operation)

    def get(self, key: tuple) -> Optional[dict]:
        return self.partitions.get(key[0], {}).get(key[1])

    def put(self, item: dict) -> None:
        hash_value, range_value = self.key_of(item)
        partition = self.partitions.setdefault(hash_value, {})
        if range_value not in partition:
            bisect.insort(self.sort_keys.setdefault(hash_value, []), range_value)
        partition[range_value] = item

    def delete(self, key: tuple) -> None:
        partition = self.partitions.get(key[0], {})
        if key[1] in partition:
            del partition[key[1]]
            keys = self.sort_keys[key[0]]
            keys.pop(bisect.bisect_left(keys, key[1]))

    def items(self):
        for hash_value, keys in self.sort_keys.items():
            partition = self.partitions[hash_value]
            for range_value in keys:
                yield partition[range_value]


def _all_values(item: dict):
    for value in item.values():
        yield value
        kind = type_of(value)
        if kind == "M":
            yield from _all_values(value["M"])
        elif kind == "L":
            for member in value["L"]:
                yield member
                if type_of(member) == "M":
                    yield from _all_values(member["M"])


def _key_schema(schema: list[dict]) -> tuple[str, Optional[str]]:
    hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
    range_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
    return hash_key, range_key


def contention() -> ClientError:
    """What a transaction that met another one on the same item gets."""
    return client_error(
        "TransactionCanceledException",
        "Transaction cancelled: TransactionConflict",
        "TransactWriteItems",
        CancellationReasons=[{"Code": "TransactionConflict"}],
    )


class MemoryDynamoDB:
    """The DynamoDB client calls the service makes, on tables in memory."""

    def __init__(self):
        self.tables: dict[str, _Table] = {}
        self.before_commit: list[Callable[[list[dict]], None]] = []
        self.calls: list[str] = []  # operation names, in order (tests count requests)

    # -- tables --------------------------------------------------------------------
    def create_table(self, **definition: Any) -> dict:
        if definition["TableName"] in self.tables:
            raise client_error("ResourceInUseException", "Table already exists", "CreateTable")
        self.tables[definition["TableName"]] = _Table(definition)
        return {"TableDescription": {"TableName": definition["TableName"], "TableStatus": "ACTIVE"}}

    def _table(self, name: str, operation: str) -> _Table:
        if name not in self.tables:
            raise client_error("ResourceNotFoundException", "Requested resource not found", operation)
        return self.tables[name]

    # -- single items --------------------------------------------------------------
    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool = False, **unsupported: Any) -> dict:
        _no_more(unsupported, "GetItem")
        self.calls.append("GetItem")
        table = self._table(TableName, "GetItem")
        item = table.get(table.check_key(Key, "GetItem"))
        return {"Item": copy.deepcopy(item)} if item is not None else {}

    def batch_get_item(self, RequestItems: dict) -> dict:
        self.calls.append("BatchGetItem")
        total = sum(len(request["Keys"]) for request in RequestItems.values())
        if total > 100:
            raise _validation("Too many items requested for the BatchGetItem call", "BatchGetItem")
        responses: dict[str, list] = {}
        for name, request in RequestItems.items():
            table = self._table(name, "BatchGetItem")
            keys = [table.check_key(key, "BatchGetItem") for key in request["Keys"]]
            if len(set(keys)) != len(keys):
                raise _validation("Provided list of item keys contains duplicates", "BatchGetItem")
            found = [table.get(key) for key in keys]
            responses[name] = [copy.deepcopy(item) for item in found if item is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}

    def put_item(
        self,
        TableName: str,
        Item: dict,
        ConditionExpression: Optional[str] = None,
        ExpressionAttributeNames: Optional[dict] = None,
        ExpressionAttributeValues: Optional[dict] = None,
        ReturnValues: str = "NONE",
        ReturnValuesOnConditionCheckFailure: str = "NONE",
        **unsupported: Any,
    ) -> dict:
        _no_more(unsupported, "PutItem")
        self.calls.append("PutItem")
        table = self._table(TableName, "PutItem")
        write = self._put_plan(
            table, Item, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues, "PutItem"
        )
        old = table.get(write["key"])
        if not write["check"](old):
            raise _condition_failed("PutItem", old, ReturnValuesOnConditionCheckFailure)
        table.put(write["apply"](old))
        return {"Attributes": copy.deepcopy(old)} if ReturnValues == "ALL_OLD" and old is not None else {}

    def update_item(
        self,
        TableName: str,
        Key: dict,
        UpdateExpression: str,
        ConditionExpression: Optional[str] = None,
        ExpressionAttributeNames: Optional[dict] = None,
        ExpressionAttributeValues: Optional[dict] = None,
        ReturnValues: str = "NONE",
        ReturnValuesOnConditionCheckFailure: str = "NONE",
        **unsupported: Any,
    ) -> dict:
        _no_more(unsupported, "UpdateItem")
        self.calls.append("UpdateItem")
        table = self._table(TableName, "UpdateItem")
        write = self._update_plan(
            table,
            Key,
            UpdateExpression,
            ConditionExpression,
            ExpressionAttributeNames,
            ExpressionAttributeValues,
            "UpdateItem",
        )
        old = table.get(write["key"])
        if not write["check"](old):
            raise _condition_failed("UpdateItem", old, ReturnValuesOnConditionCheckFailure)
        try:
            new = write["apply"](old)
        except ExpressionError as error:
            raise _validation(str(error), "UpdateItem") from None
        table.check_item(new, "UpdateItem")
        table.put(new)
        if ReturnValues == "ALL_NEW":
            return {"Attributes": copy.deepcopy(new)}
        if ReturnValues == "ALL_OLD" and old is not None:
            return {"Attributes": copy.deepcopy(old)}
        if ReturnValues not in ("NONE", "ALL_NEW", "ALL_OLD"):
            raise NotImplementedError(f"ReturnValues={ReturnValues}")
        return {}

    def delete_item(
        self,
        TableName: str,
        Key: dict,
        ConditionExpression: Optional[str] = None,
        ExpressionAttributeNames: Optional[dict] = None,
        ExpressionAttributeValues: Optional[dict] = None,
        ReturnValues: str = "NONE",
        **unsupported: Any,
    ) -> dict:
        _no_more(unsupported, "DeleteItem")
        self.calls.append("DeleteItem")
        table = self._table(TableName, "DeleteItem")
        write = self._delete_plan(
            table, Key, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues, "DeleteItem"
        )
        old = table.get(write["key"])
        if not write["check"](old):
            raise _condition_failed("DeleteItem", old, "NONE")
        table.delete(write["key"])
        return {"Attributes": copy.deepcopy(old)} if ReturnValues == "ALL_OLD" and old is not None else {}

    def batch_write_item(self, RequestItems: dict, **unsupported: Any) -> dict:
        """Unconditional puts and deletes, at most 25, each key once (as DynamoDB checks them:
        the whole request is refused, nothing written); all processed."""
        _no_more(unsupported, "BatchWriteItem")
        self.calls.append("BatchWriteItem")
        total = sum(len(requests) for requests in RequestItems.values())
        if not 0 < total <= 25:
            raise _validation("Too many items requested for the BatchWriteItem call", "BatchWriteItem")
        planned: list[tuple[_Table, Any, Optional[dict]]] = []
        for name, requests in RequestItems.items():
            table = self._table(name, "BatchWriteItem")
            seen = set()
            for request in requests:
                if "PutRequest" in request:
                    write = self._put_plan(table, request["PutRequest"]["Item"], None, None, None, "BatchWriteItem")
                    planned.append((table, write["key"], write))
                else:
                    planned.append((table, table.check_key(request["DeleteRequest"]["Key"], "BatchWriteItem"), None))
                if planned[-1][1] in seen:
                    raise _validation("Provided list of item keys contains duplicates", "BatchWriteItem")
                seen.add(planned[-1][1])
        for target, key, plan in planned:
            if plan is None:
                target.delete(key)
            else:
                target.put(plan["apply"](target.get(key)))
        return {"UnprocessedItems": {}}

    # -- plans: what a write needs, checked before anything is written ------------------
    def _condition(self, text: Optional[str], refs: Expressions, operation: str) -> Callable[[Optional[dict]], bool]:
        if not text:
            return lambda item: True
        try:
            node = parse_condition(text, refs)
        except ExpressionError as error:
            raise _validation(str(error), operation) from None
        return lambda item: evaluate(node, item)

    def _put_plan(self, table: _Table, item: dict, condition, names, values, operation) -> dict:
        table.check_item(item, operation)
        refs = Expressions(names, values)
        check = self._condition(condition, refs, operation)
        _check_used(refs, operation)
        stored = copy.deepcopy(item)
        return {"key": table.key_of(item), "check": check, "apply": lambda old: stored, "delete": False}

    def _update_plan(self, table: _Table, key: dict, expression, condition, names, values, operation) -> dict:
        where = table.check_key(key, operation)
        refs = Expressions(names, values)
        try:
            actions = parse_update(expression, refs)
        except ExpressionError as error:
            raise _validation(str(error), operation) from None
        check = self._condition(condition, refs, operation)
        _check_used(refs, operation)
        for _, path, _ in actions:
            if path[0] in (table.hash_key, table.range_key):
                raise _validation(
                    f"One or more parameter values were invalid: Cannot update attribute "
                    f"{path[0]}. This attribute is part of the key",
                    operation,
                )

        def apply(old: Optional[dict]) -> dict:
            return apply_update(copy.deepcopy(old) if old is not None else copy.deepcopy(key), actions)

        return {"key": where, "check": check, "apply": apply, "delete": False}

    def _delete_plan(self, table: _Table, key: dict, condition, names, values, operation) -> dict:
        where = table.check_key(key, operation)
        refs = Expressions(names, values)
        check = self._condition(condition, refs, operation)
        _check_used(refs, operation)
        return {"key": where, "check": check, "apply": None, "delete": True}

    # -- transactions ----------------------------------------------------------------
    def transact_write_items(
        self, TransactItems: list[dict], ClientRequestToken: Optional[str] = None, **unsupported: Any
    ) -> dict:
        _no_more(unsupported, "TransactWriteItems")
        self.calls.append("TransactWriteItems")
        operation = "TransactWriteItems"
        if not 1 <= len(TransactItems) <= MAX_TRANSACTION_ACTIONS:
            raise _validation(f"Member must have length less than or equal to {MAX_TRANSACTION_ACTIONS}", operation)
        plans: list[tuple[_Table, dict, str]] = []
        for action in TransactItems:
            ((kind, body),) = action.items()
            table = self._table(body["TableName"], operation)
            names, values = body.get("ExpressionAttributeNames"), body.get("ExpressionAttributeValues")
            condition = body.get("ConditionExpression")
            if kind == "Put":
                plan = self._put_plan(table, body["Item"], condition, names, values, operation)
            elif kind == "Update":
                plan = self._update_plan(
                    table, body["Key"], body["UpdateExpression"], condition, names, values, operation
                )
            elif kind == "Delete":
                plan = self._delete_plan(table, body["Key"], condition, names, values, operation)
            elif kind == "ConditionCheck":
                plan = self._delete_plan(table, body["Key"], condition, names, values, operation)
                plan["delete"], plan["apply"] = False, None
            else:
                raise _validation(f"unknown action {kind}", operation)
            plans.append((table, plan, body.get("ReturnValuesOnConditionCheckFailure", "NONE")))
        targets = [(table.name, plan["key"]) for table, plan, _ in plans]
        if len(set(targets)) != len(targets):
            raise _validation("Transaction request cannot include multiple operations on one item", operation)
        for hook in list(self.before_commit):
            hook(TransactItems)
        reasons: list[dict[str, Any]] = []
        failed = False
        new_items: list[Optional[dict]] = []
        for table, plan, on_fail in plans:
            old = table.get(plan["key"])
            if not plan["check"](old):
                reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                if on_fail == "ALL_OLD" and old is not None:
                    reason["Item"] = copy.deepcopy(old)
                reasons.append(reason)
                failed = True
                new_items.append(None)
                continue
            try:
                new = plan["apply"](old) if plan["apply"] else None
                if new is not None:
                    table.check_item(new, operation)
            except (ExpressionError, ClientError) as error:
                reasons.append({"Code": "ValidationError", "Message": str(error)})
                failed = True
                new_items.append(None)
                continue
            reasons.append({"Code": "None"})
            new_items.append(new)
        if failed:
            codes = ", ".join(r["Code"] for r in reasons)
            raise client_error(
                "TransactionCanceledException",
                f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                operation,
                CancellationReasons=reasons,
            )
        for (table, plan, _), new in zip(plans, new_items, strict=False):
            if plan["delete"]:
                table.delete(plan["key"])
            elif new is not None:
                table.put(new)
        return {}

    # -- queries ---------------------------------------------------------------------
    def query(
        self,
        TableName: str,
        KeyConditionExpression: str,
        IndexName: Optional[str] = None,
        ExpressionAttributeNames: Optional[dict] = None,
        ExpressionAttributeValues: Optional[dict] = None,
        FilterExpression: Optional[str] = None,
        Limit: Optional[int] = None,
        ExclusiveStartKey: Optional[dict] = None,
        ScanIndexForward: bool = True,
        ConsistentRead: bool = False,
        Select: Optional[str] = None,
        **unsupported: Any,
    ) -> dict:
        _no_more(unsupported, "Query")
        self.calls.append("Query")
        operation = "Query"
        table = self._table(TableName, operation)
        if IndexName is not None:
            if IndexName not in table.indexes:
                raise _validation(f"The table does not have the specified index: {IndexName}", operation)
            if ConsistentRead:
                raise _validation("Consistent reads are not supported on global secondary indexes", operation)
            hash_key, range_key = table.indexes[IndexName]
        else:
            hash_key, range_key = table.hash_key, table.range_key
        if Limit is not None and Limit < 1:
            raise _validation("Limit must be at least 1", operation)
        refs = Expressions(ExpressionAttributeNames, ExpressionAttributeValues)
        try:
            key_node = parse_condition(KeyConditionExpression, refs)
            filter_node = parse_condition(FilterExpression, refs) if FilterExpression else None
        except ExpressionError as error:
            raise _validation(str(error), operation) from None
        _check_used(refs, operation)
        hash_value, range_nodes = _split_key_condition(key_node, hash_key, range_key, operation)

        def order(item: dict) -> tuple:
            own = _key_order(item[range_key]) if range_key else None
            return (own,) + table.key_of(item)

        if IndexName is None:
            partition = table.partitions.get(_key_order(hash_value), {})
            keys = table.sort_keys.get(_key_order(hash_value), [])
            candidates = [partition[k] for k in keys]
        else:
            candidates = sorted(
                (
                    item
                    for item in table.items()
                    if hash_key in item
                    and values_equal(item[hash_key], hash_value)
                    and (not range_key or range_key in item)
                ),
                key=order,
            )
        candidates = [item for item in candidates if all(evaluate(node, item) for node in range_nodes)]
        if not ScanIndexForward:
            candidates.reverse()
        if ExclusiveStartKey is not None:
            start = (
                order(ExclusiveStartKey)
                if all(name in ExclusiveStartKey for name in (range_key, table.hash_key) if name)
                else None
            )
            if start is None:
                raise _validation("The provided starting key is invalid", operation)
            if ScanIndexForward:
                candidates = [item for item in candidates if order(item) > start]
            else:
                candidates = [item for item in candidates if order(item) < start]
        evaluated, size, last = [], 0, None
        for item in candidates:
            evaluated.append(item)
            size += item_size(item)
            if (Limit is not None and len(evaluated) >= Limit) or size >= MAX_PAGE_BYTES:
                last = item
                break
        shown = [item for item in evaluated if filter_node is None or evaluate(filter_node, item)]
        if IndexName is not None:  # keys-only projections
            keep = {table.hash_key, table.range_key, hash_key, range_key} - {None}
            shown = [{k: v for k, v in item.items() if k in keep} for item in shown]
        response: dict[str, Any] = {"Count": len(shown), "ScannedCount": len(evaluated)}
        if Select != "COUNT":
            response["Items"] = copy.deepcopy(shown)
        if last is not None:
            key_names = {table.hash_key, table.range_key, hash_key, range_key} - {None}
            response["LastEvaluatedKey"] = {k: copy.deepcopy(last[k]) for k in key_names}
        return response


def _split_key_condition(node: tuple, hash_key: str, range_key: Optional[str], operation: str):
    """The hash key's value and the conditions on the range key of a KeyConditionExpression."""
    parts = [node]
    while any(p[0] == "and" for p in parts):
        parts = [q for p in parts for q in ((p[1], p[2]) if p[0] == "and" else (p,))]
    hash_value = None
    range_nodes: list[tuple] = []
    for part in parts:
        if any(o[0] == "value" and o[1] in ({"S": ""}, {"B": b""}) for o in _operands(part)):
            raise _validation(
                "One or more parameter values were invalid: Condition parameter type does "
                "not match schema type or is empty",
                operation,
            )
        if part[0] == "compare" and part[1] == "=" and part[2] == ("path", (hash_key,)) and part[3][0] == "value":
            if hash_value is not None:
                raise _validation("KeyConditionExpressions must only contain one condition per key", operation)
            hash_value = part[3][1]
            continue
        paths = [a for a in _operands(part) if a[0] == "path"]
        if (
            range_key is None
            or [p[1] for p in paths] != [(range_key,)]
            or part[0] not in ("compare", "between", "function")
            or (part[0] == "compare" and part[1] == "<>")
            or (part[0] == "function" and part[1] != "begins_with")
            or range_nodes
        ):
            raise _validation("Query key condition not supported", operation)
        range_nodes.append(part)
    if hash_value is None:
        raise _validation("Query condition missed key schema element", operation)
    return hash_value, range_nodes


def _operands(node: tuple) -> list[tuple]:
    if node[0] == "compare":
        return [node[2], node[3]]
    if node[0] == "between":
        return [node[1], node[2], node[3]]
    if node[0] == "function":
        return list(node[2])
    return [node]


def _check_used(refs: Expressions, operation: str) -> None:
    try:
        refs.check_all_used()
    except ExpressionError as error:
        raise _validation(str(error), operation) from None


def _condition_failed(operation: str, old: Optional[dict], on_fail: str) -> ClientError:
    extra = {"Item": copy.deepcopy(old)} if on_fail == "ALL_OLD" and old is not None else {}
    return client_error("ConditionalCheckFailedException", "The conditional request failed", operation, **extra)


def _no_more(unsupported: dict, operation: str) -> None:
    ignored = {"ReturnConsumedCapacity", "ReturnItemCollectionMetrics"}
    left = set(unsupported) - ignored
    if left:
        raise NotImplementedError(f"{operation}: {sorted(left)} not supported by the memory table")


class MemoryStore(Store):
    """The service's `Store` over a `MemoryDynamoDB` table made from its definition."""

    def __init__(self, table: str = "dangol"):
        client = MemoryDynamoDB()
        client.create_table(**table_definition(table))
        super().__init__(client, table)

    @property
    def before_commit(self) -> list[Callable[[list[dict]], None]]:
        return self.client.before_commit

    def items(self, prefix: str = "") -> list[dict]:
        """Every stored item whose pk starts with `prefix`, as the store reads them."""
        return [
            from_attrs(item) for item in self.client.tables[self.table].items() if item["pk"]["S"].startswith(prefix)
        ]

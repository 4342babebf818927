"""The in-memory table answers as moto's DynamoDB does: the same requests on
both, the same items, errors and cancellation reasons."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.storage.store import table_definition, to_attrs
from devtools.memory_store import MemoryDynamoDB

T = "parity"


def key(pk, sk):
    return to_attrs({"pk": pk, "sk": sk})


SEED = [
    {"pk": "A", "sk": "1", "v": 1, "status": "available", "tags": {"x"}, "m": {"a": 1}},
    {"pk": "A", "sk": "2", "v": 2, "gone": None},
    {"pk": "A", "sk": "3", "v": 3, "member_shard": "0", "member_id": "A3"},
    {"pk": "B", "sk": "1", "v": 0, "member_shard": "0"},
]

REQUESTS = [
    ("put_item", dict(Item=to_attrs({"pk": "A", "sk": "1"}), ConditionExpression="attribute_not_exists(pk)")),
    ("put_item", dict(Item=to_attrs({"pk": "A", "sk": "9"}), ConditionExpression="attribute_not_exists(pk)")),
    (
        "put_item",
        dict(
            Item=to_attrs({"pk": "A", "sk": "1", "v": 5}),
            ConditionExpression="#v = :v",
            ExpressionAttributeNames={"#v": "v"},
            ExpressionAttributeValues=to_attrs({":v": 2}),
        ),
    ),
    (
        "update_item",
        dict(
            Key=key("A", "1"),
            UpdateExpression="SET #v = #v + :one, #m.#a = if_not_exists(#m.#a, :z) + :one",
            ExpressionAttributeNames={"#v": "v", "#m": "m", "#a": "b"},
            ExpressionAttributeValues=to_attrs({":one": 1, ":z": 10}),
            ReturnValues="ALL_NEW",
        ),
    ),
    (
        "update_item",
        dict(
            Key=key("A", "1"),
            UpdateExpression="SET #x = #x + :one",
            ExpressionAttributeNames={"#x": "missing"},
            ExpressionAttributeValues=to_attrs({":one": 1}),
        ),
    ),
    (
        "update_item",
        dict(
            Key=key("A", "1"),
            UpdateExpression="SET #s = :s",
            ConditionExpression="attribute_not_exists(#g) OR attribute_type(#g, :null)",
            ExpressionAttributeNames={"#s": "status", "#g": "gone"},
            ExpressionAttributeValues=to_attrs({":s": "used", ":null": "NULL"}),
            ReturnValues="ALL_NEW",
        ),
    ),
    (
        "update_item",
        dict(
            Key=key("A", "2"),
            UpdateExpression="SET #s = :s",
            ConditionExpression="attribute_not_exists(#g) OR attribute_type(#g, :null)",
            ExpressionAttributeNames={"#s": "status", "#g": "gone"},
            ExpressionAttributeValues=to_attrs({":s": "used", ":null": "NULL"}),
            ReturnValues="ALL_NEW",
        ),
    ),
    (
        "update_item",
        dict(Key=key("A", "2"), UpdateExpression="SET pk = :p", ExpressionAttributeValues=to_attrs({":p": "Z"})),
    ),
    (
        "update_item",
        dict(
            Key=key("N", "1"),
            UpdateExpression="ADD #c :c, #t :t REMOVE #r",
            ExpressionAttributeNames={"#c": "count", "#t": "tags", "#r": "nothing"},
            ExpressionAttributeValues=to_attrs({":c": 3, ":t": {"y"}}),
            ReturnValues="ALL_NEW",
        ),
    ),
    (
        "update_item",
        dict(
            Key=key("A", "1"),
            UpdateExpression="ADD #t :t DELETE #u :u",
            ExpressionAttributeNames={"#t": "tags", "#u": "tags2"},
            ExpressionAttributeValues=to_attrs({":t": {"y"}, ":u": {"q"}}),
            ReturnValues="ALL_NEW",
        ),
    ),
    (
        "transact_write_items",
        dict(
            TransactItems=[
                {
                    "Put": {
                        "TableName": T,
                        "Item": to_attrs({"pk": "C", "sk": "1"}),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": T,
                        "Item": to_attrs({"pk": "A", "sk": "1"}),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Update": {
                        "TableName": T,
                        "Key": key("A", "2"),
                        "UpdateExpression": "SET #v = #v - :one",
                        "ConditionExpression": "#v > :zero",
                        "ExpressionAttributeNames": {"#v": "v"},
                        "ExpressionAttributeValues": to_attrs({":one": 1, ":zero": 5}),
                    }
                },
            ]
        ),
    ),
    (
        "transact_write_items",
        dict(
            TransactItems=[
                {"Put": {"TableName": T, "Item": to_attrs({"pk": "C", "sk": "1"})}},
                {
                    "Update": {
                        "TableName": T,
                        "Key": key("A", "2"),
                        "UpdateExpression": "SET #v = #v - :one",
                        "ConditionExpression": "#v > :zero",
                        "ExpressionAttributeNames": {"#v": "v"},
                        "ExpressionAttributeValues": to_attrs({":one": 1, ":zero": 0}),
                    }
                },
                {"Delete": {"TableName": T, "Key": key("B", "1")}},
            ]
        ),
    ),
    (
        "transact_write_items",
        dict(
            TransactItems=[
                {"Put": {"TableName": T, "Item": to_attrs({"pk": "C", "sk": "1"})}},
                {"Delete": {"TableName": T, "Key": key("C", "1")}},
            ]
        ),
    ),
    (
        "query",
        dict(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues=to_attrs({":pk": "A", ":p": ""}),
        ),
    ),
    (
        "query",
        dict(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ScanIndexForward=False,
            ExpressionAttributeValues=to_attrs({":pk": "A", ":a": "1", ":b": "2"}),
        ),
    ),
    ("query", dict(KeyConditionExpression="pk = :pk", Limit=2, ExpressionAttributeValues=to_attrs({":pk": "A"}))),
    (
        "query",
        dict(
            KeyConditionExpression="pk = :pk",
            Limit=2,
            ExpressionAttributeValues=to_attrs({":pk": "A"}),
            ExclusiveStartKey=key("A", "2"),
        ),
    ),
    (
        "query",
        dict(
            IndexName="members",
            KeyConditionExpression="#h = :h",
            ExpressionAttributeNames={"#h": "member_shard"},
            ExpressionAttributeValues=to_attrs({":h": "0"}),
        ),
    ),
]

# DynamoDB refuses these with a ValidationException; moto 5.2 lets them through
STRICTER = [
    (
        "put_item",
        dict(
            Item=to_attrs({"pk": "A", "sk": "1", "v": 5}),
            ConditionExpression="#v = :v",
            ExpressionAttributeNames={"#v": "v"},
            ExpressionAttributeValues=to_attrs({":v": 1, ":w": 2}),
        ),
    ),
    ("put_item", dict(Item=to_attrs({"pk": "A", "sk": "5", "member_shard": ""}))),
    ("put_item", dict(Item=to_attrs({"pk": "A", "sk": "5", "member_shard": 5}))),
    (
        "query",
        dict(
            IndexName="members",
            KeyConditionExpression="#h = :h",
            ConsistentRead=True,
            ExpressionAttributeNames={"#h": "member_shard"},
            ExpressionAttributeValues=to_attrs({":h": "0"}),
        ),
    ),
]


def run(client, operation, request):
    try:
        response = (
            getattr(client, operation)(TableName=T, **request)
            if operation != "transact_write_items"
            else client.transact_write_items(**request)
        )
    except ClientError as error:
        reasons = [
            {k: v for k, v in r.items() if k != "Message"} for r in error.response.get("CancellationReasons", [])
        ]
        return ("error", error.response["Error"]["Code"], reasons)
    response.pop("ResponseMetadata", None)
    for name in ("ScannedCount", "ConsumedCapacity", "ItemCollectionMetrics"):
        response.pop(name, None)
    return ("ok", normalise(response))


def normalise(value):
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return (
            sorted((normalise(v) for v in value), key=repr)
            if value and isinstance(value[0], str)
            else [normalise(v) for v in value]
        )
    return value


def table_state(client):
    found = []
    for pk in ("A", "B", "C", "N"):
        found += client.query(
            TableName=T, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=to_attrs({":pk": pk})
        )["Items"]
    return normalise(found)


@pytest.mark.parametrize("operation, request_", REQUESTS, ids=[f"{n}-{op}" for n, (op, _) in enumerate(REQUESTS)])
def test_the_memory_table_answers_as_moto(operation, request_):
    with mock_aws():
        moto = boto3.client("dynamodb", region_name="ap-northeast-2")
        memory = MemoryDynamoDB()
        for client in (moto, memory):
            client.create_table(**table_definition(T))
            for item in SEED:
                client.put_item(TableName=T, Item=to_attrs(item))
        moto_answer, memory_answer = run(moto, operation, request_), run(memory, operation, request_)
        if moto_answer[0] == "error":
            assert memory_answer[:2] == moto_answer[:2]
            if moto_answer[2]:
                assert memory_answer[2] == moto_answer[2]
        else:
            assert memory_answer == moto_answer
        assert table_state(memory) == table_state(moto)


@pytest.mark.parametrize("operation, request_", STRICTER, ids=[f"{n}-{op}" for n, (op, _) in enumerate(STRICTER)])
def test_the_memory_table_refuses_what_dynamodb_refuses(operation, request_):
    memory = MemoryDynamoDB()
    memory.create_table(**table_definition(T))
    assert run(memory, operation, request_)[:2] == ("error", "ValidationException")

"""Least privilege, per function: each Lambda function's role in the packaged
template grants exactly what that function's code calls, on its stack's resources.

The template (dev stage, as `deploy/stack.py` builds it) names the functions,
their roles and the environment variables that carry resource names. The test
points those variables at names of its own (so code that used a hard-coded name
would call a resource the template does not have), runs every route, job and
queue handler on moto with each function's entry point wrapped, records every
AWS call through botocore's `provide-client-params` event with the function it ran in,
and compares, function by function, (IAM action, resource) granted with
(IAM action, resource) needed: recorded calls, plus what the platform does with
the function's role (its log group, X-Ray, its SQS event source mapping, the
on-failure destination of its asynchronous runs).
A missing permission and an unused one both fail.

IAM actions come from what each call really sends, not from the operation's
name: the members of a TransactWriteItems are each authorised as their own
action (Put -> dynamodb:PutItem, Update -> UpdateItem, Delete -> DeleteItem,
ConditionCheck -> ConditionCheckItem) on their own table, and every action so
derived must be one IAM has (`deploy/iam_catalogue.py`). To cover a new service
(SSM, Secrets Manager, ...), add its resources to `RESOURCES_OF` and, if its
policies name resources another way, to `policy_resource`.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from chalice import Chalice

from deploy import iam_catalogue, stack
from tests.conftest import ROOT, Api

# API operations authorised by an IAM action of another name.
IAM_ACTION = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# Operations that carry other operations: each member is authorised as its own
# action on its own table (there is no dynamodb:TransactWriteItems action).
TRANSACTIONS = {"dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"}
TRANSACTION_MEMBER_ACTION = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# Routes the API answers for any path (its own 404/405 in the contract shape).
CATCH_ALL_ROUTE = re.compile(r"^/(\{p\d+\}(/\{p\d+\})*)?$")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    return stack.package("dev", tmp_path_factory.mktemp("dev"), requirements=False)


def global_env(template: dict) -> dict:
    return template["Globals"]["Function"]["Environment"]["Variables"]


@pytest.fixture
def stack_names(template, monkeypatch) -> dict[str, str]:
    """Point every resource-naming variable at a test name; name -> logical id."""
    names = {}
    for variable, value in global_env(template).items():
        target = stack.referenced_id(value)
        if target in template["Resources"]:
            name = f"t-{target.lower()}"
            monkeypatch.setenv(variable, name)
            names[name] = target
    assert {"LedgerTable", "NotificationsQueue"} <= set(names.values())
    return names


class Recorder:
    """AWS calls, by the Lambda function (app.py entry point) that made them."""

    def __init__(self):
        self.running: list[str] = []
        self.calls: dict[str | None, set] = defaultdict(set)
        self.routes: set[tuple[str, str]] = set()  # (method, route path) the API was asked

    def before_call(self, model, params, **_):
        """botocore's `provide-client-params`: the operation and its API parameters."""
        service = model.service_model.endpoint_prefix
        function = self.running[-1] if self.running else None
        self.calls[function].add((f"{service}:{model.name}", json.dumps(params, default=str)))

    def wrap(self, name: str, handler):
        from chalicelib import runtime

        def run(*args, **kwargs):
            if name == "api_handler" and len(args) > 1 and isinstance(args[1], dict):
                context = args[1].get("requestContext", {})
                self.routes.add((context.get("httpMethod"), context.get("resourcePath")))
            if not self.running:
                # each invocation in a fresh container: nothing cached by another function
                runtime.reset()
            self.running.append(name)
            try:
                return handler(*args, **kwargs)
            finally:
                self.running.pop()

        return run


@pytest.fixture
def recorder(template, stack_names, api, monkeypatch):
    import app as app_module
    from chalicelib import runtime

    recorder = Recorder()
    session = boto3._get_default_session()
    session.events.register("provide-client-params", recorder.before_call, unique_id="permission-recorder")
    runtime.reset()  # clients are made again, with the hook
    for _, function in stack.functions(template):
        name = function_name = stack.function_name(function)
        if function_name == "api_handler":
            monkeypatch.setattr(Chalice, "__call__", recorder.wrap(name, Chalice.__call__))
        else:
            monkeypatch.setattr(app_module, function_name, recorder.wrap(name, getattr(app_module, function_name)))
    yield recorder
    session.events.unregister("provide-client-params", unique_id="permission-recorder")
    runtime.reset()


def exercise(api: Api, clock, names: dict[str, str]) -> None:
    """Every route, and every job and queue handler with work to do (points
    that expire, warnings due, a birthday, a tier falling at a quarter's end,
    monthly statements, members becoming dormant), with both delivery channels,
    and webhooks delivered to a receiver that answers and one that fails."""
    from devtools.webhook_receiver import Receiver

    with Receiver() as receiver:
        exercise_with_webhooks(api, clock, names, receiver)


def exercise_with_webhooks(api: Api, clock, names: dict[str, str], receiver) -> None:
    from chalicelib import local
    from chalicelib.webhooks.events import EVENT_TYPES

    hooks = [
        api.post("/webhooks", {"url": receiver.url(path), "events": list(EVENT_TYPES)}, key="admin").json
        for path in ("/ok", "/fail")
    ]

    def jobs_and_queues():
        for job in local.SCHEDULED_JOBS + local.HOUSEKEEPING + local.IMPORT_JOBS:
            local.run_job(job)
        local.drain_queues()

    api.put(
        "/program",
        {
            "birthday_bonus": 100,
            "dormancy": {"after_days": 300},
            "tiers": [{"name": "basic", "min_spend": 0}, {"name": "gold", "min_spend": 100000}],
        },
        key="admin",
    )
    assert (
        api.post(
            "/rewards", {"reward_id": "cup", "name": "Tumbler", "points_cost": 1000, "stock": 3}, key="admin"
        ).status
        == 201
    )
    api.get("/rewards")
    api.get("/program")
    enrolled = api.member("a", email="a@example.com", birthday="1990-01-15")
    api.member("b", phone="+821012345678")
    # c comes by a's referral code and is erased while suspended (the erasure
    # deletes c's own referral-code item inside its transaction)
    api.member("c", email="c@example.com", referral_code=enrolled["referral_code"])
    api.get("/members/a")
    earned = api.post(
        "/members/a/earn",
        {"order_id": "o1", "amount": 500000, "items": [{"sku": "latte", "category": "coffee", "amount": 5000}]},
    ).json
    api.post("/members/a/activities", {"type": "review", "reference_id": "r1"})
    assert api.get("/members/a/recommendations").status == 200
    redeemed = api.post("/members/a/redeem", {"reward_id": "cup"}).json
    assert api.get(f"/vouchers/{redeemed['reward']['code']}").status == 200
    api.post(f"/members/a/transactions/{redeemed['transaction_id']}/reversal", {})
    api.post(f"/members/a/transactions/{earned['transaction_id']}/reversal", {"amount": 1000})
    api.post("/members/a/transfers", {"to_member_id": "b", "points": 10})
    api.post("/members/a/adjustments", {"points": 5, "reason": "goodwill"}, key="admin")
    api.get("/members/a/transactions")
    api.get("/members/a/notifications", key="admin")
    api.get("/stats", key="admin")
    api.get("/stats/daily?from=2020-01-01&to=2030-01-01", key="admin")
    # v2: coupons, lookups, suspension
    assert (
        api.post(
            "/coupon-templates",
            {
                "template_id": "latte",
                "name": "Latte",
                "points_cost": 100,
                "discount": {"type": "amount", "amount": 1000},
            },
            key="admin",
        ).status
        == 201
    )
    api.get("/coupon-templates")
    coupon = api.post("/members/a/coupons", {"template_id": "latte"}).json
    api.get("/members/a/coupons")
    api.post(f"/coupons/{coupon['code']}/redemption", {"member_id": "a", "order_id": "c1", "order_amount": 5000})
    api.post(f"/coupons/{coupon['code']}/release", {"member_id": "a"})
    api.get("/members?phone=01012345678")
    api.get("/members?tier=basic", key="admin")
    api.patch("/members/b", {"name": "B"})
    api.post("/members/b/suspension", {"reason": "abuse"}, key="admin")
    api.delete("/members/b/suspension", key="admin")
    assert api.post("/members/c/suspension", {"reason": "abuse"}, key="admin").status == 200
    # the member page: a widget token (its signing key made on first use) and its reads
    minted = api.post("/members/a/widget-tokens", idem=None)
    assert minted.status == 201, minted
    for path in (
        "/widget/api/member",
        "/widget/api/transactions",
        "/widget/api/coupons",
        "/widget/api/recommendations",
    ):
        assert api.get(path, key=minted.json["token"]).status == 200, path
    # the pages and documents the API serves
    for path in ("/health", "/openapi.json", "/docs", "/docs/swagger-ui.css", "/console", "/ui/console.js", "/widget"):
        assert api.get(path, key=None).status == 200, path
    assert (
        api.post(
            "/widget",
            raw=f"token={minted.json['token']}",
            key=None,
            idem=None,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ).status
        == 200
    )
    assert api.post("/program/preview", {"purchase": {"amount": 1000}}, key="admin", idem=None).status == 200
    # v3: analytics and segments read stored results; the refresh itself runs from its own queue
    rules = [{"field": "frequency", "op": "gte", "value": 1}]
    segment = api.post("/segments", {"segment_id": "buyers", "name": "Buyers", "rules": rules}, key="admin")
    assert segment.status == 201, segment
    for path in (
        "/analytics/summary?days=30",
        "/analytics/cohorts?from=2026-01&to=2026-12",
        "/analytics/rfm",
        "/members/a/insights",
        "/segments",
        "/segments/buyers",
        "/members?segment=buyers",
    ):
        assert api.get(path, key="admin").status == 200, path
    assert api.delete("/segments/buyers", key="admin").status == 204
    # v3: campaigns (§22): one deleted before its launch, one launched by the jobs below
    arms = [
        {"name": "control", "weight": 50, "reward": None},
        {"name": "coupon", "weight": 50, "reward": {"type": "coupon", "template_id": "latte"}},
    ]
    window = {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}
    for campaign_id in ("spring", "gone"):
        body = {"campaign_id": campaign_id, "name": campaign_id, "arms": arms, **window}
        assert api.post("/campaigns", body, key="admin").status == 201
    assert api.delete("/campaigns/gone", key="admin").status == 204
    for path in ("/campaigns", "/campaigns/spring", "/campaigns/spring/results", "/members/a/campaigns"):
        assert api.get(path, key="admin").status == 200, path
    # v3: imports, of lines sent and of an upload; the job applies them (the queues, run_imports)
    lines = '{"member_id": "i1", "name": "I", "opening_balance": 10}\n{"member_id": "i2"}'
    posted = api.post("/imports", {"format": "jsonl", "data": lines}, key="admin")
    assert posted.status == 202, posted
    imports_bucket = next(name for name, target in names.items() if target == "ImportsBucket")
    boto3.client("s3", region_name="ap-northeast-2").put_object(
        Bucket=imports_bucket, Key="uploads/members.jsonl", Body=b'{"member_id": "i3", "name": "I"}'
    )
    uploaded = api.post("/imports", {"format": "jsonl", "s3_key": "uploads/members.jsonl"}, key="admin")
    assert uploaded.status == 202, uploaded
    local.run_job("run_imports")  # queues both again: each is planned once, within its lease
    local.drain_queues()
    assert api.get(f"/imports/{posted.json['import_id']}", key="admin").json["status"] == "done"
    assert api.get(f"/imports/{uploaded.json['import_id']}", key="admin").json["imported"] == 1
    created = api.post("/api-keys", {"name": "pos-2", "role": "storefront"}, key="admin")
    assert created.status == 201, created
    api.get("/api-keys", key="admin")
    api.delete(f"/api-keys/{created.json['key_id']}", key="admin")
    # a change of the tier ladder queues a pass over all members
    api.put(
        "/program",
        {
            "birthday_bonus": 100,
            "dormancy": {"after_days": 300},
            "tiers": [{"name": "basic", "min_spend": 0}, {"name": "silver", "min_spend": 50000}],
        },
        key="admin",
    )
    # ... and SES throttles one email: its message comes back later (a passing error)
    throttled = []
    real_call = BaseClient._make_api_call

    def throttle_once(self, operation, params):
        if operation == "SendEmail" and not throttled:
            throttled.append(operation)
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                operation,
            )
        return real_call(self, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", throttle_once):
        local.drain_queues()  # that pass runs in the queue handler
    assert throttled
    # another change whose queued pass is lost: the daily recompute_tiers makes it
    api.put(
        "/program",
        {
            "birthday_bonus": 100,
            "dormancy": {"after_days": 300},
            "tiers": [{"name": "basic", "min_spend": 0}, {"name": "silver", "min_spend": 60000}],
        },
        key="admin",
    )
    sqs = boto3.client("sqs", region_name="ap-northeast-2")
    for name, target in names.items():
        if target == "NotificationsQueue":
            sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
    local.run_job("recompute_tiers")
    jobs_and_queues()
    clock.advance(days=360)  # a's first points expire within the warning window
    jobs_and_queues()
    clock.advance(days=10)  # ... and now expire; a new quarter reviews tiers
    jobs_and_queues()
    assert api.delete("/members/b", key="admin").status == 204
    assert api.delete("/members/c", key="admin").status == 204
    jobs_and_queues()  # what the erasures queued
    exercise_webhooks(api, clock, hooks, receiver)
    deliver_the_stream(names)
    refresh_on_athena(names, api)


def exercise_webhooks(api: Api, clock, hooks: list[dict], receiver) -> None:
    """§24: the failing receiver's deliveries are retried until one is `failed`, then
    retried by hand; a pointer lost after a commit is fanned out by the dispatcher; a
    webhook whose slots are all taken has its message come back later."""
    from chalicelib import local
    from chalicelib.runtime import services

    ok, failing = hooks
    assert receiver.to("/ok"), "the answering receiver got the events"
    for _ in range(12):
        clock.advance(days=1)
        local.run_job("send_due_webhooks")
        local.drain_queues()
        listed = api.get(f"/webhooks/{failing['webhook_id']}/deliveries?limit=100", key="admin").json["items"]
        failed = [d for d in listed if d["status"] == "failed"]
        if failed:
            break
    assert failed, listed
    retried = api.post(f"/webhooks/{failing['webhook_id']}/deliveries/{failed[0]['event_id']}/retry", key="admin")
    assert retried.status == 202, retried
    local.drain_queues()
    for slot in range(4):  # every slot of the answering webhook taken: its message comes back later
        services().store.put({"pk": f"WEBHOOK#{ok['webhook_id']}", "sk": f"SLOT#{slot}", "lease_until": "9999"})
    with_lost_pointer = api.post("/members/a/adjustments", {"points": 1, "reason": "x"}, key="admin")
    assert with_lost_pointer.status == 201
    sqs = boto3.client("sqs", region_name="ap-northeast-2")
    sqs.purge_queue(QueueUrl=services().webhook_queue.url)  # the pointer is lost
    clock.advance(minutes=2)
    local.run_job("send_due_webhooks")  # finds the events item in the index and fans it out
    local.drain_queues()
    assert api.get("/webhooks", key="admin").status == 200
    assert api.delete(f"/webhooks/{failing['webhook_id']}", key="admin").status == 204


SUMMARY_COLUMNS = (
    "window_id",
    "members_at_end",
    "new_members",
    "active_members",
    "repeat_members",
    "purchases",
    "purchase_amount",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "coupons_issued",
    "coupons_used",
)


def refresh_on_athena(names: dict[str, str], api) -> None:
    """The refresh as it runs on AWS: the analytics queue's refresh message, with the
    stack's Athena results location set, so `run_analytics_refresh` queries Athena (moto
    answers SUCCEEDED; the result queue below gives no member rows and a
    zero summary row per period, all periods one query). A month summary stored before that the refresh
    no longer computes is deleted."""
    import os

    from moto.athena.models import QueryResults, athena_backends

    from chalicelib import local
    from chalicelib.analytics import refresh
    from chalicelib.storage import repository as keys

    region = "ap-northeast-2"
    results_bucket = "t-athenaresultsbucket"
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=results_bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )
    workgroup = next(name for name, target in names.items() if target == "AnalyticsWorkGroup")
    boto3.client("athena", region_name=region).create_work_group(  # as the stack makes it
        Name=workgroup,
        Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{results_bucket}/results/"}},
    )
    table = next(name for name, target in names.items() if target == "LedgerTable")
    stale = keys.summary_month_key("2001-01")
    dynamodb = boto3.client("dynamodb", region_name=region)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": stale[0]}, "sk": {"S": stale[1]}})
    # in the order the refresh starts them (moto gives each query execution the next result):
    # program_start, then member_bought, member_values, recommendations and cohorts (all started
    # at once): no rows; the summary (started with them), one zero row per period (no month: no
    # member enrolled; the day windows); then campaign_results (the scenario's campaign): no rows
    header = {"Data": [{"VarCharValue": c} for c in SUMMARY_COLUMNS]}
    zeros = [
        {"Data": [{"VarCharValue": str(window) if c == "window_id" else "0"} for c in SUMMARY_COLUMNS]}
        for window in range(len(refresh.SUMMARY_DAYS))
    ]
    # member_values: one member (no purchases), so the refresh writes a member item (its
    # INSIGHTS: BatchWriteItem)
    values = {
        "member_id": "varchar",
        "generation": "integer",
        "tier": "varchar",
        "balance": "bigint",
        "dormant": "boolean",
        "days_since_joined": "bigint",
        "frequency": "bigint",
        "monetary": "bigint",
        "clv": "bigint",
        "recency_days": "bigint",
        "last_purchase_date": "date",
        "r": "integer",
        "f": "integer",
        "m": "integer",
        "rfm_segment": "varchar",
    }
    one = {"member_id": "perm-m", "generation": "0", "tier": "basic", "balance": "0", "dormant": "false"}
    one.update(days_since_joined="3", frequency="0", monetary="0", clv="0")
    member_values = QueryResults(
        rows=[
            {"Data": [{"VarCharValue": c} for c in values]},
            {"Data": [{"VarCharValue": one[c]} if c in one else {} for c in values]},
        ],
        column_info=[{"Name": c, "Type": t} for c, t in values.items()],
    )
    queued = [QueryResults(rows=[], column_info=[]), QueryResults(rows=[], column_info=[]), member_values]
    queued += [QueryResults(rows=[], column_info=[]) for _ in range(2)]
    queued.append(
        QueryResults(rows=[header, *zeros], column_info=[{"Name": c, "Type": "bigint"} for c in SUMMARY_COLUMNS])
    )
    queued.append(QueryResults(rows=[], column_info=[]))
    # a segment (the refresh updates its figures: a conditional UpdateItem) and a campaign due
    # (the refresh first queues its launch on the job queue)
    rules = [{"field": "frequency", "op": "gte", "value": 0}]
    segment = {"segment_id": "everyone", "name": "Everyone", "rules": rules}
    assert api.post("/segments", segment, key="admin").status == 201
    arms = [{"name": "control", "weight": 100, "reward": None}]
    campaign = {"campaign_id": "autumn", "name": "Autumn", "arms": arms, "starts_at": "2020-01-01T00:00:00Z"}
    campaign["ends_at"] = "2099-01-01T00:00:00Z"
    assert api.post("/campaigns", campaign, key="admin").status == 201
    # three refreshes: the one POST /analytics/refresh queues, the scheduled function's, and one
    # left on the job queue from before the refresh had a queue of its own (run_job_tasks sends
    # it on to the analytics queue)
    athena_backends["123456789012"][region].query_results_queue.extend(queued + queued + queued)
    jobs_queue = next(name for name, target in names.items() if target == "JobsQueue")
    sqs = boto3.client("sqs", region_name=region)
    with mock.patch.dict(os.environ, {"DANGOL_ATHENA_OUTPUT": f"s3://{results_bucket}/results/"}):
        assert api.post("/analytics/refresh", {}, key="admin", idem=None).status == 202
        local.run_job("refresh_analytics")
        jobs_url = sqs.get_queue_url(QueueName=jobs_queue)["QueueUrl"]
        sqs.send_message(QueueUrl=jobs_url, MessageBody='{"job": "refresh_analytics"}')
        local.drain_queues()
    assert not athena_backends["123456789012"][region].query_results_queue, "every query answered"
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": stale[0]}, "sk": {"S": stale[1]}})
    refreshed = keys.analytics_refresh_key()
    assert "Item" in dynamodb.get_item(TableName=table, Key={"pk": {"S": refreshed[0]}, "sk": {"S": refreshed[1]}})


def deliver_the_stream(names: dict[str, str]) -> None:
    """What Lambda's event source mapping does: the table's stream records, in
    batches, to `record_facts`, which sends fact rows to the Firehose delivery
    streams (made here as the stack makes them, writing to a bucket)."""
    import datetime as dt

    from botocore.config import Config

    import app as app_module

    region = "ap-northeast-2"
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket="t-facts", CreateBucketConfiguration={"LocationConstraint": region})
    firehose = boto3.client("firehose", region_name=region)
    for name, target in names.items():
        if target.endswith("FactsDeliveryStream"):
            firehose.create_delivery_stream(
                DeliveryStreamName=name,
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/t-facts-delivery",
                    "BucketARN": "arn:aws:s3:::t-facts",
                    "Prefix": f"facts/{name}/",
                },
            )
    table = next(name for name, target in names.items() if target == "LedgerTable")
    stream_arn = boto3.client("dynamodb", region_name=region).describe_table(TableName=table)["Table"][
        "LatestStreamArn"
    ]
    streams = boto3.client("dynamodbstreams", region_name=region, config=Config(account_id_endpoint_mode="disabled"))
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=100)
            if not page["Records"]:
                break
            records = []
            for record in page["Records"]:
                change = dict(record["dynamodb"])
                created = change["ApproximateCreationDateTime"]
                change["ApproximateCreationDateTime"] = (
                    created.timestamp() if isinstance(created, dt.datetime) else created
                )
                records.append({**record, "dynamodb": change, "eventSourceARN": stream_arn})
            app_module.record_facts({"Records": records}, None)
            iterator = page.get("NextShardIterator")
    written = s3.list_objects_v2(Bucket="t-facts").get("KeyCount", 0)
    assert written >= 4, "every fact table got rows"


def dynamodb_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    def table(name: str, index: str | None = None) -> str:
        return names.get(name, name) + ("/index" if index else "")

    if operation in TRANSACTIONS:
        found = set()
        for member in params["TransactItems"]:
            ((kind, request),) = member.items()
            found.add((TRANSACTION_MEMBER_ACTION[kind], table(request["TableName"])))
        return found
    if "RequestItems" in params:  # BatchGetItem, BatchWriteItem: the batch's own action per table
        return {(operation, table(name)) for name in params["RequestItems"]}
    return {(operation, table(params["TableName"], params.get("IndexName")))}


def sqs_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    name = params.get("QueueName") or params.get("QueueUrl", "?").rstrip("/").rsplit("/", 1)[-1]
    return {(IAM_ACTION.get(operation, operation), names.get(name, f"{name} ({sorted(params)})"))}


def ses_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    return {(operation, "EmailIdentity")}


def sns_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    return {(operation, "sms" if "PhoneNumber" in params else params.get("TopicArn", "?"))}


def secretsmanager_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    secret = params.get("SecretId")
    return {(operation, names.get(secret, f"{secret} (not the stack's)"))}


def athena_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    """Queries run in a workgroup; a query execution's reads are authorised on the workgroup it ran in
    (the stack has one: the analytics workgroup)."""
    workgroup = params.get("WorkGroup", "AnalyticsWorkGroup")
    return {(operation, names.get(workgroup, workgroup))}


def firehose_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    stream = params.get("DeliveryStreamName")
    return {(operation, names.get(stream, f"{stream} (not the stack's)"))}


def s3_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    """Object operations on a bucket's objects (`<bucket>/*`): HeadObject is authorised as
    s3:GetObject; CopyObject as s3:GetObject on its source and s3:PutObject on its target."""

    def objects(bucket: str) -> str:
        return names.get(bucket, f"{bucket} (not the stack's)") + "/*"

    action = {"s3:HeadObject": "s3:GetObject"}.get(operation, operation)
    if operation == "s3:CopyObject":
        source = params["CopySource"]
        source_bucket = source["Bucket"] if isinstance(source, dict) else source.lstrip("/").split("/")[0]
        return {("s3:GetObject", objects(source_bucket)), ("s3:PutObject", objects(params["Bucket"]))}
    return {(action, objects(params["Bucket"]))}


# service -> (operation, params, names) -> {(IAM action, resource)}; resources are
# the template's logical ids ("<table>/index" for its indexes).
RESOURCES_OF = {
    "dynamodb": dynamodb_requests,
    "sqs": sqs_requests,
    "ses": ses_requests,
    "sns": sns_requests,
    "secretsmanager": secretsmanager_requests,
    "firehose": firehose_requests,
    "athena": athena_requests,
    "s3": s3_requests,
}

# What Athena does with the caller's credentials while it runs a query the
# function started (StartQueryExecution): the function never calls Glue or S3
# itself, but IAM checks these on its role. Athena reads the facts' schema from
# Glue (the database and its tables), the Parquet objects from the facts bucket,
# and writes (then reads back for GetQueryResults) the results in the results bucket.
ATHENA_ON_CALLERS_BEHALF = {
    ("glue:GetDatabase", "GlueCatalog"),
    ("glue:GetDatabase", "FactsDatabase"),
    ("glue:GetTable", "GlueCatalog"),
    ("glue:GetTable", "FactsDatabase"),
    ("glue:GetTable", "FactsDatabase/*"),
    ("s3:GetBucketLocation", "FactsBucket"),
    ("s3:ListBucket", "FactsBucket"),
    ("s3:GetObject", "FactsBucket/*"),
    ("s3:GetBucketLocation", "AthenaResultsBucket"),
    ("s3:ListBucket", "AthenaResultsBucket"),
    ("s3:AbortMultipartUpload", "AthenaResultsBucket/*"),
    ("s3:GetObject", "AthenaResultsBucket/*"),
    ("s3:PutObject", "AthenaResultsBucket/*"),
}


def iam_requests(operation: str, params: dict, names: dict[str, str]) -> set[tuple[str, str]]:
    """What IAM authorises for one API call: (IAM action, template resource) pairs."""
    operation = operation.replace("email:", "ses:")
    service = operation.split(":")[0]
    if service not in RESOURCES_OF:
        return {(operation, "? (add the service to RESOURCES_OF)")}
    return RESOURCES_OF[service](operation, params, names)


def needed(recorder: Recorder, names: dict[str, str]) -> dict[str, set]:
    wanted: dict[str, set] = defaultdict(set)
    for function, calls in recorder.calls.items():
        if function is None:
            continue  # the test's own setup and the local queue poller
        for operation, params in calls:
            wanted[function] |= iam_requests(operation, json.loads(params), names)
    return wanted


def app_module():
    import app

    return app


def policy_resource(value) -> str:
    if value == "*":
        return "*"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target, attribute = value["Fn::GetAtt"]
        return f"{target}/stream" if attribute == "StreamArn" else target
    if isinstance(value, dict) and "Ref" in value:  # resources whose Ref is their ARN (topics, secrets)
        return value["Ref"]
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        found = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/\*", text)
        if found:
            return found.group(1) + "/index"
        if text.endswith(":identity/${EmailIdentity}"):
            return "EmailIdentity"
        found = re.fullmatch(r"\$\{(\w+)\.Arn\}/\*", text)  # a bucket's objects
        if found:
            return found.group(1) + "/*"
        found = re.fullmatch(r"arn:\$\{AWS::Partition\}:(\w+):\$\{AWS::Region\}:\$\{AWS::AccountId\}:(.+)", text)
        if found and found.group(1) == "athena":
            workgroup = re.fullmatch(r"workgroup/\$\{(\w+)\}", found.group(2))
            if workgroup:
                return workgroup.group(1)
        if found and found.group(1) == "glue":
            if found.group(2) == "catalog":
                return "GlueCatalog"
            glue = re.fullmatch(r"(database|table)/\$\{(\w+)\}(/\*)?", found.group(2))
            if glue and (glue.group(1) == "table") == bool(glue.group(3)):
                return glue.group(2) + (glue.group(3) or "")
    raise AssertionError(f"a resource that is not one of the stack's: {value!r}")


def granted(template: dict, function: dict) -> set:
    role = template["Resources"][stack.role_id(function)]
    pairs = set()
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "NotResource" in statement:
                # SMS to a phone number has no resource ARN: allowed on anything but topics
                assert statement["NotResource"] == {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}
                assert actions == ["sns:Publish"]
                resources = ["sms"]
            else:
                raw = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                resources = [policy_resource(r) for r in raw]
                for r in raw:  # a Ref is an ARN only for a secret (a table's or queue's is its name)
                    if isinstance(r, dict) and "Ref" in r:
                        assert template["Resources"][r["Ref"]]["Type"] == "AWS::SecretsManager::Secret", r
            for action in actions:
                assert "*" not in action, statement
                for resource in resources:
                    pairs.add((action, resource))
    return pairs


def platform_needs(template: dict, logical_id: str, function: dict) -> set:
    needs = {(a, f"{logical_id}LogGroup") for a in stack.LOG_ACTIONS}
    needs |= {(a, "*") for a in stack.XRAY_ACTIONS}
    for event in function["Properties"].get("Events", {}).values():
        if event["Type"] == "SQS":
            queue = stack.referenced_id(event["Properties"]["Queue"])
            needs |= {(a, queue) for a in stack.SQS_EVENT_ACTIONS}
        if event["Type"] == "DynamoDB":  # Lambda reads the table's stream with the function's role
            stream = policy_resource(event["Properties"]["Stream"])
            needs |= {(a, stream) for a in stack.STREAM_EVENT_ACTIONS}
            needs |= {(a, "*") for a in stack.STREAM_LIST_ACTIONS}
    failed_runs = stack.failure_destinations(template).get(logical_id)
    if failed_runs:  # Lambda sends a failed asynchronous run there with the function's role
        needs |= {(a, failed_runs) for a in stack.FAILURE_DESTINATION_ACTIONS}
    return needs


def test_each_function_is_granted_exactly_what_it_calls(template, stack_names, recorder, api, clock):
    exercise(api, clock, stack_names)
    # A boto3 call in the code that the scenario never reaches would slip past
    # the comparison below: every one must have been recorded.
    recorded = {a.replace("email:", "ses:") for f, calls in recorder.calls.items() if f for a, _ in calls}
    in_code = code_operations()
    assert {"dynamodb:TransactWriteItems", "sqs:SendMessageBatch", "ses:SendEmail"} <= in_code
    assert not in_code - recorded, f"calls in the code the scenario never makes: {sorted(in_code - recorded)}"
    asked = {(method, path) for method, path in recorder.routes}
    routes = {
        (method, path)
        for path, by_method in app_module().app.routes.items()
        for method in by_method
        if not CATCH_ALL_ROUTE.match(path)
    }
    assert not routes - asked, f"routes the scenario never asks: {sorted(routes - asked)}"
    wanted = needed(recorder, stack_names)
    not_iam = {action for need in wanted.values() for action, _ in need if not iam_catalogue.is_action(action)}
    assert not not_iam, f"calls authorised by no IAM action of that name: {sorted(not_iam)}"
    by_name = {stack.function_name(f): (lid, f) for lid, f in stack.functions(template)}
    assert set(wanted) <= set(by_name), f"calls from functions the template lacks: {set(wanted) - set(by_name)}"
    problems = {}
    for name, (logical_id, function) in sorted(by_name.items()):
        assert name in wanted or name == "api_handler", f"{name} was never run by the scenario"
        need = wanted[name] | platform_needs(template, logical_id, function)
        if any(action == "athena:StartQueryExecution" for action, _ in wanted[name]):
            need |= ATHENA_ON_CALLERS_BEHALF
        have = granted(template, function)
        unknown = {
            r
            for _, r in need
            if r not in template["Resources"]
            and r not in ("*", "sms", "EmailIdentity", "GlueCatalog")
            and r.removesuffix("/*") not in template["Resources"]
            and not r.endswith(("/index", "/stream"))
        }
        not_actions = {a for a, _ in have if not iam_catalogue.is_action(a)}
        if have - need or need - have or unknown or not_actions:
            problems[name] = {
                "missing": sorted(need - have),
                "unused": sorted(have - need),
                "resources not in the stack": sorted(unknown),
                "granted actions IAM does not have": sorted(not_actions),
            }
    assert not problems, json.dumps(problems, indent=1)
    assert all(not action.endswith(":Scan") for calls in recorder.calls.values() for action, _ in calls)


def test_transaction_members_are_authorised_as_their_own_actions():
    """What AWS checks for a TransactWriteItems: each member's own action on its table."""
    names = {"t-ledger": "LedgerTable", "t-other": "OtherTable"}
    key = {"pk": {"S": "M#a"}, "sk": {"S": "PROFILE"}}
    sent = {
        "TransactItems": [
            {"Put": {"TableName": "t-ledger", "Item": key}},
            {"Update": {"TableName": "t-ledger", "Key": key, "UpdateExpression": "SET #v = :v"}},
            {"Delete": {"TableName": "t-ledger", "Key": key}},
            {"ConditionCheck": {"TableName": "t-other", "Key": key, "ConditionExpression": "attribute_exists(pk)"}},
        ]
    }
    assert iam_requests("dynamodb:TransactWriteItems", sent, names) == {
        ("dynamodb:PutItem", "LedgerTable"),
        ("dynamodb:UpdateItem", "LedgerTable"),
        ("dynamodb:DeleteItem", "LedgerTable"),
        ("dynamodb:ConditionCheckItem", "OtherTable"),
    }
    assert iam_requests(
        "dynamodb:TransactGetItems", {"TransactItems": [{"Get": {"TableName": "t-ledger", "Key": key}}]}, names
    ) == {("dynamodb:GetItem", "LedgerTable")}
    assert iam_requests("dynamodb:BatchWriteItem", {"RequestItems": {"t-ledger": [], "t-other": []}}, names) == {
        ("dynamodb:BatchWriteItem", "LedgerTable"),
        ("dynamodb:BatchWriteItem", "OtherTable"),
    }
    assert iam_requests("dynamodb:Query", {"TableName": "t-ledger", "IndexName": "expiry"}, names) == {
        ("dynamodb:Query", "LedgerTable/index")
    }
    assert iam_requests("sqs:SendMessageBatch", {"QueueUrl": "http://q/123/t-jobs"}, {"t-jobs": "JobsQueue"}) == {
        ("sqs:SendMessage", "JobsQueue")
    }
    # every action so derived is one IAM has; the transaction itself is not
    assert all(iam_catalogue.is_action(a) for a in TRANSACTION_MEMBER_ACTION.values())
    assert not iam_catalogue.is_action("dynamodb:TransactWriteItems")


def test_each_function_runs_with_its_own_role(template):
    roles = [stack.role_id(f) for _, f in stack.functions(template)]
    assert len(roles) == len(set(roles))
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for _, function in stack.functions(template):
        settings = config["lambda_functions"].get(stack.function_name(function))
        assert settings and {"iam_policy_file", "lambda_timeout", "lambda_memory_size"} <= set(settings), (
            f"{stack.function_name(function)}: give it its own policy file, timeout and memory "
            "in .chalice/config.json lambda_functions"
        )


SERVICES = {"dynamodb", "sqs", "ses", "sns", "firehose"}


def lambda_code() -> list[ast.AST]:
    """app.py and chalicelib, not the local runtime."""
    files = [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]
    return [ast.parse(path.read_text()) for path in files if path.name != "local.py"]


def code_operations() -> set[str]:
    """Every AWS operation named as a method call in the Lambda code, as
    `service:Operation`, for the services it makes clients of (`client("sqs")`)."""
    trees = lambda_code()
    services = set(SERVICES)
    for tree in trees:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, (ast.Attribute, ast.Name))
                and getattr(node.func, "attr", getattr(node.func, "id", None)) == "client"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                services.add(node.args[0].value)
    session = boto3.session.Session(region_name="ap-northeast-2")
    by_method = {}
    for service in sorted(services):
        model = session.client(service).meta.method_to_api_mapping
        for method, operation in model.items():
            by_method.setdefault(method, set()).add(f"{service}:{operation}")
    found = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                found |= by_method.get(node.func.attr, set())
    return found

"""Local runtime (contract §9): resources, API keys, jobs and queues without AWS.

Usable inside moto's `mock_aws()` or against any endpoint boto3 is configured
for (e.g. `AWS_ENDPOINT_URL` pointing at a moto server).

`prepare_chalice_local` is what app.py does under `chalice local`: the `local`
stage runs on an embedded moto (devtools/embedded_aws.py, in the repository,
never in the AWS build); another stage with no AWS configured stops at once
with one line naming the ways that work, rather than answering 500s.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import secrets
import sys
import uuid
from collections.abc import Mapping, Sequence

from botocore.exceptions import ClientError

from chalicelib import aws, settings
from chalicelib.runtime import services
from chalicelib.storage.store import table_definition

SCHEDULED_JOBS = (
    "expire_points",
    "recompute_tiers",
    "send_expiry_warnings",
    "grant_birthday_bonuses",
    "send_monthly_statements",
    "win_back_dormant_members",
    "launch_campaigns",
)
HOUSEKEEPING = ("sweep_outbox", "send_due_webhooks")  # scheduled too; run_job runs them as well
# scheduled too (§17); apart from the ledger's jobs: every run stamps a new as_of on its results
ANALYTICS_JOBS = ("refresh_analytics",)
IMPORT_JOBS = ("run_imports",)  # §25: scheduled too; run_job applies every open import


# as the event source mappings deliver them: one job task per invocation
BATCH_SIZES = {"send_notifications": 10, "run_job_tasks": 1, "send_webhooks": 10, "run_analytics_refresh": 1}


def _queues() -> dict[str, str]:
    """Queue name -> the app function that handles it."""
    config = settings.load()
    return {
        config.notifications_queue_name: "send_notifications",
        config.jobs_queue_name: "run_job_tasks",
        config.webhooks_queue_name: "send_webhooks",
        config.analytics_queue_name: "run_analytics_refresh",
    }


LOCAL_AWS = "DANGOL_LOCAL_AWS"  # "embedded-moto" in the local stage of .chalice/config.json
NO_AWS = (
    "dangol: `chalice local` has no AWS to talk to here (every data route would answer 500); "
    "run `chalice local --stage local` (embedded moto, the demo café) or `bash scripts/serve.sh` "
    "(the full local service: jobs, notifications, --data)"
)


def chalice_command(argv: Sequence[str]) -> str | None:
    """The chalice CLI's subcommand in `argv` (`chalice [--debug] [--project-dir D] local ...`)."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "--project-dir":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def prepare_chalice_local(app_object, environ: Mapping[str, str] = os.environ, argv: Sequence[str] = sys.argv) -> None:
    """Under `chalice local` only (never in Lambda, never under tests or `chalice package`)."""
    if environ.get("AWS_LAMBDA_FUNCTION_NAME") or environ.get("AWS_CHALICE_CLI_MODE") != "true":
        return
    if chalice_command(argv) != "local":
        return
    if environ.get(LOCAL_AWS) == "embedded-moto":
        importlib.import_module("devtools.embedded_aws").start(app_object)
    elif not (environ.get("AWS_ENDPOINT_URL") or environ.get("DANGOL_TABLE")):
        # chalice's reloader loads the app in a thread: SystemExit there would not end the process
        sys.stderr.write(NO_AWS + "\n")
        sys.stderr.flush()
        os._exit(2)


def create_resources() -> None:
    """Create the table, queues and sender identity the app uses (idempotent)."""
    config = settings.load()
    dynamodb = aws.client("dynamodb")
    try:
        dynamodb.create_table(**table_definition(config.table_name))
        dynamodb.get_waiter("table_exists").wait(TableName=config.table_name)
        dynamodb.update_time_to_live(
            TableName=config.table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    sqs = aws.client("sqs")
    for name, dlq_name, receives in (
        (config.notifications_queue_name, config.notifications_dlq_name, "10"),
        (config.jobs_queue_name, config.jobs_dlq_name, "5"),
        (config.webhooks_queue_name, config.webhooks_dlq_name, "5"),
        (config.analytics_queue_name, config.analytics_dlq_name, "3"),
    ):
        dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": receives}),
            },
        )
    create_imports_bucket(config.imports_bucket, config.region)
    sender_domain = config.email_sender.rpartition("@")[2]
    aws.client("ses").verify_domain_identity(Domain=sender_domain)
    create_widget_signing_key(config.widget_key_secret)


def create_imports_bucket(name: str, region: str) -> None:
    """§25: the bucket import files are kept in (the stack's `ImportsBucket`)."""
    s3 = aws.client("s3")
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def create_widget_signing_key(secret_id: str) -> None:
    """The widget tokens' signing key secret, with a random first version (as the
    stack's `WidgetSigningKey` makes it); an existing one is kept as it is."""
    try:
        aws.client("secretsmanager").create_secret(
            Name=secret_id,
            SecretString=secrets.token_urlsafe(48),
            Description="Dangol: the key that signs the member page's widget tokens",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise


def create_api_key(role: str, name: str) -> str:
    """Store a new API key (hashed) and return its secret."""
    return services().keys.create(role, name)


def _app_module():
    return importlib.import_module("app")


class _Context:
    function_name = "dangol-local"
    aws_request_id = "local"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def run_job(name: str):
    """Invoke the scheduled function `name` from app.py as EventBridge would,
    then run the work it queued on the analytics queue (a refresh) and the job
    queue through their handlers until both are empty (contract §9, v2).
    Notifications stay queued."""
    known = SCHEDULED_JOBS + HOUSEKEEPING + ANALYTICS_JOBS + IMPORT_JOBS
    if name not in known:
        raise ValueError(f"unknown job {name!r}; one of {known}")
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": settings.load().region,
        "resources": [f"arn:aws:events:{settings.load().region}:123456789012:rule/{name}"],
        "detail": {},
    }
    result = getattr(_app_module(), name)(event, _Context())
    config = settings.load()
    # the refresh's own queue first (a refresh queues the campaigns due on the job queue)
    while _drain({config.analytics_queue_name: "run_analytics_refresh", config.jobs_queue_name: "run_job_tasks"}):
        pass
    return result


def drain_queues() -> int:
    """Deliver every queued message to its handler until the queues are empty.

    Messages a handler reports as failed stay on the queue (and reach the DLQ
    after the redrive count), as with a Lambda event source mapping.
    Returns how many messages were delivered successfully.

    First the webhook dispatcher queues every webhook delivery due now (§24: a
    retry whose time has come, an event whose pointer was lost), once, so that
    every due delivery is attempted once by this drain.
    """
    services().webhook_delivery.dispatch(grace=dt.timedelta(0))
    delivered = 0
    while True:
        more = _drain(_queues())
        if not more:
            return delivered
        delivered += more


def _drain(queues: dict[str, str]) -> int:
    sqs = aws.client("sqs")
    module = _app_module()
    delivered = 0
    for queue_name, handler_name in queues.items():
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        handler = getattr(module, handler_name)
        while True:
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=BATCH_SIZES.get(handler_name, 10),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            event = {
                "Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": m.get("MD5OfBody"),
                        "eventSource": "aws:sqs",
                        "eventSourceARN": arn,
                        "awsRegion": settings.load().region,
                    }
                    for m in messages
                ]
            }
            response = handler(event, _Context()) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            delivered += len(done)
    return delivered

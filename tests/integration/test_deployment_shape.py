"""The packaged template and IAM policy cover what the code really calls."""
import json

from chalicelib import local, settings
from chalicelib.runtime import services
from chalicelib.outbox import with_outbox_index
from chalicelib.store import table_definition
from tests.conftest import ROOT

# IAM actions that authorise an API operation under another name.
IAM_ACTION = {("sqs", "SendMessageBatch"): "sqs:SendMessage"}


def _record_calls(calls):
    s = services()
    for client in (s.store.client, s.ledger.publisher.sqs, s.sender.ses, s.sender.sns):
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(
            "before-call",
            lambda model, service=service, **_: calls.add((service, model.name)),
        )


def test_policy_allows_every_call_the_app_makes(demo, clock):
    calls: set = set()
    _record_calls(calls)
    demo.post("/rewards", {"reward_id": "cup", "name": "Tumbler", "points_cost": 1000, "stock": 3},
              key="admin")
    demo.member("a", email="a@example.com", birthday="1990-01-15")
    demo.member("b", phone="+821012345678")
    earned = demo.post("/members/a/earn", {"order_id": "o1", "amount": 50000}).json
    redeemed = demo.post("/members/a/redeem", {"reward_id": "cup"}).json
    demo.post(f"/members/a/transactions/{redeemed['transaction_id']}/reversal", {})
    demo.post(f"/members/a/transactions/{earned['transaction_id']}/reversal", {"amount": 1000})
    demo.post("/members/a/adjustments", {"points": 5, "reason": "goodwill"}, key="admin")
    demo.get("/members/a/transactions")
    demo.get("/stats", key="admin")
    for job in local.SCHEDULED_JOBS + local.HOUSEKEEPING:
        local.run_job(job)
    local.drain_queues()
    demo.delete("/members/b", key="admin")

    policy = json.loads((ROOT / ".chalice" / "policy-dev.json").read_text())
    allowed = {a for st in policy["Statement"] for a in st["Action"]}
    app_calls = {c for c in calls if c[1] not in ("ReceiveMessage", "DeleteMessageBatch",
                                                  "GetQueueAttributes")}  # the event source mapping's
    assert ("dynamodb", "TransactWriteItems") in app_calls
    assert ("ses", "SendEmail") in app_calls and ("sns", "Publish") in app_calls
    missing = {IAM_ACTION.get(c, f"{c[0]}:{c[1]}") for c in app_calls} - allowed
    assert not missing, f"policy-dev.json lacks {sorted(missing)}"
    assert not any(op == "Scan" for _, op in calls)


def test_merge_template_matches_the_table_and_queues_the_code_uses():
    template = json.loads((ROOT / ".chalice" / "resources.json").read_text())
    resources = template["Resources"]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = config["environment_variables"]
    table = resources["LedgerTable"]["Properties"]
    wanted = with_outbox_index(table_definition(env["DANGOL_TABLE"]))
    assert table["TableName"] == wanted["TableName"]
    assert table["KeySchema"] == wanted["KeySchema"]
    assert table["GlobalSecondaryIndexes"] == wanted["GlobalSecondaryIndexes"]
    assert table["AttributeDefinitions"] == wanted["AttributeDefinitions"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert resources["NotificationsQueue"]["Properties"]["QueueName"] == env["DANGOL_NOTIFICATIONS_QUEUE"]
    assert resources["NotificationsDeadLetterQueue"]["Properties"]["QueueName"] == env["DANGOL_NOTIFICATIONS_DLQ"]
    assert resources["NotificationsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]}
    source = resources["SendNotifications"]["Properties"]["Events"]["SendNotificationsSqsEventSource"]
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}
    assert settings.load().table_name == env["DANGOL_TABLE"]


def test_merge_template_has_the_job_queue_worker_and_concurrency_caps():
    template = json.loads((ROOT / ".chalice" / "resources.json").read_text())
    resources, parameters = template["Resources"], template["Parameters"]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = config["environment_variables"]
    jobs = resources["JobsQueue"]["Properties"]
    assert jobs["QueueName"] == env["DANGOL_JOBS_QUEUE"] == settings.load().jobs_queue_name
    assert resources["JobsDeadLetterQueue"]["Properties"]["QueueName"] == env["DANGOL_JOBS_DLQ"]
    assert jobs["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    # a task in flight stays hidden for longer than a worker can run
    worker_timeout = config["stages"]["dev"]["lambda_functions"]["run_job_tasks"]["lambda_timeout"]
    assert jobs["VisibilityTimeout"] >= 6 * worker_timeout

    worker = resources["RunJobTasks"]["Properties"]["Events"]["RunJobTasksSqsEventSource"]["Properties"]
    assert worker["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert worker["BatchSize"] == 1  # one task per invocation: the time budget is the task's
    assert worker["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    notify = resources["SendNotifications"]["Properties"]["Events"]["SendNotificationsSqsEventSource"]
    cap = notify["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert cap == {"Ref": "NotificationConcurrency"}
    assert parameters["NotificationConcurrency"]["MinValue"] >= 2  # Lambda's lowest cap
    assert resources["NotificationsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 10


def test_jobs_run_on_cron_in_program_morning_order():
    """EventBridge cron is UTC: 23:00 UTC is 08:00 in Asia/Seoul."""
    import app as app_module

    schedules = {source.name: source.schedule_expression for source in app_module.app.event_sources
                 if hasattr(source, "schedule_expression")}
    expressions = {name: str(getattr(expr, "to_string", lambda: expr)()) for name, expr in schedules.items()}
    assert expressions["expire_points"] == "cron(0 23 * * ? *)"
    assert expressions["recompute_tiers"] == "cron(20 23 * * ? *)"
    assert expressions["send_expiry_warnings"] == "cron(0 0 * * ? *)"
    assert expressions["grant_birthday_bonuses"] == "cron(30 0 * * ? *)"
    assert expressions["sweep_outbox"] == "rate(10 minutes)"
    fields = {name: e[len("cron("):].split() for name, e in expressions.items() if e.startswith("cron")}
    seoul = {name: (int(hour) + 9) % 24 * 60 + int(minute) for name, (minute, hour, *_) in fields.items()}
    assert seoul["expire_points"] < seoul["send_expiry_warnings"]  # expire before warn
    assert all(8 * 60 <= minute < 10 * 60 for minute in seoul.values())  # mornings, not midnight

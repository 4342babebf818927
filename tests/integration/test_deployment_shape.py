"""The merge template holds the table and queues the code uses (permissions: test_permissions.py)."""

import json

from chalicelib import settings
from chalicelib.storage.store import table_definition
from tests.conftest import ROOT


def test_merge_template_matches_the_table_and_queues_the_code_uses():
    template = json.loads((ROOT / ".chalice" / "resources.json").read_text())
    resources = template["Resources"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    table = resources["LedgerTable"]["Properties"]
    wanted = table_definition("any")
    assert env["DANGOL_TABLE"] == {"Ref": "LedgerTable"}
    assert table["KeySchema"] == wanted["KeySchema"]
    assert table["GlobalSecondaryIndexes"] == wanted["GlobalSecondaryIndexes"]
    assert table["AttributeDefinitions"] == wanted["AttributeDefinitions"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert env["DANGOL_NOTIFICATIONS_QUEUE"] == {"Fn::GetAtt": ["NotificationsQueue", "QueueName"]}
    assert env["DANGOL_NOTIFICATIONS_DLQ"] == {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "QueueName"]}
    assert resources["NotificationsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]
    }
    source = resources["SendNotifications"]["Properties"]["Events"]["SendNotificationsSqsEventSource"]
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}


def test_api_gateway_answers_its_own_errors_in_the_contract_shape():
    """Errors API Gateway raises before Dangol runs (no route, throttling, ...) are gateway
    responses in the error shape, and never echo the caller's Authorization header."""
    resources = json.loads((ROOT / ".chalice" / "resources.json").read_text())["Resources"]
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources.values()
        if r.get("Type") == "AWS::ApiGateway::GatewayResponse"
    }
    wanted = {
        "MISSING_AUTHENTICATION_TOKEN": ("404", "NOT_FOUND"),
        "ACCESS_DENIED": ("403", "FORBIDDEN"),
        "UNAUTHORIZED": ("401", "UNAUTHORIZED"),
        "THROTTLED": ("429", "THROTTLED"),
        "REQUEST_TOO_LARGE": ("413", "PAYLOAD_TOO_LARGE"),
        "DEFAULT_4XX": (None, "VALIDATION_ERROR"),
        "DEFAULT_5XX": (None, "INTERNAL_ERROR"),
    }
    for kind, (status, code) in wanted.items():
        props = responses[kind]
        assert props["RestApiId"] == {"Ref": "RestAPI"}  # the API chalice package names RestAPI
        assert props.get("StatusCode") == status, kind
        template = props["ResponseTemplates"]["application/json"]
        body = json.loads(template.replace("$context.requestId", "id-1"))
        assert body["error"]["code"] == code and body["error"]["message"], kind
    for props in responses.values():
        text = json.dumps(props)
        # $context.error.message carries "Authorization=<the caller's header>" for an unknown path
        assert "$context.error.message" not in text and "messageString" not in text
    assert "correlation id $context.requestId" in responses["DEFAULT_5XX"]["ResponseTemplates"]["application/json"]


def test_api_gateway_throttling_says_when_to_retry():
    """API Gateway's own 429s (the stage's rate limit, a usage plan's quota) carry Retry-After,
    as Dangol's 503 THROTTLED does: a client backs off the same way whoever throttled it."""
    resources = json.loads((ROOT / ".chalice" / "resources.json").read_text())["Resources"]
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources.values()
        if r.get("Type") == "AWS::ApiGateway::GatewayResponse"
    }
    for kind in ("THROTTLED", "QUOTA_EXCEEDED"):
        header = responses[kind]["ResponseParameters"]["gatewayresponse.header.Retry-After"]
        # a static mapping value is a quoted literal; the value is whole seconds
        assert header.startswith("'") and header.endswith("'"), kind
        assert int(header.strip("'")) >= 1, kind


def test_merge_template_has_the_job_queue_worker_and_concurrency_caps():
    template = json.loads((ROOT / ".chalice" / "resources.json").read_text())
    resources, parameters = template["Resources"], template["Parameters"]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    jobs = resources["JobsQueue"]["Properties"]
    assert env["DANGOL_JOBS_QUEUE"] == {"Fn::GetAtt": ["JobsQueue", "QueueName"]}
    assert env["DANGOL_JOBS_DLQ"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "QueueName"]}
    assert jobs["QueueName"] == {"Fn::Sub": "${AWS::StackName}-jobs"}
    assert settings.load().jobs_queue_name == "dangol-jobs"  # the local and test default
    assert jobs["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    # a task in flight stays hidden for longer than a worker can run
    worker_timeout = config["lambda_functions"]["run_job_tasks"]["lambda_timeout"]
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


def test_the_analytics_refresh_has_its_own_queue_and_a_function_sized_for_it():
    template = json.loads((ROOT / ".chalice" / "resources.json").read_text())
    resources = template["Resources"]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    queue = resources["AnalyticsQueue"]["Properties"]
    assert env["DANGOL_ANALYTICS_QUEUE"] == {"Fn::GetAtt": ["AnalyticsQueue", "QueueName"]}
    assert env["DANGOL_ANALYTICS_DLQ"] == {"Fn::GetAtt": ["AnalyticsDeadLetterQueue", "QueueName"]}
    assert queue["QueueName"] == {"Fn::Sub": "${AWS::StackName}-analytics"}
    assert settings.load().analytics_queue_name == "dangol-analytics"  # the local and test default
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["AnalyticsDeadLetterQueue", "Arn"]}
    function = config["lambda_functions"]["run_analytics_refresh"]
    assert function["lambda_timeout"] == 900  # Lambda's longest: a refresh of a million members
    assert function["lambda_memory_size"] >= 1769  # at least one whole vCPU for its Python pass
    # a refresh in flight stays hidden for longer than the function can run
    assert queue["VisibilityTimeout"] >= 6 * function["lambda_timeout"]
    source = resources["RunAnalyticsRefresh"]["Properties"]["Events"]["RunAnalyticsRefreshSqsEventSource"]
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["AnalyticsQueue", "Arn"]}
    assert source["Properties"]["BatchSize"] == 1
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["ScalingConfig"]["MaximumConcurrency"] == 2  # Lambda's lowest cap


def test_jobs_run_on_cron_in_program_morning_order():
    """EventBridge cron is UTC: 23:00 UTC is 08:00 in Asia/Seoul."""
    import app as app_module

    schedules = {
        source.name: source.schedule_expression
        for source in app_module.app.event_sources
        if hasattr(source, "schedule_expression")
    }
    expressions = {name: str(getattr(expr, "to_string", lambda: expr)()) for name, expr in schedules.items()}
    assert expressions["expire_points"] == "cron(0 23 * * ? *)"
    assert expressions["recompute_tiers"] == "cron(20 23 * * ? *)"
    assert expressions["send_expiry_warnings"] == "cron(0 0 * * ? *)"
    assert expressions["grant_birthday_bonuses"] == "cron(30 0 * * ? *)"
    assert expressions["send_monthly_statements"] == "cron(40 0 * * ? *)"
    assert expressions["win_back_dormant_members"] == "cron(50 0 * * ? *)"
    assert expressions["sweep_outbox"] == "rate(10 minutes)"
    fields = {name: e[len("cron(") :].split() for name, e in expressions.items() if e.startswith("cron")}
    seoul = {name: (int(hour) + 9) % 24 * 60 + int(minute) for name, (minute, hour, *_) in fields.items()}
    assert seoul["expire_points"] < seoul["send_expiry_warnings"]  # expire before warn
    assert all(8 * 60 <= minute < 10 * 60 for minute in seoul.values())  # mornings, not midnight

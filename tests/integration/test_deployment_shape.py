"""The packaged template and IAM policy cover what the code really calls."""
import json

from chalicelib import local, settings
from chalicelib.runtime import services
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
    for job in local.SCHEDULED_JOBS:
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
    wanted = table_definition(env["DANGOL_TABLE"])
    assert table["TableName"] == wanted["TableName"]
    assert table["KeySchema"] == wanted["KeySchema"]
    assert table["GlobalSecondaryIndexes"] == wanted["GlobalSecondaryIndexes"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert resources["NotificationsQueue"]["Properties"]["QueueName"] == env["DANGOL_NOTIFICATIONS_QUEUE"]
    assert resources["NotificationsDeadLetterQueue"]["Properties"]["QueueName"] == env["DANGOL_NOTIFICATIONS_DLQ"]
    assert resources["NotificationsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]}
    source = resources["SendNotifications"]["Properties"]["Events"]["SendNotificationsSqsEventSource"]
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}
    assert settings.load().table_name == env["DANGOL_TABLE"]


def test_api_gateway_answers_its_own_errors_in_the_contract_shape():
    """Errors API Gateway raises before Dangol runs (no route, throttling, ...) are gateway
    responses in the error shape, and never echo the caller's Authorization header."""
    resources = json.loads((ROOT / ".chalice" / "resources.json").read_text())["Resources"]
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()
                 if r.get("Type") == "AWS::ApiGateway::GatewayResponse"}
    wanted = {"MISSING_AUTHENTICATION_TOKEN": ("404", "NOT_FOUND"),
              "ACCESS_DENIED": ("403", "FORBIDDEN"), "UNAUTHORIZED": ("401", "UNAUTHORIZED"),
              "THROTTLED": ("429", "THROTTLED"), "REQUEST_TOO_LARGE": ("413", "PAYLOAD_TOO_LARGE"),
              "DEFAULT_4XX": (None, "VALIDATION_ERROR"), "DEFAULT_5XX": (None, "INTERNAL_ERROR")}
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
    assert "correlation id $context.requestId" in responses["DEFAULT_5XX"]["ResponseTemplates"][
        "application/json"]

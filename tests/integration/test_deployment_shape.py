"""The merge template holds the table and queues the code uses (permissions: test_permissions.py)."""
import json

from chalicelib.store import table_definition
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
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert env["DANGOL_NOTIFICATIONS_QUEUE"] == {"Fn::GetAtt": ["NotificationsQueue", "QueueName"]}
    assert env["DANGOL_NOTIFICATIONS_DLQ"] == {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "QueueName"]}
    assert resources["NotificationsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]}
    source = resources["SendNotifications"]["Properties"]["Events"]["SendNotificationsSqsEventSource"]
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}


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

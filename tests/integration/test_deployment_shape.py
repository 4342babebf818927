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

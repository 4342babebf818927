"""Every IAM policy of the stack names real IAM actions on resources of the
types those actions act on, checked against parliament's offline catalogue of
AWS's IAM actions (`deploy/iam_catalogue.py`): the policy files in `.chalice/`
and the inline policies of every role in the packaged template of each stage,
with their CloudFormation references turned into the ARNs they would be.

moto enforces no IAM, so a policy with an action IAM does not have (AWS rejects
the role: "Policy document should not specify invalid actions"), or with an
action on an ARN it never matches (the call is denied in production), would
pass every other test.
"""

from __future__ import annotations

import json

import pytest

from deploy import iam_catalogue, stack
from tests.conftest import ROOT

STAGES = ("dev", "prod")
POLICY_FILES = sorted((ROOT / ".chalice").glob("policy-*.json"))


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, dict]:
    return {stage: stack.package(stage, tmp_path_factory.mktemp(stage), requirements=False) for stage in STAGES}


def test_the_policy_files_are_the_ones_the_functions_use():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    named = {config["iam_policy_file"]} | {f["iam_policy_file"] for f in config["lambda_functions"].values()}
    assert {path.name for path in POLICY_FILES} == named


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_each_policy_file_names_real_actions_on_fitting_resources(path, templates):
    document = json.loads(path.read_text())
    template = templates["dev"]
    for statement in document["Statement"]:
        if statement.get("Sid") == "Logs" and isinstance(statement.get("Resource"), str):
            # deploy/stack.py replaces this statement with one on the function's log group
            some_log_group = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup")
            statement["Resource"] = {"Fn::GetAtt": [some_log_group, "Arn"]}
    problems = iam_catalogue.findings(iam_catalogue.concrete(document, template))
    assert not problems, f"{path.name}: {problems}"


@pytest.mark.parametrize("stage", STAGES)
def test_each_role_of_the_packaged_template_names_real_actions_on_fitting_resources(templates, stage):
    template = templates[stage]
    policies = dict(iam_catalogue.inline_policies(template))
    roles_of_functions = {stack.role_id(f) for _, f in stack.functions(template)}
    assert roles_of_functions <= {name.split("/")[0] for name in policies}
    problems = iam_catalogue.template_findings(template)
    assert not problems, json.dumps(problems, indent=1)


def test_packaging_fails_on_a_policy_iam_would_reject(templates, tmp_path, capsys):
    """scripts/package.sh runs this check on the template it built."""
    assert "python -m deploy.iam_catalogue" in (ROOT / "scripts" / "package.sh").read_text()
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(templates["prod"]))
    assert iam_catalogue.main([str(path)]) == 0
    broken = json.loads(json.dumps(templates["prod"]))
    role = broken["Resources"]["ApiHandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    role["Statement"][0]["Action"].append("dynamodb:TransactWriteItems")
    path.write_text(json.dumps(broken))
    assert iam_catalogue.main([str(path)]) == 1
    assert "ApiHandlerRole/ApiHandlerRolePolicy: UNKNOWN_ACTION" in capsys.readouterr().err


TABLE = {"Fn::GetAtt": ["LedgerTable", "Arn"]}
QUEUE = {"Fn::GetAtt": ["JobsQueue", "Arn"]}


@pytest.mark.parametrize(
    "actions, resources, expected",
    [
        (["dynamodb:TransactWriteItems"], [TABLE], "UNKNOWN_ACTION"),
        (["dynamodb:GetItems"], [TABLE], "UNKNOWN_ACTION"),
        (["dynamo:GetItem"], [TABLE], "UNKNOWN_PREFIX"),
        (["sqs:SendMessage"], [TABLE], "RESOURCE_MISMATCH"),
        (["dynamodb:Query"], [{"Fn::GetAtt": ["ExpirePointsLogGroup", "Arn"]}], "RESOURCE_MISMATCH"),
        (["dynamodb:Query"], [TABLE, QUEUE], "RESOURCE_MISMATCH"),
    ],
    ids=[
        "transaction",
        "misspelt",
        "service",
        "queue-action-on-table",
        "table-action-on-log-group",
        "one-resource-of-two-wrong",
    ],
)
def test_the_check_fails_a_policy_iam_would_reject(templates, actions, resources, expected):
    """The check is no rubber stamp: the defects it is there for each give a finding."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Ledger", "Effect": "Allow", "Action": actions, "Resource": resources}],
    }
    problems = iam_catalogue.findings(iam_catalogue.concrete(document, templates["dev"]))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_catalogue_is_local_data():
    """parliament's IAM definitions ship in its package: the check needs no network."""
    with iam_catalogue.offline():
        assert iam_catalogue.is_action("dynamodb:DeleteItem")
        assert iam_catalogue.is_action("dynamodb:ConditionCheckItem")
        assert not iam_catalogue.is_action("dynamodb:TransactWriteItems")
        with pytest.raises(AssertionError, match="network"):
            import socket

            socket.create_connection(("127.0.0.1", 9))

"""The deployable templates of both stages: cfn-lint clean (errors and
warnings), names from the stack, what a production stack needs, alarms.

`deploy/stack.py` packages a copy of the project without its Python
requirements (the template does not depend on them), so this runs offline.
"""

from __future__ import annotations

import ast
import json
import pathlib
import re
import subprocess
import sys

import pytest

from deploy import stack
from tests.conftest import ROOT

STAGES = ("dev", "prod")
API_GATEWAY_LIMIT_SECONDS = 29


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[pathlib.Path, dict]]:
    found = {}
    for stage in STAGES:
        out = tmp_path_factory.mktemp(stage)
        found[stage] = (out / "sam.json", stack.package(stage, out, requirements=False))
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_finds_no_error_and_no_warning(built, stage):
    path, _ = built[stage]
    linter = pathlib.Path(sys.executable).parent / "cfn-lint"
    done = subprocess.run(
        [str(linter), "--format", "parseable", str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_would_catch_a_broken_template(built, tmp_path):
    """The lint step is not a rubber stamp: a wrong property type fails it."""
    _, template = built["dev"]
    broken = json.loads(json.dumps(template))
    broken["Resources"]["LedgerTable"]["Properties"]["DeletionProtectionEnabled"] = "sometimes"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    linter = pathlib.Path(sys.executable).parent / "cfn-lint"
    done = subprocess.run([str(linter), str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0


NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Serverless::Api": "Name",
}


@pytest.mark.parametrize("stage", STAGES)
def test_every_name_comes_from_the_stack_and_reaches_the_functions(built, stage):
    _, template = built[stage]
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in NAME_PROPERTY:
            name = resource["Properties"].get(NAME_PROPERTY[resource["Type"]])
            assert isinstance(name, dict) and "${AWS::StackName}" in name.get("Fn::Sub", ""), (logical_id, name)
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    named = {stack.referenced_id(v) for v in env.values()}
    # Lambda itself sends a function's failed asynchronous runs there; no code reads it
    written_by_lambda = set(stack.failure_destinations(template).values())
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::DynamoDB::Table", "AWS::SQS::Queue") and logical_id not in written_by_lambda:
            assert logical_id in named, f"{logical_id}: no environment variable carries its name"
    for _, function in stack.functions(template):
        own = function["Properties"].get("Environment", {}).get("Variables", {})
        assert not set(own) & set(env), f"{stack.function_name(function)} overrides {set(own) & set(env)}"


def test_settings_read_every_variable_the_template_sets(built):
    _, template = built["prod"]
    settings_source = (ROOT / "chalicelib" / "settings.py").read_text() + (
        ROOT / "chalicelib" / "telemetry.py"
    ).read_text()
    for variable in template["Globals"]["Function"]["Environment"]["Variables"]:
        assert f'"{variable}"' in settings_source, f"{variable} is set but never read"


def test_prod_keeps_its_data_and_dev_can_be_torn_down(built):
    for stage, policy, protected in (("prod", "Retain", True), ("dev", "Delete", False)):
        resources = built[stage][1]["Resources"]
        table = resources["LedgerTable"]
        assert table["Properties"]["DeletionProtectionEnabled"] is protected
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == (policy, policy)
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
        for logical_id in stack.queues(built[stage][1]):
            queue = resources[logical_id]
            assert (queue["DeletionPolicy"], queue["UpdateReplacePolicy"]) == (policy, policy)
            assert queue["Properties"]["MessageRetentionPeriod"] >= 4 * 86400
            assert queue["Properties"]["SqsManagedSseEnabled"] is True
    prod = built["prod"][1]["Resources"]
    for logical_id, function in stack.functions(built["prod"][1]):
        assert function["Properties"]["Tracing"] == "Active"
        group = prod[f"{logical_id}LogGroup"]
        assert group["Properties"]["RetentionInDays"] == stack.STAGES["prod"]["log_retention_days"]
        assert f"{logical_id}LogGroup" in function["DependsOn"]


@pytest.mark.parametrize("stage", STAGES)
def test_timeouts_fit_api_gateway_and_the_queues(built, stage):
    _, template = built[stage]
    for logical_id, function in stack.functions(template):
        timeout = function["Properties"]["Timeout"]
        if stack.function_name(function) == "api_handler":
            assert timeout < API_GATEWAY_LIMIT_SECONDS
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = template["Resources"][stack.referenced_id(event["Properties"]["Queue"])]
                # Lambda refuses an event source whose visibility timeout is shorter
                assert queue["Properties"]["VisibilityTimeout"] >= timeout, logical_id
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_cover_queues_functions_api_and_table(built, stage):
    _, template = built[stage]
    resources = template["Resources"]
    alarms = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]

    def watching(metric: str, dimension_value) -> bool:
        return any(
            p.get("MetricName") == metric and any(d["Value"] == dimension_value for d in p.get("Dimensions", []))
            for p in alarms.values()
        )

    dead_letters = stack.dead_letter_queues(template)
    assert dead_letters, "no dead-letter queue found"
    for queue in dead_letters:
        assert watching("ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": [queue, "QueueName"]})
    for queue in stack.consumed_queues(template):
        assert watching("ApproximateAgeOfOldestMessage", {"Fn::GetAtt": [queue, "QueueName"]})
    for logical_id, _ in stack.functions(template):
        assert watching("Errors", {"Ref": logical_id}) and watching("Throttles", {"Ref": logical_id})
    assert watching("5XXError", {"Fn::Sub": "${AWS::StackName}"})
    throttles = alarms["LedgerTableThrottleAlarm"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in throttles if "MetricStat" in m} == {
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    }
    assert resources["AlarmEmailSubscription"]["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def scheduled_in_app() -> set[str]:
    """The functions app.py decorates with `@app.schedule`."""
    tree = ast.parse((ROOT / "app.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "schedule"
            for d in node.decorator_list
        )
    }


@pytest.mark.parametrize("stage", STAGES)
def test_each_scheduled_function_has_a_failure_destination_and_alarms(built, stage):
    """EventBridge invokes a scheduled function asynchronously: a run that fails every
    attempt is kept (its event and error) in a queue whose first message raises an
    alarm, and the function's error alarm fires on one failed run."""
    _, template = built[stage]
    resources = template["Resources"]
    scheduled = stack.scheduled_functions(template)
    assert {stack.function_name(resources[f]) for f in scheduled} == scheduled_in_app()
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]

    def alarms_on(metric: str, dimension_value) -> list[dict]:
        return [
            p
            for p in alarms
            if p.get("MetricName") == metric and any(d["Value"] == dimension_value for d in p["Dimensions"])
        ]

    for logical_id in scheduled:
        config = resources[logical_id]["Properties"]["EventInvokeConfig"]
        on_failure = config["DestinationConfig"]["OnFailure"]
        assert on_failure["Type"] == "SQS", logical_id
        queue = stack.referenced_id(on_failure["Destination"])
        assert on_failure["Destination"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert resources[queue]["Type"] == "AWS::SQS::Queue"
        assert resources[queue]["Properties"]["MessageRetentionPeriod"] == 14 * 86400
        assert 0 <= config["MaximumRetryAttempts"] <= 2 and 60 <= config["MaximumEventAgeInSeconds"] <= 21600
        # Lambda sends there with the function's own role
        statements = [
            s
            for p in resources[stack.role_id(resources[logical_id])]["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]
        ]
        assert any(
            "sqs:SendMessage" in s["Action"] and s["Resource"] == {"Fn::GetAtt": [queue, "Arn"]} for s in statements
        ), logical_id
        # one failed run: the function's error alarm; a run that failed every attempt: the queue's
        for props, statistic in (
            (alarms_on("Errors", {"Ref": logical_id}), "Sum"),
            (alarms_on("ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": [queue, "QueueName"]}), "Maximum"),
        ):
            assert len(props) == 1, logical_id
            (props,) = props
            assert props["Statistic"] == statistic and props["EvaluationPeriods"] == 1
            assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
            assert props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("stage", STAGES)
def test_api_stage_is_throttled_and_logs_json(built, stage):
    api = built[stage][1]["Resources"]["RestAPI"]["Properties"]
    settings = stack.STAGES[stage]
    assert api["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "MetricsEnabled": True,
            "ThrottlingRateLimit": settings["api_rate_limit"],
            "ThrottlingBurstLimit": settings["api_burst_limit"],
        }
    ]
    access = api["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access["Format"])
    assert {"requestId", "status", "resourcePath", "latencyMs"} <= set(fields)
    assert not any("authorization" in str(v).lower() for v in fields.values())
    assert api["TracingEnabled"] is True


def third_party_imports() -> set[str]:
    """Top-level modules imported by the Lambda code that are not its own or the stdlib."""
    found = set()
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found - {"chalicelib", "__future__"} if name not in sys.stdlib_module_names}


# import name -> distribution name, where they differ
DISTRIBUTION = {"ulid": "python-ulid", "pydantic_core": "pydantic-core", "email_validator": "email-validator"}
# In the Lambda Python runtime (not bundled); chalice is the framework the package carries itself.
RUNTIME_PROVIDED = {"boto3", "botocore", "chalice"}
# The analytics engine of the local runtime (chalicelib/analytics/engine.py DuckDBEngine):
# no Lambda function imports it (on AWS, Athena runs the queries), so it is not bundled;
# test_cold_start_imports.py checks the API never loads it.
LOCAL_ENGINES = {"duckdb"}


def pinned(path: pathlib.Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_requirements_are_honest():
    lambda_pins = pinned(ROOT / "requirements.txt")
    tool_pins = pinned(ROOT / "requirements-dev.txt")
    for module in third_party_imports():
        distribution = DISTRIBUTION.get(module, module).lower()
        if module in LOCAL_ENGINES:
            assert distribution not in lambda_pins, f"{distribution} runs locally only: do not bundle it"
            assert tool_pins.get(distribution), f"pin {distribution} in requirements-dev.txt"
        elif module in RUNTIME_PROVIDED:
            assert distribution not in lambda_pins, f"{distribution} is in the Lambda runtime: do not bundle it"
            assert tool_pins.get(distribution), f"pin {distribution} in requirements-dev.txt"
        else:
            assert lambda_pins.get(distribution), f"the Lambda code imports {module}: pin it in requirements.txt"
    for tool in ("chalice", "cfn-lint", "parliament", "boto3", "moto", "pytest"):
        assert tool_pins.get(tool), f"pin {tool} in requirements-dev.txt"
    assert all(version for version in {**lambda_pins, **tool_pins}.values()), "every requirement is pinned"

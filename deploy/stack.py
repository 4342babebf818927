"""Builds the CloudFormation (SAM) template of one stage of Dangol.

`chalice package --stage <stage> --merge-template .chalice/resources.json`
gives the functions, their roles (one per function, from the policy files named
in `.chalice/config.json`), the API, the table and the queues. This module then
applies what Chalice cannot express, to every function and queue the template
holds (so a function or queue added later gets the same treatment):

- each function gets a name and a log group derived from the stack name, with
  the stage's retention, and a role whose log statement covers only that log
  group, plus X-Ray write access;
- queues get explicit retention, SQS-managed encryption and the stage's
  deletion policy; the table the stage's deletion protection; buckets the
  stage's deletion policy;
- a function a table's stream invokes gets the stream permissions Lambda's
  event source mapping uses, and an alarm when records wait too long;
- the API stage gets throttling, JSON access logs and tracing;
- each scheduled function (an EventBridge schedule invokes it asynchronously)
  gets an on-failure destination: a run that failed every attempt (Lambda
  retries twice) or waited too long leaves its event and error in the queue
  `FailedScheduledRunsQueue`, whose role statement lets the function send there;
- alarms: every dead-letter queue (and that failed-runs queue) not empty, every
  consumed queue's oldest message too old, each function's errors (one failed
  run is enough) and throttles, the API's 5xx rate and DynamoDB throttling,
  all sent to one SNS topic (`AlarmEmail` parameter).

Usage: python -m deploy.stack --stage prod [OUT_DIR]   (OUT_DIR defaults to build/<stage>)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
STAGES = json.loads((ROOT / "deploy" / "stages.json").read_text())
# What a project copy needs for `chalice package` (see `package(requirements=False)`).
PROJECT_FILES = ("app.py", "chalicelib", ".chalice", "requirements.txt")
SQS_EVENT_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
# What Lambda's event source mapping does with a function's role to read a table's stream
# (ListStreams names no resource: IAM grants it on "*" only).
STREAM_EVENT_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
STREAM_LIST_ACTIONS = ["dynamodb:ListStreams"]
# The stream's records wait at most this long for the function (they stay 24 hours).
STREAM_AGE_ALARM_MS = 15 * 60 * 1000
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
# Where a scheduled function's failed runs go (Lambda sends with the function's role).
FAILED_RUNS_QUEUE = "FailedScheduledRunsQueue"
FAILURE_DESTINATION_ACTIONS = ["sqs:SendMessage"]
# Lambda's asynchronous retries of a failed scheduled run, and how long an event
# may wait (throttled) before it counts as failed.
SCHEDULED_RETRY_ATTEMPTS = 2
SCHEDULED_MAX_EVENT_AGE_SECONDS = 3600
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "integrationError": "$context.integration.error",
        "sourceIp": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "xrayTraceId": "$context.xrayTraceId",
    },
    separators=(",", ":"),
)


def chalice_executable() -> str:
    here = pathlib.Path(sys.executable).parent / "chalice"
    return str(here) if here.exists() else (shutil.which("chalice") or "chalice")


def package(stage: str, out_dir: pathlib.Path, requirements: bool = True) -> dict:
    """Run `chalice package` for `stage` into `out_dir`, harden the template,
    write it back to `out_dir/sam.json` and return it.

    requirements=False packages a copy of the project without its Python
    requirements: the template does not depend on them, and it needs no
    network (used by the tests, which run offline)."""
    if stage not in STAGES:
        raise SystemExit(f"unknown stage {stage!r}; one of {sorted(STAGES)}")
    out_dir = pathlib.Path(out_dir)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-northeast-2")}
    with tempfile.TemporaryDirectory() as scratch:
        project = ROOT
        if not requirements:
            project = pathlib.Path(scratch) / "project"
            project.mkdir()
            for name in PROJECT_FILES:
                source = ROOT / name
                if source.is_dir():
                    shutil.copytree(
                        source, project / name, ignore=shutil.ignore_patterns("__pycache__", "deployments", "venv")
                    )
                else:
                    shutil.copy(source, project / name)
            (project / "requirements.txt").write_text("")
        done = subprocess.run(
            [
                chalice_executable(),
                "--project-dir",
                str(project),
                "package",
                "--stage",
                stage,
                "--merge-template",
                str(ROOT / ".chalice" / "resources.json"),
                str(out_dir),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chalice package failed:\n{done.stdout}\n{done.stderr}")
    path = out_dir / "sam.json"
    template = harden(json.loads(path.read_text()), stage)
    path.write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n")
    return template


# -- reading a template ---------------------------------------------------------
def functions(template: dict) -> Iterator[tuple[str, dict]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            yield logical_id, resource


def function_name(resource: dict) -> str:
    """The app.py name of a function (`app.expire_points` -> expire_points; the API is api_handler)."""
    handler = resource["Properties"]["Handler"].split(".", 1)[1]
    return "api_handler" if handler == "app" else handler


def role_id(resource: dict) -> str:
    return resource["Properties"]["Role"]["Fn::GetAtt"][0]


def referenced_id(value: Any) -> str | None:
    """The logical id a Ref / Fn::GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def target_id(value: Any) -> str:
    """referenced_id of a value that must be a Ref / Fn::GetAtt."""
    found = referenced_id(value)
    if found is None:
        raise ValueError(f"expected a Ref or Fn::GetAtt, got {value!r}")
    return found


def queues(template: dict) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}


def dead_letter_queues(template: dict) -> list[str]:
    """Queues that hold what failed every attempt: redrive targets of queues and
    on-failure destinations of functions."""
    found = []
    for resource in queues(template).values():
        redrive = resource.get("Properties", {}).get("RedrivePolicy")
        if redrive:
            found.append(target_id(redrive["deadLetterTargetArn"]))
    found += [queue for queue in failure_destinations(template).values() if queue]
    return sorted(set(found))


def scheduled_functions(template: dict) -> list[str]:
    """Logical ids of the functions an EventBridge schedule invokes."""
    return [
        logical_id
        for logical_id, resource in functions(template)
        if any(e["Type"] == "Schedule" for e in resource["Properties"].get("Events", {}).values())
    ]


def failure_destinations(template: dict) -> dict[str, str | None]:
    """Function logical id -> the queue its failed asynchronous runs go to (None: not a queue)."""
    found = {}
    for logical_id, resource in functions(template):
        on_failure = resource["Properties"].get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            found[logical_id] = referenced_id(on_failure["Destination"]) if on_failure["Type"] == "SQS" else None
    return found


def consumed_queues(template: dict) -> dict[str, str]:
    """Queue logical id -> the function logical id its event source invokes."""
    found = {}
    for logical_id, resource in functions(template):
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                found[target_id(event["Properties"]["Queue"])] = logical_id
    return found


# -- hardening -------------------------------------------------------------------
def harden(template: dict, stage: str) -> dict:
    settings = STAGES[stage]
    template = copy.deepcopy(template)
    resources = template["Resources"]
    template.setdefault("Parameters", {}).update(
        {
            "AlarmEmail": {
                "Type": "String",
                "Default": "",
                "Description": "Address the alarm topic mails (confirm the subscription); empty for none",
            },
            "EmailSender": {
                "Type": "String",
                "Default": settings["email_sender"],
                "Description": "From address of member emails (an SES-verified identity)",
            },
            "EmailIdentity": {
                "Type": "String",
                "Default": settings["email_identity"],
                "Description": "The SES identity (domain or address) the sender belongs to",
            },
            "ConfigureApiGatewayLogging": {
                "Type": "String",
                "Default": "yes",
                "AllowedValues": ["yes", "no"],
                "Description": "yes: give API Gateway (account-wide, this region) a role to write "
                "access logs; no: the account already has one",
            },
        }
    )
    template.setdefault("Conditions", {}).update(
        {
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            "ConfigureApiGatewayLogging": {"Fn::Equals": [{"Ref": "ConfigureApiGatewayLogging"}, "yes"]},
        }
    )
    retain = "Retain" if settings["retain_data"] else "Delete"
    outputs = template.setdefault("Outputs", {})

    # alarm topic
    resources["AlarmTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {"TopicName": {"Fn::Sub": "${AWS::StackName}-alarms"}},
    }
    resources["AlarmEmailSubscription"] = {
        "Type": "AWS::SNS::Subscription",
        "Condition": "HasAlarmEmail",
        "Properties": {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}},
    }
    outputs["AlarmTopicArn"] = {"Value": {"Ref": "AlarmTopic"}}

    # failed scheduled runs
    scheduled = scheduled_functions(template)
    if scheduled:
        resources[FAILED_RUNS_QUEUE] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-failed-scheduled-runs"}},
        }
        outputs["FailedScheduledRunsQueueUrl"] = {"Value": {"Ref": FAILED_RUNS_QUEUE}}
    for logical_id in scheduled:
        resources[logical_id]["Properties"]["EventInvokeConfig"] = {
            "MaximumRetryAttempts": SCHEDULED_RETRY_ATTEMPTS,
            "MaximumEventAgeInSeconds": SCHEDULED_MAX_EVENT_AGE_SECONDS,
            "DestinationConfig": {
                "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [FAILED_RUNS_QUEUE, "Arn"]}}
            },
        }

    # functions, log groups, roles
    for logical_id, function in list(functions(template)):
        name = function_name(function)
        props = function["Properties"]
        props["FunctionName"] = {"Fn::Sub": f"${{AWS::StackName}}-{name}"}
        props["Tracing"] = "Active"
        log_group = f"{logical_id}LogGroup"
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": retain,
            "UpdateReplacePolicy": retain,
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{name}"},
                "RetentionInDays": settings["log_retention_days"],
            },
        }
        function["DependsOn"] = sorted(set(function.get("DependsOn", [])) | {log_group})
        role = resources[role_id(function)]
        for policy in role["Properties"]["Policies"]:
            statements = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") != "Logs"]
            statements.append(
                {
                    "Sid": "Logs",
                    "Effect": "Allow",
                    "Action": LOG_ACTIONS,
                    "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
                }
            )
            statements.append({"Sid": "Tracing", "Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"})
            for event in props.get("Events", {}).values():
                if event["Type"] == "DynamoDB":
                    statements.append(
                        {
                            "Sid": "EventSourceStream",
                            "Effect": "Allow",
                            "Action": STREAM_EVENT_ACTIONS,
                            "Resource": event["Properties"]["Stream"],
                        }
                    )
                    statements.append(
                        {"Sid": "EventSourceStreams", "Effect": "Allow", "Action": STREAM_LIST_ACTIONS, "Resource": "*"}
                    )
                if event["Type"] == "SQS":
                    statements.append(
                        {
                            "Sid": "EventSource" + target_id(event["Properties"]["Queue"]),
                            "Effect": "Allow",
                            "Action": SQS_EVENT_ACTIONS,
                            "Resource": event["Properties"]["Queue"],
                        }
                    )
            failed_runs = failure_destinations(template).get(logical_id)
            if failed_runs:
                statements.append(
                    {
                        "Sid": "FailureDestination",
                        "Effect": "Allow",
                        "Action": FAILURE_DESTINATION_ACTIONS,
                        "Resource": {"Fn::GetAtt": [failed_runs, "Arn"]},
                    }
                )
            policy["PolicyDocument"]["Statement"] = statements
        if any(e["Type"] == "DynamoDB" for e in props.get("Events", {}).values()):
            resources[f"{logical_id}IteratorAgeAlarm"] = alarm(
                f"{name}: stream records wait more than {STREAM_AGE_ALARM_MS // 60000} minutes (kept 24 hours)",
                "AWS/Lambda",
                "IteratorAge",
                [{"Name": "FunctionName", "Value": {"Ref": logical_id}}],
                "Maximum",
                STREAM_AGE_ALARM_MS,
            )
        for metric, label in (("Errors", "errors"), ("Throttles", "throttles")):
            resources[f"{logical_id}{metric}Alarm"] = alarm(
                f"{name}: {label} in the last 5 minutes",
                "AWS/Lambda",
                metric,
                [{"Name": "FunctionName", "Value": {"Ref": logical_id}}],
                "Sum",
                0,
            )

    # queues
    dead_letters = dead_letter_queues(template)
    failed_runs_queues = set(failure_destinations(template).values())
    consumed = consumed_queues(template)
    for logical_id, queue in queues(template).items():
        queue["DeletionPolicy"] = queue["UpdateReplacePolicy"] = retain
        props = queue.setdefault("Properties", {})
        props.setdefault("MessageRetentionPeriod", 1209600 if logical_id in dead_letters else 345600)
        props["SqsManagedSseEnabled"] = True
        dimension = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical_id, "QueueName"]}}]
        if logical_id in failed_runs_queues:
            resources[f"{logical_id}DepthAlarm"] = alarm(
                f"{logical_id}: a scheduled run failed every attempt; its event and error are waiting",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                dimension,
                "Maximum",
                0,
            )
        elif logical_id in dead_letters:
            resources[f"{logical_id}DepthAlarm"] = alarm(
                f"{logical_id}: messages that failed every delivery attempt are waiting",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                dimension,
                "Maximum",
                0,
            )
        if logical_id in consumed:
            age = settings["queue_age_alarm_seconds"]
            resources[f"{logical_id}AgeAlarm"] = alarm(
                f"{logical_id}: the oldest message waits more than {age} s",
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                dimension,
                "Maximum",
                age,
            )

    # buckets (the analytics facts, Athena's query results)
    for bucket in resources.values():
        if bucket["Type"] == "AWS::S3::Bucket":
            bucket["DeletionPolicy"] = bucket["UpdateReplacePolicy"] = retain

    # tables
    for logical_id, table in list(resources.items()):
        if table["Type"] != "AWS::DynamoDB::Table":
            continue
        table["DeletionPolicy"] = table["UpdateReplacePolicy"] = retain
        table["Properties"]["DeletionProtectionEnabled"] = bool(settings["retain_data"])
        resources[f"{logical_id}ThrottleAlarm"] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": f"{logical_id}: DynamoDB throttled reads or writes",
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 0,
                "EvaluationPeriods": 1,
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "AlarmTopic"}],
                "OKActions": [{"Ref": "AlarmTopic"}],
                "Metrics": [
                    {"Id": "throttles", "Expression": "reads + writes", "ReturnData": True, "Label": "throttle events"},
                    *(
                        {
                            "Id": short,
                            "ReturnData": False,
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "AWS/DynamoDB",
                                    "MetricName": metric,
                                    "Dimensions": [{"Name": "TableName", "Value": {"Ref": logical_id}}],
                                },
                                "Period": 300,
                                "Stat": "Sum",
                            },
                        }
                        for short, metric in (("reads", "ReadThrottleEvents"), ("writes", "WriteThrottleEvents"))
                    ),
                ],
            },
        }

    # API
    api = resources["RestAPI"]["Properties"]
    stage_name = api["StageName"]
    api["Name"] = {"Fn::Sub": "${AWS::StackName}"}
    api["TracingEnabled"] = True
    api["MethodSettings"] = [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "MetricsEnabled": True,
            "ThrottlingRateLimit": settings["api_rate_limit"],
            "ThrottlingBurstLimit": settings["api_burst_limit"],
        }
    ]
    resources["ApiAccessLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": retain,
        "UpdateReplacePolicy": retain,
        "Properties": {
            "LogGroupName": {"Fn::Sub": "/aws/apigateway/${AWS::StackName}-access"},
            "RetentionInDays": settings["log_retention_days"],
        },
    }
    api["AccessLogSetting"] = {
        "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
        "Format": ACCESS_LOG_FORMAT,
    }
    resources["ApiGatewayLoggingRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "ConfigureApiGatewayLogging",
        # kept on teardown: the account-wide API Gateway setting keeps pointing at it
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "ManagedPolicyArns": [
                {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
            ],
        },
    }
    resources["ApiGatewayAccount"] = {
        "Type": "AWS::ApiGateway::Account",
        "Condition": "ConfigureApiGatewayLogging",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}},
    }
    # The stage's access logging needs the account's API Gateway logging role
    # first: a reference (when that role is made here) orders the two.
    api["Description"] = {
        "Fn::If": [
            "ConfigureApiGatewayLogging",
            {"Fn::Sub": "Dangol ${AWS::StackName} (logging account setting ${ApiGatewayAccount})"},
            {"Fn::Sub": "Dangol ${AWS::StackName}"},
        ]
    }
    resources["Api5xxAlarm"] = alarm(
        "API: more than 5% of requests answered 5xx over 5 minutes",
        "AWS/ApiGateway",
        "5XXError",
        [{"Name": "ApiName", "Value": {"Fn::Sub": "${AWS::StackName}"}}, {"Name": "Stage", "Value": stage_name}],
        "Average",
        0.05,
    )
    outputs["ApiAccessLogGroupName"] = {"Value": {"Ref": "ApiAccessLogGroup"}}
    return template


def alarm(description: str, namespace: str, metric: str, dimensions: list, stat: str, threshold: float) -> dict:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": stat,
            "Period": 300,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": threshold,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=sorted(STAGES))
    parser.add_argument("out_dir", nargs="?")
    args = parser.parse_args(argv)
    out_dir = pathlib.Path(args.out_dir or ROOT / "build" / args.stage)
    package(args.stage, out_dir)
    print(f"{out_dir / 'sam.json'} and {out_dir / 'deployment.zip'} written")


if __name__ == "__main__":
    main()

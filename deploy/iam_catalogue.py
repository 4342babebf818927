"""IAM policies checked against a catalogue of real IAM actions.

parliament ships AWS's Service Authorization Reference (every service's IAM
actions, the resource types each acts on and their ARN formats) as a data file
inside its package, so these checks run offline. A policy that names an action
IAM does not have (`dynamodb:TransactWriteItems`: each member of a transaction
is authorised as its own action), or an action on an ARN of a resource type it
does not act on, has findings.

The stack's policies name resources with CloudFormation intrinsics
(`Fn::GetAtt`, `Fn::Sub`, `Ref`); `concrete()` turns them into the ARNs those
resources would have in one account and region, from their resource types.

Usage: python -m deploy.iam_catalogue build/prod/sam.json   (scripts/package.sh runs it;
exits 1 and names each finding when a role's policy has one)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional
from unittest import mock

import parliament

PARTITION, REGION, ACCOUNT = "aws", "ap-northeast-2", "123456789012"
STACK = "dangol-dev"

# The ARN `Fn::GetAtt [Id, Arn]` gives for a resource of each type, from its name.
# (A type a policy points at that is missing here fails the check: add it.)
ARN_FORMAT = {
    "AWS::DynamoDB::Table": "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:{partition}:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:{partition}:sns:{region}:{account}:{name}",
    "AWS::Logs::LogGroup": "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
    "AWS::SSM::Parameter": "arn:{partition}:ssm:{region}:{account}:parameter/{name}",
    "AWS::SecretsManager::Secret": "arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-AbCdEf",
    "AWS::KMS::Key": "arn:{partition}:kms:{region}:{account}:key/{name}",
    "AWS::Serverless::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "AWS::KinesisFirehose::DeliveryStream": "arn:{partition}:firehose:{region}:{account}:deliverystream/{name}",
    "AWS::S3::Bucket": "arn:{partition}:s3:::{name}",
}
# Other attributes a policy may name: `Fn::GetAtt [Id, attribute]` -> the ARN's suffix.
# (A stream's label is a time, `2027-01-01T00:00:00.000`; its colons would split the
# ARN as parliament parses it, so the check uses one without.)
ATTRIBUTE_ARN_SUFFIX = {("AWS::DynamoDB::Table", "StreamArn"): "/stream/2027-01-01T000000.000"}
# Resource types whose `Ref` is their ARN (for the others it is their name).
REF_IS_ARN = {"AWS::SNS::Topic", "AWS::SecretsManager::Secret"}
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": STACK,
    "AWS::URLSuffix": "amazonaws.com",
}


def is_action(action: str) -> bool:
    """`service:Action` is one of IAM's actions (no wildcards)."""
    try:
        return bool(parliament.expand_action(action)) and "*" not in action
    except Exception:  # parliament's UnknownPrefixException / UnknownActionException
        return False


def resource_name(logical_id: str) -> str:
    return f"{STACK}-{logical_id.lower()}"


def concrete(value: Any, template: dict) -> Any:
    """`value` with every CloudFormation intrinsic replaced by what it would be
    in one stack (its resources' ARNs and names, parameters' defaults)."""
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})

    def ref(name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in parameters:
            default = parameters[name].get("Default")
            if default in (None, ""):
                raise AssertionError(f"parameter {name} has no default to check the policy with")
            return str(default)
        if name in resources:
            kind = resources[name]["Type"]
            return arn(name) if kind in REF_IS_ARN else resource_name(name)
        raise AssertionError(f"Ref to {name!r}, which the template does not have")

    def arn(logical_id: str) -> str:
        if logical_id not in resources:
            raise AssertionError(f"Fn::GetAtt of {logical_id!r}, which the template does not have")
        kind = resources[logical_id]["Type"]
        if kind not in ARN_FORMAT:
            raise AssertionError(f"no ARN format for {kind} ({logical_id}): add it to ARN_FORMAT")
        return ARN_FORMAT[kind].format(
            partition=PARTITION, region=REGION, account=ACCOUNT, name=resource_name(logical_id)
        )

    def get_att(logical_id: str, attribute: str) -> str:
        kind = resources.get(logical_id, {}).get("Type")
        if (kind, attribute) in ATTRIBUTE_ARN_SUFFIX:
            return arn(logical_id) + ATTRIBUTE_ARN_SUFFIX[(kind, attribute)]
        if attribute != "Arn":
            raise AssertionError(f"Fn::GetAtt {logical_id}.{attribute} in a policy: only Arn is known")
        return arn(logical_id)

    def substitute(text: str, variables: dict) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(concrete(variables[name], template))
            if "." in name:
                return get_att(*name.split(".", 1))
            return ref(name)

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    if isinstance(value, list):
        return [concrete(v, template) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            return get_att(*(target if isinstance(target, list) else target.split(".", 1)))
        if set(value) == {"Fn::Sub"}:
            sub = value["Fn::Sub"]
            text, variables = (sub, {}) if isinstance(sub, str) else sub
            return substitute(text, variables)
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(concrete(p, template)) for p in parts)
        if any(key.startswith("Fn::") for key in value):
            raise AssertionError(f"an intrinsic the policy check cannot resolve: {value!r}")
        return {k: concrete(v, template) for k, v in value.items()}
    return value


@contextmanager
def offline() -> Iterator[None]:
    """Any attempt to open a network connection fails (the catalogue is local data)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"the IAM catalogue check tried the network: {args!r}")

    with (
        mock.patch.object(socket.socket, "connect", refuse),
        mock.patch.object(socket.socket, "connect_ex", refuse),
        mock.patch.object(socket, "create_connection", refuse),
    ):
        yield


# Actions IAM authorises on several resources at once (all of them must be granted):
# Glue's table reads need the catalog, the database and the table; its database read
# the catalog and the database. Their statements are checked whole, not split per resource.
NEEDS_EVERY_RESOURCE = {"glue:GetDatabase", "glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"}


def findings(document: dict) -> list[str]:
    """parliament's findings on a policy document whose resources are concrete ARNs:
    unknown actions or services, resources of a type an action does not act on,
    malformed statements, conditions an action does not support. Empty: clean.

    parliament asks that each action fit one of its statement's resources; this
    asks it of every resource: the document is also checked with each statement
    split into one statement per resource (but for NEEDS_EVERY_RESOURCE)."""
    split_statements: list[dict] = []
    split = {"Version": document.get("Version"), "Statement": split_statements}
    statements = document.get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        key = "Resource" if "Resource" in statement else "NotResource"
        resources = statement.get(key, [])
        actions = statement.get("Action", [])
        if any(a in NEEDS_EVERY_RESOURCE for a in ([actions] if isinstance(actions, str) else actions)):
            split_statements.append({k: v for k, v in statement.items() if k != "Sid"})
            continue
        for resource in [resources] if isinstance(resources, str) else resources:
            one = {k: v for k, v in statement.items() if k != "Sid"}
            one[key] = resource
            split_statements.append(one)
    found = set()
    with offline():
        for checked in (document, split):
            for finding in parliament.analyze_policy_string(json.dumps(checked)).findings:
                where = finding.location.get("string", "") if isinstance(finding.location, dict) else ""
                found.add(f"{finding.issue}: {finding.detail} {where}".strip())
    for statement in split_statements:
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if not is_action(action):
                found.add(f"UNKNOWN_ACTION: {action} is not an IAM action")
    return sorted(found)


def inline_policies(template: dict) -> Iterator[tuple[str, dict]]:
    """(role/policy name, policy document) of every IAM policy the template defines."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield f"{logical_id}/{policy['PolicyName']}", policy["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            yield logical_id, properties["PolicyDocument"]


def template_findings(template: dict) -> dict[str, list[str]]:
    """Policy name -> its findings, for the policies that have any."""
    found = {}
    for name, document in inline_policies(template):
        problems = findings(concrete(document, template))
        if problems:
            found[name] = problems
    return found


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Check a template's IAM policies against IAM's actions")
    parser.add_argument("template", type=pathlib.Path)
    args = parser.parse_args(argv)
    template = json.loads(args.template.read_text())
    found = template_findings(template)
    for name, problems in found.items():
        for problem in problems:
            print(f"{args.template}: {name}: {problem}", file=sys.stderr)
    checked = sum(1 for _ in inline_policies(template))
    if found:
        return 1
    print(f"iam: {checked} policies name only IAM actions, on resources they act on")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Checks on the synthesized templates of both stacks that AWS would otherwise make on the first deploy.

- every IAM policy passes parliament (an offline IAM linter over AWS's action and resource table),
  with a written reason for each finding accepted;
- every SNS topic used as an alarm action lets cloudwatch.amazonaws.com publish (source-conditioned);
- every SQS queue EventBridge writes (rule targets and their dead-letter queues) lets
  events.amazonaws.com send only as that rule (aws:SourceArn);
- every KMS key a service principal uses grants it the actions it calls, and no EventBridge key
  statement hangs on aws:SourceAccount (its KMS requests do not carry it).

Each check is also shown failing on a template with the statement it looks for removed.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator
from fnmatch import fnmatchcase

import pytest

from tests.infra.conftest import ref_id

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament 1.6.4 imports pkg_resources, which warns on import
    from parliament import analyze_policy_string

ACCOUNT, REGION, PARTITION, STACK = "123456789012", "us-east-1", "aws", "ClinicalScribeStack"
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK,
}
# What Fn::GetAtt X.Arn gives for each resource type, with the logical id standing in for the name.
ARN_FORMATS = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::Events::EventBus": "arn:aws:events:{region}:{account}:event-bus/{name}",
}
# Types whose Ref is their ARN; a queue's Ref is its URL; the others' Ref is their name.
REF_IS_ARN = {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"}

# parliament findings accepted, each with its reason: (issue, action, required resource format) -> why.
_BEDROCK_ALTERNATIVES = (
    "InvokeModel lists eight resource types, each marked required, one per kind of model; parliament wants a "
    "resource of every kind, but a call names one. This grant names the kinds it uses (inference-profile, "
    "foundation-model)."
)
_BEDROCK_COLON = (
    "Bedrock model ids end in a version after a colon (':0'); parliament refuses any resource id holding a ':' "
    "where the format has none, so the inference profile and foundation model ARNs of this grant never match it."
)
ACCEPTED_FINDINGS = {
    **{
        ("RESOURCE_MISMATCH", "bedrock:InvokeModel", f"arn:*:bedrock:*:*:{kind}"): _BEDROCK_ALTERNATIVES
        for kind in (
            "application-inference-profile/*",
            "async-invoke/*",
            "marketplace/model-endpoint/all-access",
            "default-prompt-router/*",
            "imported-model/*",
            "provisioned-model/*",
        )
    },
    ("RESOURCE_MISMATCH", "bedrock:InvokeModel", "arn:*:bedrock:*:*:inference-profile/*"): _BEDROCK_COLON,
    ("RESOURCE_MISMATCH", "bedrock:InvokeModel", "arn:*:bedrock:*::foundation-model/*"): _BEDROCK_COLON,
    ("RESOURCE_MISMATCH", "states:DescribeExecution", "arn:*:states:*:*:express:*:*:*"): (
        "DescribeExecution lists execution* and express*, one per state machine type; the grant names the "
        "Standard machine's executions (execution:NAME:*), so no resource is an Express one."
    ),
}


# ---------------------------------------------------------------- resolving intrinsics to plausible literals


def resolve(value, template: dict):
    """The value with Ref, Fn::GetAtt (Arn) and Fn::Join replaced by plausible literals."""
    resources = template["Resources"]
    if isinstance(value, list):
        return [resolve(v, template) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        name = value["Ref"]
        if name in PSEUDO:
            return PSEUDO[name]
        type_ = resources[name]["Type"]
        if type_ in REF_IS_ARN:
            return _arn(name, template)
        if type_ == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        return name
    if "Fn::GetAtt" in value:
        name, attribute = value["Fn::GetAtt"]
        if attribute != "Arn":
            raise NotImplementedError(f"Fn::GetAtt {name}.{attribute}")
        return _arn(name, template)
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(p, template) for p in parts)
    if any(key.startswith("Fn::") for key in value):
        raise NotImplementedError(f"intrinsic {next(iter(value))}")
    return {k: resolve(v, template) for k, v in value.items()}


def _arn(name: str, template: dict) -> str:
    resource = template["Resources"][name]
    props = resource.get("Properties", {})
    literal = props.get("StateMachineName") if isinstance(props.get("StateMachineName"), str) else name
    return ARN_FORMATS[resource["Type"]].format(region=REGION, account=ACCOUNT, name=literal)


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _of_type(template: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


# ---------------------------------------------------------------- the IAM lint


def iam_policies(template: dict) -> Iterator[tuple[str, dict]]:
    """(where, policy document) of every AWS::IAM::Policy, AWS::IAM::ManagedPolicy and role inline policy."""
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical_id, props["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::Role":
            for inline in props.get("Policies", []):
                yield f"{logical_id}/{inline['PolicyName']}", inline["PolicyDocument"]


def lint_policy(document: dict, template: dict) -> list[tuple[str, str, str]]:
    """parliament's findings on one document, as (issue, action, required format) (action '' when none)."""
    findings = []
    for finding in analyze_policy_string(json.dumps(resolve(document, template))).findings:
        details = finding.detail if isinstance(finding.detail, list) else [finding.detail]
        for detail in details:
            if isinstance(detail, dict):
                findings.append((finding.issue, detail.get("action", ""), detail.get("required_format", "")))
            else:
                findings.append((finding.issue, "", json.dumps(detail, default=str)))
    return findings


def unexplained_lint_findings(template: dict) -> list[str]:
    return [
        f"{where}: {finding}"
        for where, document in iam_policies(template)
        for finding in lint_policy(document, template)
        if finding not in ACCEPTED_FINDINGS
    ]


# ---------------------------------------------------------------- resource policies for service principals


def _principal_services(statement: dict, template: dict) -> list[str]:
    principal = statement.get("Principal", {})
    if not isinstance(principal, dict):
        return []
    return [resolve(s, template) for s in _listed(principal.get("Service", []))]


def _condition_keys(statement: dict) -> dict[str, object]:
    return {key: value for operator in statement.get("Condition", {}).values() for key, value in operator.items()}


def _allows(statement: dict, service: str, action: str, template: dict) -> bool:
    return (
        statement["Effect"] == "Allow"
        and service in _principal_services(statement, template)
        and any(fnmatchcase(action, pattern) for pattern in _listed(statement["Action"]))
    )


def _policy_statements(template: dict, policy_type: str, list_property: str, target_id: str) -> list[dict]:
    return [
        statement
        for policy in _of_type(template, policy_type).values()
        if target_id in [ref_id(t) for t in policy["Properties"][list_property]]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def alarm_topic_problems(template: dict) -> list[str]:
    topics = {
        ref_id(action)
        for alarm in _of_type(template, "AWS::CloudWatch::Alarm").values()
        for action in alarm["Properties"].get("AlarmActions", [])
    }
    problems = []
    for topic in sorted(t for t in topics if t):
        statements = _policy_statements(template, "AWS::SNS::TopicPolicy", "Topics", topic)
        publish = [s for s in statements if _allows(s, "cloudwatch.amazonaws.com", "sns:Publish", template)]
        if not any({"aws:SourceArn", "aws:SourceAccount"} <= set(_condition_keys(s)) for s in publish):
            problems.append(
                f"alarm topic {topic}: no topic policy statement lets cloudwatch.amazonaws.com sns:Publish "
                "with aws:SourceArn and aws:SourceAccount conditions"
            )
    return problems


def eventbridge_queues(template: dict) -> Iterator[tuple[str, str]]:
    """(rule, queue) for every SQS queue a rule writes: its targets and its targets' dead-letter queues."""
    queues = _of_type(template, "AWS::SQS::Queue")
    for rule_id, rule in _of_type(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            for arn in (target["Arn"], target.get("DeadLetterConfig", {}).get("Arn")):
                if ref_id(arn) in queues:
                    yield rule_id, ref_id(arn)


def eventbridge_queue_problems(template: dict) -> list[str]:
    problems = []
    for rule, queue in eventbridge_queues(template):
        statements = _policy_statements(template, "AWS::SQS::QueuePolicy", "Queues", queue)
        sources = [
            _condition_keys(s).get("aws:SourceArn")
            for s in statements
            if _allows(s, "events.amazonaws.com", "sqs:SendMessage", template)
        ]
        if {"Fn::GetAtt": [rule, "Arn"]} not in sources:
            problems.append(
                f"queue {queue}: no queue policy statement lets events.amazonaws.com sqs:SendMessage "
                f"with aws:SourceArn = rule {rule}"
            )
    return problems


# What each service principal calls on a key it encrypts with (AWS's guides for each integration).
KEY_ACTIONS = {
    "events.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey"),
    "cloudwatch.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*"),
    f"logs.{REGION}.amazonaws.com": ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"),
}


def key_users(template: dict) -> Iterator[tuple[str, str]]:
    """(key, service principal) for each key a service principal encrypts or decrypts with."""
    queues = _of_type(template, "AWS::SQS::Queue")
    for _, queue in eventbridge_queues(template):
        yield ref_id(queues[queue]["Properties"].get("KmsMasterKeyId")), "events.amazonaws.com"
    topics = _of_type(template, "AWS::SNS::Topic")
    for alarm in _of_type(template, "AWS::CloudWatch::Alarm").values():
        for action in alarm["Properties"].get("AlarmActions", []):
            if ref_id(action) in topics:
                yield ref_id(topics[ref_id(action)]["Properties"].get("KmsMasterKeyId")), "cloudwatch.amazonaws.com"
    for group in _of_type(template, "AWS::Logs::LogGroup").values():
        yield ref_id(group["Properties"].get("KmsKeyId")), f"logs.{REGION}.amazonaws.com"


def _grants(statement: dict, required: str) -> bool:
    # A wildcard requirement (GenerateDataKey*) is met only by a pattern covering every action it covers.
    return any(
        pattern == "kms:*" or pattern == required or ("*" not in required and fnmatchcase(required, pattern))
        for pattern in _listed(statement["Action"])
    )


BUS_CONTEXT = "kms:EncryptionContext:aws:events:event-bus:arn"


def key_grant_problems(template: dict) -> list[str]:
    keys = _of_type(template, "AWS::KMS::Key")
    problems = []
    for key, service in sorted({(k, s) for k, s in key_users(template) if k}):
        statements = keys[key]["Properties"]["KeyPolicy"]["Statement"]
        mine = [
            s for s in statements
            if s["Effect"] == "Allow" and service in _principal_services(s, template)
            # A statement for the domain bus's own encryption (its encryption context) grants no queue delivery.
            and BUS_CONTEXT not in _condition_keys(s)
        ]  # fmt: skip
        missing = [action for action in KEY_ACTIONS[service] if not any(_grants(s, action) for s in mine)]
        if missing:
            problems.append(f"key {key}: {service} is not allowed {', '.join(missing)}")
        if service == "events.amazonaws.com" and any("aws:SourceAccount" in _condition_keys(s) for s in mine):
            problems.append(
                f"key {key}: an events.amazonaws.com statement is conditioned on aws:SourceAccount, "
                "which EventBridge's KMS requests do not carry"
            )
    return problems


# ---------------------------------------------------------------- the checks on both stacks


@pytest.fixture
def template(variant) -> dict:
    """Each variant's synthesized template as a dict of its own, free to mutate."""
    return copy.deepcopy(variant.to_json())


def test_every_iam_policy_passes_parliament_or_has_a_written_reason(template):
    assert list(iam_policies(template))
    assert unexplained_lint_findings(template) == []


def test_every_accepted_parliament_finding_is_still_seen(choreography, orchestration):
    """No reason outlives its finding (both stacks together raise every accepted one)."""

    seen = set()
    for stack in (choreography, orchestration):
        template = stack.to_json()
        seen |= {f for _, doc in iam_policies(template) for f in lint_policy(doc, template)}
    assert set(ACCEPTED_FINDINGS) <= seen


def test_every_alarm_topic_lets_cloudwatch_publish(template):
    assert alarm_topic_problems(template) == []


def test_every_queue_eventbridge_writes_names_its_rule(template):
    assert len(list(eventbridge_queues(template))) >= 4
    assert eventbridge_queue_problems(template) == []


def test_every_key_grants_each_service_principal_what_it_calls(template):
    assert {service for _, service in key_users(template)} == set(KEY_ACTIONS)
    assert key_grant_problems(template) == []


# ---------------------------------------------------------------- each check fails when its statement goes


def test_the_lint_flags_a_transcription_start_granted_on_a_job_arn(template):
    """The bug issue 12 found: StartMedicalTranscriptionJob supports no resource type."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "transcribe:StartMedicalTranscriptionJob",
                "Resource": f"arn:aws:transcribe:{REGION}:{ACCOUNT}:medical-transcription-job/ClinicalScribe-*",
            }
        ],
    }
    assert ("RESOURCE_MISMATCH", "transcribe:StartMedicalTranscriptionJob", "*") in lint_policy(document, template)


def test_the_lint_fails_the_template_that_grants_the_start_on_a_job_arn(template):
    starts = [
        statement
        for _, document in iam_policies(template)
        for statement in document["Statement"]
        if "transcribe:StartMedicalTranscriptionJob" in _listed(statement["Action"])
    ]
    assert starts
    # The grant as it landed before issue 12: this stack's job ARNs.
    starts[0]["Resource"] = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":transcribe:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":medical-transcription-job/ClinicalScribe-*",
            ],
        ]
    }
    [problem] = unexplained_lint_findings(template)
    assert "transcribe:StartMedicalTranscriptionJob" in problem


def _drop(statements: list[dict], doomed) -> int:
    before = len(statements)
    statements[:] = [s for s in statements if not doomed(s)]
    return before - len(statements)


def test_the_alarm_topic_check_reports_a_topic_policy_without_the_cloudwatch_allow(template):
    [policy] = _of_type(template, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert _drop(statements, lambda s: "cloudwatch.amazonaws.com" in json.dumps(s.get("Principal"))) == 1
    [problem] = alarm_topic_problems(template)
    assert "cloudwatch.amazonaws.com sns:Publish" in problem


def test_the_alarm_topic_check_reports_an_allow_without_source_conditions(template):
    [policy] = _of_type(template, "AWS::SNS::TopicPolicy").values()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement["Effect"] == "Allow":
            statement.pop("Condition")
    assert alarm_topic_problems(template)


@pytest.mark.parametrize("which", ["target", "dead-letter queue"])
def test_the_queue_check_reports_a_queue_eventbridge_writes_without_its_rule(template, which):
    rule, queue = next(
        (r, q)
        for r, q in eventbridge_queues(template)
        if ("RedrivePolicy" in template["Resources"][q]["Properties"]) == (which == "target")
    )
    [policy] = [
        p for p in _of_type(template, "AWS::SQS::QueuePolicy").values() if ref_id(p["Properties"]["Queues"][0]) == queue
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert _drop(statements, lambda s: {"Fn::GetAtt": [rule, "Arn"]} in _condition_keys(s).values()) == 1
    assert eventbridge_queue_problems(template) == [
        f"queue {queue}: no queue policy statement lets events.amazonaws.com sqs:SendMessage with aws:SourceArn = rule {rule}"
    ]


def test_the_queue_check_reports_an_allow_without_the_source_arn(template):
    """What CDK's SqsQueue target writes on a KMS-encrypted queue."""
    for policy in _of_type(template, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                statement.pop("Condition")
    assert len(eventbridge_queue_problems(template)) == len(list(eventbridge_queues(template)))


def _key_statements(template: dict) -> list[dict]:
    [key] = _of_type(template, "AWS::KMS::Key").values()
    return key["Properties"]["KeyPolicy"]["Statement"]


@pytest.mark.parametrize("service", sorted(KEY_ACTIONS))
def test_the_key_check_reports_a_service_principal_left_out_of_the_key_policy(template, service):
    statements = _key_statements(template)
    assert _drop(statements, lambda s: service in _principal_services(s, template)) >= 1
    [problem] = key_grant_problems(template)
    assert problem.endswith(f"{service} is not allowed {', '.join(KEY_ACTIONS[service])}")


def test_the_key_check_reports_an_eventbridge_statement_conditioned_on_source_account(template):
    """The statement this project had: it never matched EventBridge's KMS requests."""
    for statement in _key_statements(template):
        if "events.amazonaws.com" in _principal_services(statement, template):
            statement["Condition"] = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [problem] = key_grant_problems(template)
    assert "conditioned on aws:SourceAccount" in problem


def test_the_key_check_wants_generate_data_key_star_for_cloudwatch(template):
    for statement in _key_statements(template):
        if "cloudwatch.amazonaws.com" in _principal_services(statement, template):
            statement["Action"] = ["kms:Decrypt", "kms:GenerateDataKey"]
    [problem] = key_grant_problems(template)
    assert problem.endswith("cloudwatch.amazonaws.com is not allowed kms:GenerateDataKey*")

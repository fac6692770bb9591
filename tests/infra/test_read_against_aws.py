"""The templates read against AWS's documentation: each test is one thing a configured deploy would have
hit on AWS (a refused synth, a denied upload, a page that cannot sign in, a setting overwritten), checked on
the synthesized template. Every synth here has the cdk-nag packs attached, so it also raises on any
unacknowledged finding."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from clinical.prefixes import AUDIO_PREFIX
from stacks.app_factory import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK, build_app
from stacks.config import ConfigError, PipelineConfig
from tests.infra.conftest import ref_id, resources, synthesized

ALARM_EMAIL = "oncall@example.org"


def both_stacks(tmp_path_factory, context: dict) -> dict[str, Template]:
    """Both stacks of one app synthesized with `context` (raises on any unacknowledged cdk-nag finding)."""
    app = build_app(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return {name: Template.from_stack(app.node.find_child(name)) for name in (CHOREOGRAPHY_STACK, ORCHESTRATION_STACK)}


def statements(policy: dict) -> list[dict]:
    return policy["Properties"]["PolicyDocument"]["Statement"]


def key_statement(template: Template, sid: str) -> dict:
    [key] = resources(template, "AWS::KMS::Key").values()
    [statement] = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == sid]
    return statement


# ---------------------------------------------------------------- README step 3: alarm_email set


@pytest.fixture(scope="module")
def with_alarm_email(tmp_path_factory) -> dict[str, Template]:
    """README's deploy steps in order: step 3 sets alarm_email and leaves reserve_concurrency false."""
    return both_stacks(tmp_path_factory, {"alarm_email": ALARM_EMAIL})


def test_the_readmes_deploy_with_an_alarm_email_synthesizes_with_the_nag_packs(with_alarm_email):
    for template in with_alarm_email.values():
        [subscription] = resources(template, "AWS::SNS::Subscription").values()
        assert subscription["Properties"]["Protocol"] == "email"
        assert subscription["Properties"]["Endpoint"] == ALARM_EMAIL


def test_an_alarm_email_sns_could_not_deliver_goes_to_an_alarmed_dead_letter_queue(with_alarm_email):
    """SNS keeps a message it could not deliver to a subscription in the subscription's redrive queue, which
    SNS may send to (queue policy, this topic only) with the key it is encrypted with (key policy)."""
    for template in with_alarm_email.values():
        [subscription] = resources(template, "AWS::SNS::Subscription").values()
        target = subscription["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
        dlq_id = ref_id(target)
        assert resources(template, "AWS::SQS::Queue")[dlq_id]["Properties"]["KmsMasterKeyId"]
        alarms = resources(template, "AWS::CloudWatch::Alarm").values()
        assert any(
            dlq_id in json.dumps(a["Properties"].get("Dimensions", [])) and a["Properties"]["Threshold"] == 1
            for a in alarms
        )
        [policy] = [
            p for p in resources(template, "AWS::SQS::QueuePolicy").values()
            if dlq_id in json.dumps(p["Properties"]["Queues"])
        ]  # fmt: skip
        [from_sns] = [s for s in statements(policy) if s.get("Principal") == {"Service": "sns.amazonaws.com"}]
        assert from_sns["Action"] == "sqs:SendMessage"
        assert ref_id(from_sns["Condition"]["ArnEquals"]["aws:SourceArn"]) == ref_id(
            subscription["Properties"]["TopicArn"]
        )
        sns_key_use = key_statement(template, "AlarmNotificationsToTheirDeadLetterQueue")
        assert sns_key_use["Principal"] == {"Service": "sns.amazonaws.com"}
        assert set(sns_key_use["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
        assert set(sns_key_use["Condition"]) == {"ArnLike", "StringEquals"}


# ---------------------------------------------------------------- S3: conditional writes and multipart uploads


def test_the_write_once_deny_exempts_the_multipart_calls_that_take_no_conditional_header(variant):
    """S3 User Guide, "Enforce conditional writes": CreateMultipartUpload, UploadPart and UploadPartCopy take
    no If-None-Match, so the deny exempts them with s3:ObjectCreationOperation (false for those three);
    PutObject and CompleteMultipartUpload (true) still need If-None-Match: *."""
    [write_once] = [
        s for p in resources(variant, "AWS::S3::BucketPolicy").values() for s in statements(p)
        if s.get("Sid") == "AudioIsWrittenOnce"
    ]  # fmt: skip
    assert write_once["Effect"] == "Deny" and write_once["Action"] == "s3:PutObject"
    assert AUDIO_PREFIX in json.dumps(write_once["Resource"])
    assert write_once["Condition"] == {
        "Null": {"s3:if-none-match": "true"},
        "Bool": {"s3:ObjectCreationOperation": "true"},
    }


# ---------------------------------------------------------------- the review page in a VPC


@pytest.mark.parametrize("stack", [CHOREOGRAPHY_STACK, ORCHESTRATION_STACK])
def test_the_review_page_in_a_vpc_keeps_its_function_where_it_can_reach_cognito(tmp_path_factory, stack):
    """The page's function exchanges the sign-in code at the user pool's domain and checks every session
    with Cognito; managed login and a pool with a domain have no PrivateLink endpoint, and the VPC's
    isolated subnets have no NAT. So that function stays out of the VPC; every other function is in it."""
    template = synthesized(tmp_path_factory, {"review_page": True, "deploy_in_vpc": True}, stack=stack)
    for function in resources(template, "AWS::Lambda::Function").values():
        properties = function["Properties"]
        if properties["Handler"] == "edges.review_page.handler":
            assert "VpcConfig" not in properties
        else:
            assert properties["VpcConfig"]["SubnetIds"]


# ---------------------------------------------------------------- Step Functions


def test_task_responses_are_granted_on_star_as_the_reference_lists_no_resource_type(orchestration):
    """Service Authorization Reference, AWS Step Functions: SendTaskSuccess, SendTaskFailure and
    SendTaskHeartbeat support no resource type; the task token is the capability."""
    task_responses = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
    found = 0
    for policy in resources(orchestration, "AWS::IAM::Policy").values():
        for statement in statements(policy):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if task_responses & set(actions):
                assert set(actions) == task_responses and statement["Resource"] == "*"
                found += 1
    assert found >= 3  # await_transcript, transcript_ready, the review tasks


def test_the_execution_log_group_is_a_vended_logs_group(orchestration):
    """Step Functions logging: a group under /aws/vendedlogs/ keeps CloudWatch Logs' resource policy (5,120
    characters per account and region) from growing with every state machine."""
    [machine] = resources(orchestration, "AWS::StepFunctions::StateMachine").values()
    destination = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]
    group_id = ref_id(destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    name = resources(orchestration, "AWS::Logs::LogGroup")[group_id]["Properties"]["LogGroupName"]
    assert json.dumps(name).startswith('{"Fn::Join": ["", ["/aws/vendedlogs/states/') or str(name).startswith(
        "/aws/vendedlogs/states/"
    )


# ---------------------------------------------------------------- Regions


def test_no_deploy_region_lacks_transcribe_medical_batch():
    """A us. profile may be called from us-west-1, but Transcribe Medical batch is not offered there."""
    config = PipelineConfig()
    assert "us-west-1" not in config.deploy_regions
    with pytest.raises(ConfigError, match=r"us-west-1.*Transcribe Medical"):
        config.check_region("us-west-1")
    config.check_region("us-west-2")


def test_the_template_rule_allows_only_regions_with_transcribe_medical_batch(choreography):
    rule = choreography.to_json()["Rules"]["DeployRegion"]
    [assertion] = rule["Assertions"]
    allowed = assertion["Assert"]["Fn::Contains"][0]
    assert "us-west-1" not in allowed and {"us-east-1", "us-west-2"} <= set(allowed)


def test_a_regional_model_still_needs_a_region_with_transcribe_medical_batch(tmp_path_factory):
    template = synthesized(tmp_path_factory, {"bedrock_model_id": "amazon.nova-lite-v1:0"})
    [assertion] = template.to_json()["Rules"]["DeployRegion"]["Assertions"]
    assert "sa-east-1" not in assertion["Assert"]["Fn::Contains"][0]


# ---------------------------------------------------------------- API Gateway's account setting


def test_the_review_page_leaves_the_accounts_api_gateway_logging_role_alone(tmp_path_factory):
    """AWS::ApiGateway::Account is one setting per account and region: each stack creating it would overwrite
    the other's (and anyone else's) role. The stage's access logs stay on."""
    stacks = both_stacks(tmp_path_factory, {"review_page": True})
    for template in stacks.values():
        assert resources(template, "AWS::ApiGateway::Account") == {}
        [stage] = resources(template, "AWS::ApiGateway::Stage").values()
        assert stage["Properties"]["AccessLogSetting"]["DestinationArn"]


# ---------------------------------------------------------------- the key's service statements


def test_cloudwatch_may_use_the_key_only_for_this_accounts_alarms(variant):
    """SNS Developer Guide, encrypted topics and AWS service event sources: the key statement names the
    source (aws:SourceArn, aws:SourceAccount), as the topic policy does."""
    statement = key_statement(variant, "AlarmsPublishToEncryptedTopic")
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert ":alarm:*" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_eventbridge_may_use_the_key_only_for_this_stacks_bus_and_this_accounts_queues(variant):
    """EventBridge User Guide, "Authorizing EventBridge to use a customer managed key": the bus's key use is
    conditioned on the bus (aws:SourceArn, aws:SourceAccount and the bus's encryption context). Delivery to
    an encrypted queue carries no source keys (see docs/access.md), so it is narrowed by the encryption
    context SQS binds to each message's data key: this account's queues in this region."""
    bus = key_statement(variant, "EventBridgeEncryptsTheDomainEventBus")
    assert bus["Principal"] == {"Service": "events.amazonaws.com"}
    assert set(bus["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    equals = bus["Condition"]["StringEquals"]
    assert set(equals) == {"aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext:aws:events:event-bus:arn"}
    assert equals["aws:SourceArn"] == equals["kms:EncryptionContext:aws:events:event-bus:arn"]
    assert "event-bus/" in json.dumps(equals["aws:SourceArn"])
    queues = key_statement(variant, "EventBridgeDeliversToEncryptedQueues")
    assert ":sqs:" in json.dumps(queues["Condition"]["ArnLike"]["kms:EncryptionContext:aws:sqs:arn"])

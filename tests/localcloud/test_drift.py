"""The local cloud's resources are the template's resources: a test fails if they drift apart."""

import json

import pytest

from tests.localcloud.conftest import STACKS
from tests.support.templates import resources_of_type


def template(cdk_out, stack) -> dict:
    return json.loads((cdk_out / f"{stack}.template.json").read_text())


def physical_ids(cloud, stack) -> dict[str, str]:
    summaries = cloud.client("cloudformation").list_stack_resources(StackName=stack)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}


@pytest.mark.parametrize("stack", STACKS)
def test_queue_redrive_and_visibility_match_the_template(local_cloud, cdk_out, stack):
    ids, sqs = physical_ids(local_cloud, stack), local_cloud.client("sqs")
    queues = resources_of_type(template(cdk_out, stack), "AWS::SQS::Queue")
    assert queues
    for logical_id, queue in queues.items():
        attributes = sqs.get_queue_attributes(QueueUrl=ids[logical_id], AttributeNames=["All"])["Attributes"]
        expected = queue["Properties"]
        assert int(attributes["VisibilityTimeout"]) == expected.get("VisibilityTimeout", 30)
        if "RedrivePolicy" in expected:
            redrive = json.loads(attributes["RedrivePolicy"])
            assert int(redrive["maxReceiveCount"]) == expected["RedrivePolicy"]["maxReceiveCount"]
            assert redrive["deadLetterTargetArn"].endswith(
                ids[expected["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]].rsplit("/", 1)[-1]
            )


@pytest.mark.parametrize("stack", STACKS)
def test_event_sources_poll_with_the_templates_batch_size_and_partial_failures(local_cloud, cdk_out, stack):
    ids = physical_ids(local_cloud, stack)
    mappings = resources_of_type(template(cdk_out, stack), "AWS::Lambda::EventSourceMapping").values()
    by_function = {poller.queue.function_name: poller.queue for poller in local_cloud.event_sources}
    for mapping in mappings:
        source = by_function[ids[mapping["Properties"]["FunctionName"]["Ref"]]]
        assert source.batch_size == mapping["Properties"]["BatchSize"]
        assert source.report_batch_item_failures == (
            "ReportBatchItemFailures" in mapping["Properties"]["FunctionResponseTypes"]
        )


@pytest.mark.parametrize("stack", STACKS)
def test_alarms_exist_with_the_templates_metric_threshold_and_action(local_cloud, cdk_out, stack):
    alarms = resources_of_type(template(cdk_out, stack), "AWS::CloudWatch::Alarm")
    created = {
        a["AlarmName"].removeprefix(f"{stack}-"): a
        for a in local_cloud.client("cloudwatch").describe_alarms(AlarmNamePrefix=stack)["MetricAlarms"]
    }
    assert set(created) == set(alarms)
    topic = local_cloud.outputs[stack]["AlarmTopicArn"]
    for logical_id, alarm in alarms.items():
        expected, actual = alarm["Properties"], created[logical_id]
        assert (actual["MetricName"], actual["Threshold"], actual["ComparisonOperator"]) == (
            expected["MetricName"],
            float(expected["Threshold"]),
            expected["ComparisonOperator"],
        )
        assert actual["AlarmActions"] == [topic]


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_versioning_matches_the_template(local_cloud, cdk_out, stack):
    ids, s3 = physical_ids(local_cloud, stack), local_cloud.client("s3")
    buckets = resources_of_type(template(cdk_out, stack), "AWS::S3::Bucket")
    versioned = {i for i, b in buckets.items() if b["Properties"].get("VersioningConfiguration", {}).get("Status")}
    assert versioned, "the encounter bucket is versioned"
    for logical_id in buckets:
        status = s3.get_bucket_versioning(Bucket=ids[logical_id]).get("Status")
        assert (status == "Enabled") == (logical_id in versioned), logical_id

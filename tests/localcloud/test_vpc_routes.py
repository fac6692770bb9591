"""deploy_in_vpc on the local cloud: a function's requests go only where its subnets reach (a VPC endpoint of the
service, or a NAT gateway), as on AWS; elsewhere they go unanswered until Lambda stops the function
(localcloud/networking.py). With review_page too, as docs/reference.md documents the pair."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from localcloud.cloud import LocalCloud
from localcloud.lambda_runtime import INVOCATIONS
from review_desk.signin import SESSION_COOKIE
from stacks.app_factory import build_app
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK
from tests.localcloud.conftest import STACKS, deploy_both, keys, upload, upload_to_both

AUDIO = b"RIFF....WAVEfmt a dictation recorded in a clinic whose functions run in a VPC"
# A function of each stack that runs in the VPC, by the output naming it.
PIPELINE_FUNCTION = {CHOREOGRAPHY_STACK: "WatchdogFunctionName", ORCHESTRATION_STACK: "RecordFailureFunctionName"}
LAPSED = {"Cookie": f"{SESSION_COOKIE}=a-lapsed-session"}


@pytest.fixture(scope="module")
def vpc_cloud(tmp_path_factory):
    cdk_out = tmp_path_factory.mktemp("vpc") / "cdk.out"
    build_app(context={"deploy_in_vpc": "true", "review_page": "true"}, outdir=str(cdk_out)).synth()
    with LocalCloud(cdk_out) as cloud:
        yield deploy_both(cloud, AUDIO)


@contextlib.contextmanager
def page_in_the_pipelines_subnets(cloud: LocalCloud, stack: str) -> Iterator[dict]:
    """The review page's function moved into the subnets (and security group) of the pipeline's functions, where
    the templates before the fix put it, and back out afterwards; yields that VpcConfig."""
    lambda_ = cloud.client("lambda")
    page = cloud.review_page_function(stack)
    pipeline = lambda_.get_function_configuration(FunctionName=cloud.outputs[stack][PIPELINE_FUNCTION[stack]])
    subnets = {key: pipeline["VpcConfig"][key] for key in ("SubnetIds", "SecurityGroupIds")}
    assert subnets["SubnetIds"], "the pipeline's functions run in the VPC"
    lambda_.update_function_configuration(FunctionName=page, VpcConfig=subnets)
    try:
        yield subnets
    finally:
        lambda_.update_function_configuration(FunctionName=page, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
        cloud.network.forget()


def test_both_variants_reach_their_notes_from_inside_the_vpc(vpc_cloud):
    errors_before = sum(INVOCATIONS.errors.values())
    upload_to_both(vpc_cloud, "audio/enc-vpc-1.wav", AUDIO)
    vpc_cloud.run_until_quiet()
    for stack in STACKS:
        assert "notes/enc-vpc-1.json" in keys(vpc_cloud, stack, "notes/")
        assert keys(vpc_cloud, stack, "failures/") == []
    assert sum(INVOCATIONS.errors.values()) == errors_before  # no call of any function went unanswered


@pytest.mark.parametrize("stack", STACKS)
def test_the_review_page_outside_the_vpc_asks_cognito_and_sends_a_lapsed_session_to_sign_in(vpc_cloud, stack):
    answer = vpc_cloud.review_page_request(stack, "/", LAPSED)
    assert answer["statusCode"] == 303, answer
    assert answer["headers"]["Location"].endswith("/login")


@pytest.mark.parametrize("stack", STACKS)
def test_the_review_page_in_the_pipelines_isolated_subnets_times_out_asking_cognito(vpc_cloud, stack):
    """Where the templates before the fix put it: Cognito (its managed login, a pool with a domain) has no VPC
    endpoint, and the subnets have no NAT."""
    lambda_ = vpc_cloud.client("lambda")
    with page_in_the_pipelines_subnets(vpc_cloud, stack):
        answer = vpc_cloud.review_page_request(stack, "/", LAPSED)
    timeout = lambda_.get_function_configuration(FunctionName=vpc_cloud.review_page_function(stack))["Timeout"]
    assert answer["errorType"] == "Sandbox.Timedout"
    assert answer["errorMessage"] == f"Task timed out after {timeout:.2f} seconds"


def test_a_nat_gateway_on_every_subnets_route_table_reaches_cognito(vpc_cloud):
    ec2 = vpc_cloud.client("ec2")
    with page_in_the_pipelines_subnets(vpc_cloud, CHOREOGRAPHY_STACK) as subnets:
        tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": subnets["SubnetIds"]}])
        assert len(tables["RouteTables"]) == len(subnets["SubnetIds"])
        address = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=subnets["SubnetIds"][0], AllocationId=address)["NatGateway"][
            "NatGatewayId"
        ]
        first, *others = tables["RouteTables"]
        try:
            ec2.create_route(RouteTableId=first["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
            vpc_cloud.network.forget()
            assert vpc_cloud.review_page_request(CHOREOGRAPHY_STACK, "/", LAPSED)["errorType"] == "Sandbox.Timedout"
            for table in others:  # one subnet without the route is enough for an invocation to be handed it
                ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
            vpc_cloud.network.forget()
            assert vpc_cloud.review_page_request(CHOREOGRAPHY_STACK, "/", LAPSED)["statusCode"] == 303
        finally:
            for table in tables["RouteTables"]:
                ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")


def test_without_the_transcribe_endpoint_an_upload_waits_in_its_dlq_and_the_alarms_page(vpc_cloud):
    """Last in this module: it removes an endpoint. Choreography starts jobs from a function in the VPC; the start
    goes unanswered on every delivery, so the upload's request ends in its DLQ, alarmed, and so do the watchdog's
    runs (it asks Transcribe too). Nothing is lost, and the people on call hear of it."""
    ec2 = vpc_cloud.client("ec2")
    endpoints = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "service-name", "Values": ["com.amazonaws.us-east-1.transcribe"]}]
    )["VpcEndpoints"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"] for e in endpoints])
    vpc_cloud.network.forget()
    upload(vpc_cloud, CHOREOGRAPHY_STACK, "audio/enc-vpc-2.wav", AUDIO)
    vpc_cloud.run_until_quiet()
    assert "notes/enc-vpc-2.json" not in keys(vpc_cloud, CHOREOGRAPHY_STACK, "notes/")
    sqs = vpc_cloud.client("sqs")
    dlq = vpc_cloud.outputs[CHOREOGRAPHY_STACK]["TranscriptionRequestsDlqUrl"]
    held = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert any("audio/enc-vpc-2.wav" in message["Body"] for message in held)
    alarms = vpc_cloud.client("cloudwatch").describe_alarms(StateValue="ALARM")["MetricAlarms"]
    in_alarm = {alarm["AlarmName"] for alarm in alarms if alarm["AlarmName"].startswith(CHOREOGRAPHY_STACK)}
    assert any("TranscriptionRequests" in name and "Dlq" in name for name in in_alarm), in_alarm
    assert any("Watchdog" in name for name in in_alarm), in_alarm

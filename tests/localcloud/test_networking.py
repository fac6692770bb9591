"""The network model of localcloud/networking.py on its own: moto's EC2 API and simulated time, no CDK."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError
from moto import mock_aws

from localcloud.lambda_runtime import FunctionTimedOut
from localcloud.networking import Network, _wait_unanswered
from localcloud.simulation import Simulation


@pytest.fixture
def network():
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
        tables = []
        for subnet in subnets:
            table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
            tables.append(table)
        function_group = ec2.create_security_group(GroupName="function", Description="f", VpcId=vpc)["GroupId"]
        endpoint_group = ec2.create_security_group(GroupName="endpoint", Description="e", VpcId=vpc)["GroupId"]
        yield ec2, vpc, subnets, tables, function_group, endpoint_group


def test_a_gateway_endpoint_serves_only_the_subnets_whose_route_table_it_is_on(network):
    ec2, vpc, subnets, tables, function_group, _ = network
    ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway", RouteTableIds=[tables[0]]
    )
    model = Network(lambda: ec2, "us-east-1")
    assert model.reach({"SubnetIds": subnets[:1], "SecurityGroupIds": [function_group]}).reaches("s3")
    assert not model.reach({"SubnetIds": subnets, "SecurityGroupIds": [function_group]}).reaches("s3")


def test_an_interface_endpoint_needs_private_dns_and_https_from_the_functions_group(network):
    ec2, vpc, subnets, _, function_group, endpoint_group = network
    function = {"SubnetIds": subnets, "SecurityGroupIds": [function_group]}
    ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.sqs",
        VpcEndpointType="Interface",
        SubnetIds=subnets,
        SecurityGroupIds=[endpoint_group],
        PrivateDnsEnabled=True,
    )
    assert not Network(lambda: ec2, "us-east-1").reach(function).reaches("sqs")  # the endpoint lets nobody in
    ec2.authorize_security_group_ingress(
        GroupId=endpoint_group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": function_group}]}
        ],
    )
    reach = Network(lambda: ec2, "us-east-1").reach(function)
    assert reach.reaches("sqs") and not reach.reaches("sns")


def _unanswered(function_timeout: float, connect_timeout: float, attempts: int) -> tuple[BaseException | None, float]:
    outcome = {}
    with Simulation() as simulation:

        def invocation():
            record = {"started": simulation.epoch(), "timeout": function_timeout}
            outcome["raised"] = _wait_unanswered(record, connect_timeout, attempts)
            outcome["took"] = simulation.epoch() - record["started"]

        simulation.spawn(invocation, "an invocation in a VPC")
        simulation.run_until()
    return outcome["raised"], outcome["took"]


def test_a_function_that_outlives_the_sdks_tries_sees_a_connect_timeout_it_can_handle():
    raised, took = _unanswered(function_timeout=900, connect_timeout=10, attempts=3)
    assert raised is None and took == pytest.approx(30)  # the caller raises ConnectTimeoutError, an Exception
    assert issubclass(ConnectTimeoutError, Exception)


def test_a_function_whose_timeout_comes_first_is_stopped_by_lambda_and_cannot_catch_it():
    raised, took = _unanswered(function_timeout=29, connect_timeout=60, attempts=5)
    assert isinstance(raised, FunctionTimedOut) and not isinstance(raised, Exception)
    assert str(raised) == "Task timed out after 29.00 seconds" and took == pytest.approx(29)

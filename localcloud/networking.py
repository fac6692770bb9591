"""Where a Lambda function attached to a VPC can send a request, and what happens when it cannot.

On AWS a function with a `VpcConfig` sends every request through an elastic network interface in one of its
subnets, and it gets no public address there: a service is reachable only through
- a gateway endpoint of that service (S3, DynamoDB) on the route table of the subnet,
- an interface endpoint of that service in the VPC with private DNS, whose security groups let HTTPS in from
  one of the function's security groups (and the function's groups let it out), or
- a default route (0.0.0.0/0) to a NAT gateway (an internet gateway alone does not do: no public address).
Anything else is silence: the connection attempt is never answered, the SDK waits its connect timeout on every
try, and a function whose timeout comes first is stopped by Lambda ("Task timed out", error type
Sandbox.Timedout), as a handler can neither see nor catch. A function may be handed any of its subnets, so a
service counts as reachable only when every subnet reaches it.

The local cloud reads the network as a person would (describe_* of EC2, from the deployed stacks) and checks
each SDK call and each plain HTTPS request (HealthLake's SigV4 PUT, Cognito's OAuth endpoints) an invocation
makes; the request that would go unanswered takes the simulated time it would, then fails as it would.
Not modelled: network ACLs, DNS resolution settings of the VPC, endpoint policies, and which services a
PrivateLink endpoint cannot serve (Cognito's managed login, a user pool with a domain: no VPC here has such an
endpoint).
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlsplit

from botocore.client import BaseClient
from botocore.exceptions import ConnectTimeoutError
from botocore.httpsession import URLLib3Session

from localcloud import moto_patches
from localcloud import simulation as simulation_module
from localcloud.lambda_runtime import FunctionTimedOut, current_invocation
from localcloud.operations import HARNESS

HTTPS = 443
LOCAL_HOSTS = ("localhost", "127.0.0.1")
# botocore's defaults when a client sets none: a 60 s connect timeout, and the legacy retry mode's 5 attempts.
DEFAULT_CONNECT_TIMEOUT = 60.0
DEFAULT_ATTEMPTS = {"legacy": 5, "standard": 3, "adaptive": 3}


@dataclass(frozen=True)
class Reach:
    """What one function's subnets can send requests to."""

    services: frozenset[str]  # endpoint prefixes (s3, sqs, bedrock-runtime, ...) served by the VPC's endpoints
    nat: bool  # every subnet has a default route to a NAT gateway

    def reaches(self, service: str) -> bool:
        return self.nat or service in self.services

    def why_not(self, service: str) -> str:
        return (
            f"its subnets have no route to {service}: no VPC endpoint of com.amazonaws.<region>.{service} "
            "they can use and no NAT gateway"
        )


class Network:
    """The VPCs of the deployed stacks, read with the local cloud's own EC2 client (`ec2()`); what each
    function configuration reaches is worked out once (`forget` after a deploy changes the network)."""

    def __init__(self, ec2: Callable[[], BaseClient], region: str) -> None:
        self._ec2 = ec2
        self.region = region
        self._reach: dict[tuple, Reach] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._reach.clear()

    def reach(self, vpc_config: dict) -> Reach:
        subnets = tuple(sorted(vpc_config.get("SubnetIds") or ()))
        groups = tuple(sorted(vpc_config.get("SecurityGroupIds") or ()))
        with self._lock:
            if (subnets, groups) not in self._reach:
                self._reach[subnets, groups] = self._work_out(subnets, groups)
            return self._reach[subnets, groups]

    def _work_out(self, subnet_ids: tuple[str, ...], group_ids: tuple[str, ...]) -> Reach:
        ec2 = self._ec2()
        subnets = ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
        vpc_ids = {subnet["VpcId"] for subnet in subnets}
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": sorted(vpc_ids)}])["RouteTables"]
        table_of = {subnet["SubnetId"]: _table_of(subnet, tables) for subnet in subnets}
        endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": sorted(vpc_ids)}])["VpcEndpoints"]
        groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
        prefix = f"com.amazonaws.{self.region}."
        reachable: set[str] = set()
        for endpoint in endpoints:
            if not endpoint["ServiceName"].startswith(prefix) or endpoint.get("State", "available") != "available":
                continue
            service = endpoint["ServiceName"].removeprefix(prefix)
            if endpoint["VpcEndpointType"] == "Gateway":
                served = set(endpoint.get("RouteTableIds") or ())
                if all(table_of[s] is not None and table_of[s]["RouteTableId"] in served for s in subnet_ids):
                    reachable.add(service)
            elif endpoint["VpcEndpointType"] == "Interface" and endpoint.get("PrivateDnsEnabled"):
                endpoint_groups = [groups[g["GroupId"]] for g in endpoint.get("Groups", []) if g["GroupId"] in groups]
                own = [groups[g] for g in group_ids if g in groups]
                if _https_allowed(own, endpoint_groups, {s["CidrBlock"] for s in subnets}):
                    reachable.add(service)
        nat = bool(subnet_ids) and all(_default_route_to_nat(table_of[s]) for s in subnet_ids)
        return Reach(frozenset(reachable), nat)


def _table_of(subnet: dict, tables: list[dict]) -> dict | None:
    """The subnet's route table: the one associated with it, else its VPC's main table."""
    main = None
    for table in tables:
        for association in table.get("Associations", []):
            if association.get("SubnetId") == subnet["SubnetId"]:
                return table
            if association.get("Main") and table["VpcId"] == subnet["VpcId"]:
                main = table
    return main


def _default_route_to_nat(table: dict | None) -> bool:
    return table is not None and any(
        route.get("DestinationCidrBlock") == "0.0.0.0/0" and route.get("NatGatewayId") for route in table["Routes"]
    )


def _allows(rules: list[dict], port: int, peers: set[str], cidrs: set[str]) -> bool:
    """Whether one of these security group rules lets TCP `port` through from/to one of the `peers` (group ids)
    or an address range holding one of `cidrs`."""
    for rule in rules:
        protocol = rule.get("IpProtocol")
        if protocol not in ("-1", "tcp", "6"):
            continue
        if protocol != "-1" and not rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535):
            continue
        if any(pair.get("GroupId") in peers for pair in rule.get("UserIdGroupPairs", [])):
            return True
        ranges = [ipaddress.ip_network(r["CidrIp"]) for r in rule.get("IpRanges", []) if "CidrIp" in r]
        if any(any(ipaddress.ip_network(c).subnet_of(r) for r in ranges) for c in cidrs):
            return True
    return False


def _https_allowed(own: list[dict], endpoint: list[dict], subnet_cidrs: set[str]) -> bool:
    own_ids, endpoint_ids = {g["GroupId"] for g in own}, {g["GroupId"] for g in endpoint}
    # The endpoint's addresses are in the subnets: a rule to 0.0.0.0/0 holds them too.
    out = any(_allows(g.get("IpPermissionsEgress", []), HTTPS, endpoint_ids, subnet_cidrs) for g in own)
    into = any(_allows(g.get("IpPermissions", []), HTTPS, own_ids, subnet_cidrs) for g in endpoint)
    return out and into


def service_of_host(host: str, region: str) -> str:
    """The endpoint prefix an HTTPS host belongs to (`healthlake.us-east-1.amazonaws.com`: healthlake); a host
    outside amazonaws.com (Cognito's managed login domain, anything on the internet) has no VPC endpoint."""
    suffix = f".{region}.amazonaws.com"
    return host.removesuffix(suffix) if host.endswith(suffix) else f"internet ({host})"


def _wait_unanswered(invocation: dict, connect_timeout: float, attempts: int) -> BaseException | None:
    """Spend the simulated time of `attempts` unanswered connection attempts, or the rest of the function's
    time if that ends first; returns the function's timeout as the exception to raise, or None if the SDK
    gives up first."""
    simulation = simulation_module.ACTIVE
    waited = connect_timeout * attempts
    started, timeout = invocation.get("started"), invocation.get("timeout")
    left = None
    if timeout is not None:
        now = simulation.epoch() if simulation is not None else None
        left = timeout - (now - started) if started is not None and now is not None else timeout
    if simulation is not None and simulation.current_actor() is not None:
        simulation.sleep(max(0.0, min(waited, left) if left is not None else waited))
    if left is not None and left <= waited:
        return FunctionTimedOut(f"Task timed out after {timeout:.2f} seconds")
    return None


def _attempts(client: BaseClient) -> int:
    retries = client.meta.config.retries or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) + 1
    return DEFAULT_ATTEMPTS.get(retries.get("mode", "legacy"), 5)


@contextlib.contextmanager
def requests_follow_routes(network: Network) -> Iterator[None]:
    """Every SDK call and HTTPS request an invocation of a VPC-attached function makes goes only where its
    subnets reach; elsewhere it goes unanswered (module docstring)."""
    real_call, real_send = BaseClient._make_api_call, URLLib3Session.send

    def unreachable(service: str) -> str | None:
        invocation = current_invocation()
        vpc = invocation.get("vpc") if invocation is not None else None
        if not vpc or not vpc.get("SubnetIds"):
            return None
        reach = network.reach(vpc)
        return None if reach.reaches(service) else reach.why_not(service)

    def unanswered(url: str, why: str, connect_timeout: float | None, attempts: int) -> NoReturn:
        """The request's tries go unanswered: Lambda stops the function, or the SDK gives up."""
        timed_out = _wait_unanswered(current_invocation(), float(connect_timeout or DEFAULT_CONNECT_TIMEOUT), attempts)
        raise timed_out or ConnectTimeoutError(endpoint_url=f"{url} ({why})")

    def _make_api_call(client, operation_name, api_params):
        if not getattr(client, HARNESS, False):
            service = client.meta.service_model.endpoint_prefix
            if why := unreachable(service):
                url = f"https://{service}.{network.region}.amazonaws.com/"
                unanswered(url, why, client.meta.config.connect_timeout, _attempts(client))
        return real_call(client, operation_name, api_params)

    def send(session, request):
        host = urlsplit(request.url).hostname or ""
        if host in LOCAL_HOSTS:  # the local cloud's own endpoint, standing in for every service
            return real_send(session, request)
        if why := unreachable(service_of_host(host, network.region)):
            unanswered(f"https://{host}/", why, getattr(session._timeout, "connect_timeout", session._timeout), 1)
        return real_send(session, request)

    with (
        moto_patches.replace("botocore.client.BaseClient._make_api_call", _make_api_call),
        moto_patches.replace("botocore.httpsession.URLLib3Session.send", send),
    ):
        yield

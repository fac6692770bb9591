"""What moto's CloudFormation skips or does differently from AWS for these stacks.

- State machines: moto creates them in the plain Step Functions backend and ignores
  DefinitionSubstitutions; the interpreter reads the parser backend. The shim applies the
  substitutions and creates the machine where the interpreter runs it.
- After a stack is created, `complete_stack` applies what moto's CloudFormation skipped:
  the bucket's EventBridge notification configuration and the CloudWatch alarms, and
  `apply_resource_policies` the bucket, queue and topic policies; `saved_queries` keeps the saved
  Logs Insights queries (moto has no query definitions), each over log groups that exist. moto's warning that it skips
  those types is dropped (`applied_types_unannounced`); any other type it skips still warns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Iterator

from moto.cloudformation.models import CloudFormationBackend
from moto.stepfunctions.responses import get_backend

from localcloud import moto_patches

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
RESOURCE_POLICIES = ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy")
# The resource types moto's CloudFormation skips that the local cloud applies itself once a stack is created.
APPLIED_AFTER_CREATION = (*RESOURCE_POLICIES, "AWS::CloudWatch::Alarm", "AWS::Logs::QueryDefinition")
SKIPPED_LOG_MESSAGE = "No Moto CloudFormation support for %s"  # moto's log line for each type it skips


class _AppliedTypesUnlogged(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == SKIPPED_LOG_MESSAGE and record.args and record.args[0] in APPLIED_AFTER_CREATION)


_APPLIED_TYPES_UNLOGGED = _AppliedTypesUnlogged()


def applied_types_unannounced() -> None:
    """moto warns (and logs) that it skips each of APPLIED_AFTER_CREATION, which reads as if the policies went
    unenforced: the local cloud applies them itself (docs/access.md). Drops exactly those lines, process-wide
    (moto's server parses templates on its own thread; warning filters have no per-thread scope)."""
    for kind in APPLIED_AFTER_CREATION:
        warnings.filterwarnings(
            "ignore",
            re.escape(f"Tried to parse {kind} but it's not supported"),
            UserWarning,
            r"moto\.cloudformation\.parsing",
        )
    logging.getLogger("moto").addFilter(_APPLIED_TYPES_UNLOGGED)


def apply_substitutions(definition: str, substitutions: dict) -> str:
    return PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), definition)


@contextlib.contextmanager
def state_machines_in_the_interpreter() -> Iterator[None]:
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        definition = apply_substitutions(
            properties.get("DefinitionString", ""), properties.get("DefinitionSubstitutions") or {}
        )
        return get_backend(account_id, region_name).create_state_machine(
            properties.get("StateMachineName", resource_name),
            definition,
            properties.get("RoleArn", ""),
            tags=[],
        )

    with moto_patches.replace(
        "moto.stepfunctions.models.StateMachine.create_from_cloudformation_json",
        classmethod(create_from_cloudformation_json),
    ):
        yield


@contextlib.contextmanager
def outputs_after_change_sets() -> Iterator[None]:
    """`cdk deploy` creates stacks through change sets; moto 5.2.5 then leaves the stack's Outputs
    empty (it parsed them from the empty template the stack was created with). Rebuild them once
    the change set ran."""
    real_execute = CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):
        real_execute(self, change_set_name, stack_name)
        for change_set in self.change_sets.values():
            if change_set_name in (change_set.change_set_id, change_set.change_set_name):
                stack = self.stacks[change_set.stack_id]
                stack._parse_template()  # the change set set stack.template but left template_dict empty
                stack.output_map = stack._create_output_map()

    with moto_patches.replace(
        "moto.cloudformation.models.CloudFormationBackend.execute_change_set", execute_change_set
    ):
        yield


@contextlib.contextmanager
def change_sets_create_in_dependency_order() -> Iterator[None]:
    """A change set that creates a stack (what `cdk deploy` makes) adds its resources in template order in moto
    5.2.5, ignoring DependsOn, which moto's CreateStack honours: the review page's API Gateway deployment came
    before the methods it depends on ("The REST API doesn't contain any methods"). Add them with every DependsOn
    first, as CloudFormation does."""
    from moto.cloudformation.parsing import ResourceMap

    real = ResourceMap.build_resource_diff

    def build_resource_diff(self, other_template, parameters=None):
        diff = real(self, other_template, parameters)
        resources, ordered, seen = other_template["Resources"], [], set()

        def add(name: str) -> None:
            if name in seen or name not in diff["Add"]:
                return
            seen.add(name)
            depends = resources[name].get("DependsOn", [])
            for dependency in [depends] if isinstance(depends, str) else depends:
                add(dependency)
            ordered.append(name)

        for name in diff["Add"]:
            add(name)
        return {**diff, "Add": ordered}

    with moto_patches.replace("moto.cloudformation.parsing.ResourceMap.build_resource_diff", build_resource_diff):
        yield


class StackResources:
    """Resolves template references to the physical resources of a created stack."""

    def __init__(self, cloudformation, stack_name: str) -> None:
        summaries = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        self.physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
        self.types = {r["LogicalResourceId"]: r["ResourceType"] for r in summaries}

    def resolve(self, value):
        if isinstance(value, str | int | float):
            return value
        if "Ref" in value:
            return self.physical[value["Ref"]]
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            physical = self.physical[logical_id]
            if attribute == "QueueName":
                return physical.rsplit("/", 1)[-1]
            if attribute == "Arn" and self.types[logical_id] == "AWS::SQS::Queue":
                return physical
            return physical
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self.resolve(part)) for part in parts)
        raise ValueError(f"cannot resolve {value}")


def resolved_in_stack(stack_name: str, value, account: str, region: str):
    """A template value with its intrinsic functions resolved against the created stack (moto's own
    resolver: Ref, Fn::GetAtt, Fn::Join, pseudo parameters)."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json

    stack = cloudformation_backends[account][region].get_stack(stack_name)
    return clean_json(value, stack.resource_map)


def apply_resource_policies(clients, stack_name: str, template: dict, account: str, region: str) -> int:
    """Bucket, queue and topic policies, which moto's CloudFormation skips (a topic keeps SNS's default
    policy): without them the local cloud could not deny what they deny, nor allow what only they allow."""
    applied = 0
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind not in RESOURCE_POLICIES:
            continue
        policy = json.dumps(resolved_in_stack(stack_name, properties["PolicyDocument"], account, region))
        if kind == "AWS::S3::BucketPolicy":
            bucket = resolved_in_stack(stack_name, properties["Bucket"], account, region)
            clients("s3").put_bucket_policy(Bucket=bucket, Policy=policy)
        elif kind == "AWS::SQS::QueuePolicy":
            for queue in properties["Queues"]:
                url = resolved_in_stack(stack_name, queue, account, region)
                clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        else:
            for topic in properties["Topics"]:
                arn = resolved_in_stack(stack_name, topic, account, region)
                clients("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)
        applied += 1
    return applied


def complete_stack(cloudformation, s3, cloudwatch, stack_name: str, template: dict) -> dict[str, int]:
    """Apply the resources and properties moto's CloudFormation skipped; returns what was applied."""
    resources = StackResources(cloudformation, stack_name)
    applied = {"event_bridge_notifications": 0, "alarms": 0, "bucket_versioning": 0}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        versioning = properties.get("VersioningConfiguration", {}).get("Status")
        if resource["Type"] == "AWS::S3::Bucket" and versioning:
            # moto's CloudFormation ignores VersioningConfiguration (the note write relies on versions).
            s3.put_bucket_versioning(
                Bucket=resources.physical[logical_id], VersioningConfiguration={"Status": versioning}
            )
            applied["bucket_versioning"] += 1
        if resource["Type"] == "AWS::S3::Bucket" and properties.get("NotificationConfiguration", {}).get(
            "EventBridgeConfiguration", {}
        ).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=resources.physical[logical_id],
                NotificationConfiguration={"EventBridgeConfiguration": {}},
            )
            applied["event_bridge_notifications"] += 1
        elif resource["Type"] == "AWS::CloudWatch::Alarm":
            cloudwatch.put_metric_alarm(
                AlarmName=f"{stack_name}-{logical_id}",
                AlarmDescription=properties.get("AlarmDescription", ""),
                Namespace=properties["Namespace"],
                MetricName=properties["MetricName"],
                Dimensions=[
                    {"Name": d["Name"], "Value": str(resources.resolve(d["Value"]))}
                    for d in properties.get("Dimensions", [])
                ],
                Statistic=properties["Statistic"],
                Period=properties["Period"],
                EvaluationPeriods=properties["EvaluationPeriods"],
                Threshold=float(properties["Threshold"]),
                ComparisonOperator=properties["ComparisonOperator"],
                TreatMissingData=properties.get("TreatMissingData", "missing"),
                AlarmActions=[resources.resolve(a) for a in properties.get("AlarmActions", [])],
            )
            applied["alarms"] += 1
    return applied


def saved_queries(cloudformation, logs, stack_name: str, template: dict) -> dict[str, dict]:
    """The stack's saved Logs Insights queries by name, as DescribeQueryDefinitions gives them. A query over a
    log group the stack did not create is refused here, as CloudFormation refuses it."""
    resources = StackResources(cloudformation, stack_name)
    pages = logs.get_paginator("describe_log_groups").paginate()
    existing = {group["logGroupName"] for page in pages for group in page["logGroups"]}
    kept = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Logs::QueryDefinition":
            continue
        properties = resource["Properties"]
        groups = [str(resources.resolve(group)) for group in properties.get("LogGroupNames", [])]
        if missing := [group for group in groups if group not in existing]:
            raise ValueError(
                f"{stack_name}: saved query {properties['Name']} names log groups that do not exist: {missing}"
            )
        kept[properties["Name"]] = {
            "name": properties["Name"],
            "queryString": properties["QueryString"],
            "logGroupNames": groups,
        }
    return kept


@contextlib.contextmanager
def event_buses_referenced_by_name() -> Iterator[None]:
    """CloudFormation's Ref of an AWS::Events::EventBus is the bus's name. moto's EventBus has no
    physical_resource_id, so moto resolves the Ref to the bus object itself (and a function environment
    holding it cannot be serialized): give it one."""
    with moto_patches.add("moto.events.models.EventBus.physical_resource_id", property(lambda bus: bus.name)):
        yield


class _CognitoResource:
    """What a stack holds of a Cognito resource the shim below made: its physical id and attributes."""

    def __init__(self, physical_resource_id: str, attributes: dict[str, str] | None = None) -> None:
        self.physical_resource_id = physical_resource_id
        self.attributes = attributes or {}

    def get_cfn_attribute(self, name: str) -> str:
        return self.attributes[name]

    def is_created(self) -> bool:
        return True


def _cognito_model(resource_type: str, create):
    """A CloudFormation model of `resource_type` whose creation is `create(backend, properties, logical_id)`."""

    from moto.cognitoidp.models import cognitoidp_backends
    from moto.core.common_models import CloudFormationModel

    class Model(CloudFormationModel):
        @staticmethod
        def cloudformation_type() -> str:
            return resource_type

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Arn", "ProviderName", "ProviderURL", "UserPoolId")

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            backend = cognitoidp_backends[account_id][region_name]
            return create(backend, cloudformation_json.get("Properties", {}), resource_name)

    Model.__name__ = resource_type.replace("::", "")
    return Model


def _user_pool(backend, properties: dict, logical_id: str) -> _CognitoResource:
    pool = backend.create_user_pool(properties.get("UserPoolName", logical_id), properties)
    provider = f"cognito-idp.{backend.region_name}.amazonaws.com/{pool.id}"
    return _CognitoResource(pool.id, {"Arn": pool.arn, "ProviderName": provider, "ProviderURL": f"https://{provider}"})


def _user_pool_client(backend, properties: dict, logical_id: str) -> _CognitoResource:
    config = {"ClientName": logical_id, **{k: v for k, v in properties.items() if k != "UserPoolId"}}
    client = backend.create_user_pool_client(properties["UserPoolId"], bool(properties.get("GenerateSecret")), config)
    return _CognitoResource(client.id)


def _user_pool_domain(backend, properties: dict, _logical_id: str) -> _CognitoResource:
    backend.create_user_pool_domain(properties["UserPoolId"], properties["Domain"])
    return _CognitoResource(properties["Domain"])


def _user_pool_group(backend, properties: dict, _logical_id: str) -> _CognitoResource:
    backend.create_group(
        properties["UserPoolId"],
        properties["GroupName"],
        properties.get("Description", ""),
        properties.get("RoleArn"),
        properties.get("Precedence"),
    )
    return _CognitoResource(properties["GroupName"])


@contextlib.contextmanager
def cognito_user_pools() -> Iterator[None]:
    """moto's CloudFormation skips the review page's user pool, its app client, domain and group (moto's Cognito
    API has them all), so the page's function would start without its USER_POOL_ID: create them through that
    API, as CloudFormation would, with the ids their Refs resolve to."""
    from moto.cloudformation import parsing

    real = parsing.get_model_map
    models = {
        kind: _cognito_model(kind, create)
        for kind, create in (
            ("AWS::Cognito::UserPool", _user_pool),
            ("AWS::Cognito::UserPoolClient", _user_pool_client),
            ("AWS::Cognito::UserPoolDomain", _user_pool_domain),
            ("AWS::Cognito::UserPoolGroup", _user_pool_group),
        )
    }

    with moto_patches.replace("moto.cloudformation.parsing.get_model_map", lambda: {**real(), **models}):
        yield


@contextlib.contextmanager
def subnets_on_their_route_tables() -> Iterator[None]:
    """An AWS::EC2::SubnetRouteTableAssociation puts the subnet on that route table. moto's CloudFormation keeps
    it in a list of its own, so DescribeRouteTables shows the table with no subnet (and the subnet on its VPC's
    main table): associate them as AssociateRouteTable does, which is what the network model reads
    (localcloud.networking)."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.subnets import SubnetRouteTableAssociation

    real = SubnetRouteTableAssociation.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        association = real(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        ec2_backends[account_id][region_name].associate_route_table(
            association.route_table_id, subnet_id=association.subnet_id
        )
        return association

    with moto_patches.replace(
        "moto.ec2.models.subnets.SubnetRouteTableAssociation.create_from_cloudformation_json",
        classmethod(create_from_cloudformation_json),
    ):
        yield


@contextlib.contextmanager
def names_from_logical_ids() -> Iterator[None]:
    """moto suffixes generated physical names (bucket names among them) at random; derive the suffix
    from the stack and logical id instead, so every deployment of a template names its resources alike
    (CloudFormation's own suffix is random too: nothing may depend on it)."""
    import contextvars
    import random
    import string

    from moto.cloudformation import parsing

    real_name, real_suffix = parsing.generate_resource_name, parsing.random_suffix
    alphabet = string.digits + string.ascii_uppercase
    naming: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar("resource_naming", default=None)

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        token = naming.set(random.Random(f"{stack_name}/{logical_id}"))  # noqa: S311 (a name, not a secret)
        try:
            return real_name(resource_type, stack_name, logical_id)
        finally:
            naming.reset(token)

    def random_suffix(*args, **kwargs) -> str:
        draw = naming.get()
        return "".join(draw.choice(alphabet) for _ in range(12)) if draw else real_suffix(*args, **kwargs)

    with (
        moto_patches.replace("moto.cloudformation.parsing.generate_resource_name", generate_resource_name),
        moto_patches.replace("moto.cloudformation.parsing.random_suffix", random_suffix),
    ):
        yield


class _JsonFirstYaml:
    """PyYAML, except that `load` reads a JSON document as JSON (the same dict, some 50 times faster)."""

    def __getattr__(self, name):
        import yaml

        return getattr(yaml, name)

    @staticmethod
    def load(stream, Loader):
        import yaml

        if isinstance(stream, str) and stream.lstrip().startswith("{"):
            try:
                return json.loads(stream)
            except ValueError:
                pass
        return yaml.load(stream, Loader=Loader)  # noqa: S506 (what moto asks for)


@contextlib.contextmanager
def templates_read_as_json() -> Iterator[None]:
    """moto's CloudFormation reads every template with the pure-Python YAML loader, trying JSON only when
    that fails: a quarter of a deployment's time went on parsing the synthesized (JSON) templates. A JSON
    template is read as JSON (the same dict); anything else still goes to YAML."""
    reader = _JsonFirstYaml()
    with (
        moto_patches.replace("moto.cloudformation.models.yaml", reader),
        moto_patches.replace("moto.cloudformation.responses.yaml", reader),
    ):
        yield

"""A pipeline Lambda with this project's defaults: its own role and encrypted log group, Powertools, X-Ray, alarms."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.constructs.foundation import PipelineFoundation

LAMBDA_SOURCE = str(Path(__file__).resolve().parents[2] / "lambdas")
METRICS_NAMESPACE = "ClinicalScribe"


def powertools_layer_arn(version: int) -> str:
    """The AWS-managed Powertools layer of this stack's partition and region."""
    return f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:{version}"


class PipelineFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        foundation: PipelineFoundation,
        handler: str,
        description: str,
        environment: dict[str, str],
        timeout: Duration,
        memory_size: int,
        reserved_concurrency: int,
        async_failure_queue: sqs.IQueue | None = None,
        outside_vpc_because: str | None = None,
    ) -> None:
        """`outside_vpc_because`: why this function stays out of the deploy_in_vpc VPC (a service it calls
        has no VPC endpoint, and the isolated subnets have no NAT)."""
        super().__init__(scope, construct_id)
        config = foundation.config
        vpc = None if outside_vpc_because else foundation.vpc
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.log_group = foundation.log_group(self, "Logs")
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=lambda_.Code.from_asset(LAMBDA_SOURCE, exclude=["**/__pycache__", "**/*.pyc"]),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "Powertools", powertools_layer_arn(config.powertools_layer_version)
                )
            ],
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout,
            memory_size=memory_size,
            # Reserved only when the reserve_concurrency context value opts in (see PipelineConfig).
            reserved_concurrent_executions=reserved_concurrency if config.reserve_concurrency else None,
            environment={
                "POWERTOOLS_SERVICE_NAME": Stack.of(self).stack_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                # A traced method's result is note or transcript text: never trace metadata (the decorators say so too).
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                **environment,
            },
            environment_encryption=foundation.key,
            dead_letter_queue=async_failure_queue,
            vpc=vpc,
            security_groups=foundation.function_security_groups if vpc else None,
        )
        self.log_group.grant_write(self.role)
        if not config.reserve_concurrency:
            unreserved = (
                "Reserved concurrency is opt-in (reserve_concurrency context value): Lambda refuses a reservation "
                "that leaves the account fewer than 100 unreserved executions, and new accounts may have fewer "
                "in total, so reserving by default could fail the first deploy."
            )
            acknowledge(self.function, "HIPAA.Security-LambdaConcurrency", unreserved)
            skip_checkov(self.function, "CKV_AWS_115", unreserved)
        acknowledge(
            self.role,
            "HIPAA.Security-IAMNoInlinePolicy",
            "Each function has a role of its own; its permissions are that one role's policy, built from "
            "resource-scoped grants. A managed policy would be reused by nothing.",
        )
        foundation.key.grant_decrypt(self.role)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
        )
        if foundation.vpc is not None and vpc is None:
            skip_checkov(self.function, "CKV_AWS_117", outside_vpc_because)
            acknowledge(self.function, "HIPAA.Security-LambdaInsideVPC", outside_vpc_because)
        elif vpc is None:
            skip_checkov(
                self.function,
                "CKV_AWS_117",
                "Off by default (AWS APIs only, TLS + IAM); the deploy_in_vpc context value puts it in private subnets with VPC endpoints.",
            )
            acknowledge(
                self.function,
                "HIPAA.Security-LambdaInsideVPC",
                "The function reaches only AWS APIs over TLS with IAM auth; set the deploy_in_vpc context "
                "value to run it in private subnets with VPC endpoints (interface endpoints bill hourly).",
            )
        else:
            acknowledge(
                self.role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
                "The AWS-managed VPC access policy is what Lambda needs to manage its ENIs.",
            )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.12 is pinned to match the AWS-managed Powertools layer build (python312) the code is tested with.",
        )
        acknowledge(
            self.function,
            "Serverless-LambdaLatestVersion",
            "Python 3.12 is pinned to match the AWS-managed Powertools layer build (python312) the code is tested with.",
        )
        for metric_name, what in (("Errors", "crashed (unhandled error or timeout)"), ("Throttles", "was throttled")):
            foundation.alarm(
                self,
                f"{metric_name}Alarm",
                metric=cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name=metric_name,
                    dimensions_map={"FunctionName": self.function.function_name},
                    statistic="Sum",
                    period=Duration.minutes(1),
                ),
                threshold=0,
                description=f"{construct_id} {what}",
            )

    def invoked_synchronously(self, reason: str) -> None:
        """Say why the function needs no dead-letter queue of its own: its caller (an SQS event source, the
        state machine, API Gateway) waits for it and deals with its failure, so nothing is left to redrive."""
        skip_checkov(self.function, "CKV_AWS_116", reason)
        for rule in ("HIPAA.Security-LambdaDLQ", "Serverless-LambdaDLQ"):
            acknowledge(self.function, rule, reason)

    def allow(self, actions: list[str], resources: list[str], conditions: dict | None = None) -> None:
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
        )

"""What every variant stands on: its KMS key, encounter bucket, access-log bucket and alarm topic."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from clinical.prefixes import AUDIO_PREFIX, DATA_PREFIXES, SIGNED_NOTE_PREFIXES
from stacks.compliance import acknowledge, skip_checkov
from stacks.config import LOG_RETENTION_DAYS, PipelineConfig


class PipelineFoundation(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = kms.Key(
            self,
            "Key",
            description=f"{Stack.of(self).stack_name}: encounter audio, transcripts, notes, queues, logs",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._let_services_use_key()
        self.log_retention = getattr(logs.RetentionDays, LOG_RETENTION_DAYS[config.log_retention_days])
        self.access_logs = self._access_log_bucket()
        self.bucket = self._encounter_bucket()
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="Clinical scribe pipeline alarms", master_key=self.key, enforce_ssl=True
        )
        # A topic policy replaces SNS's default one: without this statement CloudWatch may not publish, and
        # every alarm would go to ALARM and notify nobody ("not authorized to perform: SNS:Publish").
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccountPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
                    },
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        self.vpc = self._vpc() if config.deploy_in_vpc else None
        self.function_security_groups = [self._function_security_group] if self.vpc else None

    def _let_services_use_key(self) -> None:
        region, account, partition = Aws.REGION, Aws.ACCOUNT_ID, Aws.PARTITION
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptThisStacksLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:*"
                    }
                },
            )
        )
        # CloudWatch publishing an alarm to the KMS-encrypted topic: the SNS guide's statement for AWS service
        # event sources and encrypted topics, with its source conditions (this account's alarms), as the
        # topic policy has them. Naming the topic (kms:EncryptionContext:aws:sns:topicArn) would make the key
        # and the topic it encrypts depend on each other.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:*"},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            )
        )
        # EventBridge delivering to the KMS-encrypted work queues and DLQs: the EventBridge guide's statement
        # (events.amazonaws.com, kms:Decrypt + kms:GenerateDataKey). Its KMS requests for a target are
        # reported to carry neither aws:SourceAccount nor aws:SourceArn, so it is narrowed by the encryption
        # context SQS binds to every message's data key (aws:sqs:arn): this account's queues in this region.
        # Which rule may send is narrowed where it is evaluated first: every queue policy allows
        # events.amazonaws.com only with aws:SourceArn = its rule (QueueTarget).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeliversToEncryptedQueues",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={
                    "ArnLike": {"kms:EncryptionContext:aws:sqs:arn": f"arn:{partition}:sqs:{region}:{account}:*"}
                },
            )
        )

    def let_sns_redrive_to_encrypted_queues(self) -> None:
        """SNS moving a message it could not deliver to a subscription's KMS-encrypted dead-letter queue: SNS
        Developer Guide, "Amazon SNS dead-letter queues" (an encrypted DLQ's key lets sns.amazonaws.com
        kms:Decrypt and kms:GenerateDataKey). Conditioned on this account's topics: the topic is encrypted with
        this key, so naming its ARN here would make the key and the topic depend on each other."""
        region, account, partition = Aws.REGION, Aws.ACCOUNT_ID, Aws.PARTITION
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmNotificationsToTheirDeadLetterQueue",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:sns:{region}:{account}:*"},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            )
        )

    def _lifecycle(self, prefixes: tuple[str, ...]) -> list[s3.LifecycleRule]:
        """The draft, its inputs and the access logs expire after retention_days (old versions after 30);
        signed notes and their exports after signed_retention_days, every version as long, else never."""
        rules = []
        for prefix in prefixes:
            days, old_version_days = self.config.retention_days, 30
            if prefix in SIGNED_NOTE_PREFIXES:
                days = old_version_days = self.config.signed_retention_days
            rules.append(
                s3.LifecycleRule(
                    id=f"{'expire' if days else 'keep'}-{prefix.strip('/') or 'all'}",
                    prefix=prefix,
                    expiration=Duration.days(days) if days else None,
                    noncurrent_version_expiration=Duration.days(old_version_days) if old_version_days else None,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            )
        return rules

    def _access_log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=self._lifecycle(("",)),
            removal_policy=RemovalPolicy.RETAIN,
        )
        loops = "This is the server access log target; logging it into itself would loop."
        skip_checkov(bucket, "CKV_AWS_18", loops)
        acknowledge(bucket, "AwsSolutions-S1", loops)
        acknowledge(
            bucket,
            "HIPAA.Security-S3BucketLoggingEnabled",
            "This is the server access log target; logging it into itself would loop.",
        )
        acknowledge(
            bucket,
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "S3 server access logging delivers only to buckets encrypted with SSE-S3, not SSE-KMS.",
        )
        acknowledge(
            bucket,
            "HIPAA.Security-S3BucketReplicationEnabled",
            "Access logs hold request metadata, not PHI; replicating them is not worth a second region.",
        )
        return bucket

    def _encounter_bucket(self) -> s3.Bucket:
        config = self.config
        replication = None
        if config.replication_destination_bucket_arn:
            replication = [
                s3.ReplicationRule(
                    destination=s3.Bucket.from_bucket_arn(
                        self, "ReplicaBucket", config.replication_destination_bucket_arn
                    ),
                    kms_key=kms.Key.from_key_arn(self, "ReplicaKey", config.replication_destination_kms_key_arn),
                    sse_kms_encrypted_objects=True,
                    priority=1,
                    delete_marker_replication=True,
                )
            ]
        bucket = s3.Bucket(
            self,
            "Encounters",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="encounters/",
            lifecycle_rules=self._lifecycle(DATA_PREFIXES),
            replication_rules=replication,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Uploads are immutable facts: audio is written only if no object has its key yet (S3 conditional
        # writes, If-None-Match: *; the bucket-policy key s3:if-none-match, S3 User Guide "Enforce conditional
        # writes"). A re-recording goes under a new encounter id; nothing replaces audio whose note exists.
        # s3:ObjectCreationOperation is false for CreateMultipartUpload, UploadPart and UploadPartCopy, which
        # take no conditional header: the guide exempts them, and CompleteMultipartUpload needs If-None-Match.
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AudioIsWrittenOnce",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{AUDIO_PREFIX}*")],
                conditions={"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
            )
        )
        # S3 -> EventBridge natively, not via event_bridge_enabled (a custom-resource Lambda).
        bucket.node.default_child.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        if replication:
            bucket_id = Stack.of(self).get_logical_id(bucket.node.default_child)
            reason = "CDK's replication role for this bucket: it reads every object version of this bucket and writes them to the configured replica bucket with the replica key."
            for finding in (
                f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/*]",
                f"AwsSolutions-IAM5[Resource::{config.replication_destination_bucket_arn}/*]",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                "HIPAA.Security-IAMNoInlinePolicy",
            ):
                acknowledge(bucket, finding, reason)
        else:
            acknowledge(
                bucket,
                "HIPAA.Security-S3BucketReplicationEnabled",
                "Cross-region replication is opt-in: set the replication_destination_bucket_arn and "
                "replication_destination_kms_key_arn context values to enable it.",
            )
        return bucket

    def _vpc(self) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
        )
        acknowledge(
            vpc,
            "HIPAA.Security-VPCDefaultSecurityGroupClosed",
            "Nothing is placed in the default security group (functions and endpoints have their own); closing "
            "it would take CDK's custom-resource Lambda.",
        )
        flow_log_role = iam.Role(self, "FlowLogRole", assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com"))
        vpc.add_flow_log(
            "FlowLogs",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(self, "FlowLogGroup", encryption_key=self.key, retention=self.log_retention),
                flow_log_role,
            ),
        )
        acknowledge(
            flow_log_role,
            "HIPAA.Security-IAMNoInlinePolicy",
            "The flow-log role's only policy is CDK's grant to write to its one log group.",
        )
        # Functions reach the interface endpoints by security group, not by CIDR. Their outbound traffic
        # is open because private isolated subnets have no route anywhere but the VPC endpoints.
        self._function_security_group = ec2.SecurityGroup(
            self, "FunctionSecurityGroup", vpc=vpc, description="Pipeline Lambdas", allow_all_outbound=True
        )
        endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup", vpc=vpc, description="VPC interface endpoints", allow_all_outbound=False
        )
        endpoint_security_group.add_ingress_rule(
            self._function_security_group, ec2.Port.tcp(443), "HTTPS from the pipeline Lambdas"
        )
        vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        for name, service in {
            "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
            "Transcribe": ec2.InterfaceVpcEndpointAwsService.TRANSCRIBE,
            "BedrockRuntime": ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
            "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
            "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
            "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
            "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
            "Events": ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
            "StepFunctions": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
            # The FHIR export's endpoint, when one is configured.
            **({"HealthLake": ec2.InterfaceVpcEndpointAwsService.HEALTHLAKE} if self.config.fhir_endpoint else {}),
        }.items():
            vpc.add_interface_endpoint(
                name, service=service, private_dns_enabled=True, security_groups=[endpoint_security_group], open=False
            )
        return vpc

    def log_group(self, scope: Construct, construct_id: str, name: str | None = None) -> logs.LogGroup:
        """A log group of the pipeline's: encrypted with the stack's key, kept for log_retention_days, and
        retained when the stack is deleted (logs of PHI processing are records)."""
        return logs.LogGroup(
            scope,
            construct_id,
            log_group_name=name,
            encryption_key=self.key,
            retention=self.log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def only_these_write(self, prefix: str, roles: list[iam.IRole]) -> None:
        """No principal but these roles writes under `prefix` (operators and other functions included): a
        transcript is written only by Transcribe with the caller's access, a note only by the note writer."""
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"OnlyThePipelineWrites{prefix.strip('/').title()}",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{prefix}*")],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": [role.role_arn for role in roles]}},
            )
        )

    def alarm(
        self,
        scope: Construct,
        construct_id: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        """Every alarm of the stack goes through here, so every alarm notifies the topic."""
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm

"""What both variant stacks share: foundation, function environment, S3 event routing, failure alarm, outputs."""

from __future__ import annotations

import json

from aws_cdk import Aws, CfnOutput, CfnRule, CfnRuleAssertion, Duration, Fn, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from clinical.event_names import NOTE_SIGNED
from clinical.event_names import SOURCE as DOMAIN_EVENT_SOURCE
from stacks.compliance import acknowledge
from stacks.config import PipelineConfig
from stacks.constructs.console import Console, domain_metric
from stacks.constructs.foundation import PipelineFoundation
from stacks.constructs.pipeline_function import PipelineFunction
from stacks.constructs.review_page import ReviewPage
from stacks.constructs.state_table import state_table
from stacks.constructs.work_queue import QueueTarget, WorkQueue, allow_events_from, dead_letter_queue
from stacks.permissions import Permissions


class PipelineStack(Stack):
    variant: str

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self._require_a_region_the_pipeline_works_in()
        self.foundation = PipelineFoundation(self, "Foundation", config=config)
        self.bucket = self.foundation.bucket
        self.permissions = Permissions(self, self.bucket, self.foundation.key)
        # Where EventBridge puts events it could not deliver, and failed async invocations.
        self.undelivered = dead_letter_queue(self, "EventDeliveryDlq", self.foundation)
        self._notify_alarm_email()
        # The domain events (clinical.domain_events) on the deployment's own bus, encrypted with its key; an
        # event the bus cannot encrypt or decrypt goes to the bus's DLQ, which has an alarm like every DLQ.
        undecryptable = dead_letter_queue(self, "DomainEventsDlq", self.foundation)
        # The L1 bus, its key statements below.
        bus_name = f"{self.stack_name}-domain"
        bus = events.CfnEventBus(
            self,
            "DomainEvents",
            name=bus_name,
            kms_key_identifier=self.foundation.key.key_arn,
            dead_letter_config=events.CfnEventBus.DeadLetterConfigProperty(arn=undecryptable.queue_arn),
        )
        self.domain_event_bus_name, self.domain_event_bus_arn = bus.ref, bus.attr_arn
        self._domain_bus: events.IEventBus | None = None
        # EventBridge encrypting the bus's events: the EventBridge guide ("Authorizing EventBridge to use a
        # customer managed key") conditions it on the bus, with aws:SourceArn, aws:SourceAccount and the bus's
        # encryption context. The ARN is built from the bus's name: a Ref would make key and bus depend on
        # each other.
        bus_arn = f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/{bus_name}"
        self.foundation.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeEncryptsTheDomainEventBus",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": Aws.ACCOUNT_ID,
                        "aws:SourceArn": bus_arn,
                        "kms:EncryptionContext:aws:events:event-bus:arn": bus_arn,
                    }
                },
            )
        )
        # DescribeKey (EventBridge checks the key is symmetric when the bus is created) reveals no data and
        # carries no encryption context; the guide's conditioned example covers the data-key calls only.
        self.foundation.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeChecksTheDomainEventBusKey",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:DescribeKey"],
                resources=["*"],
            )
        )
        allow_events_from(undecryptable, "DomainEventBusDeadLetters", self.domain_event_bus_arn)
        self.permissions.domain_event_bus_arn = self.domain_event_bus_arn
        # The line for Transcribe Medical's slots (clinical.waiting_line, decision 0018), both variants.
        self.transcription_line = state_table(
            self,
            "TranscriptionLine",
            foundation=self.foundation,
            partition_key="line",
            sort_key="place",
            holds="Holds only the encounters waiting for a Transcribe slot and the jobs whose end woke one (ids, "
            "times, a queued S3 event or a task token), each expiring within 2 days",
        )
        self.function_environment = {
            "PIPELINE_VARIANT": self.variant,
            "TRANSCRIPTION_JOB_PREFIX": self.stack_name,
            "KMS_KEY_ARN": self.foundation.key.key_arn,
            "MEDICAL_SPECIALTY": config.medical_specialty,
            "MEDICAL_TYPE": config.medical_type,
            "TRANSCRIPTION_SETTINGS": json.dumps(config.transcription_settings),
            "BEDROCK_MODEL_ID": config.bedrock_model_id,
            "MAX_RECEIVE_COUNT": str(config.max_receive_count),
            "STALLED_JOB_MINUTES": str(config.stalled_job_minutes),
            "UPLOAD_GRACE_MINUTES": str(config.upload_grace_minutes),
            "UPLOAD_WINDOW_HOURS": str(config.upload_window_hours),
            "QUOTA_WAIT_MINUTES": str(config.quota_wait_minutes),
            "REVIEW_WINDOW_HOURS": str(config.review_window_hours),
            "REVIEW_REMINDER_HOURS": str(config.review_reminder_hours),
            "ENCOUNTER_BUCKET": self.bucket.bucket_name,
            "TRANSCRIPTION_LINE_TABLE": self.transcription_line.table_name,
            "DOMAIN_EVENT_BUS": self.domain_event_bus_name,
            # Retries, backoff and timeouts (clinical.policy), as the state machine's Retry entries have them.
            "PIPELINE_POLICY": config.policy.to_json(),
        }

    def _notify_alarm_email(self) -> None:
        """alarm_email subscribes to the alarm topic; a notification SNS could not deliver there (a full or
        bouncing mailbox) is kept in the subscription's dead-letter queue, alarmed like every DLQ."""
        if not self.config.alarm_email:
            return
        undelivered = dead_letter_queue(self, "AlarmEmailDlq", self.foundation)
        self.foundation.let_sns_redrive_to_encrypted_queues()
        self.foundation.topic.add_subscription(
            subscriptions.EmailSubscription(self.config.alarm_email, dead_letter_queue=undelivered)
        )

    def _require_a_region_the_pipeline_works_in(self) -> None:
        """Batch Transcribe Medical is offered in a few Regions, and a geographic inference profile answers only
        calls from its own geography's: refuse any other Region at synth when the stack's Region is known, else
        with a template rule that stops `cdk deploy` before anything is created."""
        if not Token.is_unresolved(self.region):
            self.config.check_region(self.region)
            return
        regions = self.config.deploy_regions
        CfnRule(
            self,
            "DeployRegion",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_contains(list(regions), Aws.REGION),
                    assert_description=(
                        f"This pipeline can be deployed only to {', '.join(regions)}: the regions that offer "
                        f"Transcribe Medical batch transcription and can call bedrock_model_id "
                        f"{self.config.bedrock_model_id}."
                    ),
                )
            ],
        )

    def function(self, construct_id: str, **kwargs) -> PipelineFunction:
        environment = {**self.function_environment, **kwargs.pop("environment", {})}
        return PipelineFunction(self, construct_id, foundation=self.foundation, environment=environment, **kwargs)

    def route_objects(self, construct_id: str, prefix: str, work: WorkQueue) -> events.Rule:
        """S3 "Object Created" under prefix -> EventBridge -> the work queue (undeliverable: the DLQ)."""
        return events.Rule(
            self,
            construct_id,
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [self.bucket.bucket_name]}, "object": {"key": [{"prefix": prefix}]}},
            ),
            targets=[QueueTarget(work.queue, dead_letter_queue=self.undelivered, retry_attempts=10)],
        )

    def run_on_schedule(self, construct_id: str, sweep: PipelineFunction) -> events.Rule:
        """A scheduled sweep, every watchdog_interval_minutes (undeliverable or failed runs: the DLQ)."""
        acknowledge(
            sweep.function,
            "Serverless-LambdaAsyncFailureDestination",
            "Async failures go to the function's dead-letter queue (EventDeliveryDlq), which has an alarm.",
        )
        return events.Rule(
            self,
            construct_id,
            schedule=events.Schedule.rate(Duration.minutes(self.config.watchdog_interval_minutes)),
            targets=[targets.LambdaFunction(sweep.function, dead_letter_queue=self.undelivered, retry_attempts=2)],
        )

    def export_signed_notes(self) -> PipelineFunction:
        """NoteSigned on the domain bus -> the FHIR exports queue -> the signed note's DocumentReference under
        exports/fhir/: a consumer at the edge, the same in both variants (its DLQ alarmed like every hop)."""
        exporter = self.function(
            "FhirExport",
            handler="edges.fhir_export.handler",
            description="Writes each signed note as a FHIR R4 DocumentReference under exports/fhir/",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=5,
        )
        exports = WorkQueue(self, "FhirExports", foundation=self.foundation, consumer=exporter)
        self.route_domain_event("NoteSignedToFhirExport", NOTE_SIGNED, exports)
        self.permissions.fhir_exporter(exporter)
        if datastore := self.config.fhir_datastore:
            region, datastore_id = datastore
            exporter.function.add_environment("FHIR_ENDPOINT", self.config.fhir_endpoint or "")
            exporter.function.add_environment("FHIR_ENDPOINT_REGION", region)
            self.permissions.fhir_sender(exporter, region, datastore_id)
        return exporter

    def serve_review_page(self, state_machine_name: str | None = None) -> ReviewPage | None:
        """The clinician's review page on AWS, when cdk.json's review_page asks for it (stacks.constructs.review_page)."""
        if not self.config.review_page:
            return None
        page = self.function(
            "ReviewPageFunction",
            handler="edges.review_page.handler",
            description="The clinician's review page, for the clinicians of this stack's Cognito user pool",
            timeout=Duration.seconds(29),  # API Gateway's integration timeout
            memory_size=512,
            reserved_concurrency=5,
            outside_vpc_because=(
                "It signs clinicians in at the user pool's domain (managed login's token endpoint) and checks each "
                "session with Cognito; managed login and a pool with a domain are not reachable through PrivateLink "
                "and the VPC's isolated subnets have no NAT, so in the VPC no one could sign in. It serves pages "
                "behind API Gateway and calls AWS APIs over TLS with IAM auth."
            ),
        )
        served = ReviewPage(self, "ReviewPage", foundation=self.foundation, page=page)
        self.permissions.page_reviewer(page, state_machine_name)
        CfnOutput(self, "ReviewPageUrl", value=served.url, description="The review page: sign in at <url>login")
        CfnOutput(self, "ReviewUserPoolId", value=served.user_pool.user_pool_id,
                  description="Add clinicians here (admin-created users, in the clinicians group)")  # fmt: skip
        return served

    def route_domain_event(self, construct_id: str, detail_type: str, work: WorkQueue) -> events.Rule:
        """A domain event on the deployment's bus -> the work queue (undeliverable: the DLQ)."""
        if self._domain_bus is None:
            self._domain_bus = events.EventBus.from_event_bus_arn(self, "DomainEventBus", self.domain_event_bus_arn)
        return events.Rule(
            self,
            construct_id,
            event_bus=self._domain_bus,
            event_pattern=events.EventPattern(source=[DOMAIN_EVENT_SOURCE], detail_type=[detail_type]),
            targets=[QueueTarget(work.queue, dead_letter_queue=self.undelivered, retry_attempts=10)],
        )

    def alarm_on_encounter_failures(self) -> None:
        """An alarm on each of the domain's own count metrics (any one in five minutes): a failure record, an
        object set aside (quarantined), a note that needs a closer review, and a review that expired."""
        for metric_name, description in (
            ("EncounterFailures", "An encounter ended with a failure record instead of a note"),
            (
                "QuarantinedObjects",
                "An object the pipeline did not make was found under transcripts/ or reviews/ and set aside",
            ),
            (
                "NotesNeedingReview",
                "A note was written with a statement its transcript does not support, or with uncertain speakers",
            ),
            ("ReviewsExpired", "A draft note's review window ended with nobody signing it or sending it back"),
        ):
            self.foundation.alarm(
                self,
                f"{metric_name}Alarm",
                metric=domain_metric(self, metric_name, period=Duration.minutes(5)),
                threshold=0,
                description=description,
            )

    def add_console(
        self,
        *,
        started: list[cloudwatch.IMetric],
        transcription: cloudwatch.IWidget,
        review_backlog: cloudwatch.IWidget,
        extra_rows: list[cloudwatch.IWidget] | None = None,
        log_groups: list[logs.ILogGroup] | None = None,
    ) -> Console:
        """The stack's dashboard and saved query of one encounter's logs (stacks.constructs.console), over every
        pipeline function's log group and the given others. Made last: its graphs show every queue of the stack."""
        functions = [node for node in self.node.find_all() if isinstance(node, PipelineFunction)]
        self.console = Console(
            self,
            "Console",
            started=started,
            transcription=transcription,
            review_backlog=review_backlog,
            extra_rows=extra_rows or [],
            log_groups=[function.log_group for function in functions] + (log_groups or []),
        )
        return self.console

    def outputs(self, values: dict[str, str]) -> None:
        """Stable names the operator CLI and the local cloud read."""
        common = {
            "Variant": self.variant,
            "EncounterBucketName": self.bucket.bucket_name,
            "DomainEventBusName": self.domain_event_bus_name,
            "KmsKeyArn": self.foundation.key.key_arn,
            "AlarmTopicArn": self.foundation.topic.topic_arn,
            "EventDeliveryDlqUrl": self.undelivered.queue_url,
            "Region": Aws.REGION,
            # What `scribe status --links` opens: the dashboard, and the log groups of an encounter's lines.
            "DashboardName": self.console.dashboard.dashboard_name,
            "EncounterLogsQueryName": f"{self.stack_name}/encounter-logs",
            "EncounterLogGroups": Fn.join(",", self.console.query_log_groups),
        }
        for name, value in {**common, **values}.items():
            CfnOutput(self, name, value=value)

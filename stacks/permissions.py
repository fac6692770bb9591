"""Least-privilege grants, one method per kind of work, shared by both variants' functions."""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from clinical.prefixes import (
    AUDIO_PREFIX,
    FAILURES_PREFIX,
    FHIR_EXPORTS_PREFIX,
    INDEX_PREFIX,
    NOTES_PREFIX,
    REVIEWS_PREFIX,
    SETTLED_PREFIX,
    SIGNED_PREFIX,
    TRANSCRIPTS_PREFIX,
)
from stacks.compliance import acknowledge
from stacks.config import PipelineConfig
from stacks.constructs.pipeline_function import PipelineFunction

KEY_USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]


class Permissions:
    def __init__(self, stack: Stack, bucket: s3.IBucket, key: kms.IKey) -> None:
        self.stack, self.bucket, self.key = stack, bucket, key
        self.domain_event_bus_arn: str | None = None

    def _domain_events(self, function: PipelineFunction) -> None:
        """events:PutEvents on the deployment's own bus (EventBridge uses the bus's key itself, by its key
        policy: the caller needs no KMS permission)."""
        if self.domain_event_bus_arn is not None:
            function.allow(["events:PutEvents"], [self.domain_event_bus_arn])

    def _objects(self, function: PipelineFunction, actions: list[str], prefix: str) -> None:
        function.allow(actions, [self.bucket.arn_for_objects(f"{prefix}*")])
        bucket_logical_id = self.stack.get_logical_id(self.bucket.node.default_child)
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::<{bucket_logical_id}.Arn>/{prefix}*]",
            f"Scoped to the {prefix} prefix of this stack's encounter bucket; object keys are per encounter.",
        )

    def _review_index(self, function: PipelineFunction) -> None:
        """Writes and deletes the reviews' index (clinical.review_index: empty objects, ids and moments in their
        keys); ListBucket (granted with the key) lists it."""
        self._objects(function, ["s3:PutObject", "s3:DeleteObject"], INDEX_PREFIX)

    def _bucket_and_key(self, function: PipelineFunction) -> None:
        # ListBucket makes a HEAD of a missing key answer 404 instead of 403.
        function.allow(["s3:ListBucket"], [self.bucket.bucket_arn])
        function.allow(KEY_USE, [self.key.key_arn])

    def job_name_arn(self) -> str:
        return f"arn:{Aws.PARTITION}:transcribe:{Aws.REGION}:{Aws.ACCOUNT_ID}:medical-transcription-job/{self.stack.stack_name}-*"

    def _transcribe_jobs(self, function: PipelineFunction, actions: list[str]) -> None:
        function.allow(actions, [self.job_name_arn()])
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:"
            f"medical-transcription-job/{self.stack.stack_name}-*]",
            "Scoped to this stack's job name prefix; one job per encounter.",
        )

    def job_start_statement(self) -> iam.PolicyStatement:
        """StartMedicalTranscriptionJob supports no resource type (Service Authorization Reference, Amazon
        Transcribe): a statement naming a job ARN never matches, so every start would be denied. It is
        granted on "*" and narrowed by the condition keys the action does support: the output goes to
        this stack's bucket, encrypted with this stack's key."""
        return iam.PolicyStatement(
            actions=["transcribe:StartMedicalTranscriptionJob"],
            resources=["*"],
            conditions={
                "StringEquals": {
                    "transcribe:OutputBucketName": self.bucket.bucket_name,
                    "transcribe:OutputEncryptionKMSKeyId": self.key.key_arn,
                }
            },
        )

    def _acknowledge_job_start(self, role: iam.IRole) -> None:
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "transcribe:StartMedicalTranscriptionJob supports no resource type; the statement is narrowed by "
            "transcribe:OutputBucketName and transcribe:OutputEncryptionKMSKeyId to this stack's bucket and key.",
        )

    def transcribe_starter(self, function: PipelineFunction) -> None:
        """Transcribe reads the media and writes the output with the caller's permissions."""
        self._bucket_and_key(function)
        self._objects(function, ["s3:GetObject"], AUDIO_PREFIX)
        self._objects(function, ["s3:PutObject"], TRANSCRIPTS_PREFIX)
        function.role.add_to_principal_policy(self.job_start_statement())
        self._acknowledge_job_start(function.role)

    def transcription_runner(self, role: iam.IRole) -> None:
        """The state machine starts and checks jobs itself (aws-sdk integrations), with Transcribe acting as it."""
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=KEY_USE, resources=[self.key.key_arn]))
        bucket_logical_id = self.stack.get_logical_id(self.bucket.node.default_child)
        for actions, prefix in ((["s3:GetObject"], AUDIO_PREFIX), (["s3:PutObject"], TRANSCRIPTS_PREFIX)):
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=actions, resources=[self.bucket.arn_for_objects(f"{prefix}*")])
            )
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{bucket_logical_id}.Arn>/{prefix}*]",
                f"Scoped to the {prefix} prefix of this stack's encounter bucket; Transcribe uses the caller's access.",
            )
        role.add_to_principal_policy(self.job_start_statement())
        self._acknowledge_job_start(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["transcribe:GetMedicalTranscriptionJob"], resources=[self.job_name_arn()])
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:medical-transcription-job/{self.stack.stack_name}-*]",
            "Scoped to this stack's job name prefix; one job per encounter.",
        )

    def line_reader(self, function: PipelineFunction, line: dynamodb.ITable) -> None:
        """Look at the line for Transcribe's slots (is anyone waiting?): Query."""
        function.allow(["dynamodb:Query"], [line.table_arn])
        function.allow(KEY_USE, [self.key.key_arn])

    def line_waiter(self, function: PipelineFunction, line: dynamodb.ITable) -> None:
        """Look at the line for Transcribe's slots and stand in it (clinical.waiting_line): Query, PutItem."""
        function.allow(["dynamodb:Query", "dynamodb:PutItem"], [line.table_arn])
        function.allow(KEY_USE, [self.key.key_arn])

    def line_waker(self, function: PipelineFunction, line: dynamodb.ITable) -> None:
        """Take waiters out of the line and note the ended job that woke them: Query, DeleteItem (on condition:
        one waker wins), PutItem (an ended job's item, on condition)."""
        function.allow(["dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:PutItem"], [line.table_arn])
        function.allow(KEY_USE, [self.key.key_arn])

    def request_requeuer(self, function: PipelineFunction, queue_arn: str) -> None:
        """Put a request back into its own work queue (a throttled Transcribe start waits there); the queue
        is encrypted with the stack's key, which KEY_USE already covers."""
        self._bucket_and_key(function)
        function.allow(["sqs:SendMessage"], [queue_arn])

    def retry_scheduler(self, function: PipelineFunction, queue_arn: str) -> None:
        """Set when a failed message of its own work queue comes back (the step's backoff), instead of
        waiting out the queue's visibility timeout."""
        function.allow(["sqs:ChangeMessageVisibility"], [queue_arn])

    def dead_letter_reader(self, function: PipelineFunction, dlq_arn: str) -> None:
        """Reads a DLQ's messages and leaves them there (each is made visible again at once)."""
        function.allow(["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"], [dlq_arn])
        function.allow(["kms:Decrypt"], [self.key.key_arn])

    def upload_checker(self, function: PipelineFunction) -> None:
        self._bucket_and_key(function)
        self._objects(function, ["s3:GetObject"], AUDIO_PREFIX)

    def transcript_checker(self, function: PipelineFunction) -> None:
        self._bucket_and_key(function)
        self._objects(function, ["s3:GetObject"], TRANSCRIPTS_PREFIX)

    def task_responder(self, function: PipelineFunction) -> None:
        """SendTaskSuccess/Failure/Heartbeat on "*": the Service Authorization Reference lists no resource type
        for them, so "*" is the documented form; the task token is the capability (only an execution of this
        stack's state machine hands this function one)."""
        function.allow(["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"], ["*"])
        acknowledge(
            function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords and states:SendTask* support no resource-level permissions "
            "(Service Authorization Reference); a SendTask* call is bound to the task token it presents.",
        )

    def execution_reader(self, function: PipelineFunction, state_machine_name: str) -> None:
        """Describe this state machine's executions and read their history (each is named by its encounter id)."""
        arn = f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:{state_machine_name}:*"
        function.allow(["states:DescribeExecution", "states:GetExecutionHistory"], [arn])
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{state_machine_name}:*]",
            "Scoped to the executions of this stack's one state machine; each execution is named by its encounter id.",
        )

    def job_reader(self, function: PipelineFunction) -> None:
        self._transcribe_jobs(function, ["transcribe:GetMedicalTranscriptionJob"])

    def failure_recorder(self, function: PipelineFunction) -> None:
        self._bucket_and_key(function)
        self._domain_events(function)
        # The versions of a record: a failure after a redrive is the same upload's, counted once.
        function.allow(["s3:ListBucketVersions"], [self.bucket.bucket_arn])
        self._objects(
            function, ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"], FAILURES_PREFIX
        )
        # The record's marker (clinical.settlements: an empty object, the record's key and a moment in its key).
        self._objects(function, ["s3:PutObject"], SETTLED_PREFIX)

    def settlement_checker(self, function: PipelineFunction) -> None:
        """A sweep's look at an upload or a job without a marker: HEAD of its note and failure record (S3
        authorizes HEAD as GetObject); ListBucket, granted with the key, lists the markers."""
        self._bucket_and_key(function)
        self._objects(function, ["s3:GetObject"], NOTES_PREFIX)
        self._objects(function, ["s3:GetObject"], FAILURES_PREFIX)

    def note_writer(self, function: PipelineFunction, config: PipelineConfig) -> None:
        self._bucket_and_key(function)
        self._domain_events(function)
        # HeadObject of the upload, for the note template its metadata names (S3 authorizes HEAD as GetObject).
        self._objects(function, ["s3:GetObject"], AUDIO_PREFIX)
        self._objects(function, ["s3:GetObject"], TRANSCRIPTS_PREFIX)
        # The draft, and the version of it a review was opened on (clinical.review pins it by its S3 version).
        self._objects(function, ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], NOTES_PREFIX)
        # Opens the note's review (clinical.review.open_review).
        self._objects(function, ["s3:GetObject", "s3:PutObject"], REVIEWS_PREFIX)
        self._review_index(function)
        region, account = Aws.REGION, Aws.ACCOUNT_ID
        if config.is_inference_profile:
            resources = [
                f"arn:{Aws.PARTITION}:bedrock:{region}:{account}:inference-profile/{config.bedrock_model_id}",
                f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{config.foundation_model_id}",
            ]
            acknowledge(
                function.role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{config.foundation_model_id}]",
                "A cross-region inference profile routes to the same model in any of its regions; "
                "the grant names that one model only.",
            )
        else:
            resources = [f"arn:{Aws.PARTITION}:bedrock:{region}::foundation-model/{config.bedrock_model_id}"]
        function.allow(["bedrock:InvokeModel"], resources)

    def review_keeper(self, function: PipelineFunction, state_machine_name: str | None = None) -> None:
        """Keeps a review's time and settles its transitions (clinical.review.settle): reads the note's
        versions, rewrites reviews/<id>.json, writes the signed note a signature owes, puts the review's events
        and (orchestration) redeems the token of the execution's wait."""
        self._bucket_and_key(function)
        self._domain_events(function)
        self._objects(function, ["s3:GetObject", "s3:GetObjectVersion"], NOTES_PREFIX)
        self._objects(function, ["s3:GetObject", "s3:PutObject"], REVIEWS_PREFIX)
        self._objects(function, ["s3:GetObject", "s3:PutObject"], SIGNED_PREFIX)
        self._review_index(function)
        if state_machine_name is not None:
            self.task_responder(function)

    def fhir_exporter(self, function: PipelineFunction) -> None:
        """Reads the signed note, writes its FHIR document."""
        self._bucket_and_key(function)
        self._objects(function, ["s3:GetObject"], SIGNED_PREFIX)
        self._objects(function, ["s3:PutObject"], FHIR_EXPORTS_PREFIX)

    def page_reviewer(self, function: PipelineFunction, state_machine_name: str | None) -> None:
        """The review page acting for a signed-in clinician: reads the note, its versions and the transcript,
        writes the review record, the clinician's version and the signed note, puts NoteSigned and NoteSentBack,
        and (orchestration) redeems the token of the execution's wait for the review."""
        self._bucket_and_key(function)
        self._domain_events(function)
        self._objects(function, ["s3:GetObject", "s3:GetObjectVersion"], NOTES_PREFIX)
        self._objects(function, ["s3:GetObject"], TRANSCRIPTS_PREFIX)
        self._objects(function, ["s3:GetObject", "s3:PutObject"], REVIEWS_PREFIX)
        self._objects(function, ["s3:GetObject", "s3:PutObject"], SIGNED_PREFIX)
        self._review_index(function)
        # Quarantine records of objects under reviews/ that are not review records (the worklist sets them aside).
        self._objects(function, ["s3:PutObject"], FAILURES_PREFIX)
        if state_machine_name is not None:
            self.task_responder(function)

    def fhir_sender(self, function: PipelineFunction, region: str, datastore_id: str) -> None:
        """PUTs the signed notes' documents to the one HealthLake data store configured (FHIR update, which
        creates a resource whose id is new: both actions, as HealthLake's authorization reference lists
        CreateResource and UpdateResource apart and the update may be either)."""
        arn = f"arn:{Aws.PARTITION}:healthlake:{region}:{Aws.ACCOUNT_ID}:datastore/fhir/{datastore_id}"
        function.allow(["healthlake:CreateResource", "healthlake:UpdateResource"], [arn])

    def job_watcher(self, function: PipelineFunction) -> None:
        self._bucket_and_key(function)
        self._objects(function, ["s3:GetObject"], NOTES_PREFIX)
        self.job_lister(function)
        self._transcribe_jobs(function, ["transcribe:GetMedicalTranscriptionJob"])

    def job_lister(self, function: PipelineFunction) -> None:
        """Lists the deployment's Transcribe jobs (its sweeps count those queued and running)."""
        # ListMedicalTranscriptionJobs supports no resource-level permissions.
        function.allow(["transcribe:ListMedicalTranscriptionJobs"], ["*"])
        acknowledge(
            function.role,
            "AwsSolutions-IAM5[Resource::*]",
            "transcribe:ListMedicalTranscriptionJobs (like X-Ray's PutTraceSegments) supports no resource-level permissions.",
        )

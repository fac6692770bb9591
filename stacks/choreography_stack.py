"""Choreography: S3 events chained through EventBridge and SQS to Lambdas. Nobody is in charge."""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.config import PipelineConfig
from stacks.constructs.foundation import PipelineFoundation
from stacks.constructs.pipeline_function import METRICS_NAMESPACE, PipelineFunction
from stacks.constructs.work_queue import WorkQueue, dead_letter_queue
from stacks.permissions import Permissions

VARIANT = "choreography"


def object_created(bucket_name: str, prefix: str) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.s3"],
        detail_type=["Object Created"],
        detail={"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": prefix}]}},
    )


class ChoreographyStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        foundation = PipelineFoundation(self, "Foundation", config=config)
        bucket = foundation.bucket
        environment = {
            "PIPELINE_VARIANT": VARIANT,
            "TRANSCRIPTION_JOB_PREFIX": self.stack_name,
            "KMS_KEY_ARN": foundation.key.key_arn,
            "MEDICAL_SPECIALTY": config.medical_specialty,
            "MEDICAL_TYPE": config.medical_type,
            "BEDROCK_MODEL_ID": config.bedrock_model_id,
            "MAX_RECEIVE_COUNT": str(config.max_receive_count),
            "STALLED_JOB_MINUTES": str(config.stalled_job_minutes),
            "ENCOUNTER_BUCKET": bucket.bucket_name,
        }

        # Where EventBridge puts events it could not deliver, and the watchdog's failed async invocations.
        undelivered = dead_letter_queue(self, "EventDeliveryDlq", foundation)

        start_transcription = PipelineFunction(
            self,
            "StartTranscription",
            foundation=foundation,
            handler="choreography.start_transcription.handler",
            description="Starts the Transcribe Medical job of each uploaded encounter",
            environment=environment,
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        write_note = PipelineFunction(
            self,
            "WriteNote",
            foundation=foundation,
            handler="choreography.write_note.handler",
            description="Drafts the SOAP note of each transcript with Bedrock",
            environment=environment,
            timeout=Duration.seconds(120),
            memory_size=512,
            reserved_concurrency=5,
        )
        watchdog = PipelineFunction(
            self,
            "Watchdog",
            foundation=foundation,
            handler="choreography.watchdog.handler",
            description="Records failures for Transcribe jobs that failed or stalled",
            environment=environment,
            timeout=Duration.seconds(300),
            memory_size=256,
            reserved_concurrency=1,
            async_failure_queue=undelivered,
        )

        transcription_requests = WorkQueue(
            self, "TranscriptionRequests", foundation=foundation, consumer=start_transcription
        )
        note_requests = WorkQueue(self, "NoteRequests", foundation=foundation, consumer=write_note, batch_size=5)
        for name, prefix, work in (
            ("AudioUploaded", "audio/", transcription_requests),
            ("TranscriptWritten", "transcripts/", note_requests),
        ):
            events.Rule(
                self,
                name,
                event_pattern=object_created(bucket.bucket_name, prefix),
                targets=[targets.SqsQueue(work.queue, dead_letter_queue=undelivered, retry_attempts=10)],
            )
        events.Rule(
            self,
            "WatchdogSchedule",
            schedule=events.Schedule.rate(Duration.minutes(config.watchdog_interval_minutes)),
            targets=[targets.LambdaFunction(watchdog.function, dead_letter_queue=undelivered, retry_attempts=2)],
        )

        permissions = Permissions(self, bucket, foundation.key)
        permissions.transcribe_starter(start_transcription)
        permissions.failure_recorder(start_transcription)
        permissions.note_writer(write_note, config)
        permissions.failure_recorder(write_note)
        permissions.job_watcher(watchdog)
        permissions.failure_recorder(watchdog)
        for function in (start_transcription, write_note):
            skip_checkov(
                function.function,
                "CKV_AWS_116",
                "Invoked synchronously by its SQS event source: failed messages go to the queue's DLQ.",
            )
            acknowledge(
                function.function,
                "HIPAA.Security-LambdaDLQ",
                "Invoked synchronously by its SQS event source: failed messages go to the queue's DLQ.",
            )
            acknowledge(
                function.function,
                "Serverless-LambdaDLQ",
                "Invoked synchronously by its SQS event source: failed messages go to the queue's DLQ.",
            )
            acknowledge(
                function.function,
                "Serverless-LambdaEventSourceMappingDestination",
                "SQS event sources take no on-failure destination; the queue's redrive policy sends "
                "failed messages to its DLQ, which has an alarm.",
            )
        acknowledge(
            watchdog.function,
            "Serverless-LambdaAsyncFailureDestination",
            "Async failures go to the function's dead-letter queue (EventDeliveryDlq), which has an alarm.",
        )

        foundation.alarm(
            self,
            "EncounterFailuresAlarm",
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="EncounterFailures",
                dimensions_map={"service": self.stack_name},
                statistic="Sum",
                period=Duration.minutes(5),
            ),
            threshold=0,
            description="An encounter ended with a failure record instead of a note",
        )

        for name, value in {
            "Variant": VARIANT,
            "EncounterBucketName": bucket.bucket_name,
            "KmsKeyArn": foundation.key.key_arn,
            "AlarmTopicArn": foundation.topic.topic_arn,
            "TranscriptionRequestsQueueUrl": transcription_requests.queue.queue_url,
            "TranscriptionRequestsDlqUrl": transcription_requests.dlq.queue_url,
            "NoteRequestsQueueUrl": note_requests.queue.queue_url,
            "NoteRequestsDlqUrl": note_requests.dlq.queue_url,
            "EventDeliveryDlqUrl": undelivered.queue_url,
            "StartTranscriptionFunctionName": start_transcription.function.function_name,
            "WriteNoteFunctionName": write_note.function.function_name,
            "WatchdogFunctionName": watchdog.function.function_name,
            "Region": Aws.REGION,
        }.items():
            CfnOutput(self, name, value=value)

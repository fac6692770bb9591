"""A work queue feeding one function: queue + DLQ (KMS, TLS), partial batch failures, alarms."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.constructs.foundation import PipelineFoundation
from stacks.constructs.pipeline_function import PipelineFunction

DLQ_RETENTION = Duration.days(14)


def dead_letter_queue(scope: Construct, construct_id: str, foundation: PipelineFoundation) -> sqs.Queue:
    """A DLQ: retained 14 days, alarmed from the first message, with no redrive of its own (it is the end)."""
    queue = encrypted_queue(scope, construct_id, foundation, retention_period=DLQ_RETENTION)
    dlq_alarm(queue, foundation, queue, construct_id)
    acknowledge(
        queue,
        "Serverless-SQSRedrivePolicy",
        "This queue is a dead-letter queue: the end of the line, alarmed from its first message and redriven by an operator.",
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        "This queue is a dead-letter queue: the end of the line, alarmed from its first message and redriven by an operator.",
    )
    return queue


def encrypted_queue(scope: Construct, construct_id: str, foundation: PipelineFoundation, **kwargs) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=foundation.key,
        data_key_reuse=Duration.hours(1),
        enforce_ssl=True,
        **kwargs,
    )


def dlq_alarm(scope: Construct, foundation: PipelineFoundation, queue: sqs.Queue, what: str) -> cloudwatch.Alarm:
    return foundation.alarm(
        scope,
        "DlqAlarm",
        metric=queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=Duration.minutes(1)),
        threshold=1,
        comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        description=f"{what} holds messages that could not be processed",
    )


class WorkQueue(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        foundation: PipelineFoundation,
        consumer: PipelineFunction,
        batch_size: int = 10,
    ) -> None:
        super().__init__(scope, construct_id)
        config = foundation.config
        self.dlq = dead_letter_queue(self, "Dlq", foundation)
        self.queue = encrypted_queue(
            self,
            "Queue",
            foundation,
            # Lambda's guidance: at least six times the function timeout, so retries of a batch don't overlap.
            visibility_timeout=Duration.seconds(6 * consumer.function.timeout.to_seconds()),
            # Default 4-day retention: a message keeps its age when moved, so the DLQ (14 days) must outlive it.
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=config.max_receive_count, queue=self.dlq),
        )
        consumer.function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=batch_size, report_batch_item_failures=True)
        )
        sqs_invoked = (
            "Invoked synchronously by its SQS event source: failed messages go to the queue's DLQ, which has an alarm."
        )
        skip_checkov(consumer.function, "CKV_AWS_116", sqs_invoked)
        acknowledge(consumer.function, "HIPAA.Security-LambdaDLQ", sqs_invoked)
        acknowledge(consumer.function, "Serverless-LambdaDLQ", sqs_invoked)
        acknowledge(
            consumer.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event sources take no on-failure destination; the queue's redrive policy sends failed messages to its DLQ.",
        )
        foundation.alarm(
            self,
            "OldestMessageAlarm",
            metric=self.queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=Duration.minutes(1)),
            threshold=config.oldest_message_alarm_seconds,
            evaluation_periods=5,
            description=f"{construct_id} is falling behind",
        )

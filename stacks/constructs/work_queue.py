"""A work queue feeding one function: queue + DLQ (KMS, TLS), partial batch failures, alarms."""

from __future__ import annotations

import jsii
from aws_cdk import Duration, Names
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.constructs.foundation import PipelineFoundation
from stacks.constructs.pipeline_function import PipelineFunction

DLQ_RETENTION = Duration.days(14)


def allow_rule_to_send(queue: sqs.IQueue, rule: events.IRule) -> None:
    """Let EventBridge deliver this one rule's events to the queue (aws:SourceArn names the rule)."""
    allow_events_from(queue, f"AllowEventRule{Names.node_unique_id(rule.node)}", rule.rule_arn)


def allow_events_from(queue: sqs.IQueue, sid: str, source_arn: str) -> None:
    """Let EventBridge send to the queue on behalf of one rule or one bus (aws:SourceArn names it)."""
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": source_arn}},
        )
    )


@jsii.implements(events.IRuleTarget)
class QueueTarget:
    """An SQS rule target whose queue policy names the rule, and whose undeliverable events go to a DLQ.

    CDK's targets.SqsQueue leaves aws:SourceArn out on a KMS-encrypted queue (its key grant would
    reference the rule and close a dependency cycle) and grants EventBridge kms:Encrypt/ReEncrypt*
    it never uses. Here only the queue policies name the rule; the foundation's key policy holds the
    one EventBridge statement (kms:Decrypt, kms:GenerateDataKey).
    """

    def __init__(self, queue: sqs.IQueue, *, dead_letter_queue: sqs.IQueue, retry_attempts: int) -> None:
        self.queue, self.dead_letter_queue, self.retry_attempts = queue, dead_letter_queue, retry_attempts

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        allow_rule_to_send(self.queue, rule)
        # EventBridge needs sqs:SendMessage on a target's dead-letter queue too, with the rule as source.
        allow_rule_to_send(self.dead_letter_queue, rule)
        return events.RuleTargetConfig(
            arn=self.queue.queue_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(maximum_retry_attempts=self.retry_attempts),
        )


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


def dlq_depth(queue: sqs.IQueue) -> cloudwatch.Metric:
    """The messages waiting in a DLQ: its alarm's metric, and its line on the dashboard."""
    return queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=Duration.minutes(1))


def oldest_message_age(queue: sqs.IQueue) -> cloudwatch.Metric:
    """How long a work queue's oldest message has waited: its alarm's metric, and its line on the dashboard."""
    return queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=Duration.minutes(1))


def dlq_alarm(scope: Construct, foundation: PipelineFoundation, queue: sqs.Queue, what: str) -> cloudwatch.Alarm:
    return foundation.alarm(
        scope,
        "DlqAlarm",
        metric=dlq_depth(queue),
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
        max_receive_count: int | None = None,
    ) -> None:
        """`max_receive_count`: how many times a message is delivered before the DLQ takes it; a step with
        its own tries in clinical.policy passes them, every other hop takes the configured count."""
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
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=max_receive_count or config.max_receive_count, queue=self.dlq
            ),
        )
        consumer.function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=batch_size, report_batch_item_failures=True)
        )
        sqs_invoked = (
            "Invoked synchronously by its SQS event source: failed messages go to the queue's DLQ, which has an alarm."
        )
        consumer.invoked_synchronously(sqs_invoked)
        acknowledge(
            consumer.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event sources take no on-failure destination; the queue's redrive policy sends failed messages to its DLQ.",
        )
        foundation.alarm(
            self,
            "OldestMessageAlarm",
            metric=oldest_message_age(self.queue),
            threshold=config.oldest_message_alarm_seconds,
            evaluation_periods=5,
            description=f"{construct_id} is falling behind",
        )

"""Execution status change (FAILED, TIMED_OUT, ABORTED) -> EventBridge -> SQS -> failures/<id>.json."""

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical import clients
from clinical.errors import content_free_errors
from clinical.events import message_of
from clinical.messages import ExecutionStatusChange
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.waiting_line import line_table, wake_for_ended_job
from orchestration.failed_executions import record_execution_failure
from orchestration.slots import waker

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
@content_free_errors
def record_ended_execution(record: SQSRecord) -> None:
    settings = PipelineSettings.from_env()
    status_change = message_of(record, ExecutionStatusChange, "an execution status change event", settings.variant)
    if status_change is None:
        return  # quarantined
    # An encounter's execution is named by its id (the last part of its ARN).
    encounter_id = status_change.detail.executionArn.rsplit(":", 1)[-1]
    annotate_encounter(encounter_id)
    recorded = record_execution_failure(
        clients.stepfunctions(),
        clients.s3(),
        require_env("ENCOUNTER_BUCKET"),
        status_change.detail.executionArn,
        settings,
    )
    # Its job, if one ran, is over: its slot is free for the head of the line (once per encounter).
    wake_for_ended_job(clients.dynamodb(), line_table(), encounter_id, waker(), datetime.now(UTC))
    logger.info("execution end seen", extra={"recorded": recorded})


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(
        event=event, record_handler=record_ended_execution, processor=processor, context=context
    )

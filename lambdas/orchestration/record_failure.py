"""Execution status change (FAILED, TIMED_OUT, ABORTED) -> EventBridge -> SQS -> failures/<id>.json."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical import clients
from clinical.errors import content_free_errors
from clinical.observability import logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from orchestration.failed_executions import record_execution_failure

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
@content_free_errors
def record_ended_execution(record: SQSRecord) -> None:
    status_change = EventBridgeEvent(record.json_body)
    execution_arn = status_change.detail["executionArn"]
    recorded = record_execution_failure(
        clients.stepfunctions(),
        clients.s3(),
        require_env("ENCOUNTER_BUCKET"),
        execution_arn,
        PipelineSettings.from_env(),
    )
    logger.info(
        "execution end seen",
        extra={
            "encounter_id": status_change.detail.get("name"),
            "status": status_change.detail.get("status"),
            "recorded": recorded,
        },
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(
        event=event, record_handler=record_ended_execution, processor=processor, context=context
    )

"""intake queue -> validate the upload and start the encounter's execution. A failed upload's record
(clinical.failures) is imported where a failure is settled, not at every cold start (docs/performance.md)."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical import clients
from clinical.errors import content_free_errors
from clinical.events import delivery_of, object_created
from clinical.layout import claimed_encounter_id
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.steps.uploads import accept_upload
from clinical.waiting_line import anyone_waiting, line_table
from orchestration.executions import start_encounter_execution

# A batch whose records all failed is reported, not raised: Lambda Errors then mean a crash, not a throttle.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
@content_free_errors
def start_encounter(record: SQSRecord) -> None:
    settings = PipelineSettings.from_env()
    upload = object_created(record, settings.variant)
    if upload is None:
        return  # not an upload event: quarantined
    annotate_encounter(claimed_encounter_id(upload.key))
    try:
        accepted = accept_upload(clients.s3(), bucket=upload.bucket, key=upload.key)
        # Others waiting for a Transcribe slot: the execution goes behind them (clinical.waiting_line).
        behind_others = anyone_waiting(clients.dynamodb(), line_table())
        start_encounter_execution(
            clients.stepfunctions(), require_env("STATE_MACHINE_ARN"), accepted, behind_others=behind_others
        )
    except Exception as error:
        from clinical.failures import settle_failure

        settle_failure(
            clients.s3(),
            upload.bucket,
            error=error,
            stage="intake",
            encounter_id=claimed_encounter_id(upload.key),
            source_key=upload.key,
            variant=settings.variant,
            delivery=delivery_of(record, settings.max_receive_count),
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(event=event, record_handler=start_encounter, processor=processor, context=context)

"""transcription-requests queue -> start the encounter's Transcribe Medical job."""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from choreography import clients
from clinical.errors import ContractViolation
from clinical.events import delivery_of, object_created
from clinical.failures import settle_failure
from clinical.layout import parse_audio_key
from clinical.observability import logger, metrics, tracer
from clinical.settings import PipelineSettings
from clinical.steps import transcribe_upload

processor = BatchProcessor(event_type=EventType.SQS)


def encounter_id_or_none(key: str) -> str | None:
    try:
        return parse_audio_key(key).encounter_id
    except ContractViolation:
        return None


@tracer.capture_method
def start_transcription_for(record: SQSRecord) -> None:
    settings = PipelineSettings.from_env()
    upload = object_created(record)
    try:
        transcribe_upload(clients.s3(), clients.transcribe(), bucket=upload.bucket, key=upload.key, settings=settings)
    except Exception as error:
        settle_failure(
            clients.s3(),
            upload.bucket,
            error=error,
            stage="intake" if isinstance(error, ContractViolation) else "transcription",
            encounter_id=encounter_id_or_none(upload.key),
            source_key=upload.key,
            variant=settings.variant,
            delivery=delivery_of(record, settings.max_receive_count),
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(
        event=event, record_handler=start_transcription_for, processor=processor, context=context
    )

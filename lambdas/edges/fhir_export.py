"""fhir-exports queue <- NoteSigned on the deployment's domain bus: the signed note's FHIR R4 DocumentReference
written to exports/fhir/<id>.json. A consumer at the edge, the same in both variants."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical import clients
from clinical.errors import content_free_errors
from clinical.fhir import export_signed_note
from clinical.messages import NoteSignedEvent, parse_message
from clinical.observability import MetricUnit, logger, metrics, tracer
from clinical.settings import require_env

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
@content_free_errors
def export(record: SQSRecord) -> None:
    signed = parse_message(NoteSignedEvent, record.body, "the NoteSigned event")
    key = export_signed_note(clients.s3(), require_env("ENCOUNTER_BUCKET"), signed.detail.encounter_id)
    metrics.add_metric(name="FhirDocumentsWritten", unit=MetricUnit.Count, value=1)
    logger.info("FHIR document written", extra={"encounter_id": signed.detail.encounter_id, "key": key})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(event=event, record_handler=export, processor=processor, context=context)

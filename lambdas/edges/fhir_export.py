"""fhir-exports queue <- NoteSigned on the deployment's domain bus: the signed note's FHIR R4 DocumentReference
written to exports/fhir/<id>.json and, when the deployment names a FHIR endpoint (cdk.json `fhir_endpoint`,
a HealthLake data store's), sent there. A consumer at the edge, the same in both variants; a delivery that
fails is tried again by its queue, then lands in its DLQ, alarmed. The endpoint's client (clinical.fhir_endpoint) is
imported when the deployment names one, not at every cold start of a deployment that names none
(docs/performance.md)."""

import os

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical import clients
from clinical.environment import require_env
from clinical.errors import content_free_errors
from clinical.fhir import export_signed_note
from clinical.messages import NoteSignedEvent, parse_message
from clinical.observability import MetricUnit, annotate_encounter, logger, metrics, tracer

# A batch whose records all failed is reported, not raised: Lambda Errors then mean a crash, not an endpoint down.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
@content_free_errors
def export(record: SQSRecord) -> None:
    signed = parse_message(NoteSignedEvent, record.body, "the NoteSigned event")
    bucket, encounter_id = require_env("ENCOUNTER_BUCKET"), signed.detail.encounter_id
    annotate_encounter(encounter_id)
    key, document = export_signed_note(clients.s3(), bucket, encounter_id)
    metrics.add_metric(name="FhirDocumentsWritten", unit=MetricUnit.Count, value=1)
    logger.info("FHIR document written", extra={"encounter_id": encounter_id, "key": key})
    if endpoint := os.environ.get("FHIR_ENDPOINT"):
        from clinical.fhir_endpoint import document_id, put_document

        status = put_document(
            endpoint,
            require_env("FHIR_ENDPOINT_REGION"),
            {**document, "id": document_id(bucket, encounter_id)},
            credentials=clients.credentials(),
        )
        metrics.add_metric(name="FhirDocumentsSent", unit=MetricUnit.Count, value=1)
        logger.info("FHIR document sent", extra={"encounter_id": encounter_id, "http_status": status})


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(event=event, record_handler=export, processor=processor, context=context)

"""transcription-requests queue -> start the encounter's Transcribe Medical job.

When Transcribe refuses the start for its concurrent-job quota, or others already wait for a slot, the request
stands in line (clinical.waiting_line) and its message is done: it asks nothing more until the end of another
job, or a sweep, sends it back (choreography.slots), so waiting uses up neither the message's receives nor
Transcribe's requests. A start Transcribe failed for a moment goes back into the queue with a short delay
(clinical.throttling). The waiting's and the failure record's modules are imported on those paths, not at
every cold start (docs/performance.md).
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from choreography.slots import waker, woken
from clinical import clients
from clinical.errors import (
    ContractViolation,
    TranscriptionSlotsFull,
    TranscriptionThrottled,
    TranscriptionUnavailable,
    content_free_errors,
)
from clinical.events import delivery_of, object_created
from clinical.layout import AudioUpload, claimed_encounter_id
from clinical.observability import MetricUnit, annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings
from clinical.steps.uploads import accept_upload, request_transcription
from clinical.waiting_line import anyone_waiting, carry_chain, line_table

# A batch whose records all failed is reported, not raised: Lambda Errors then mean a crash, not a throttle.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
@content_free_errors
def start_transcription_for(record: SQSRecord) -> None:
    settings = PipelineSettings.from_env()
    upload = object_created(record, settings.variant)
    if upload is None:
        return  # not an upload event: quarantined
    annotate_encounter(claimed_encounter_id(upload.key))
    try:
        accepted, was_woken = accept_upload(clients.s3(), bucket=upload.bucket, key=upload.key), woken(record)
        try:
            # A new request goes behind anyone waiting for a slot; a woken one asks (it was at the head).
            request_transcription(
                clients.transcription_starts(), accepted, bucket=upload.bucket, settings=settings,
                behind_others=None if was_woken else lambda: anyone_waiting(clients.dynamodb(), line_table()),
            )  # fmt: skip
            if was_woken:
                # A sweep's chain woke it and it found a slot: the next may find one too (clinical.waiting_line).
                carry_chain(clients.dynamodb(), line_table(), accepted.encounter_id, waker(settings), datetime.now(UTC))
        except TranscriptionSlotsFull:
            if not wait_in_line(record, accepted, settings):
                from clinical.throttling import quota_exhausted

                raise quota_exhausted(settings.quota_wait_minutes) from None
        except TranscriptionThrottled:
            from clinical.throttling import unavailable_too_long

            if not settings.work_queue_url:
                raise  # no queue to wait in: the delivery fails and SQS redelivers it
            if wait_for_quota(record, upload.key, settings):
                return
            raise unavailable_too_long(settings.policy.transcription_start.tries, settings.quota_wait_minutes) from None
    except Exception as error:
        from clinical.failures import settle_failure

        delivery = delivery_of(record, settings.max_receive_count)
        if isinstance(error, TranscriptionUnavailable):
            delivery = replace(delivery, attempt=settings.policy.transcription_start.tries)
        settle_failure(
            clients.s3(),
            upload.bucket,
            error=error,
            stage="intake" if isinstance(error, ContractViolation) else "transcription",
            encounter_id=claimed_encounter_id(upload.key),
            source_key=upload.key,
            variant=settings.variant,
            delivery=delivery,
            policy=settings.policy,
        )


def wait_in_line(record: SQSRecord, upload: AudioUpload, settings: PipelineSettings) -> bool:
    """Stand in line for a slot with the request as delivered (clinical.waiting_line); False once the upload has
    waited `quota_wait_minutes`."""
    from clinical.waiting_line import join, waited_too_long

    now = datetime.now(UTC)
    if waited_too_long(upload, now, timedelta(minutes=settings.quota_wait_minutes)):
        return False
    join(clients.dynamodb(), line_table(), upload, record.body, now)
    metrics.add_metric(name="TranscriptionStartsDeferred", unit=MetricUnit.Count, value=1)
    return True


def wait_for_quota(record: SQSRecord, audio_key: str, settings: PipelineSettings) -> bool:
    """Transcribe failed for a moment: put the request back with a delay; False once it has waited long enough."""
    from clinical.throttling import defer_throttled_start

    attributes = record.message_attributes
    throttles = int(attributes["throttles"].string_value) if "throttles" in attributes else 0
    since = attributes["throttled_since"].string_value if "throttled_since" in attributes else None
    deferral = defer_throttled_start(
        claimed_encounter_id(audio_key) or "",
        throttles,
        datetime.fromisoformat(since) if since else None,
        datetime.now(UTC),
        settings.policy.transcription_start,
    )
    if deferral is None:
        return False
    clients.sqs().send_message(
        QueueUrl=settings.work_queue_url,
        MessageBody=record.body,
        DelaySeconds=deferral.delay_seconds,
        MessageAttributes={
            "throttles": {"DataType": "Number", "StringValue": str(deferral.throttles)},
            "throttled_since": {"DataType": "String", "StringValue": deferral.throttled_since.isoformat()},
        },
    )
    logger.info(
        "Transcribe failing for a moment: trying again",
        extra={"throttles": deferral.throttles, "delay": deferral.delay_seconds},
    )
    return True


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(
        event=event, record_handler=start_transcription_for, processor=processor, context=context
    )

"""note-requests queue -> draft the encounter's note from its transcript (S3 "Object Created" under
transcripts/), or draft it again when the clinician sent it back (NoteSentBack from the domain bus)."""

from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from choreography.slots import waker
from clinical import clients
from clinical.domain_events import NOTE_SENT_BACK
from clinical.errors import InvalidModelOutput, TranscriptNotFromJob, content_free_errors
from clinical.events import delivery_of, is_domain_event, message_of, object_created
from clinical.failures import settle_failure
from clinical.layout import TRANSCRIPTS_PREFIX, encounter_id_from_key, review_key
from clinical.messages import NoteSentBackEvent
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.steps.drafts import draft_note, redraft_note
from clinical.steps.uploads import set_aside_stray_transcript
from clinical.waiting_line import line_table, wake_for_ended_job

# A batch whose records all failed is reported, not raised: Lambda Errors then mean a crash, not a throttle.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
@content_free_errors
def write_note_for(record: SQSRecord) -> None:
    """A transcript written: draft its note. A note sent back (NoteSentBack from the domain bus): draft it again."""
    settings = PipelineSettings.from_env()
    if is_domain_event(record, NOTE_SENT_BACK):
        event = message_of(record, NoteSentBackEvent, "the NoteSentBack event", settings.variant)
        if event is not None:
            encounter_id, bucket = event.detail.encounter_id, require_env("ENCOUNTER_BUCKET")
            annotate_encounter(encounter_id)
            with settled(
                record, settings, bucket=bucket, encounter_id=encounter_id, source_key=review_key(encounter_id)
            ):
                redraft_note(clients.s3(), clients.bedrock_runtime(), clients.transcribe(), bucket=bucket,
                             encounter_id=encounter_id, settings=settings)  # fmt: skip
        return
    transcript = object_created(record, settings.variant)
    if transcript is None:
        return  # not a transcript event: quarantined
    encounter_id = encounter_id_from_key(transcript.key, TRANSCRIPTS_PREFIX, ".json")
    if encounter_id is None:
        # Only the pipeline's jobs write under transcripts/; the one other object is Transcribe's probe.
        set_aside_stray_transcript(clients.s3(), bucket=transcript.bucket, key=transcript.key, variant=settings.variant)
        return
    annotate_encounter(encounter_id)
    # The job ended: its slot is free for the head of the line (once for this job, however often its event comes).
    wake_for_ended_job(clients.dynamodb(), line_table(), encounter_id, waker(settings), datetime.now(UTC))
    with settled(record, settings, bucket=transcript.bucket, encounter_id=encounter_id, source_key=transcript.key):
        draft_note(
            clients.s3(),
            clients.bedrock_runtime(),
            clients.transcribe(),
            bucket=transcript.bucket,
            encounter_id=encounter_id,
            settings=settings,
        )


@contextmanager
def settled(record: SQSRecord, settings: PipelineSettings, *, bucket: str, encounter_id: str, source_key: str):
    """What a failed draft means: a malformed answer sent again for its second try, a permanent error or the
    last try recorded as the encounter's failure, anything else delivered again after the note step's
    backoff (clinical.policy), as the state machine retries."""
    try:
        yield
    except TranscriptNotFromJob:
        # Quarantined with its record and alarm; the encounter's own job, if one runs, brings the real one.
        return
    except Exception as error:
        # The redeliveries' backoff is imported on this path only (docs/performance.md).
        from clinical.throttling import deliver_again_after_backoff, send_again_after_backoff

        delivery = delivery_of(record, settings.policy.note.tries)
        if isinstance(error, InvalidModelOutput):
            # Its own count, as the state machine's retrier for it has: a receive used up by a throttle
            # before it does not take away the malformed answer's second try.
            tries, backoff = model_output_tries(record, settings), settings.policy.model_output
            if tries < backoff.tries and settings.work_queue_url:
                send_again_after_backoff(
                    clients.sqs(), settings.work_queue_url, record.body,
                    encounter_id=encounter_id, attempt=tries, backoff=backoff, counter=("model_output_tries", tries),
                )  # fmt: skip
                return
            delivery = replace(delivery, attempt=tries)
        try:
            settle_failure(
                clients.s3(),
                bucket,
                error=error,
                stage="note",
                encounter_id=encounter_id,
                source_key=source_key,
                variant=settings.variant,
                delivery=delivery,
                policy=settings.policy,
            )
        except Exception:
            if settings.work_queue_url and not delivery.is_last:
                deliver_again_after_backoff(
                    clients.sqs(),
                    settings.work_queue_url,
                    record.receipt_handle,
                    encounter_id=encounter_id,
                    attempt=delivery.attempt,
                    backoff=settings.policy.note,
                )
            raise


def model_output_tries(record: SQSRecord, settings: PipelineSettings) -> int:
    """Which try of a malformed answer this is: counted in the message's own attribute when the handler
    sends it again (its work queue), else by the queue's receives."""
    attributes = record.message_attributes
    if "model_output_tries" in attributes:
        return int(attributes["model_output_tries"].string_value) + 1
    return 1 if settings.work_queue_url else int(record.attributes.approximate_receive_count or 1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(event=event, record_handler=write_note_for, processor=processor, context=context)

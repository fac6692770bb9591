"""transcript-events queue -> resume the execution waiting for this transcript."""

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical import clients
from clinical.errors import TranscriptNotFromJob, content_free_errors
from clinical.events import object_created
from clinical.layout import TRANSCRIPTS_PREFIX, encounter_id_from_key
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.steps.uploads import set_aside_stray_transcript, set_aside_unless_from_job
from clinical.waiting_line import line_table, wake_for_ended_job
from orchestration.slots import waker
from orchestration.transcript_waits import resume, take_wait

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
@content_free_errors
def resume_waiting_execution(record: SQSRecord) -> None:
    settings = PipelineSettings.from_env()
    transcript = object_created(record, settings.variant)
    if transcript is None:
        return  # not a transcript event: quarantined
    encounter_id = encounter_id_from_key(transcript.key, TRANSCRIPTS_PREFIX, ".json")
    if encounter_id is None:
        set_aside_stray_transcript(
            clients.s3(), bucket=transcript.bucket, key=transcript.key, variant=PipelineSettings.from_env().variant
        )
        return
    annotate_encounter(encounter_id)
    try:
        set_aside_unless_from_job(
            clients.s3(), clients.transcribe(), bucket=transcript.bucket, encounter_id=encounter_id,
            settings=settings,
        )  # fmt: skip
    except TranscriptNotFromJob:
        return  # quarantined: no execution resumes on it, and no encounter fails for it
    # The job ended: its slot is free for the head of the line (once for this job, however often its event comes).
    wake_for_ended_job(clients.dynamodb(), line_table(), encounter_id, waker(), datetime.now(UTC))
    token = take_wait(clients.dynamodb(), require_env("TRANSCRIPT_WAITS_TABLE"), encounter_id)
    if token is None:
        # The execution has not registered yet; when it does, it finds this transcript itself.
        logger.info("no execution waiting yet", extra={"encounter_id": encounter_id})
        return
    resume(clients.stepfunctions(), token, encounter_id)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    return process_partial_response(
        event=event, record_handler=resume_waiting_execution, processor=processor, context=context
    )

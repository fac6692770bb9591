"""State machine callback task: register the execution's token; resume at once if the transcript is there."""

from datetime import UTC, datetime

from clinical import clients
from clinical.errors import TranscriptNotFromJob, content_free_errors
from clinical.layout import transcript_key
from clinical.messages import TranscriptWait, parse_message
from clinical.objects import object_exists
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.steps.uploads import set_aside_unless_from_job
from clinical.waiting_line import carry_chain, line_table
from orchestration.slots import waker
from orchestration.transcript_waits import register_wait, resume, take_wait


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    # Bad input fails the task with MalformedMessage, and so the execution, which is then quarantined.
    wait = parse_message(TranscriptWait, event, "the WaitForTranscript payload")
    encounter_id, table = wait.encounter_id, require_env("TRANSCRIPT_WAITS_TABLE")
    annotate_encounter(encounter_id)
    register_wait(clients.dynamodb(), table, encounter_id, wait.task_token)
    # Its job started: if a sweep's chain woke it from the line for a slot, the next may find one too.
    carry_chain(clients.dynamodb(), line_table(), encounter_id, waker(), datetime.now(UTC))
    bucket = require_env("ENCOUNTER_BUCKET")
    already_there = object_exists(clients.s3(), bucket, transcript_key(encounter_id))
    if already_there:
        # Only the job's own output counts; anything else is set aside and the wait goes on for the job.
        try:
            set_aside_unless_from_job(
                clients.s3(), clients.transcribe(), bucket=bucket, encounter_id=encounter_id,
                settings=PipelineSettings.from_env(),
            )  # fmt: skip
        except TranscriptNotFromJob:
            already_there = False
    if already_there:
        token = take_wait(clients.dynamodb(), table, encounter_id)
        if token:
            resume(clients.stepfunctions(), token, encounter_id)
    logger.info("waiting for transcript", extra={"encounter_id": encounter_id, "already_there": already_there})
    return {"encounter_id": encounter_id, "transcript_already_there": already_there}

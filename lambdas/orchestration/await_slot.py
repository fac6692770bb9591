"""State machine callback task: stand the execution in line for a Transcribe slot (clinical.waiting_line) with
its task token, placed by its upload as choreography's requests are. The end of another job or a sweep wakes it
(orchestration.slots); once the upload has waited quota_wait_minutes, the task fails with
TranscriptionQuotaExhausted and the execution with it (its record)."""

from datetime import UTC, datetime, timedelta

from clinical import clients
from clinical.errors import content_free_errors
from clinical.layout import AUDIO_PREFIX
from clinical.messages import SlotWait, parse_message
from clinical.observability import MetricUnit, annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.steps.uploads import accept_upload
from clinical.waiting_line import join, line_table, waited_too_long


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    # Bad input fails the task with MalformedMessage, and so the execution, which is then quarantined.
    wait = parse_message(SlotWait, event, "the AwaitSlot payload")
    annotate_encounter(wait.encounter_id)
    settings, now = PipelineSettings.from_env(), datetime.now(UTC)
    # The encounter's own audio, as StartTranscription names it: its id and the input key's extension.
    key = f"{AUDIO_PREFIX}{wait.encounter_id}.{wait.audio_key.rsplit('.', 1)[-1]}"
    upload = accept_upload(clients.s3(), bucket=require_env("ENCOUNTER_BUCKET"), key=key)
    if waited_too_long(upload, now, timedelta(minutes=settings.quota_wait_minutes)):
        from clinical.throttling import quota_exhausted

        raise quota_exhausted(settings.quota_wait_minutes)
    join(clients.dynamodb(), line_table(), upload, wait.task_token, now)
    metrics.add_metric(name="TranscriptionStartsDeferred", unit=MetricUnit.Count, value=1)
    return {"encounter_id": wait.encounter_id}

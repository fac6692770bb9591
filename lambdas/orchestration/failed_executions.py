"""An execution that ended FAILED, TIMED_OUT or ABORTED becomes failures/<id>.json.

The state machine has no catch-all: a step that fails after its retries fails the execution right
there, so the history names the failed step and RedriveExecution resumes at it. Its end is turned
into the same failure record choreography writes, from the execution itself (DescribeExecution and
its history: ids, state names and error names, never PHI). A failed Transcribe job's reason, a throttled start's
exhaustion and an execution set aside import their modules when met, not at every cold start
(docs/performance.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from clinical import clients
from clinical.errors import MalformedMessage, pipeline_error_named
from clinical.executions import STAGE_OF_STATE, UNSUCCESSFUL, execution_history
from clinical.failures import RUNTIME_DIED, FailureRecord, record_failure
from clinical.layout import failure_key, transcription_job_name
from clinical.messages import EncounterExecutionInput, parse_message
from clinical.objects import is_not_found, object_exists
from clinical.policy import LAMBDA_CRASH, TRANSCRIBE_SLOT_CODES, TRANSCRIBE_TRANSIENT_CODES, step_functions_names
from clinical.settings import PipelineSettings


def describe(error_name: str, cause: str | None, job_name: str) -> tuple[str, bool]:
    """A message safe to show, and whether the error was transient, from an execution's error and cause."""
    if error_name == "TranscriptionJobFailed":
        from clinical.transcription import job_failure

        return job_failure(clients.transcribe(), job_name).message, False
    known = pipeline_error_named(error_name)
    if known is not None:
        try:
            message = json.loads(cause or "{}").get("errorMessage")
        except ValueError:
            message = cause if error_name == "TranscriptionStalled" else None
        return message or error_name, known.retryable
    if error_name == LAMBDA_CRASH:
        return RUNTIME_DIED, True  # a redrive tries the step again
    if error_name == "States.Timeout":
        return "the execution or one of its steps timed out", True
    if error_name == "ExecutionAborted":
        return "the execution was stopped before it finished", True
    service, _, code = error_name.partition(".")
    if service in ("Transcribe", "S3", "Lambda", "DynamoDb") and code:
        return f"{service} error {code}", code in TRANSCRIBE_SLOT_CODES + TRANSCRIBE_TRANSIENT_CODES
    return f"the step failed with {error_name}", False


def failed_step(history: list[dict]) -> tuple[str | None, int]:
    """The last state entered, and how many times its task was scheduled (its tries)."""
    state, tries = None, 0
    for event in history:
        if "stateEnteredEventDetails" in event:
            state, tries = event["stateEnteredEventDetails"]["name"], 0
        elif event["type"] in ("TaskScheduled", "LambdaFunctionScheduled"):
            tries += 1
    return state, max(tries, 1)


def _recorded_since(s3, bucket: str, encounter_id: str, moment: datetime) -> bool:
    """A failure record written after the execution stopped: this end is already recorded."""
    try:
        head = s3.head_object(Bucket=bucket, Key=failure_key(encounter_id))
    except ClientError as error:
        if is_not_found(error):
            return False
        raise
    return head["LastModified"] >= moment.replace(microsecond=0)


def encounter_of(execution: dict) -> EncounterExecutionInput:
    """The encounter an execution ran for, as intake starts them: an encounter's input, and named by its
    id. Anything else (an execution started by hand, say) raises MalformedMessage."""
    started = parse_message(EncounterExecutionInput, execution["input"], "the execution's input")
    if execution["name"] != started.encounter_id:
        raise MalformedMessage("the execution's name is not the encounter id of its input")
    return started


def _set_aside(s3, bucket: str, execution: dict, settings: PipelineSettings, reason: str) -> bool:
    """Quarantine, once, the end of an execution that ran for no encounter: nothing is built from its input."""
    from clinical.quarantine import quarantine, quarantine_key

    source_key = f"execution:{execution['name']}"
    if object_exists(s3, bucket, quarantine_key(source_key, None)):
        return False
    quarantine(s3, bucket, source_key=source_key, version_id=None, variant=settings.variant, reason=reason)
    return True


def record_execution_failure(stepfunctions, s3, bucket: str, execution_arn: str, settings: PipelineSettings) -> bool:
    """Write the failure record of an unsuccessfully ended execution; False if it needs none (yet)."""
    execution = stepfunctions.describe_execution(executionArn=execution_arn)
    status = execution["status"]
    if status not in UNSUCCESSFUL:
        return False
    try:
        started = encounter_of(execution)
    except MalformedMessage as error:
        return _set_aside(s3, bucket, execution, settings, error.message)
    encounter_id = started.encounter_id
    stopped_at = execution.get("stopDate") or datetime.now(UTC)
    if _recorded_since(s3, bucket, encounter_id, stopped_at):
        return False
    default_error = {"TIMED_OUT": "States.Timeout", "ABORTED": "ExecutionAborted"}.get(status, "Unknown")
    error_name = execution.get("error") or default_error
    message, retryable = describe(
        error_name, execution.get("cause"), transcription_job_name(settings.job_name_prefix, encounter_id)
    )
    state, tries = failed_step(execution_history(stepfunctions, execution_arn))
    if state == "StartTranscription" and error_name in step_functions_names("Transcribe", TRANSCRIBE_TRANSIENT_CODES):
        # Failed for a moment on every try the policy allows: the same failure choreography records.
        from clinical.throttling import unavailable_too_long

        exhausted = unavailable_too_long(tries, settings.quota_wait_minutes)
        error_name, message, retryable = exhausted.error_type, exhausted.message, False
    record_failure(
        s3,
        bucket,
        FailureRecord(
            encounter_id=encounter_id,
            variant=settings.variant,
            stage=STAGE_OF_STATE.get(state or "", "transcription"),
            error_type=error_name,
            message=message,
            retryable=retryable,
            attempts=tries,
            source_key=started.audio_key,
            first_attempt_at=execution["startDate"],
            recorded_at=datetime.now(UTC),
        ),
    )
    return True

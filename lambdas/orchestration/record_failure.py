"""State machine task: every unrecoverable error ends here and becomes failures/<id>.json."""

import json
from datetime import UTC, datetime

from clinical import clients
from clinical.errors import pipeline_error_named
from clinical.failures import FailureRecord, record_failure
from clinical.layout import transcription_job_name
from clinical.observability import logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.transcription import THROTTLING_CODES, job_failure


def describe(error_name: str, cause: str | None, job_name: str) -> tuple[str, bool]:
    """A message safe to show, and whether the error was transient, from a Catch's Error and Cause."""
    known = pipeline_error_named(error_name)
    if error_name == "TranscriptionJobFailed":
        return job_failure(clients.transcribe(), job_name).message, False
    if known is not None:
        try:
            message = json.loads(cause or "{}").get("errorMessage")
        except ValueError:
            message = None
        return message or error_name, known.retryable
    if error_name == "States.Timeout":
        return "the step timed out", True
    service, _, code = error_name.partition(".")
    if service in ("Transcribe", "S3", "Lambda", "DynamoDb") and code:
        return f"{service} error {code}", code in THROTTLING_CODES
    return f"the step failed with {error_name}", False


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    settings = PipelineSettings.from_env()
    encounter_id = event["encounter_id"]
    error = event.get("error") or {}
    error_name = error.get("Error") or "Unknown"
    message, retryable = describe(
        error_name, error.get("Cause"), transcription_job_name(settings.job_name_prefix, encounter_id)
    )
    key = record_failure(
        clients.s3(),
        require_env("ENCOUNTER_BUCKET"),
        FailureRecord(
            encounter_id=encounter_id,
            variant=settings.variant,
            stage=event["stage"],
            error_type=error_name,
            message=message,
            retryable=retryable,
            # Step Functions does not say how many tries a caught error took; a transient one used them all.
            attempts=int(event.get("max_attempts", 1)) if retryable else 1,
            source_key=event["audio_key"],
            first_attempt_at=event.get("started_at"),
            recorded_at=datetime.now(UTC),
        ),
    )
    return {"failure_key": key}

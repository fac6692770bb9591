"""Scheduled: record failures for Transcribe jobs that failed or stalled (Transcribe emits no event for them)."""

import os
from datetime import UTC, datetime, timedelta

from clinical import clients
from clinical.failures import FailureRecord, failure_record_exists, record_failure
from clinical.layout import transcript_key
from clinical.observability import logger, metrics, tracer
from clinical.settings import PipelineSettings
from clinical.transcription import find_unfinished_jobs


@tracer.capture_method
def surface_unfinished_jobs(bucket: str, settings: PipelineSettings, now: datetime | None = None) -> int:
    """Write a failure record for each unfinished job that has neither note nor record; return how many."""
    s3 = clients.s3()
    now = now or datetime.now(UTC)
    recorded = 0
    for job in find_unfinished_jobs(
        clients.transcribe(),
        s3,
        bucket=bucket,
        prefix=settings.job_name_prefix,
        stalled_after=timedelta(minutes=settings.stalled_job_minutes),
        now=now,
    ):
        if failure_record_exists(s3, bucket, job.encounter_id):
            continue
        record_failure(
            s3,
            bucket,
            FailureRecord(
                encounter_id=job.encounter_id,
                variant=settings.variant,
                stage=job.stage,
                error_type=job.error.error_type,
                message=job.error.message,
                retryable=False,
                attempts=1,
                source_key=transcript_key(job.encounter_id),
                first_attempt_at=job.started_at,
                recorded_at=now,
            ),
        )
        recorded += 1
    logger.info("watchdog sweep finished", extra={"failures_recorded": recorded})
    return recorded


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return {"failures_recorded": surface_unfinished_jobs(os.environ["ENCOUNTER_BUCKET"], PipelineSettings.from_env())}

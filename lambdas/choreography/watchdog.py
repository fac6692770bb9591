"""Scheduled: record failures for Transcribe jobs that failed or stalled (Transcribe emits no event for
them) and for note requests whose every try died with the function (they reach the DLQ with no record),
take in uploads whose event never arrived (nothing else would ever notice them), wake the head of the line for
Transcribe's slots and anyone who waited too long (clinical.waiting_line), and keep the reviews'
deadlines (a reminder before a review window ends, REVIEW_EXPIRED at its end: nothing else waits on them)."""

import os
from collections import Counter
from datetime import UTC, datetime, timedelta

from choreography.slots import waker
from clinical import clients
from clinical.dead_letters import dead_letters
from clinical.errors import ContractViolation, content_free_errors
from clinical.failures import RUNTIME_DIED, FailureRecord, failure_record_exists, record_failure
from clinical.layout import note_key, review_key, transcript_key, transcription_job_name
from clinical.objects import object_exists
from clinical.observability import MetricUnit, logger, metrics, tracer
from clinical.policy import LAMBDA_CRASH
from clinical.reconcile import SweepResult, sweep_lost_uploads
from clinical.review import read_review
from clinical.settings import PipelineSettings, require_env
from clinical.steps.reviews import sweep_review_deadlines
from clinical.steps.uploads import transcribe_upload
from clinical.transcription import find_unfinished_jobs, job_exists
from clinical.waiting_line import anyone_waiting, line_table, waiting_ids, wake_for_ended_job, wake_on_sweep


@tracer.capture_method(capture_response=False)
@content_free_errors
def surface_unfinished_jobs(bucket: str, settings: PipelineSettings, now: datetime | None = None) -> int:
    """Write a failure record for each unfinished job that has neither note nor record; return how many."""
    s3 = clients.s3()
    now = now or datetime.now(UTC)
    recorded = 0
    in_flight: Counter = Counter()
    for job in find_unfinished_jobs(
        clients.transcribe(),
        s3,
        bucket=bucket,
        prefix=settings.job_name_prefix,
        stalled_after=timedelta(minutes=settings.stalled_job_minutes),
        now=now,
        lookback=timedelta(hours=settings.upload_window_hours),
        in_flight=in_flight,
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
        # The job is over: its slot is free for the head of the line (once per job).
        wake_for_ended_job(clients.dynamodb(), line_table(), job.encounter_id, waker(settings), now)
    # A gauge, published by every sweep (0 too): the deployment's jobs queued or running at Transcribe.
    metrics.add_metric(name="TranscriptionJobsInFlight", unit=MetricUnit.Count, value=in_flight.total())
    logger.info("watchdog sweep finished", extra={"failures_recorded": recorded, "jobs_in_flight": in_flight.total()})
    return recorded


@tracer.capture_method(capture_response=False)
@content_free_errors
def surface_dead_note_requests(
    bucket: str, settings: PipelineSettings, dlq_url: str, now: datetime | None = None
) -> int:
    """Write the failure record of each note request in the DLQ whose encounter has neither note nor record
    (or, for a note sent back, whose review is still SENT_BACK with no record): every try ended with the
    function's runtime dying, before any handler code could record it. The record is the one the state
    machine writes for its note task's Lambda.Unknown; the message stays for a redrive."""
    s3 = clients.s3()
    now = now or datetime.now(UTC)
    recorded = 0
    for letter in dead_letters(clients.sqs(), dlq_url):
        encounter_id = letter.encounter_id
        if failure_record_exists(s3, bucket, encounter_id):
            continue
        if letter.redraft:
            review = read_review(s3, bucket, encounter_id)
            if review is None or review[0].status != "SENT_BACK":
                continue  # drafted again meanwhile, or decided otherwise
        elif object_exists(s3, bucket, note_key(encounter_id)):
            continue
        record_failure(
            s3,
            bucket,
            FailureRecord(
                encounter_id=encounter_id,
                variant=settings.variant,
                stage="note",
                error_type=LAMBDA_CRASH,
                message=RUNTIME_DIED,
                retryable=True,
                attempts=settings.policy.note.tries,
                source_key=review_key(encounter_id) if letter.redraft else transcript_key(encounter_id),
                first_attempt_at=letter.first_attempt_at,
                recorded_at=now,
            ),
        )
        recorded += 1
    logger.info("dead note requests surfaced", extra={"failures_recorded": recorded})
    return recorded


@tracer.capture_method(capture_response=False)
@content_free_errors
def take_in_lost_uploads_of(bucket: str, settings: PipelineSettings, now: datetime | None = None) -> SweepResult:
    """Start the job of each upload that has none yet (its event was lost): the same idempotent start."""
    s3, transcribe, dynamodb = clients.s3(), clients.transcribe(), clients.dynamodb()
    now = now or datetime.now(UTC)
    table = line_table()
    waiting = waiting_ids(dynamodb, table)  # in line for a slot: taken in, though no job runs yet
    return sweep_lost_uploads(
        s3,
        bucket,
        settings,
        claimed=waiting,
        is_claimed=lambda encounter_id: job_exists(
            transcribe, transcription_job_name(settings.job_name_prefix, encounter_id)
        ),
        take_in=lambda key: transcribe_upload(
            s3,
            clients.transcription_starts(),
            bucket=bucket,
            key=key,
            settings=settings,
            behind_others=lambda: anyone_waiting(dynamodb, table),
        ),
        stage_of=lambda error: "intake" if isinstance(error, ContractViolation) else "transcription",
        now=now,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    bucket, settings = os.environ["ENCOUNTER_BUCKET"], PipelineSettings.from_env()
    dlq_url = require_env("NOTE_REQUESTS_DLQ_URL")
    # Every sweep runs even when one before it fails (a service it asks is down, throttling or unreachable):
    # reviews still expire when Transcribe cannot be listed. The first failure is raised once all have run, so
    # the run still counts as an error (its alarm) and the next run tries again.
    failed: list[Exception] = []

    def sweep(name: str, run, nothing):
        try:
            return run()
        except Exception as error:  # raised below, after the other sweeps
            logger.error("watchdog sweep failed", extra={"sweep": name, "error_type": type(error).__name__})
            failed.append(error)
            return nothing

    # Dead requests first: their record names the cause, where a job with no note only shows the symptom.
    recorded = sweep("dead note requests", lambda: surface_dead_note_requests(bucket, settings, dlq_url), 0)
    recorded += sweep("unfinished jobs", lambda: surface_unfinished_jobs(bucket, settings), 0)
    lost = sweep("lost uploads", lambda: take_in_lost_uploads_of(bucket, settings), None)
    woken = sweep(
        "waiting line",
        lambda: wake_on_sweep(
            clients.dynamodb(),
            line_table(),
            waker(settings),
            now=datetime.now(UTC),
            quota_wait=timedelta(minutes=settings.quota_wait_minutes),
        ),
        [],
    )
    reminded, expired = sweep(
        "review deadlines",
        lambda: sweep_review_deadlines(clients.s3(), bucket=bucket, variant=settings.variant),
        (0, 0),
    )
    if failed:
        raise failed[0]
    return {
        "failures_recorded": recorded,
        "lost_uploads_taken_in": len(lost.taken_in),
        "waiters_woken": len(woken),
        # Uploads still in line for a Transcribe slot: work this function's next run moves on.
        "waiting": anyone_waiting(clients.dynamodb(), line_table()),
        "reviews_reminded": reminded,
        "reviews_expired": expired,
    }

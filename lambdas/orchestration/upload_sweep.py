"""Scheduled: start the execution of each upload whose event never arrived (it has no execution), and
record the failure of each execution that ended unsuccessfully without one (its status event was lost). Recording
one imports its modules (orchestration.failed_executions) when the sweep meets such an execution, not at every
cold start (docs/performance.md)."""

from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from clinical import clients
from clinical.errors import content_free_errors
from clinical.executions import UNSUCCESSFUL, execution_arn
from clinical.observability import MetricUnit, logger, metrics, tracer
from clinical.reconcile import SweepResult, sweep_lost_uploads
from clinical.settings import PipelineSettings, require_env
from clinical.steps.uploads import accept_upload
from clinical.transcription import jobs_in_flight
from clinical.waiting_line import anyone_waiting, line_table, waiting_ids, wake_on_sweep
from orchestration.executions import start_encounter_execution
from orchestration.slots import waker


def execution_status(stepfunctions, state_machine_arn: str, encounter_id: str) -> str | None:
    try:
        described = stepfunctions.describe_execution(executionArn=execution_arn(state_machine_arn, encounter_id))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise
    return described["status"]


@tracer.capture_method(capture_response=False)
@content_free_errors
def take_in_lost_uploads_of(
    bucket: str, state_machine_arn: str, settings: PipelineSettings, now: datetime | None = None
) -> SweepResult:
    s3, stepfunctions = clients.s3(), clients.stepfunctions()
    now = now or datetime.now(UTC)
    ended_unrecorded: list[str] = []

    def is_claimed(encounter_id: str) -> bool:
        status = execution_status(stepfunctions, state_machine_arn, encounter_id)
        if status in UNSUCCESSFUL:  # no failure record yet, or the upload would not be a candidate
            ended_unrecorded.append(encounter_id)
        return status is not None

    try:
        return sweep_lost_uploads(
            s3,
            bucket,
            settings,
            # Waiting in line for a Transcribe slot: its execution waits in AwaitSlot (claimed, unasked).
            claimed=waiting_ids(clients.dynamodb(), line_table()),
            is_claimed=is_claimed,
            take_in=lambda key: start_encounter_execution(
                stepfunctions,
                state_machine_arn,
                accept_upload(s3, bucket=bucket, key=key),
                behind_others=anyone_waiting(clients.dynamodb(), line_table()),
            ),
            stage_of=lambda _error: "intake",
            now=now,
        )
    finally:
        # Even when some uploads could not be taken in, the ended executions the sweep met get their records.
        for encounter_id in ended_unrecorded:
            from orchestration.failed_executions import record_execution_failure

            record_execution_failure(
                stepfunctions, s3, bucket, execution_arn(state_machine_arn, encounter_id), settings
            )
        if ended_unrecorded:
            logger.info("unrecorded execution failures recorded", extra={"count": len(ended_unrecorded)})


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    settings = PipelineSettings.from_env()
    lost = take_in_lost_uploads_of(require_env("ENCOUNTER_BUCKET"), require_env("STATE_MACHINE_ARN"), settings)
    # The line for Transcribe's slots: its head (a wake lost to a crash), and anyone who waited too long.
    woken = wake_on_sweep(
        clients.dynamodb(), line_table(), waker(),
        now=datetime.now(UTC), quota_wait=timedelta(minutes=settings.quota_wait_minutes),
    )  # fmt: skip
    # A gauge, published by every sweep (0 too): the deployment's jobs queued or running at Transcribe.
    in_flight = jobs_in_flight(clients.transcribe(), settings.job_name_prefix)
    metrics.add_metric(name="TranscriptionJobsInFlight", unit=MetricUnit.Count, value=in_flight)
    return {
        "lost_uploads_taken_in": len(lost.taken_in),
        "transcription_jobs_in_flight": in_flight,
        "waiters_woken": len(woken),
        # Executions still in line for a Transcribe slot: work this function's next run moves on.
        "waiting": anyone_waiting(clients.dynamodb(), line_table()),
    }

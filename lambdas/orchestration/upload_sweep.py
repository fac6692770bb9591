"""Scheduled: start the execution of each upload whose event never arrived (it has no execution)."""

from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from clinical import clients
from clinical.observability import logger, metrics, tracer
from clinical.reconcile import SweepResult, take_in_lost_uploads, unclaimed_uploads
from clinical.settings import PipelineSettings, require_env
from clinical.steps import accept_upload
from orchestration.executions import execution_arn, start_encounter_execution


def execution_exists(stepfunctions, state_machine_arn: str, encounter_id: str) -> bool:
    try:
        stepfunctions.describe_execution(executionArn=execution_arn(state_machine_arn, encounter_id))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        raise
    return True


@tracer.capture_method
def take_in_lost_uploads_of(
    bucket: str, state_machine_arn: str, settings: PipelineSettings, now: datetime | None = None
) -> SweepResult:
    s3, stepfunctions = clients.s3(), clients.stepfunctions()
    now = now or datetime.now(UTC)
    keys = unclaimed_uploads(
        s3,
        bucket,
        is_claimed=lambda encounter_id: execution_exists(stepfunctions, state_machine_arn, encounter_id),
        grace=timedelta(minutes=settings.upload_grace_minutes),
        window=timedelta(hours=settings.upload_window_hours),
        now=now,
    )
    return take_in_lost_uploads(
        s3,
        bucket,
        keys,
        take_in=lambda key: start_encounter_execution(
            stepfunctions, state_machine_arn, accept_upload(s3, bucket=bucket, key=key)
        ),
        stage_of=lambda _error: "intake",
        variant=settings.variant,
        now=now,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    lost = take_in_lost_uploads_of(
        require_env("ENCOUNTER_BUCKET"), require_env("STATE_MACHINE_ARN"), PipelineSettings.from_env()
    )
    return {"lost_uploads_taken_in": len(lost.taken_in)}

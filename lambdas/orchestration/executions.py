"""Starting an encounter's execution: one per encounter id, never a second by accident."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from clinical.errors import TransientError
from clinical.executions import execution_arn
from clinical.layout import AudioUpload
from clinical.observability import MetricUnit, logger, metrics
from clinical.policy import EXECUTION_START_TRANSIENT_CODES
from clinical.transcription import claimed_by_another_upload

THROTTLING_CODES = frozenset(EXECUTION_START_TRANSIENT_CODES)


class ExecutionStartThrottled(TransientError):
    pass


def execution_input(upload: AudioUpload, *, behind_others: bool = False) -> str:
    """Deterministic: the same upload always gives byte-identical input (so a retry is idempotent), unless it
    goes behind others waiting for a Transcribe slot this time (a retry that differs is told apart below)."""
    fields = {"encounter_id": upload.encounter_id, "audio_key": upload.key, "media_format": upload.media_format}
    return json.dumps(fields | ({"behind_others": True} if behind_others else {}), sort_keys=True)


def start_encounter_execution(
    stepfunctions, state_machine_arn: str, upload: AudioUpload, *, behind_others: bool = False
) -> bool:
    """Start the encounter's execution; False when it already ran (a duplicate delivery). `behind_others`:
    others wait in line for a Transcribe slot, and the execution goes behind them (clinical.waiting_line)."""
    try:
        started = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=upload.encounter_id,
            input=execution_input(upload, behind_others=behind_others),
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ExecutionAlreadyExists":
            # A run of this encounter exists: another upload under its id is refused; the same upload again
            # is a duplicate delivery (re-processing it is an operator's redrive, not an accident).
            existing = stepfunctions.describe_execution(
                executionArn=execution_arn(state_machine_arn, upload.encounter_id)
            )
            claim_key = json.loads(existing["input"]).get("audio_key", "")
            if conflict := claimed_by_another_upload(upload, claim_key, existing["startDate"]):
                raise conflict from None
            logger.info("execution already exists, duplicate delivery", extra={"encounter_id": upload.encounter_id})
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
            return False
        if code in THROTTLING_CODES:
            raise ExecutionStartThrottled(f"Step Functions is throttling ({code})") from None
        raise
    # StartExecution with the name and input of a RUNNING execution (one awaiting its review, say) succeeds
    # and returns that execution: the same key written again after it began is another recording all the same.
    if conflict := claimed_by_another_upload(upload, upload.key, started["startDate"]):
        raise conflict
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=1)
    logger.info("execution started", extra={"encounter_id": upload.encounter_id})
    return True

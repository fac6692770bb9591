"""Failure records: the visible, durable end of an encounter that could not get a note."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from botocore.exceptions import ClientError
from pydantic import AfterValidator, BaseModel, ConfigDict

from clinical.domain_events import ENCOUNTER_FAILED, detail, publish
from clinical.errors import PipelineError
from clinical.layout import failure_key, key_reference, rejected_upload_failure_key
from clinical.objects import is_not_found, lost_the_race, object_exists
from clinical.observability import MetricUnit, count_by, logger, metrics
from clinical.policy import DEFAULT, MODEL_OUTPUT_ERRORS, Policy
from clinical.settlements import mark_settled

Stage = Literal["intake", "transcription", "note", "review"]
# How a record names the object it is about: a key_reference (a key that names no encounter as its digest).
SourceKey = Annotated[str, AfterValidator(key_reference)]


# The failure of a step whose every try ended with its function's runtime dying, which Step Functions names
# Lambda.Unknown (clinical.policy.LAMBDA_CRASH) and choreography finds as a request in a DLQ with no record.
RUNTIME_DIED = "every try ended with the function's runtime dying (out of memory, a timeout or an exit)"


class FailureRecord(BaseModel):
    """failures/<encounter_id>.json. The message is safe to show: it never holds PHI; nor does source_key,
    a `key_reference` (a key that names no encounter is kept as its digest)."""

    # Its validator is built when a failure is first recorded or read, not at every cold start (pydantic's
    # defer_build): most invocations record none (docs/performance.md).
    model_config = ConfigDict(defer_build=True)

    schema_version: Literal["1"] = "1"
    encounter_id: str | None
    variant: str
    stage: Stage
    error_type: str
    message: str
    retryable: bool
    attempts: int
    source_key: SourceKey
    first_attempt_at: datetime | None = None
    recorded_at: datetime

    @property
    def key(self) -> str:
        if self.encounter_id is None:
            return rejected_upload_failure_key(self.source_key)
        return failure_key(self.encounter_id)


@dataclass(frozen=True)
class Delivery:
    """One delivery of a work item: which attempt it is and how many the queue allows."""

    attempt: int
    max_attempts: int
    first_attempt_at: datetime | None = None

    @property
    def is_last(self) -> bool:
        return self.attempt >= self.max_attempts


def safe_message(error: Exception) -> str:
    """What may be shown about an error: our own messages, or only the type and AWS error code."""
    if isinstance(error, PipelineError):
        return error.message
    if isinstance(error, ClientError):
        return f"AWS error {error.response.get('Error', {}).get('Code', 'Unknown')}"
    return f"unexpected {type(error).__name__}"


def error_type_of(error: Exception) -> str:
    if isinstance(error, PipelineError):
        return error.error_type
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return type(error).__name__


def _recorded_upload(s3, bucket: str, key: str) -> tuple[str, str] | None:
    """The (ETag, source_key) of the failure record already at key, if any."""
    try:
        found = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            return None
        raise
    try:
        source_key = json.loads(found["Body"].read()).get("source_key", "")
    except (ValueError, AttributeError):
        source_key = ""
    return found["ETag"], source_key


def _removed_record_of_upload(s3, bucket: str, key: str, source_key: str) -> bool:
    """Whether the last record written at key, since removed, was this same upload's: a redrive removes
    the record before the retry (versioning keeps it), and that failure was counted when it was written."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key, MaxKeys=10)
    latest = next((v for v in listed.get("Versions", []) if v["Key"] == key), None)  # newest first
    if latest is None:
        return False
    found = s3.get_object(Bucket=bucket, Key=key, VersionId=latest["VersionId"])
    try:
        return json.loads(found["Body"].read()).get("source_key", "") == source_key
    except (ValueError, AttributeError):
        return False


def failure_event(record: FailureRecord) -> tuple[str, dict]:
    """EncounterFailed for a failure record: its key, stage, error type and tries, never its message."""
    return (
        ENCOUNTER_FAILED,
        detail(
            ENCOUNTER_FAILED,
            encounter_id=record.encounter_id,
            variant=record.variant,
            facts=(record.key, record.source_key, record.error_type),
            record_key=record.key,
            stage=record.stage,
            error_type=record.error_type,
            retryable=record.retryable,
            attempts=record.attempts,
        ),
    )


def _stored_record(s3, bucket: str, key: str) -> FailureRecord | None:
    try:
        return FailureRecord.model_validate_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ValueError:  # a record of another shape: the event is the new record's
        return None


def record_failure(s3, bucket: str, record: FailureRecord) -> str | None:
    """Write the upload's failure record and count it (the EncounterFailures metric drives an alarm).

    Once per upload, whichever component gets there first: when the record of the same upload is
    already there, it is neither rewritten nor counted again (None is returned). The write is
    conditional, so two writers racing cannot both land and both count. A failure after a redrive
    writes its record again but is not counted again: it is the same upload's terminal failure, and
    the alarm already went off for it.
    """
    existing = _recorded_upload(s3, bucket, record.key)
    if existing is not None and existing[1] == record.source_key:
        logger.info("failure already recorded", extra={"encounter_id": record.encounter_id, "stage": record.stage})
        mark_settled(s3, bucket, record.key)  # again too: the writer may have stopped before it
        # Its event again (the same event id): the writer may have stopped before putting it.
        publish([failure_event(_stored_record(s3, bucket, record.key) or record)])
        return None
    counted = existing is None and _removed_record_of_upload(s3, bucket, record.key, record.source_key)
    condition = {"IfMatch": existing[0]} if existing is not None else {"IfNoneMatch": "*"}
    try:
        s3.put_object(
            Bucket=bucket,
            Key=record.key,
            Body=record.model_dump_json(indent=2).encode(),
            ContentType="application/json",
            **condition,
        )
    except ClientError as error:
        if not lost_the_race(error):  # else that writer's record stands
            raise
        logger.info("failure recorded concurrently", extra={"encounter_id": record.encounter_id})
        return None
    mark_settled(s3, bucket, record.key)  # after the record (clinical.settlements)
    if not counted:
        metrics.add_metric(name="EncounterFailures", unit=MetricUnit.Count, value=1)
        # Again by its reason, for the dashboard's failures by reason (an error type is a class name).
        count_by("EncounterFailures", "error_type", record.error_type)
    publish([failure_event(record)])
    logger.warning(
        "failure recorded again after a redrive" if counted else "failure recorded",
        extra={
            "encounter_id": record.encounter_id,
            "stage": record.stage,
            "error_type": record.error_type,
            "attempts": record.attempts,
        },
    )
    return record.key


def failure_record_exists(s3, bucket: str, encounter_id: str) -> bool:
    return object_exists(s3, bucket, failure_key(encounter_id))


def settle_failure(
    s3,
    bucket: str,
    *,
    error: Exception,
    stage: Stage,
    encounter_id: str | None,
    source_key: str,
    variant: str,
    delivery: Delivery,
    policy: Policy = DEFAULT,
) -> None:
    """Decide what a failed delivery means for the encounter.

    A permanent error is recorded and the delivery acknowledged (retrying cannot help), once it has had
    the tries clinical.policy allows it (a malformed model answer gets a second). Anything
    else is re-raised so the queue delivers it again; on the last allowed attempt it is recorded
    first, so the encounter has a failure record with a reason when its message reaches the DLQ.
    """
    permanent = isinstance(error, PipelineError) and not error.retryable
    tries = policy.model_output.tries if error_type_of(error) in MODEL_OUTPUT_ERRORS else 1
    if permanent and delivery.attempt < tries:
        raise error  # one more try, as the policy allows both variants (the queue delivers it again)
    if getattr(error, "recorded_per_upload", False):
        encounter_id = None  # not the encounter's failure: this upload's, recorded by its key
    if permanent or delivery.is_last:
        record_failure(
            s3,
            bucket,
            FailureRecord(
                encounter_id=encounter_id,
                variant=variant,
                stage=stage,
                error_type=error_type_of(error),
                message=safe_message(error),
                retryable=not permanent,
                attempts=delivery.attempt,
                source_key=source_key,
                first_attempt_at=delivery.first_attempt_at,
                recorded_at=datetime.now(UTC),
            ),
        )
    if not permanent:
        raise error


def clear_failure(s3, bucket: str, encounter_id: str) -> bool:
    """Remove a superseded failure record once the encounter has its note (versioning keeps it). The
    failure stays counted in EncounterFailures (it was one when written); the recovery is counted apart."""
    if not failure_record_exists(s3, bucket, encounter_id):
        return False
    s3.delete_object(Bucket=bucket, Key=failure_key(encounter_id))
    metrics.add_metric(name="EncounterRecoveries", unit=MetricUnit.Count, value=1)
    logger.info("failure record superseded by note", extra={"encounter_id": encounter_id})
    return True

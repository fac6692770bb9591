"""Uploads whose event never arrived: the scheduled safety net both variants run.

An upload reaches intake only through its S3 -> EventBridge -> SQS event. If that event is lost (a
rule disabled or edited while uploads arrive, a target that stayed unreachable past EventBridge's
retries, a bucket's EventBridge notifications switched off), the encounter has no job, no execution
and no record: it would be silently lost. The sweep finds audio objects old enough to have been
taken in (past a grace period) that have neither a note, nor a failure record, nor a claim (a
Transcribe job in choreography, an execution in orchestration), and hands each to the variant's
normal intake step, which is idempotent, so a sweep racing a late event does no harm.

Only uploads younger than the window are examined: the cost per sweep is the audio listing (one request per
1,000 uploads kept: the only evidence of an upload whose event was lost is its object), one listing of the
markers of what was settled in the window (clinical.settlements) and one claim check per upload in flight,
not a check per upload ever made. An upload the intake step refuses gets its failure record, whose module
(clinical.failures) is imported then, not at every cold start (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from clinical.errors import SweepIncomplete, TranscriptionThrottled
from clinical.layout import (
    AUDIO_PREFIX,
    claimed_encounter_id,
    failure_key,
    note_key,
    rejected_upload_failure_key,
)
from clinical.observability import MetricUnit, logger, metrics
from clinical.settings import PipelineSettings
from clinical.settlements import settled, settled_since

if TYPE_CHECKING:
    from clinical.failures import Stage


@dataclass
class SweepResult:
    taken_in: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # audio key -> error type
    deferred: list[str] = field(default_factory=list)  # Transcribe's quota was full: the next sweep tries


def _objects(s3, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def unclaimed_uploads(
    s3,
    bucket: str,
    *,
    is_claimed: Callable[[str], bool],
    grace: timedelta,
    window: timedelta,
    now: datetime,
    claimed: Collection[str] = frozenset(),
) -> list[str]:
    """Audio keys aged between grace and window with no note, no failure record and no claim.

    The notes and failure records are known from their markers (clinical.settlements, written since the window's
    start: an upload is settled after it arrives); an upload without a marker has its records asked for (HEAD)
    before its claim, so a marker saves requests but never decides. `claimed`: encounters known to be claimed
    without asking (those waiting in line for a Transcribe slot), passed over before their records are asked for:
    a burst's backlog costs a sweep a read of the line, not three requests per upload waiting."""
    marked = settled_since(s3, bucket, now - window)
    unclaimed = []
    for item in _objects(s3, bucket, AUDIO_PREFIX):
        age = now - item["LastModified"]
        if not grace <= age <= window:
            continue
        key = item["Key"]
        encounter_id = claimed_encounter_id(key)
        records = (
            (rejected_upload_failure_key(key),)
            if encounter_id is None
            else (note_key(encounter_id), failure_key(encounter_id))
        )
        if any(record in marked for record in records) or encounter_id in claimed or settled(s3, bucket, records):
            continue
        if encounter_id is not None and is_claimed(encounter_id):
            continue
        unclaimed.append(key)
    return unclaimed


def take_in_lost_uploads(
    s3,
    bucket: str,
    keys: list[str],
    *,
    take_in: Callable[[str], None],
    stage_of: Callable[[Exception], Stage],
    variant: str,
    now: datetime,
) -> SweepResult:
    """Run the variant's intake step for each key. A contract violation gets its failure record; any
    other error leaves the upload to the next sweep, and the sweep then raises SweepIncomplete, so
    the function's Errors alarm shows it."""
    result = SweepResult()
    for key in keys:
        try:
            take_in(key)
            result.taken_in.append(key)
        except TranscriptionThrottled:
            # The quota is full (an upload waiting its turn looks lost to a sweep): not an error.
            result.deferred.append(key)
        except Exception as error:
            from clinical.failures import Delivery, settle_failure

            try:
                settle_failure(
                    s3,
                    bucket,
                    error=error,
                    stage=stage_of(error),
                    encounter_id=claimed_encounter_id(key),
                    source_key=key,
                    variant=variant,
                    # Not the last attempt: only a permanent error is recorded; the next sweep retries the rest.
                    delivery=Delivery(attempt=1, max_attempts=2, first_attempt_at=now),
                )
                result.recorded.append(key)
            except Exception as unsettled:
                result.failed[key] = type(unsettled).__name__
    if result.taken_in:
        metrics.add_metric(name="LostUploadsTakenIn", unit=MetricUnit.Count, value=len(result.taken_in))
    logger.info(
        "lost upload sweep finished",
        extra={
            "taken_in": len(result.taken_in),
            "recorded": len(result.recorded),
            "failed": len(result.failed),
            "deferred": len(result.deferred),
            "error_types": sorted(set(result.failed.values())),
        },
    )
    if result.failed:
        raise SweepIncomplete(f"{len(result.failed)} lost uploads could not be taken in; the next sweep retries them")
    return result


def sweep_lost_uploads(
    s3,
    bucket: str,
    settings: PipelineSettings,
    *,
    is_claimed: Callable[[str], bool],
    take_in: Callable[[str], None],
    stage_of: Callable[[Exception], Stage],
    now: datetime,
    claimed: Collection[str] = frozenset(),
) -> SweepResult:
    """One sweep with the deployment's grace period and window: find the unclaimed uploads (`claimed`: those known
    to be, unasked), take them in."""
    keys = unclaimed_uploads(
        s3,
        bucket,
        is_claimed=is_claimed,
        grace=timedelta(minutes=settings.upload_grace_minutes),
        window=timedelta(hours=settings.upload_window_hours),
        now=now,
        claimed=claimed,
    )
    return take_in_lost_uploads(s3, bucket, keys, take_in=take_in, stage_of=stage_of, variant=settings.variant, now=now)

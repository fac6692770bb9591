"""Trying again: what a step does when Transcribe Medical fails a start for a moment, and how a wait for its
quota ends. (A start refused for the quota waits in line: clinical.waiting_line.)

At the end of a clinic hundreds of uploads can arrive while the quota allows a hundred jobs. Every
upload must still get its job as soon as a slot frees (a slot left idle is time added to every
encounter behind it), and none may be failed merely for waiting. So a throttled start is tried again
after a short, jittered delay (at most a minute, so a freed slot waits little), for as long as
`quota_wait_minutes` from the first throttle; past that it is a permanent failure with a record.
Choreography waits in its queue (the message comes back delayed); orchestration in its Retry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from clinical.errors import TranscriptionQuotaExhausted, TranscriptionUnavailable
from clinical.policy import MAX_SQS_DELAY_SECONDS, Backoff


def jitter(encounter_id: str, attempt: int) -> float:
    """The draw for one encounter's attempt: retries spread out, yet a run replays the same."""
    return random.Random(f"{encounter_id}:{attempt}").random()  # noqa: S311 (jitter, not a secret)


@dataclass(frozen=True)
class Deferral:
    delay_seconds: int
    throttles: int
    throttled_since: datetime


def defer_throttled_start(
    encounter_id: str, throttles: int, throttled_since: datetime | None, now: datetime, backoff: Backoff
) -> Deferral | None:
    """When to try a throttled start again (the transcription start's backoff, with full jitter, as the
    state machine's Retry waits), or None once `backoff.tries` tries were throttled, as in the state
    machine (`quota_wait_minutes` sets how many: clinical.policy.Policy.with_quota_wait)."""
    if throttles + 1 >= backoff.tries:
        return None
    delay = backoff.delay_seconds(throttles + 1, jitter(encounter_id, throttles))
    return Deferral(delay_seconds=delay, throttles=throttles + 1, throttled_since=throttled_since or now)


def quota_exhausted(quota_wait_minutes: int) -> TranscriptionQuotaExhausted:
    """The failure of a start that waited in line for a slot longer than the pipeline waits, the same in both
    variants (clinical.waiting_line)."""
    return TranscriptionQuotaExhausted(
        f"Transcribe Medical's concurrent-job quota had no slot for the encounter through {quota_wait_minutes} "
        "minutes of waiting in line (quota_wait_minutes)"
    )


def unavailable_too_long(tries: int, quota_wait_minutes: int) -> TranscriptionUnavailable:
    """The failure of a start Transcribe failed for a moment on every one of its tries, the same in both variants."""
    return TranscriptionUnavailable(
        f"Transcribe Medical failed the start on each of {tries} tries (about {quota_wait_minutes} minutes, "
        "quota_wait_minutes)"
    )


def deliver_again_after_backoff(
    sqs, queue_url: str, receipt_handle: str, *, encounter_id: str, attempt: int, backoff: Backoff
) -> int:
    """Make a failed message visible again after the step's backoff (ChangeMessageVisibility), instead of
    the queue's whole visibility timeout: choreography's retry waits as the state machine's Retry does.
    Returns the delay."""
    delay = backoff.delay_seconds(attempt, jitter(encounter_id, attempt))
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay)
    return delay


def send_again_after_backoff(
    sqs, queue_url: str, body: str, *, encounter_id: str, attempt: int, backoff: Backoff, counter: tuple[str, int]
) -> int:
    """Put a work item back into its queue as a new message after the step's backoff, carrying how many
    tries of one error class it has had (`counter`, a message attribute), so that class keeps a count of
    its own, as a state machine retrier does. Returns the delay."""
    delay = min(backoff.delay_seconds(attempt, jitter(encounter_id, attempt)), MAX_SQS_DELAY_SECONDS)
    name, value = counter
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        DelaySeconds=delay,
        MessageAttributes={name: {"DataType": "Number", "StringValue": str(value)}},
    )
    return delay

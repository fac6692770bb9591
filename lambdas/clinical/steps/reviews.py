"""The review's time: orchestration's CheckReview for one review, choreography's sweep for every review due. The
pipeline's policy (clinical.policy) is imported when the review's store answers with an error, not at every cold
start (docs/performance.md)."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from clinical.errors import ReviewRecordConflict, ReviewStoreBusy, content_free_errors
from clinical.observability import MetricUnit, logger, metrics, tracer
from clinical.review import keep_time, sweep_deadlines


def _count_deadlines(reminded: int, expired: int) -> None:
    if reminded:
        metrics.add_metric(name="ReviewReminders", unit=MetricUnit.Count, value=reminded)
    if expired:
        # Its alarm: a note nobody signed within the review window.
        metrics.add_metric(name="ReviewsExpired", unit=MetricUnit.Count, value=expired)


@dataclass(frozen=True)
class ReviewTime:
    """Where a review is, for orchestration's next state: its status and, while it waits, the seconds until its
    time next comes (the wait's timeout)."""

    status: str
    wait_seconds: int


@tracer.capture_method(capture_response=False)
@content_free_errors
def check_review(s3, *, bucket: str, encounter_id: str) -> ReviewTime:
    """Orchestration's CheckReview, whenever the execution's wait for the clinician ends (a decision's token, a
    timeout, or any other redemption of the token): the record decides. What its last transition owes is
    settled; a review past its window expires, one past its reminder time is reminded; the status says where the
    execution goes next."""
    try:
        kept = keep_time(s3, bucket, encounter_id)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        from clinical.policy import REVIEW_STORE_TRANSIENT_CODES

        if code not in REVIEW_STORE_TRANSIENT_CODES:
            raise
        raise ReviewStoreBusy(f"checking the review of {encounter_id} met {code}") from None
    if kept.status is None:
        raise ReviewRecordConflict(f"encounter {encounter_id} has no review record yet")
    _count_deadlines(kept.settled.count("reminded"), kept.settled.count("expired"))
    logger.info("review checked", extra={"encounter_id": encounter_id, "review_status": kept.status,
                                         "settled": list(kept.settled), "wait_seconds": kept.wait_seconds})  # fmt: skip
    return ReviewTime(status=kept.status, wait_seconds=kept.wait_seconds)


@tracer.capture_method(capture_response=False)
@content_free_errors
def sweep_review_deadlines(s3, *, bucket: str, variant: str = "") -> tuple[int, int]:
    """Choreography: keep every review's time (remind, expire, settle what a stopped action left owing); returns
    (reminded, expired)."""
    kept = sweep_deadlines(s3, bucket, variant=variant)
    _count_deadlines(len(kept.reminded), len(kept.expired))
    # A gauge, published by every sweep (0 too): the dashboard's review backlog.
    metrics.add_metric(name="ReviewsAwaiting", unit=MetricUnit.Count, value=kept.awaiting)
    logger.info("review deadlines swept", extra={"reminded": len(kept.reminded), "expired": len(kept.expired),
                                                 "sent_back_again": len(kept.sent_back_again),
                                                 "settled": len(kept.settled)})  # fmt: skip
    return len(kept.reminded), len(kept.expired)

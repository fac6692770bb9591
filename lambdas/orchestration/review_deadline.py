"""State machine task (CheckReview): whenever the execution's wait for the clinician ends, however it ended,
the review record decides where the execution goes. What its last transition owes is settled, a review whose
reminder or window is due is reminded or expired, and the task returns the review's status and, while it
waits, the seconds until its time next comes (the next wait's timeout)."""

from clinical import clients
from clinical.environment import require_env
from clinical.errors import content_free_errors
from clinical.messages import ReviewCheck, parse_message
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.steps.reviews import check_review


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    check = parse_message(ReviewCheck, event, "the CheckReview payload")
    annotate_encounter(check.encounter_id)
    review = check_review(clients.s3(), bucket=require_env("ENCOUNTER_BUCKET"), encounter_id=check.encounter_id)
    return {"encounter_id": check.encounter_id, "status": review.status, "wait_seconds": review.wait_seconds}

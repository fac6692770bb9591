"""State machine task: the review's deadline, when the execution's wait for the clinician timed out: the
reminder before the window ends, the expiry at its end. Returns the review's status for the next state."""

from clinical import clients
from clinical.errors import content_free_errors
from clinical.messages import ReviewDeadline, parse_message
from clinical.observability import logger, metrics, tracer
from clinical.settings import require_env
from clinical.steps import keep_review_deadline


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    deadline = parse_message(ReviewDeadline, event, "the review deadline payload")
    status = keep_review_deadline(
        clients.s3(), bucket=require_env("ENCOUNTER_BUCKET"), encounter_id=deadline.encounter_id,
        deadline=deadline.deadline,
    )  # fmt: skip
    return {"encounter_id": deadline.encounter_id, "status": status}

"""State machine callback task: store the execution's task token in the note's review record, for the
clinician's sign or send-back to redeem; a review decided before the wait began ends the wait at once."""

from clinical import clients
from clinical.environment import require_env
from clinical.errors import content_free_errors
from clinical.messages import ReviewWait, parse_message
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.review_record import end_wait, wait_for


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    wait = parse_message(ReviewWait, event, "the AwaitReview payload")
    annotate_encounter(wait.encounter_id)
    status = wait_for(clients.s3(), require_env("ENCOUNTER_BUCKET"), wait.encounter_id, wait.task_token)
    if status != "AWAITING_REVIEW":
        end_wait(clients.stepfunctions(), wait.task_token, wait.encounter_id, status)
    logger.info("waiting for the review", extra={"encounter_id": wait.encounter_id, "review_status": status})
    return {"encounter_id": wait.encounter_id, "review_status": status}

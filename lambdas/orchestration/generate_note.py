"""State machine tasks: draft the note (GenerateNote), or draft it again after the clinician sent it back
(RedraftNote), with the same domain steps the choreography variant uses.

Errors propagate with their class name as the error type, so the state machine's Retry and Catch
can tell NoteModelThrottled (retry) from InvalidModelOutput (record the failure).
"""

from clinical import clients
from clinical.errors import content_free_errors
from clinical.messages import NoteRequest, parse_message
from clinical.observability import annotate_encounter, logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.steps.drafts import draft_note, redraft_note


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    request = parse_message(NoteRequest, event, "the GenerateNote payload")
    annotate_encounter(request.encounter_id)
    arguments = dict(
        s3=clients.s3(),
        bedrock=clients.bedrock_runtime(),
        transcribe=clients.transcribe(),
        bucket=require_env("ENCOUNTER_BUCKET"),
        encounter_id=request.encounter_id,
        settings=PipelineSettings.from_env(),
    )
    # Only locations, hashes and statuses go back into the execution history, never note text.
    if request.redraft:
        redrafted = redraft_note(**arguments)
        return {"redrafted": redrafted.redrafted, "review_status": redrafted.review_status}
    drafted = draft_note(**arguments)
    return {"note_key": drafted.key, "written": drafted.written, "transcript_sha256": drafted.transcript_sha256}

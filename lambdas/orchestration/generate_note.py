"""State machine task: draft the note with the same domain step the choreography variant uses.

Errors propagate with their class name as the error type, so the state machine's Retry and Catch
can tell NoteModelThrottled (retry) from InvalidModelOutput (record the failure).
"""

from clinical import clients
from clinical.errors import content_free_errors
from clinical.messages import NoteRequest, parse_message
from clinical.observability import logger, metrics, tracer
from clinical.settings import PipelineSettings, require_env
from clinical.steps import draft_note


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@content_free_errors
def handler(event, context):
    drafted = draft_note(
        clients.s3(),
        clients.bedrock_runtime(),
        clients.transcribe(),
        bucket=require_env("ENCOUNTER_BUCKET"),
        encounter_id=parse_message(NoteRequest, event, "the GenerateNote payload").encounter_id,
        settings=PipelineSettings.from_env(),
    )
    # Only locations and hashes go back into the execution history, never note text.
    return {"note_key": drafted.key, "written": drafted.written, "transcript_sha256": drafted.transcript_sha256}

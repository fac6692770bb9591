"""An encounter's Step Functions execution, as the orchestration variant runs it and an operator reads it.

Executions are named by encounter id; an execution that ended in one of UNSUCCESSFUL is a failed
encounter, and the state it failed in names the stage (STAGE_OF_STATE). The handlers start and record
executions with these; the operator CLI reads them with the same definitions.
"""

from __future__ import annotations

UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")
# Every other state is about the transcript.
REVIEW_STATES = ("CheckReview", "ReviewOutcome", "AwaitReview")
STAGE_OF_STATE = {"GenerateNote": "note"} | dict.fromkeys(REVIEW_STATES, "review")


def execution_arn(state_machine_arn: str, encounter_id: str) -> str:
    """The execution an encounter id names (executions are named by encounter id)."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{encounter_id}"


def execution_history(stepfunctions, execution_arn: str) -> list[dict]:
    """Every event of an execution's history, across pages."""
    events, token = [], None
    while True:
        page = stepfunctions.get_execution_history(
            executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events

"""The CloudWatch Logs Insights query that finds one encounter's log lines, in the stacks' saved query and in the
console links `scribe status --links` prints.

The functions log the id under a key of its own (`encounter_id`, Powertools' structured JSON); the state
machine's execution log (execution data off) carries the execution's ARN, whose last part is the id. Ids,
stages and error types only: the log lines carry no transcript or note text.
"""

from __future__ import annotations

from clinical.layout import validate_encounter_id

# What the saved query's reader replaces with an encounter id.
ENCOUNTER_ID_PLACEHOLDER = "ENCOUNTER-ID"
SHOWN_FIELDS = ("@timestamp", "@log", "level", "message", "encounter_id", "stage", "error_type", "type")


def encounter_filter(encounter_id: str) -> str:
    """The Insights filter of one encounter's lines (the id is checked: it goes into a query)."""
    validate_encounter_id(encounter_id)
    return f'encounter_id = "{encounter_id}" or execution_arn like /:{encounter_id}$/'


def encounter_query(encounter_id: str = ENCOUNTER_ID_PLACEHOLDER) -> str:
    """The whole query, oldest line first."""
    return "\n".join(
        (f"fields {', '.join(SHOWN_FIELDS)}", f"| filter {encounter_filter(encounter_id)}", "| sort @timestamp asc")
    )

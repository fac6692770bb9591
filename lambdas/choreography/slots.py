"""Choreography's side of the line for Transcribe's slots (clinical.waiting_line): a refused request stands in
line with its message as delivered, and a woken one goes back into the transcription-requests queue carrying
when it first waited, so it keeps its place if it is refused again."""

from __future__ import annotations

from datetime import datetime

from clinical import clients
from clinical.settings import PipelineSettings
from clinical.waiting_line import Waiter

WAITING_SINCE = "waiting_since"  # the message attribute of a woken request


def line_table(settings: PipelineSettings) -> str:
    """The line's table (the stack names it in every function that waits or wakes)."""
    if not settings.transcription_line_table:
        from clinical.errors import ConfigurationError

        raise ConfigurationError("environment variable TRANSCRIPTION_LINE_TABLE is not set")
    return settings.transcription_line_table


def waker(settings: PipelineSettings):
    """How this deployment wakes a waiter: its request, sent again to the transcription-requests queue."""
    sqs, queue_url = clients.sqs(), settings.transcription_requests_url

    def wake(waiter: Waiter) -> bool:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=waiter.wake,
            MessageAttributes={WAITING_SINCE: {"DataType": "String", "StringValue": waiter.place.since.isoformat()}},
        )
        return True

    return wake


def waiting_since(attributes) -> datetime | None:
    """When a woken request first waited (None for a request that never waited)."""
    return datetime.fromisoformat(attributes[WAITING_SINCE].string_value) if WAITING_SINCE in attributes else None

"""Choreography's side of the line for Transcribe's slots (clinical.waiting_line): a refused request stands in
line with its message as delivered, and a woken one goes back into the transcription-requests queue marked as
woken, so it asks though others wait (its place, from its upload, is the same if it is refused again)."""

from __future__ import annotations

from clinical import clients
from clinical.settings import PipelineSettings
from clinical.waiting_line import Waiter

WOKEN = "woken"  # the message attribute of a woken request: its place in line


def waker(settings: PipelineSettings):
    """How this deployment wakes a waiter: its request, sent again to the transcription-requests queue."""
    sqs, queue_url = clients.sqs(), settings.transcription_requests_url

    def wake(waiter: Waiter) -> bool:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=waiter.wake,
            MessageAttributes={WOKEN: {"DataType": "String", "StringValue": waiter.place.key}},
        )
        return True

    return wake


def woken(record) -> bool:
    """Whether a request was woken from the line (it asks Transcribe though others wait: it was their head)."""
    return WOKEN in record.message_attributes

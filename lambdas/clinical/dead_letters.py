"""What a DLQ holds, read without taking it: a request whose every try ended with the function's runtime
dying (out of memory, a timeout, an exit) reaches its DLQ with no failure record, since no handler code
finished to write one. The state machine learns this from its task (`Lambda.Unknown`); choreography's
watchdog learns it here, and records the same failure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from clinical.event_names import NOTE_SENT_BACK, SOURCE
from clinical.layout import ENCOUNTER_ID_PATTERN, encounter_of_key

# Long enough to page through the queue once; each message is made visible again right after, so a
# redrive (StartMessageMoveTask) finds it.
READ_VISIBILITY_SECONDS = 30
# The most messages one read looks at (the DLQ's alarm pages at the first one anyway).
READ_LIMIT = 100


def request_of_body(body: str) -> tuple[str, bool] | None:
    """The encounter a work message is about, and whether it asks for a redraft: an S3 Object Created event
    for audio/ or transcripts/ (False), or a note sent back (NoteSentBack from the domain bus: True)."""
    try:
        event = json.loads(body)
        if event.get("source") == SOURCE and event.get("detail-type") == NOTE_SENT_BACK:
            found = event["detail"]["encounter_id"]
            valid = isinstance(found, str) and ENCOUNTER_ID_PATTERN.fullmatch(found)
            return (found, True) if valid else None
        key = event["detail"]["object"]["key"]  # EventBridge carries the key as stored: no decoding
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    encounter = encounter_of_key(key) if isinstance(key, str) else None
    return (encounter, False) if encounter else None


def encounter_of_body(body: str) -> str | None:
    """The encounter a work message is about, if any."""
    request = request_of_body(body)
    return request[0] if request else None


@dataclass(frozen=True)
class DeadLetter:
    encounter_id: str
    first_attempt_at: datetime | None  # its first receive from the work queue (a DLQ move keeps it)
    redraft: bool = False  # a note sent back, not a transcript to draft


def dead_letters(sqs, queue_url: str, limit: int = READ_LIMIT) -> list[DeadLetter]:
    """The encounters whose requests sit in the DLQ at queue_url, once per encounter and kind (a draft, a
    redraft), in the order read; the messages stay where they are."""
    seen: dict[str, str] = {}  # message id -> receipt handle
    found: dict[tuple[str, bool], DeadLetter] = {}
    try:
        while len(seen) < limit:
            batch = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["ApproximateFirstReceiveTimestamp"],
                VisibilityTimeout=READ_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen[message["MessageId"]] = message["ReceiptHandle"]
                request = request_of_body(message.get("Body", ""))
                if request is not None and request not in found:
                    first = message.get("Attributes", {}).get("ApproximateFirstReceiveTimestamp")
                    at = datetime.fromtimestamp(int(first) / 1000, UTC) if first else None
                    found[request] = DeadLetter(request[0], at, redraft=request[1])
    finally:
        handles = list(seen.values())
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for n, handle in enumerate(handles[start : start + 10])
                ],
            )
    return list(found.values())

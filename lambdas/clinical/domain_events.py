"""Domain events: what happened to an encounter, put on the deployment's own EventBridge bus for anyone who
subscribes (the edges are choreographed; each variant's core keeps its own style).

Each event's detail has a JSON schema in clinical/event_schemas/ (a contract test checks every event the
stacks emit against it): a version, a deterministic `event_id`, the encounter id, the variant and when, and
then ids, counts and kinds only, never transcript, note or model text. Delivery is at least once: a step
retried after it put an event puts it again with the same `event_id`, which consumers deduplicate on.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from clinical import clients
from clinical.errors import DomainEventNotPublished
from clinical.event_names import (  # noqa: F401 (re-exported: the domain's events are named here)
    DETAIL_TYPES,
    ENCOUNTER_FAILED,
    NOTE_DRAFTED,
    NOTE_NEEDS_REVIEW,
    NOTE_REDRAFTED,
    NOTE_SENT_BACK,
    NOTE_SIGNED,
    REVIEW_EXPIRED,
    REVIEW_REMINDER,
    SOURCE,
)
from clinical.observability import logger

VERSION = "1"
BUS_ENVIRONMENT = "DOMAIN_EVENT_BUS"


def event_id(detail_type: str, *facts: str) -> str:
    return hashlib.sha256("\x1f".join((detail_type, *facts)).encode()).hexdigest()


def detail(detail_type: str, *, encounter_id: str | None, variant: str, facts: tuple[str, ...], **fields) -> dict:
    return {
        "version": VERSION,
        "event_id": event_id(detail_type, *facts),
        "encounter_id": encounter_id,
        "variant": variant,
        "occurred_at": datetime.now(UTC).isoformat(),
        **fields,
    }


def publish(events: list[tuple[str, dict]], bus: str | None = None, client=None) -> None:
    """Put the events on `bus`, by default the one DOMAIN_EVENT_BUS names (a deployment's functions always
    have it; without either, as in a test of the domain alone, there is no bus and nothing is put), with
    `client` (an operator's, from the CLI) or the function's own. An entry EventBridge does not take is
    DomainEventNotPublished: transient, so the step is retried and puts it again."""
    bus = bus or os.environ.get(BUS_ENVIRONMENT, "")
    if not bus or not events:
        return
    entries = [
        {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(body), "EventBusName": bus}
        for detail_type, body in events
    ]
    try:
        response = (client or clients.events()).put_events(Entries=entries)
    except ClientError as error:
        raise DomainEventNotPublished(f"EventBridge refused the events ({error.response['Error']['Code']})") from None
    if response.get("FailedEntryCount"):
        codes = sorted({entry.get("ErrorCode", "?") for entry in response["Entries"] if entry.get("ErrorCode")})
        raise DomainEventNotPublished(
            f"EventBridge did not take {response['FailedEntryCount']} event(s) ({', '.join(codes)})"
        )
    for detail_type, body in events:
        logger.info("domain event put", extra={"encounter_id": body["encounter_id"], "detail_type": detail_type})

"""Reading the events that carry work: S3 "Object Created" events from EventBridge, inside SQS.

A message set aside (the quarantine) and a failed delivery (its failure record) are the rare paths: their modules
are imported where they begin, not by every function that reads a message (docs/performance.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical import clients
from clinical.environment import require_env
from clinical.errors import MalformedMessage
from clinical.event_names import SOURCE
from clinical.messages import Model, ObjectCreatedEvent, parse_message

if TYPE_CHECKING:
    from clinical.failures import Delivery


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str


def message_source(record: SQSRecord) -> str:
    """How a quarantine record names an SQS message: its queue and message id, nothing from its body."""
    return f"sqs:{(record.event_source_arn or '').rpartition(':')[2]}/{record.message_id}"


def set_aside_message(record: SQSRecord, variant: str, reason: str) -> str:
    """Quarantine a message its consumer cannot take (the QuarantinedObjects alarm fires); its record key."""
    from clinical.quarantine import quarantine

    return quarantine(
        clients.s3(),
        require_env("ENCOUNTER_BUCKET"),
        source_key=message_source(record),
        version_id=None,
        variant=variant,
        reason=reason,
    )


def message_of(record: SQSRecord, model: type[Model], what: str, variant: str) -> Model | None:
    """The message `record` carries, as `model`; None when it is not one: it is then quarantined and the
    delivery is to be acknowledged, as no retry can help."""
    try:
        return parse_message(model, record.body, what)
    except MalformedMessage as error:
        set_aside_message(record, variant, error.message)
        return None


def object_created(record: SQSRecord, variant: str) -> ObjectCreated | None:
    """The bucket and key of the S3 event an SQS message carries, the key as stored (never decoded); None
    when the message is not an Object Created event of the encounter bucket (it is quarantined)."""
    event = message_of(record, ObjectCreatedEvent, "an S3 Object Created event", variant)
    if event is None:
        return None
    # S3 -> EventBridge "Object Created" carries detail.object.key as stored, not URL-encoded: the S3 User
    # Guide says "URL encoded" of Records[].s3.object.key in SQS/SNS/Lambda notifications ("Event message
    # structure"), and nothing of the kind of the EventBridge detail ("EventBridge event message structure");
    # keys like "%2B++ %20.mp3" arrive as is (aws-solutions-library-samples/guidance-for-medialake-on-aws#21).
    # So the raw field is read: Powertools' detail.object.key applies unquote_plus (audio/b11%41pct.wav would
    # become b11Apct, "+" a space), and the sweep's ListObjectsV2 keys are never decoded either.
    if event.detail.bucket.name != require_env("ENCOUNTER_BUCKET"):
        set_aside_message(record, variant, "an S3 Object Created event of another bucket than the encounter bucket")
        return None
    return ObjectCreated(bucket=event.detail.bucket.name, key=event.detail.object.key)


def is_domain_event(record: SQSRecord, detail_type: str) -> bool:
    """Whether an SQS message carries the domain bus's event of this detail type (as far as its envelope says:
    the consumer then reads it with its model)."""
    try:
        body = json.loads(record.body)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("source") == SOURCE and body.get("detail-type") == detail_type


def delivery_of(record: SQSRecord, max_attempts: int) -> Delivery:
    """Which delivery of its message this is, from SQS's own receive count."""
    from clinical.failures import Delivery

    first = record.attributes.approximate_first_receive_timestamp
    return Delivery(
        attempt=int(record.attributes.approximate_receive_count or 1),
        max_attempts=max_attempts,
        first_attempt_at=datetime.fromtimestamp(int(first) / 1000, UTC) if first else None,
    )

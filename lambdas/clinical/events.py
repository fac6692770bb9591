"""Reading the events that carry work: S3 "Object Created" events from EventBridge, inside SQS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes.s3_event import (
    S3EventBridgeNotificationEvent,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical.failures import Delivery
from clinical.layout import decode_event_key


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str


def object_created(record: SQSRecord) -> ObjectCreated:
    """The bucket and decoded key of the S3 event an SQS message carries."""
    event = S3EventBridgeNotificationEvent(record.json_body)
    return ObjectCreated(bucket=event.detail.bucket.name, key=decode_event_key(event.detail.object.key))


def delivery_of(record: SQSRecord, max_attempts: int) -> Delivery:
    """Which delivery of its message this is, from SQS's own receive count."""
    first = record.attributes.approximate_first_receive_timestamp
    return Delivery(
        attempt=int(record.attributes.approximate_receive_count or 1),
        max_attempts=max_attempts,
        first_attempt_at=datetime.fromtimestamp(int(first) / 1000, UTC) if first else None,
    )

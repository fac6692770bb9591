"""Reading the events that carry work: S3 "Object Created" events from EventBridge, inside SQS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes.s3_event import (
    S3EventBridgeNotificationEvent,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from clinical.failures import Delivery


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str


def object_created(record: SQSRecord) -> ObjectCreated:
    """The bucket and key of the S3 event an SQS message carries, the key as stored (never decoded)."""
    event = S3EventBridgeNotificationEvent(record.json_body)
    # S3 -> EventBridge "Object Created" carries detail.object.key as stored, not URL-encoded: the S3 User
    # Guide says "URL encoded" of Records[].s3.object.key in SQS/SNS/Lambda notifications ("Event message
    # structure"), and nothing of the kind of the EventBridge detail ("EventBridge event message structure");
    # keys like "%2B++ %20.mp3" arrive as is (aws-solutions-library-samples/guidance-for-medialake-on-aws#21).
    # So the raw field is read: Powertools' detail.object.key applies unquote_plus (audio/b11%41pct.wav would
    # become b11Apct, "+" a space), and the sweep's ListObjectsV2 keys are never decoded either.
    return ObjectCreated(bucket=event.detail.bucket.name, key=event.detail.object["key"])


def delivery_of(record: SQSRecord, max_attempts: int) -> Delivery:
    """Which delivery of its message this is, from SQS's own receive count."""
    first = record.attributes.approximate_first_receive_timestamp
    return Delivery(
        attempt=int(record.attributes.approximate_receive_count or 1),
        max_attempts=max_attempts,
        first_attempt_at=datetime.fromtimestamp(int(first) / 1000, UTC) if first else None,
    )

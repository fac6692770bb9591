"""Real-shaped AWS events for the handlers, built from the JSON files in tests/events."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def object_created(bucket: str, key: str) -> dict:
    """The EventBridge "Object Created" event S3 emits; detail.object.key is the key as stored, not URL-encoded."""
    event = copy.deepcopy(load("eventbridge_s3_object_created.json"))
    event["id"] = str(uuid.uuid4())
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key
    return event


def sqs_event(*bodies: dict | str, receive_count: int = 1, queue: str = "work") -> dict:
    """A Lambda SQS event whose records carry the given bodies (dicts are JSON-encoded)."""
    now = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{index}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": now,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def execution_status_change(execution_arn: str, status: str = "FAILED") -> dict:
    """The EventBridge "Step Functions Execution Status Change" event of an execution that ended."""
    event = copy.deepcopy(load("eventbridge_sfn_execution_status_change.json"))
    event["id"] = str(uuid.uuid4())
    event["resources"] = [execution_arn]
    machine = execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    event["detail"].update(
        executionArn=execution_arn, stateMachineArn=machine, name=execution_arn.rsplit(":", 1)[1], status=status
    )
    return event

"""Real-shaped AWS events for the handlers, built from the JSON files in tests/events."""

from __future__ import annotations

import copy
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "events"


@dataclass
class LambdaContext:
    """The attributes of a Lambda context object that Powertools reads (localcloud.sqs_event_source has the
    local cloud's own; the unit tier keeps this copy so that it loads nothing of the local cloud)."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


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

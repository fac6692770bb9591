"""An SQS -> Lambda event source mapping with AWS semantics, for moto's SQS.

moto's own mapping invokes the function inside send_message, one record at a time, ignores
batchItemFailures and never retries. This poller does what Lambda does: receive up to
batch_size messages, invoke the handler with an SQS event, delete what succeeded, leave the
rest to reappear after the visibility timeout, and let the queue's redrive policy move a
message to its DLQ once its receive count passes maxReceiveCount.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict, Any], Any]


@dataclass
class LambdaContext:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name: str = "local-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class PollResult:
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    invocation_errors: int = 0


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """One record of a Lambda SQS event, built from a ReceiveMessage result."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            name: attributes[name]
            for name in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
            )
            if name in attributes
        },
        "messageAttributes": {
            # Lambda's spelling of ReceiveMessage's attributes.
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsEventSource:
    """Delivers one queue's messages to one handler, batch by batch."""

    def __init__(
        self,
        sqs,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        report_batch_item_failures: bool = True,
        function_name: str = "local-function",
        retry_immediately: bool = False,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.report_batch_item_failures = report_batch_item_failures
        self.function_name = function_name
        # For tests without simulated time: a failed message becomes visible again at once, not after the timeout.
        self.retry_immediately = retry_immediately
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = attributes["QueueArn"]
        self.region = self.queue_arn.split(":")[3]

    def poll_once(self) -> PollResult:
        """Receive one batch and settle it as Lambda would. Returns what happened."""
        messages = self.receive()
        if not messages:
            return PollResult()
        try:
            response = self.handler(self.event(messages), LambdaContext(function_name=self.function_name))
        except Exception:
            return self.settle(messages, None, crashed=True)
        return self.settle(messages, response)

    def receive(self, limit: int | None = None) -> list[dict]:
        """One ReceiveMessage of up to a batch (no long polling: the caller decides when to poll)."""
        return self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, 10, limit or 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])

    def event(self, messages: list[dict]) -> dict:
        return {"Records": [sqs_record(m, self.queue_arn, self.region) for m in messages]}

    def settle(self, messages: list[dict], response: Any, *, crashed: bool = False) -> PollResult:
        """Delete what succeeded; what failed reappears after the visibility timeout (and moves to the
        DLQ once its receive count passes maxReceiveCount)."""
        result = PollResult(received=len(messages), invocation_errors=int(crashed))
        failed_ids = {m["MessageId"] for m in messages} if crashed else self._failed_ids(response, messages)
        for message in messages:
            if message["MessageId"] in failed_ids:
                result.failed += 1
                if self.retry_immediately:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
            else:
                result.succeeded += 1
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return result

    def _failed_ids(self, response: Any, messages: list[dict]) -> set[str]:
        if not self.report_batch_item_failures or not isinstance(response, dict):
            return set()
        failures = response.get("batchItemFailures") or []
        known = {m["MessageId"] for m in messages}
        ids = {item.get("itemIdentifier") for item in failures}
        # Lambda treats an unknown or empty identifier as a failure of the whole batch.
        return known if ids - known else ids

    def drain(self, max_polls: int = 100) -> list[PollResult]:
        """Poll until the queue yields nothing (or max_polls), returning each poll's result."""
        results = []
        for _ in range(max_polls):
            result = self.poll_once()
            if not result.received:
                break
            results.append(result)
        return results

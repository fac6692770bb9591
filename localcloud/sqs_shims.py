"""SQS APIs moto 5.2.5 lacks: the DLQ redrive (StartMessageMoveTask, ListMessageMoveTasks)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

from moto.core.responses import ActionResult
from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.models import SQSBackend

from localcloud import moto_patches


def _queue_by_arn(backend: SQSBackend, arn: str):
    for queue in backend.queues.values():
        if queue.queue_arn == arn:
            return queue
    raise QueueDoesNotExist()


def start_message_move_task(backend: SQSBackend, source_arn: str, destination_arn: str | None = None) -> dict:
    """Move every visible message of a DLQ back to its source queue (or to destination_arn), as SQS's
    DLQ redrive does; here the move completes before the call returns."""
    dlq = _queue_by_arn(backend, source_arn)
    if destination_arn:
        destination = _queue_by_arn(backend, destination_arn)
    else:
        sources = backend.list_dead_letter_source_queues(dlq.name)
        if len(sources) != 1:
            raise ValueError(f"{dlq.name} is the DLQ of {len(sources)} queues; give DestinationArn")
        [destination] = sources
    moved = 0
    for message in list(dlq.messages):
        backend.send_message(destination.name, message.body, message_attributes=message.message_attributes)
        with dlq._messages_lock:
            dlq._messages.remove(message)
        moved += 1
    task = {
        "TaskHandle": str(uuid.uuid4()),
        "Status": "COMPLETED",
        "SourceArn": source_arn,
        "DestinationArn": destination.queue_arn,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": moved,
        "StartedTimestamp": int(time.time() * 1000),
    }
    backend.__dict__.setdefault("_message_move_tasks", []).append(task)
    return task


@contextlib.contextmanager
def dlq_redrive() -> Iterator[None]:
    def response_start(self):
        task = start_message_move_task(
            self.sqs_backend, self._get_param("SourceArn"), self._get_param("DestinationArn")
        )
        return ActionResult({"TaskHandle": task["TaskHandle"]})

    def response_list(self):
        source = self._get_param("SourceArn")
        tasks = [t for t in self.sqs_backend.__dict__.get("_message_move_tasks", []) if t["SourceArn"] == source]
        return ActionResult({"Results": list(reversed(tasks))[: int(self._get_param("MaxResults") or 1)]})

    with (
        moto_patches.add("moto.sqs.responses.SQSResponse.start_message_move_task", response_start),
        moto_patches.add("moto.sqs.responses.SQSResponse.list_message_move_tasks", response_list),
    ):
        yield

"""Task tokens of executions waiting for a transcript, keyed by encounter id (DynamoDB with TTL).

Both orders of "token stored" and "transcript arrived" resume the execution: the waiter stores
its token before it looks for the transcript, and the transcript exists before its event is sent.
"""

from __future__ import annotations

import json
import time

from botocore.exceptions import ClientError

from clinical.layout import transcript_key
from clinical.observability import logger

STALE_TOKEN_CODES = {"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"}
TOKEN_TTL_SECONDS = 2 * 24 * 3600


def register_wait(dynamodb, table: str, encounter_id: str, task_token: str, now: float | None = None) -> None:
    expires_at = int((now or time.time()) + TOKEN_TTL_SECONDS)
    dynamodb.put_item(
        TableName=table,
        Item={
            "encounter_id": {"S": encounter_id},
            "task_token": {"S": task_token},
            "expires_at": {"N": str(expires_at)},
        },
    )


def take_wait(dynamodb, table: str, encounter_id: str) -> str | None:
    """Remove and return the waiting execution's token, if one is registered."""
    response = dynamodb.delete_item(TableName=table, Key={"encounter_id": {"S": encounter_id}}, ReturnValues="ALL_OLD")
    item = response.get("Attributes")
    return item["task_token"]["S"] if item else None


def resume(stepfunctions, task_token: str, encounter_id: str) -> bool:
    """Hand the transcript's location to the waiting execution; False if that wait is already over."""
    try:
        stepfunctions.send_task_success(
            taskToken=task_token, output=json.dumps({"transcript_key": transcript_key(encounter_id)})
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in STALE_TOKEN_CODES:
            logger.info("wait already over", extra={"encounter_id": encounter_id})
            return False
        raise
    logger.info("execution resumed with transcript", extra={"encounter_id": encounter_id})
    return True

"""Orchestration's side of the line for Transcribe's slots (clinical.waiting_line): a waiter is an execution's
AwaitSlot task token; waking it is SendTaskSuccess, which works once: a token whose wait is over (the
execution ended, or its wait timed out and it asked again) wakes nobody, and the next in line is woken."""

from __future__ import annotations

from botocore.exceptions import ClientError

from clinical import clients
from clinical.observability import logger
from clinical.waiting_line import Waiter
from orchestration.transcript_waits import STALE_TOKEN_CODES


def waker():
    """How this deployment wakes a waiter: its execution's task token redeemed."""
    stepfunctions = clients.stepfunctions()

    def wake(waiter: Waiter) -> bool:
        try:
            stepfunctions.send_task_success(taskToken=waiter.wake, output="{}")
        except ClientError as error:
            if error.response["Error"]["Code"] in STALE_TOKEN_CODES:
                logger.info("waiter's wait already over", extra={"encounter_id": waiter.place.encounter_id})
                return False
            raise
        return True

    return wake

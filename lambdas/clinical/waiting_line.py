"""The line for Transcribe Medical's job slots: uploads wait their turn in order instead of asking again.

Transcribe Medical runs a fixed number of jobs at once per account (its concurrent-job quota); a start past it
is refused (LimitExceededException). Asking again on a timer is a storm at the end of a clinic: every waiting
upload asks every minute while one slot frees now and then. Here a refused start joins a line (a DynamoDB
table, one item per waiting encounter, ordered by when it first waited) and asks nothing more; a slot that
frees wakes the line's head, which asks once. So an upload asks Transcribe about twice however long it waits
(decision 0018).

- Who waits: a start Transcribe refused for its quota or rate, and a new upload that finds anyone waiting
  (it goes behind them, so the oldest is served first and a late upload never takes a freed slot from one
  that waited).
- Who wakes: the end of a job (its transcript arrived, or it failed) wakes the head, once per job (an
  item per ended job, written on condition, keeps a redelivered event from waking twice); every scheduled
  sweep wakes the head too, and everyone who has waited `quota_wait_minutes` (they then start, or fail with
  their record), so a wake that was lost costs at most a sweep interval.
- Taking a waiter out of the line is a conditional delete: of two wakers at once, one gets it. A woken
  start that is refused again joins at its first place, ahead of those who came after.
- What a variant does to wake a waiter (put its request back in the queue; send its execution's task
  token) is the variant's: `wake` returns False when the waiter is gone (its execution ended), and the next
  one is woken instead.

Items hold ids, times and the variant's wake (an S3 event as delivered, or a task token): no PHI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from clinical.observability import logger

# The table's key (the stacks and the tests build it from these): a partition per kind of item, then a place.
PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE = "line", "place", "expires_at"
WAITING = "waiting"  # the partition of the line itself, sorted by place
ENDED = "ended"  # one item per job whose end woke the line: its place is the encounter id
# Waiters and ended-job items are kept no longer than this after they were written (DynamoDB's TTL); a waiter
# still in line is woken by a sweep long before (quota_wait_minutes is at most a day).
KEEP_FOR = timedelta(days=2)
PAGE = 25


@dataclass(frozen=True)
class Place:
    """Where an encounter stands: when it first waited, then its id (so equal times keep one order)."""

    encounter_id: str
    since: datetime

    @property
    def key(self) -> str:
        return f"{self.since.isoformat()}#{self.encounter_id}"

    @classmethod
    def of(cls, key: str) -> Place:
        since, _, encounter_id = key.partition("#")
        return cls(encounter_id=encounter_id, since=datetime.fromisoformat(since))


@dataclass(frozen=True)
class Waiter:
    place: Place
    wake: str  # what the variant needs to wake it: a request as queued, or a task token


def _key(line: str, place: str) -> dict:
    return {"line": {"S": line}, "place": {"S": place}}


def _is_condition_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def anyone_waiting(dynamodb, table: str) -> bool:
    """Whether the line holds anyone (one strongly consistent read of at most one item)."""
    response = dynamodb.query(
        TableName=table,
        KeyConditionExpression="line = :line",
        ExpressionAttributeValues={":line": {"S": WAITING}},
        Limit=1,
        ConsistentRead=True,
        ProjectionExpression="place",
    )
    return bool(response.get("Items"))


def join(dynamodb, table: str, place: Place, wake: str, now: datetime) -> None:
    """Stand in line at `place` (again, after a woken start was refused: the same place, the new wake)."""
    dynamodb.put_item(
        TableName=table,
        Item={
            **_key(WAITING, place.key),
            "encounter_id": {"S": place.encounter_id},
            "wake": {"S": wake},
            "expires_at": {"N": str(int((now + KEEP_FOR).timestamp()))},
        },
    )
    logger.info("waiting in line for a Transcribe slot", extra={"encounter_id": place.encounter_id})


def waiters(dynamodb, table: str) -> Iterator[Waiter]:
    """The line, head first (it holds what waits now, never what waited before: its size is the backlog)."""
    start: dict | None = None
    while True:
        response = dynamodb.query(
            TableName=table,
            KeyConditionExpression="line = :line",
            ExpressionAttributeValues={":line": {"S": WAITING}},
            ConsistentRead=True,
            Limit=PAGE,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        for item in response.get("Items", []):
            yield Waiter(place=Place.of(item["place"]["S"]), wake=item["wake"]["S"])
        start = response.get("LastEvaluatedKey")
        if not start:
            return


def take(dynamodb, table: str, place: Place) -> Waiter | None:
    """Take one waiter out of the line; None if another waker took it first."""
    try:
        response = dynamodb.delete_item(
            TableName=table,
            Key=_key(WAITING, place.key),
            ConditionExpression="attribute_exists(place)",
            ReturnValues="ALL_OLD",
        )
    except ClientError as error:
        if _is_condition_failure(error):
            return None
        raise
    return Waiter(place=place, wake=response["Attributes"]["wake"]["S"])


def wake_head(dynamodb, table: str, wake: Callable[[Waiter], bool]) -> Waiter | None:
    """Take the line's head and wake it (the next one when it is gone); None when nobody waits."""
    for waiting in waiters(dynamodb, table):
        taken = take(dynamodb, table, waiting.place)
        if taken is not None and wake(taken):
            logger.info("woke the line's head", extra={"encounter_id": taken.place.encounter_id})
            return taken
    return None


def wake_for_ended_job(
    dynamodb, table: str, encounter_id: str, wake: Callable[[Waiter], bool], now: datetime
) -> Waiter | None:
    """The encounter's job ended (transcript or failure): its slot is free, so the head is woken, once for
    this job however often its end is delivered."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item={**_key(ENDED, encounter_id), "expires_at": {"N": str(int((now + KEEP_FOR).timestamp()))}},
            ConditionExpression="attribute_not_exists(place)",
        )
    except ClientError as error:
        if _is_condition_failure(error):
            return None  # this job's end already woke someone
        raise
    return wake_head(dynamodb, table, wake)


def wake_on_sweep(
    dynamodb, table: str, wake: Callable[[Waiter], bool], *, now: datetime, quota_wait: timedelta
) -> list[Waiter]:
    """A scheduled sweep wakes the head (a wake lost to a crash costs one interval) and everyone who has
    waited `quota_wait` (they start, or fail with their record: nobody waits for ever)."""
    woken: list[Waiter] = []
    for position, waiting in enumerate(waiters(dynamodb, table)):
        if position > 0 and now - waiting.place.since < quota_wait:
            break  # the line is in order of first wait: nobody further has waited that long
        taken = take(dynamodb, table, waiting.place)
        if taken is not None and wake(taken):
            woken.append(taken)
    if woken:
        logger.info("sweep woke waiters", extra={"woken": len(woken)})
    return woken


def waiting_ids(dynamodb, table: str) -> set[str]:
    """The encounters waiting in line (a lost-upload sweep counts them as taken in)."""
    return {waiting.place.encounter_id for waiting in waiters(dynamodb, table)}

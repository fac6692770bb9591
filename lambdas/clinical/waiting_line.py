"""The line for Transcribe Medical's job slots: uploads wait their turn in order instead of asking again.

Transcribe Medical runs a fixed number of jobs at once per account (its concurrent-job quota); a start past it
is refused (LimitExceededException). Asking again on a timer is a storm at the end of a clinic: every waiting
upload asks every minute while one slot frees now and then. Here a refused start joins a line (a DynamoDB
table, one item per waiting encounter, ordered by when it first waited) and asks nothing more; a slot that
frees wakes the line's head, which asks once. So an upload asks Transcribe about twice however long it waits
(decision 0018).

- Who waits: a start Transcribe refused for its quota or rate, and a new upload that finds anyone waiting
  (it goes behind them, so a late upload never takes a freed slot from one that waited).
- In what order: by when each visit began, the upload's time less its recording's declared length
  (x-amz-meta-recording-seconds; an upload that declares none is placed at its upload). The oldest visit is
  served first, and at the end of a clinic the long recordings, which would otherwise end last, start first.
  No upload waits behind one written more than 4 hours (the longest recording) after it.
- Who wakes: the end of a job (its transcript arrived, or it failed) wakes the head, once per job (an
  item per ended job, written on condition, keeps a redelivered event from waking twice); every scheduled
  sweep wakes the head too, with a chain: should it find a slot, it wakes the next, and so on until one is
  refused (so slots that no job's end of this deployment frees, after an outage or the account's other jobs,
  fill within a sweep interval); and the sweep wakes everyone who has waited `quota_wait_minutes` (they then
  start, or fail with their record). A wake that was lost, or a start refused when no job of this deployment
  runs (nothing will end to wake it), costs at most a sweep interval (`watchdog_interval_minutes`).
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

from clinical.environment import require_env
from clinical.layout import AudioUpload
from clinical.observability import logger

# The table's key (the stacks and the tests build it from these): a partition per kind of item, then a place.
PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE = "line", "place", "expires_at"
WAITING = "waiting"  # the partition of the line itself, sorted by place
ENDED = "ended"  # one item per job whose end woke the line: its place is the encounter id
CHAIN = "chain"  # one item per encounter a sweep's chain woke: should it start, it wakes the next
CHAIN_FOR = timedelta(minutes=5)  # a chain not carried on within this (the woken start was refused) is over
# Waiters and ended-job items are kept no longer than this after they were written (DynamoDB's TTL); a waiter
# still in line is woken by a sweep long before (quota_wait_minutes is at most a day).
KEEP_FOR = timedelta(days=2)
PAGE = 25  # a sweep reads the line in pages of this many
HEAD = 1  # a wake reads the head alone (the next only if another waker took it first): one item, not a page


def line_table() -> str:
    """The line's table, as the stack names it to every function that waits or wakes."""
    return require_env("TRANSCRIPTION_LINE_TABLE")


@dataclass(frozen=True)
class Place:
    """Where an encounter stands: when its visit began (its upload less its recording's declared length), then
    its id (so equal times keep one order)."""

    encounter_id: str
    since: datetime

    @property
    def key(self) -> str:
        return f"{self.since.isoformat()}#{self.encounter_id}"

    @classmethod
    def of(cls, key: str) -> Place:
        since, _, encounter_id = key.partition("#")
        return cls(encounter_id=encounter_id, since=datetime.fromisoformat(since))

    @classmethod
    def of_upload(cls, upload: AudioUpload) -> Place:
        if upload.began_at is None:
            raise ValueError("an upload is placed in line once it has been checked (its LastModified)")
        return cls(encounter_id=upload.encounter_id, since=upload.began_at)


@dataclass(frozen=True)
class Waiter:
    place: Place
    wake: str  # what the variant needs to wake it: a request as queued, or a task token
    uploaded_at: datetime  # the wait's limit counts from here


def waited_too_long(upload: AudioUpload, now: datetime, quota_wait: timedelta) -> bool:
    """Whether an upload has waited for a slot `quota_wait` since it was written."""
    return upload.uploaded_at is not None and now - upload.uploaded_at >= quota_wait


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


def join(dynamodb, table: str, upload: AudioUpload, wake: str, now: datetime) -> Place:
    """Stand in line at the upload's place (again, after a woken start was refused: the same place, the new
    wake)."""
    place = Place.of_upload(upload)
    dynamodb.put_item(
        TableName=table,
        Item={
            **_key(WAITING, place.key),
            "encounter_id": {"S": place.encounter_id},
            "wake": {"S": wake},
            "uploaded_at": {"S": upload.uploaded_at.isoformat()},
            "expires_at": {"N": str(int((now + KEEP_FOR).timestamp()))},
        },
    )
    logger.info("waiting in line for a Transcribe slot", extra={"encounter_id": place.encounter_id})
    return place


def waiters(dynamodb, table: str, *, page: int = PAGE) -> Iterator[Waiter]:
    """The line, head first (it holds what waits now, never what waited before: its size is the backlog), read
    `page` items at a time."""
    start: dict | None = None
    while True:
        response = dynamodb.query(
            TableName=table,
            KeyConditionExpression="line = :line",
            ExpressionAttributeValues={":line": {"S": WAITING}},
            ConsistentRead=True,
            Limit=page,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        for item in response.get("Items", []):
            yield _waiter(item)
        start = response.get("LastEvaluatedKey")
        if not start:
            return


def _waiter(item: dict) -> Waiter:
    return Waiter(
        place=Place.of(item["place"]["S"]),
        wake=item["wake"]["S"],
        uploaded_at=datetime.fromisoformat(item["uploaded_at"]["S"]),
    )


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
    return _waiter(response["Attributes"])


def wake_head(
    dynamodb, table: str, wake: Callable[[Waiter], bool], *, chain_at: datetime | None = None
) -> Waiter | None:
    """Take the line's head and wake it (the next one when it is gone); None when nobody waits. With `chain_at`
    (now), the woken one carries the chain on: should it find a slot, it wakes the next (`carry_chain`)."""
    for waiting in waiters(dynamodb, table, page=HEAD):
        if (woken := _take_and_wake(dynamodb, table, waiting, wake, chain_at)) is not None:
            logger.info("woke the line's head", extra={"encounter_id": woken.place.encounter_id})
            return woken
    return None


def _take_and_wake(
    dynamodb, table: str, waiting: Waiter, wake: Callable[[Waiter], bool], chain_at: datetime | None
) -> Waiter | None:
    """Take one waiter and wake it, handing it the chain first when `chain_at`; None if another waker took it
    or its wait was over."""
    taken = take(dynamodb, table, waiting.place)
    if taken is None:
        return None
    if chain_at is not None:
        _hand_chain(dynamodb, table, taken.place.encounter_id, chain_at)
    return taken if wake(taken) else None


def _hand_chain(dynamodb, table: str, encounter_id: str, now: datetime) -> None:
    expires = int((now + CHAIN_FOR).timestamp())
    dynamodb.put_item(TableName=table, Item={**_key(CHAIN, encounter_id), "expires_at": {"N": str(expires)}})


def carry_chain(
    dynamodb, table: str, encounter_id: str, wake: Callable[[Waiter], bool], now: datetime
) -> Waiter | None:
    """The encounter's job started: if a sweep's chain woke it, slots may be free that no job's end will free
    (Transcribe's own jobs ended, a refusal that was no quota), so it wakes the next with the chain, until one is
    refused. One conditional delete (nothing else) when no chain woke it."""
    try:
        held = dynamodb.delete_item(
            TableName=table, Key=_key(CHAIN, encounter_id), ConditionExpression="attribute_exists(place)",
            ReturnValues="ALL_OLD",
        )  # fmt: skip
    except ClientError as error:
        if _is_condition_failure(error):
            return None
        raise
    if int(held["Attributes"]["expires_at"]["N"]) < now.timestamp():
        return None  # a chain this encounter held before it was refused and waited again: it ended there
    return wake_head(dynamodb, table, wake, chain_at=now)


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
    """A scheduled sweep wakes the head with a chain (a wake lost to a crash, or slots freed that no job's end
    of this deployment frees, cost one interval: the chain fills them) and everyone who has waited `quota_wait`
    (they start, or fail with their record: nobody waits for ever)."""
    woken: list[Waiter] = []
    for position, waiting in enumerate(waiters(dynamodb, table)):
        if position > 0 and now - waiting.place.since < quota_wait:
            break  # in order of the visits' beginnings, each before its upload: nobody further waited that long
        if position > 0 and now - waiting.uploaded_at < quota_wait:
            continue
        if (taken := _take_and_wake(dynamodb, table, waiting, wake, now if position == 0 else None)) is not None:
            woken.append(taken)
    if woken:
        logger.info("sweep woke waiters", extra={"woken": len(woken)})
    return woken


def waiting_ids(dynamodb, table: str) -> set[str]:
    """The encounters waiting in line (a lost-upload sweep counts them as taken in)."""
    return {waiting.place.encounter_id for waiting in waiters(dynamodb, table)}

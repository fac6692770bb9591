"""clinical.waiting_line: uploads wait their turn for Transcribe's slots, the oldest first, each woken once per
freed slot; and the variants' wakers (a request sent again, a task token redeemed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from choreography import write_note
from clinical.waiting_line import (
    Place,
    anyone_waiting,
    join,
    take,
    waiters,
    waiting_ids,
    wake_for_ended_job,
    wake_head,
    wake_on_sweep,
)
from tests.support.events import object_created, sqs_event
from tests.unit.conftest import BUCKET, LINE_TABLE, converse_answer

NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


def place(encounter_id: str, minutes_ago: float) -> Place:
    return Place(encounter_id, NOW - timedelta(minutes=minutes_ago))


def ids(cloud) -> list[str]:
    return [waiter.place.encounter_id for waiter in waiters(cloud.dynamodb, LINE_TABLE)]


class Woken(list):
    """A waker that records whom it woke; `gone` are waiters whose wait is over (a stale task token)."""

    def __init__(self, gone=()):
        super().__init__()
        self.gone = set(gone)

    def __call__(self, waiter) -> bool:
        if waiter.place.encounter_id in self.gone:
            return False
        self.append(waiter.place.encounter_id)
        return True


def test_the_line_is_in_order_of_first_wait_whatever_the_order_of_joining(cloud):
    assert not anyone_waiting(cloud.dynamodb, LINE_TABLE)
    join(cloud.dynamodb, LINE_TABLE, place("enc-b", 5), "b", NOW)
    join(cloud.dynamodb, LINE_TABLE, place("enc-a", 9), "a", NOW)
    join(cloud.dynamodb, LINE_TABLE, place("enc-c", 1), "c", NOW)
    assert anyone_waiting(cloud.dynamodb, LINE_TABLE)
    assert ids(cloud) == ["enc-a", "enc-b", "enc-c"]
    assert waiting_ids(cloud.dynamodb, LINE_TABLE) == {"enc-a", "enc-b", "enc-c"}


def test_a_long_line_is_read_across_pages(cloud):
    for n in range(60):
        join(cloud.dynamodb, LINE_TABLE, place(f"enc-{n:03}", 100 - n), "w", NOW)
    assert ids(cloud) == [f"enc-{n:03}" for n in range(60)]


def test_of_two_wakers_one_takes_a_waiter(cloud):
    join(cloud.dynamodb, LINE_TABLE, place("enc-a", 5), "a", NOW)
    first, second = (
        take(cloud.dynamodb, LINE_TABLE, place("enc-a", 5)),
        take(cloud.dynamodb, LINE_TABLE, place("enc-a", 5)),
    )
    assert first is not None and first.wake == "a"
    assert second is None


def test_the_head_is_woken_and_a_waiter_whose_wait_is_over_is_passed_over(cloud):
    for name, minutes in (("enc-a", 9), ("enc-b", 5), ("enc-c", 1)):
        join(cloud.dynamodb, LINE_TABLE, place(name, minutes), name, NOW)
    woken = Woken(gone={"enc-a"})
    assert wake_head(cloud.dynamodb, LINE_TABLE, woken).place.encounter_id == "enc-b"
    assert woken == ["enc-b"]
    assert ids(cloud) == ["enc-c"], "the gone waiter left the line too"


def test_a_job_end_wakes_the_head_once_however_often_it_is_delivered(cloud):
    for name, minutes in (("enc-a", 9), ("enc-b", 5)):
        join(cloud.dynamodb, LINE_TABLE, place(name, minutes), name, NOW)
    woken = Woken()
    for _ in range(3):
        wake_for_ended_job(cloud.dynamodb, LINE_TABLE, "enc-done", woken, NOW)
    assert woken == ["enc-a"]
    wake_for_ended_job(cloud.dynamodb, LINE_TABLE, "enc-done-too", woken, NOW)
    assert woken == ["enc-a", "enc-b"], "another job's end wakes the next"


def test_a_job_end_with_nobody_waiting_wakes_nobody(cloud):
    woken = Woken()
    assert wake_for_ended_job(cloud.dynamodb, LINE_TABLE, "enc-done", woken, NOW) is None
    assert woken == []


def test_a_sweep_wakes_the_head_and_everyone_who_waited_too_long(cloud):
    for name, minutes in (("enc-a", 200), ("enc-b", 190), ("enc-c", 20), ("enc-d", 1)):
        join(cloud.dynamodb, LINE_TABLE, place(name, minutes), name, NOW)
    woken = Woken()
    wake_on_sweep(cloud.dynamodb, LINE_TABLE, woken, now=NOW, quota_wait=timedelta(minutes=180))
    assert woken == ["enc-a", "enc-b"]
    assert ids(cloud) == ["enc-c", "enc-d"]
    wake_on_sweep(cloud.dynamodb, LINE_TABLE, woken, now=NOW, quota_wait=timedelta(minutes=180))
    assert woken == ["enc-a", "enc-b", "enc-c"], "nobody waited too long: the head alone"


def test_rejoining_keeps_the_first_place_and_takes_the_new_wake(cloud):
    join(cloud.dynamodb, LINE_TABLE, place("enc-a", 9), "old token", NOW)
    join(cloud.dynamodb, LINE_TABLE, place("enc-b", 5), "b", NOW)
    join(cloud.dynamodb, LINE_TABLE, place("enc-a", 9), "new token", NOW)
    assert [(w.place.encounter_id, w.wake) for w in waiters(cloud.dynamodb, LINE_TABLE)] == [
        ("enc-a", "new token"),
        ("enc-b", "b"),
    ]


def test_a_place_reads_back_from_its_key():
    original = place("enc-a", 3)
    assert Place.of(original.key) == original


@pytest.fixture
def requests_queue(cloud, monkeypatch):
    url = cloud.sqs.create_queue(QueueName="transcription-requests")["QueueUrl"]
    monkeypatch.setenv("TRANSCRIPTION_REQUESTS_QUEUE_URL", url)
    return url


def test_a_transcript_arriving_sends_the_heads_request_again_with_its_first_wait(cloud, lambda_context, requests_queue):
    """Choreography: the note step sees the job's end and wakes the head, once for that transcript."""
    request = json.dumps(object_created(BUCKET, "audio/enc-waiting.wav"))
    join(cloud.dynamodb, LINE_TABLE, place("enc-waiting", 12), request, NOW)
    join(cloud.dynamodb, LINE_TABLE, place("enc-behind", 2), "behind", NOW)
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    event = sqs_event(object_created(BUCKET, "transcripts/enc-0001.json"))
    write_note.handler(event, lambda_context)
    write_note.handler(event, lambda_context)  # delivered again (or tried again): no second wake
    messages = cloud.sqs.receive_message(
        QueueUrl=requests_queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    assert [m["Body"] for m in messages] == [request]
    since = messages[0]["MessageAttributes"]["waiting_since"]["StringValue"]
    assert datetime.fromisoformat(since) == NOW - timedelta(minutes=12)
    assert ids(cloud) == ["enc-behind"]


def test_orchestrations_waker_passes_over_an_execution_whose_wait_is_over(cloud):
    from orchestration.slots import waker

    join(cloud.dynamodb, LINE_TABLE, place("enc-a", 9), "not-a-live-token", NOW)
    wake = waker()
    [waiter] = list(waiters(cloud.dynamodb, LINE_TABLE))
    assert wake(waiter) is False


def test_await_slot_stands_the_token_in_line_at_the_executions_start(cloud, lambda_context):
    from orchestration import await_slot

    started = datetime.now(UTC) - timedelta(minutes=3)
    event = {"encounter_id": "enc-a", "task_token": "token-a", "waiting_since": started.isoformat()}
    assert await_slot.handler(event, lambda_context) == {"encounter_id": "enc-a"}
    [waiter] = list(waiters(cloud.dynamodb, LINE_TABLE))
    assert (waiter.place, waiter.wake) == (Place("enc-a", started), "token-a")


def test_await_slot_past_the_quota_wait_fails_the_task_with_the_quota_exhausted(cloud, lambda_context):
    from clinical.errors import TranscriptionQuotaExhausted
    from orchestration import await_slot

    started = datetime.now(UTC) - timedelta(minutes=181)
    event = {"encounter_id": "enc-a", "task_token": "token-a", "waiting_since": started.isoformat()}
    with pytest.raises(TranscriptionQuotaExhausted, match="180 minutes of waiting in line"):
        await_slot.handler(event, lambda_context)
    assert list(waiters(cloud.dynamodb, LINE_TABLE)) == []


def test_await_slot_refuses_a_payload_without_its_place(cloud, lambda_context):
    from clinical.errors import MalformedMessage
    from orchestration import await_slot

    with pytest.raises(MalformedMessage):
        await_slot.handler({"encounter_id": "enc-a", "task_token": "t"}, lambda_context)
    assert boto3.client("dynamodb").scan(TableName=LINE_TABLE)["Items"] == []

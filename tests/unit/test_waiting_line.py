"""clinical.waiting_line: uploads wait their turn for Transcribe's slots, the oldest first, each woken once per
freed slot; and the variants' wakers (a request sent again, a task token redeemed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from choreography import write_note
from clinical.layout import AudioUpload
from clinical.waiting_line import (
    Place,
    anyone_waiting,
    carry_chain,
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


def upload(encounter_id: str, minutes_ago: float, recording_minutes: float = 0) -> AudioUpload:
    """An accepted upload written `minutes_ago`, declaring a recording of `recording_minutes` (0: none)."""
    return AudioUpload(
        key=f"audio/{encounter_id}.wav",
        encounter_id=encounter_id,
        media_format="wav",
        uploaded_at=NOW - timedelta(minutes=minutes_ago),
        recording_seconds=recording_minutes * 60,
    )


def place(encounter_id: str, minutes_ago: float, recording_minutes: float = 0) -> Place:
    return Place.of_upload(upload(encounter_id, minutes_ago, recording_minutes))


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
    join(cloud.dynamodb, LINE_TABLE, upload("enc-b", 5), "b", NOW)
    join(cloud.dynamodb, LINE_TABLE, upload("enc-a", 9), "a", NOW)
    join(cloud.dynamodb, LINE_TABLE, upload("enc-c", 1), "c", NOW)
    assert anyone_waiting(cloud.dynamodb, LINE_TABLE)
    assert ids(cloud) == ["enc-a", "enc-b", "enc-c"]
    assert waiting_ids(cloud.dynamodb, LINE_TABLE) == {"enc-a", "enc-b", "enc-c"}


def test_the_line_is_in_order_of_when_each_visit_began(cloud):
    """A 60-minute visit uploaded 5 minutes ago began before a 10-minute one uploaded 20 minutes ago: it goes
    first (at the end of a clinic the long recordings, which would end last, start first)."""
    join(cloud.dynamodb, LINE_TABLE, upload("enc-short", 20, recording_minutes=10), "s", NOW)
    join(cloud.dynamodb, LINE_TABLE, upload("enc-long", 5, recording_minutes=60), "l", NOW)
    join(cloud.dynamodb, LINE_TABLE, upload("enc-undeclared", 25), "u", NOW)
    assert ids(cloud) == ["enc-long", "enc-short", "enc-undeclared"]


def test_a_long_line_is_read_across_pages(cloud):
    for n in range(60):
        join(cloud.dynamodb, LINE_TABLE, upload(f"enc-{n:03}", 100 - n), "w", NOW)
    assert ids(cloud) == [f"enc-{n:03}" for n in range(60)]


def test_of_two_wakers_one_takes_a_waiter(cloud):
    join(cloud.dynamodb, LINE_TABLE, upload("enc-a", 5), "a", NOW)
    first, second = (
        take(cloud.dynamodb, LINE_TABLE, place("enc-a", 5)),
        take(cloud.dynamodb, LINE_TABLE, place("enc-a", 5)),
    )
    assert first is not None and first.wake == "a"
    assert second is None


def test_the_head_is_woken_and_a_waiter_whose_wait_is_over_is_passed_over(cloud):
    for name, minutes in (("enc-a", 9), ("enc-b", 5), ("enc-c", 1)):
        join(cloud.dynamodb, LINE_TABLE, upload(name, minutes), name, NOW)
    woken = Woken(gone={"enc-a"})
    assert wake_head(cloud.dynamodb, LINE_TABLE, woken).place.encounter_id == "enc-b"
    assert woken == ["enc-b"]
    assert ids(cloud) == ["enc-c"], "the gone waiter left the line too"


def test_a_job_end_wakes_the_head_once_however_often_it_is_delivered(cloud):
    for name, minutes in (("enc-a", 9), ("enc-b", 5)):
        join(cloud.dynamodb, LINE_TABLE, upload(name, minutes), name, NOW)
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
        join(cloud.dynamodb, LINE_TABLE, upload(name, minutes), name, NOW)
    # Began long ago (a 4-hour recording) but uploaded a minute ago: it has not waited too long.
    join(cloud.dynamodb, LINE_TABLE, upload("enc-long", 1, recording_minutes=240), "long", NOW)
    assert ids(cloud)[:3] == ["enc-long", "enc-a", "enc-b"]
    woken = Woken()
    wake_on_sweep(cloud.dynamodb, LINE_TABLE, woken, now=NOW, quota_wait=timedelta(minutes=180))
    assert woken == ["enc-long", "enc-a", "enc-b"], "the head, then everyone uploaded 180 minutes ago or more"
    assert ids(cloud) == ["enc-c", "enc-d"]
    wake_on_sweep(cloud.dynamodb, LINE_TABLE, woken, now=NOW, quota_wait=timedelta(minutes=180))
    assert woken == ["enc-long", "enc-a", "enc-b", "enc-c"], "nobody waited too long: the head alone"


def test_a_sweeps_chain_fills_every_free_slot_and_ends_at_the_first_refusal(cloud):
    """Slots that no job's end frees (Transcribe's own jobs ended): the sweep wakes the head with a chain, each
    woken one that starts wakes the next; one refused (it waits again) ends the chain."""
    for name, minutes in (("enc-a", 9), ("enc-b", 8), ("enc-c", 7), ("enc-d", 6)):
        join(cloud.dynamodb, LINE_TABLE, upload(name, minutes), name, NOW)
    woken = Woken()
    wake_on_sweep(cloud.dynamodb, LINE_TABLE, woken, now=NOW, quota_wait=timedelta(minutes=180))
    assert woken == ["enc-a"]
    carry_chain(cloud.dynamodb, LINE_TABLE, "enc-a", woken, NOW)  # enc-a started
    carry_chain(cloud.dynamodb, LINE_TABLE, "enc-b", woken, NOW)  # enc-b started
    assert woken == ["enc-a", "enc-b", "enc-c"]
    # enc-c is refused and waits again: its chain ends; started later (woken by a job's end), it wakes nobody.
    join(cloud.dynamodb, LINE_TABLE, upload("enc-c", 7), "enc-c", NOW)
    later = NOW + timedelta(minutes=20)
    assert carry_chain(cloud.dynamodb, LINE_TABLE, "enc-c", woken, later) is None
    assert woken == ["enc-a", "enc-b", "enc-c"]
    assert ids(cloud) == ["enc-c", "enc-d"]


def test_a_start_no_chain_woke_wakes_nobody(cloud):
    join(cloud.dynamodb, LINE_TABLE, upload("enc-a", 9), "a", NOW)
    woken = Woken()
    assert carry_chain(cloud.dynamodb, LINE_TABLE, "enc-started", woken, NOW) is None
    wake_for_ended_job(cloud.dynamodb, LINE_TABLE, "enc-done", woken, NOW)  # a job's end wakes without a chain
    assert carry_chain(cloud.dynamodb, LINE_TABLE, "enc-a", woken, NOW) is None
    assert woken == ["enc-a"]


def test_rejoining_keeps_the_first_place_and_takes_the_new_wake(cloud):
    join(cloud.dynamodb, LINE_TABLE, upload("enc-a", 9), "old token", NOW)
    join(cloud.dynamodb, LINE_TABLE, upload("enc-b", 5), "b", NOW)
    join(cloud.dynamodb, LINE_TABLE, upload("enc-a", 9), "new token", NOW)
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


def test_a_transcript_arriving_sends_the_heads_request_again_marked_woken(cloud, lambda_context, requests_queue):
    """Choreography: the note step sees the job's end and wakes the head, once for that transcript."""
    request = json.dumps(object_created(BUCKET, "audio/enc-waiting.wav"))
    join(cloud.dynamodb, LINE_TABLE, upload("enc-waiting", 12), request, NOW)
    join(cloud.dynamodb, LINE_TABLE, upload("enc-behind", 2), "behind", NOW)
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    event = sqs_event(object_created(BUCKET, "transcripts/enc-0001.json"))
    write_note.handler(event, lambda_context)
    write_note.handler(event, lambda_context)  # delivered again (or tried again): no second wake
    messages = cloud.sqs.receive_message(
        QueueUrl=requests_queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    assert [m["Body"] for m in messages] == [request]
    assert messages[0]["MessageAttributes"]["woken"]["StringValue"] == place("enc-waiting", 12).key
    assert ids(cloud) == ["enc-behind"]


def test_orchestrations_waker_passes_over_an_execution_whose_wait_is_over(cloud):
    from orchestration.slots import waker

    join(cloud.dynamodb, LINE_TABLE, upload("enc-a", 9), "not-a-live-token", NOW)
    wake = waker()
    [waiter] = list(waiters(cloud.dynamodb, LINE_TABLE))
    assert wake(waiter) is False


def test_await_slot_stands_the_token_in_line_placed_by_its_upload(cloud, lambda_context):
    from orchestration import await_slot

    cloud.s3.put_object(Bucket=BUCKET, Key="audio/enc-a.wav", Body=b"RIFF audio", Metadata={"recording-seconds": "600"})
    head = cloud.s3.head_object(Bucket=BUCKET, Key="audio/enc-a.wav")
    event = {"encounter_id": "enc-a", "audio_key": "audio/enc-a.wav", "task_token": "token-a"}
    assert await_slot.handler(event, lambda_context) == {"encounter_id": "enc-a"}
    [waiter] = list(waiters(cloud.dynamodb, LINE_TABLE))
    assert (waiter.place, waiter.wake) == (Place("enc-a", head["LastModified"] - timedelta(seconds=600)), "token-a")


def test_await_slot_past_the_quota_wait_fails_the_task_with_the_quota_exhausted(cloud, lambda_context, monkeypatch):
    from clinical.errors import TranscriptionQuotaExhausted
    from orchestration import await_slot

    monkeypatch.setenv("QUOTA_WAIT_MINUTES", "0")  # every upload has waited that long
    cloud.put_audio("audio/enc-a.wav")
    event = {"encounter_id": "enc-a", "audio_key": "audio/enc-a.wav", "task_token": "token-a"}
    with pytest.raises(TranscriptionQuotaExhausted, match="0 minutes of waiting in line"):
        await_slot.handler(event, lambda_context)
    assert list(waiters(cloud.dynamodb, LINE_TABLE)) == []


def test_await_slot_refuses_a_payload_without_its_audio_key(cloud, lambda_context):
    from clinical.errors import MalformedMessage
    from orchestration import await_slot

    with pytest.raises(MalformedMessage):
        await_slot.handler({"encounter_id": "enc-a", "task_token": "t"}, lambda_context)
    assert boto3.client("dynamodb").scan(TableName=LINE_TABLE)["Items"] == []


@pytest.mark.parametrize(
    ("error_name", "retryable"),
    [
        ("Transcribe.LimitExceededException", True),  # the quota or rate: a slot's code is still transient
        ("Transcribe.ServiceUnavailableException", True),
        ("Transcribe.BadRequestException", False),
    ],
)
def test_an_execution_that_failed_on_a_transcribe_error_is_recorded_retryable_only_for_a_transient_one(
    error_name, retryable
):
    """Splitting the quota's codes from Transcribe's passing failures leaves both transient in a failure record."""
    from orchestration.failed_executions import describe

    assert describe(error_name, None, "job") == (f"Transcribe error {error_name.partition('.')[2]}", retryable)


def test_a_wake_reads_the_head_alone_and_the_next_only_when_the_head_was_gone(cloud, monkeypatch):
    """Waking reads one item of the line, not a page: a long line costs a wake no more than a short one."""
    for n in range(40):
        join(cloud.dynamodb, LINE_TABLE, upload(f"enc-{n:03}", 100 - n), "w", NOW)
    read = []
    query = cloud.dynamodb.query

    def counted(**request):
        answer = query(**request)
        read.append(len(answer["Items"]))
        return answer

    monkeypatch.setattr(cloud.dynamodb, "query", counted)
    assert wake_head(cloud.dynamodb, LINE_TABLE, Woken()).place.encounter_id == "enc-000"
    assert read == [1]
    read.clear()
    assert wake_head(cloud.dynamodb, LINE_TABLE, Woken(gone={"enc-001"})).place.encounter_id == "enc-002"
    assert read == [1, 1], "the gone head, then the next"

"""Transient failures ride SQS redelivery and reach the DLQ only after maxReceiveCount.

The queue pair is real (moto SQS with a redrive policy); the poller delivers batches to the
handler with Lambda's semantics (partial batch failures, receive counts).
"""

import json
from unittest.mock import patch

import pytest
from botocore.exceptions import ClientError

from choreography import start_transcription, write_note
from localcloud.sqs_event_source import SqsEventSource
from tests.support.events import object_created
from tests.unit.conftest import BUCKET, PREFIX, converse_answer

MAX_RECEIVE_COUNT = 5


@pytest.fixture
def queue(cloud):
    dlq_url = cloud.sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = cloud.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = cloud.sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        },
    )["QueueUrl"]
    return url, dlq_url


def dlq_bodies(cloud, dlq_url):
    messages = cloud.sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


class FlakyTranscribe:
    """Answers ServiceUnavailableException (Transcribe failing for a moment) `failures` times, then lets the real
    (moto) call through. (A start refused for the quota waits in line instead: tests/unit/test_waiting_line.py.)"""

    def __init__(self, client, failures):
        self.client, self.failures, self.calls = client, failures, 0

    def start_medical_transcription_job(self, **request):
        self.calls += 1
        if self.calls <= self.failures:
            raise ClientError({"Error": {"Code": "ServiceUnavailableException"}}, "StartMedicalTranscriptionJob")
        return self.client.start_medical_transcription_job(**request)


def deliver_upload(cloud, queue, failures):
    url, dlq_url = queue
    cloud.put_audio("audio/enc-1.wav")
    cloud.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(object_created(BUCKET, "audio/enc-1.wav")))
    transcribe = FlakyTranscribe(cloud.transcribe, failures)
    with patch.object(start_transcription.clients, "transcription_starts", return_value=transcribe):
        polls = SqsEventSource(cloud.sqs, url, start_transcription.handler, retry_immediately=True).drain()
    return transcribe, polls, dlq_bodies(cloud, dlq_url)


def test_a_start_failing_twice_then_the_job_starts_with_nothing_in_the_dlq(cloud, queue):
    transcribe, polls, dead = deliver_upload(cloud, queue, failures=2)
    assert transcribe.calls == 3
    assert [p.failed for p in polls] == [1, 1, 0]
    assert dead == [] and cloud.keys("failures/") == []
    jobs = cloud.transcribe.list_medical_transcription_jobs()["MedicalTranscriptionJobSummaries"]
    assert [j["MedicalTranscriptionJobName"] for j in jobs] == [f"{PREFIX}-enc-1"]


def test_a_start_failing_on_every_attempt_ends_in_the_dlq_after_max_receive_count_with_a_record(cloud, queue):
    transcribe, _, dead = deliver_upload(cloud, queue, failures=100)
    assert transcribe.calls == MAX_RECEIVE_COUNT
    assert len(dead) == 1 and dead[0]["detail"]["object"]["key"] == "audio/enc-1.wav"
    record = cloud.read_json("failures/enc-1.json")
    assert (record["error_type"], record["attempts"]) == ("TranscriptionThrottled", MAX_RECEIVE_COUNT)


def test_bedrock_throttling_on_every_attempt_ends_in_the_dlq_after_max_receive_count(cloud, queue):
    url, dlq_url = queue
    cloud.put_transcript("enc-2")
    cloud.model_fails("ThrottlingException", times=MAX_RECEIVE_COUNT)
    cloud.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(object_created(BUCKET, "transcripts/enc-2.json")))
    polls = SqsEventSource(cloud.sqs, url, write_note.handler, retry_immediately=True).drain()
    assert len(polls) == MAX_RECEIVE_COUNT
    cloud.bedrock_stub.assert_no_pending_responses()
    assert len(dlq_bodies(cloud, dlq_url)) == 1
    assert cloud.read_json("failures/enc-2.json")["error_type"] == "NoteModelThrottled"
    assert cloud.keys("notes/") == []


def test_bedrock_throttled_then_answering_writes_the_note(cloud, queue):
    url, dlq_url = queue
    cloud.put_transcript("enc-3")
    cloud.model_fails("ThrottlingException", times=2)
    cloud.model_answers(converse_answer())
    cloud.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(object_created(BUCKET, "transcripts/enc-3.json")))
    SqsEventSource(cloud.sqs, url, write_note.handler, retry_immediately=True).drain()
    assert cloud.keys("notes/") == ["notes/enc-3.json"]
    assert dlq_bodies(cloud, dlq_url) == [] and cloud.keys("failures/") == []

"""choreography.start_transcription: an upload becomes exactly one Transcribe Medical job, or a failure record."""

import json
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from botocore.exceptions import ClientError

from choreography import start_transcription
from clinical.layout import digest_reference, key_reference
from clinical.waiting_line import Waiter, waiters
from tests.support.events import object_created, sqs_event
from tests.unit.conftest import BUCKET, LINE_TABLE, PREFIX


def run(cloud, lambda_context, *keys, receive_count=1):
    event = sqs_event(*(object_created(BUCKET, key) for key in keys), receive_count=receive_count)
    return start_transcription.handler(event, lambda_context)


def job(cloud, encounter_id):
    name = f"{PREFIX}-{encounter_id}"
    return cloud.transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=name)["MedicalTranscriptionJob"]


def test_valid_upload_starts_a_medical_job_with_the_stack_key(cloud, lambda_context):
    cloud.put_audio("audio/enc-0001.wav")
    assert run(cloud, lambda_context, "audio/enc-0001.wav") == {"batchItemFailures": []}
    started = job(cloud, "enc-0001")
    assert started["Media"]["MediaFileUri"] == f"s3://{BUCKET}/audio/enc-0001.wav"
    assert (started["Specialty"], started["Type"], started["MediaFormat"]) == ("PRIMARYCARE", "CONVERSATION", "wav")
    assert started["Settings"] == {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}, "who spoke: speaker labels"
    assert cloud.keys("failures/") == []


def test_the_job_request_names_output_key_and_kms_key(cloud, lambda_context):
    cloud.put_audio("audio/enc-0002.flac")
    with (
        patch.object(
            cloud.transcribe, "start_medical_transcription_job", wraps=cloud.transcribe.start_medical_transcription_job
        ) as spy,
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        run(cloud, lambda_context, "audio/enc-0002.flac")
    request = spy.call_args.kwargs
    assert request["OutputKey"] == "transcripts/enc-0002.json"
    assert request["OutputBucketName"] == BUCKET
    assert request["OutputEncryptionKMSKeyId"] == cloud.kms_key_arn
    assert request["MedicalTranscriptionJobName"] == f"{PREFIX}-enc-0002"


def test_duplicate_event_does_not_start_a_second_job(cloud, lambda_context):
    cloud.put_audio("audio/enc-0003.wav")
    run(cloud, lambda_context, "audio/enc-0003.wav")
    assert run(cloud, lambda_context, "audio/enc-0003.wav") == {"batchItemFailures": []}
    jobs = cloud.transcribe.list_medical_transcription_jobs()["MedicalTranscriptionJobSummaries"]
    assert [j["MedicalTranscriptionJobName"] for j in jobs] == [f"{PREFIX}-enc-0003"]
    assert cloud.keys("failures/") == []


@pytest.mark.parametrize(
    ("key", "body", "record_key", "error_type", "reason"),
    [
        ("audio/bad id!.wav", b"audio", None, "InvalidEncounterId", "letters, digits"),
        ("audio/enc-0004.txt", b"audio", "failures/enc-0004.json", "UnsupportedAudioFormat", "'.txt' is not a format"),
        ("audio/enc-0005.wav", b"", "failures/enc-0005.json", "EmptyAudio", "empty (0 bytes)"),
    ],
)
def test_each_contract_violation_gets_a_failure_record_and_no_job(
    cloud, lambda_context, key, body, record_key, error_type, reason
):
    cloud.put_audio(key, body)
    assert run(cloud, lambda_context, key) == {"batchItemFailures": []}, "a permanent failure is not retried"
    [written] = cloud.keys("failures/")
    if record_key:
        assert written == record_key
    else:
        assert written.startswith("failures/_rejected-")
    record = cloud.read_json(written)
    assert (record["stage"], record["error_type"], record["variant"]) == ("intake", error_type, "choreography")
    assert reason in record["message"] and record["retryable"] is False
    assert record["source_key"] == key_reference(key), "a key that names no encounter is kept as its digest"
    assert cloud.transcribe.list_medical_transcription_jobs()["MedicalTranscriptionJobSummaries"] == []


def test_upload_deleted_before_processing_is_recorded(cloud, lambda_context):
    run(cloud, lambda_context, "audio/enc-0006.wav")
    record = cloud.read_json("failures/enc-0006.json")
    assert record["error_type"] == "AudioNotFound"


def refused(code: str):
    def start(*args, **kwargs):
        raise ClientError({"Error": {"Code": code, "Message": "refused"}}, "StartMedicalTranscriptionJob")

    return start


throttled = refused("LimitExceededException")  # the concurrent-job quota (and the request rate)
unavailable = refused("ServiceUnavailableException")  # failing for a moment


def line(cloud) -> list[Waiter]:
    return list(waiters(cloud.dynamodb, LINE_TABLE))


def delayed(cloud, url: str) -> str:
    attributes = ["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessages"]
    queued = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=attributes)["Attributes"]
    return queued["ApproximateNumberOfMessagesDelayed"], queued["ApproximateNumberOfMessages"]


@pytest.fixture
def work_queue(cloud, monkeypatch):
    url = cloud.sqs.create_queue(QueueName="transcription-requests")["QueueUrl"]
    monkeypatch.setenv("WORK_QUEUE_URL", url)
    return url


def test_a_start_refused_for_the_quota_waits_in_line_and_asks_nothing_more(cloud, lambda_context, work_queue):
    cloud.put_audio("audio/enc-0010.wav")
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=throttled) as start,
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        response = run(cloud, lambda_context, "audio/enc-0010.wav", receive_count=1)
    assert response == {"batchItemFailures": []}, "waiting in line uses up no receive"
    assert start.call_count == 1
    assert cloud.keys("failures/") == []
    [waiter] = line(cloud)
    assert waiter.place.encounter_id == "enc-0010"
    assert json.loads(waiter.wake)["detail"]["object"]["key"] == "audio/enc-0010.wav", "the request as delivered"
    assert delayed(cloud, work_queue) == ("0", "0"), "no timer: only a job's end or a sweep sends it again"


def test_a_new_upload_goes_behind_those_waiting_without_asking_transcribe(cloud, lambda_context, work_queue):
    for key in ("audio/enc-0010.wav", "audio/enc-0012.wav"):
        cloud.put_audio(key)
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=throttled) as start,
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        run(cloud, lambda_context, "audio/enc-0010.wav")
        run(cloud, lambda_context, "audio/enc-0012.wav")
    assert start.call_count == 1, "the second upload found someone waiting and did not ask"
    assert [waiter.place.encounter_id for waiter in line(cloud)] == ["enc-0010", "enc-0012"], "in order of arrival"


def test_an_invalid_upload_is_recorded_at_once_even_with_a_line(cloud, lambda_context, work_queue):
    cloud.put_audio("audio/enc-0010.wav")
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=throttled),
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        run(cloud, lambda_context, "audio/enc-0010.wav")
    cloud.put_audio("audio/enc-0013.wav", body=b"")
    run(cloud, lambda_context, "audio/enc-0013.wav")
    assert cloud.read_json("failures/enc-0013.json")["error_type"] == "EmptyAudio"
    assert [waiter.place.encounter_id for waiter in line(cloud)] == ["enc-0010"]


def woken(key: str) -> dict:
    event = sqs_event(object_created(BUCKET, key))
    event["Records"][0]["messageAttributes"] = {"woken": {"stringValue": "its place", "dataType": "String"}}
    return event


def test_a_woken_request_asks_though_others_wait_and_rejoins_at_its_place(cloud, lambda_context, work_queue):
    """The head was woken: it asks (the others stay behind it); refused again, it keeps its place."""
    cloud.put_audio("audio/enc-0010.wav")
    cloud.put_audio("audio/enc-0012.wav")
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=throttled) as start,
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        run(cloud, lambda_context, "audio/enc-0010.wav")  # waits
        run(cloud, lambda_context, "audio/enc-0012.wav")  # goes behind, unasked
        assert start_transcription.handler(woken("audio/enc-0010.wav"), lambda_context) == {"batchItemFailures": []}
    assert start.call_count == 2
    assert [waiter.place.encounter_id for waiter in line(cloud)] == ["enc-0010", "enc-0012"]
    assert start_transcription.handler(woken("audio/enc-0010.wav"), lambda_context) == {"batchItemFailures": []}
    assert job(cloud, "enc-0010")["Media"]["MediaFileUri"] == f"s3://{BUCKET}/audio/enc-0010.wav"


def test_an_upload_declaring_its_recordings_length_is_placed_by_when_its_visit_began(cloud, lambda_context, work_queue):
    cloud.put_audio("audio/enc-0010.wav")
    cloud.s3.put_object(Bucket=BUCKET, Key="audio/enc-0012.wav", Body=b"RIFF a long visit",
                        Metadata={"recording-seconds": "3600"})  # fmt: skip
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=throttled),
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        run(cloud, lambda_context, "audio/enc-0010.wav")
        run(cloud, lambda_context, "audio/enc-0012.wav")
    assert [waiter.place.encounter_id for waiter in line(cloud)] == ["enc-0012", "enc-0010"], "began an hour earlier"


@pytest.mark.parametrize("declared", ["an hour", "-5", "14401", "nan"])
def test_a_recordings_length_that_is_no_number_of_seconds_is_a_contract_violation(cloud, lambda_context, declared):
    cloud.s3.put_object(Bucket=BUCKET, Key="audio/enc-0014.wav", Body=b"RIFF", Metadata={"recording-seconds": declared})
    run(cloud, lambda_context, "audio/enc-0014.wav")
    record = cloud.read_json("failures/enc-0014.json")
    assert (record["stage"], record["error_type"]) == ("intake", "InvalidRecordingLength")
    assert "x-amz-meta-recording-seconds must be the recording's length in seconds" in record["message"]
    assert declared not in record["message"].replace("14,400", ""), "a value typed into the upload is never quoted"


def test_a_woken_request_refused_past_the_quota_wait_is_a_permanent_failure_with_a_record(
    cloud, lambda_context, work_queue, monkeypatch
):
    monkeypatch.setenv("QUOTA_WAIT_MINUTES", "0")  # the upload has waited that long
    cloud.put_audio("audio/enc-0011.wav")
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=throttled),
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        assert start_transcription.handler(woken("audio/enc-0011.wav"), lambda_context) == {"batchItemFailures": []}
    record = cloud.read_json("failures/enc-0011.json")
    assert (record["stage"], record["error_type"], record["retryable"]) == (
        "transcription",
        "TranscriptionQuotaExhausted",
        False,
    )
    assert "through 0 minutes of waiting in line" in record["message"]
    assert line(cloud) == []


def test_a_start_failing_for_a_moment_is_retried_through_the_queue_without_a_record(cloud, lambda_context):
    cloud.put_audio("audio/enc-0007.wav")
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=unavailable),
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        response = run(cloud, lambda_context, "audio/enc-0007.wav", receive_count=2)
    assert len(response["batchItemFailures"]) == 1
    assert cloud.keys("failures/") == []
    assert line(cloud) == [], "a service failing is no quota: nothing waits in line"


def test_a_start_failing_on_the_last_attempt_is_recorded_before_the_dlq(cloud, lambda_context):
    cloud.put_audio("audio/enc-0008.wav")
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=unavailable),
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        response = run(cloud, lambda_context, "audio/enc-0008.wav", receive_count=5)
    assert len(response["batchItemFailures"]) == 1, "the message must still reach the DLQ for redrive"
    record = cloud.read_json("failures/enc-0008.json")
    assert (record["stage"], record["error_type"], record["attempts"], record["retryable"]) == (
        "transcription",
        "TranscriptionThrottled",
        5,
        True,
    )


def failing_since(minutes_ago: float, throttles: int = 3) -> dict:
    since = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return {
        "throttles": {"stringValue": str(throttles), "dataType": "Number"},
        "throttled_since": {"stringValue": since, "dataType": "String"},
    }


def test_a_start_failing_for_a_moment_comes_back_after_a_short_delay(cloud, lambda_context, work_queue):
    cloud.put_audio("audio/enc-0010.wav")
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=unavailable),
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        response = run(cloud, lambda_context, "audio/enc-0010.wav", receive_count=1)
    assert response == {"batchItemFailures": []}, "trying again uses up no receive"
    assert cloud.keys("failures/") == []
    assert delayed(cloud, work_queue) == ("1", "0"), "the request comes back only after its delay"


def test_a_start_failing_on_its_last_try_is_a_permanent_failure_with_a_record(cloud, lambda_context, work_queue):
    """The policy's tries for quota_wait_minutes (360 for 180), counted as the state machine counts them."""
    cloud.put_audio("audio/enc-0011.wav")
    event = sqs_event(object_created(BUCKET, "audio/enc-0011.wav"))
    event["Records"][0]["messageAttributes"] = failing_since(minutes_ago=179, throttles=359)
    with (
        patch.object(cloud.transcribe, "start_medical_transcription_job", side_effect=unavailable),
        patch.object(start_transcription.clients, "transcription_starts", return_value=cloud.transcribe),
    ):
        assert start_transcription.handler(event, lambda_context) == {"batchItemFailures": []}
    record = cloud.read_json("failures/enc-0011.json")
    assert (record["stage"], record["error_type"], record["retryable"]) == (
        "transcription",
        "TranscriptionUnavailable",
        False,
    )
    assert "on each of 360 tries (about 180 minutes" in record["message"] and record["attempts"] == 360


def test_a_message_that_is_not_an_upload_event_is_quarantined_and_acknowledged(cloud, lambda_context):
    """GIVEN a batch with an upload event, a body that is not JSON, an event of the wrong shape and one of
    another bucket THEN the upload's job starts, and each other message gets one quarantine record named by
    its queue and message id (nothing from its body), and none is retried into the DLQ."""
    cloud.put_audio("audio/enc-0009.wav")
    event = sqs_event(
        object_created(BUCKET, "audio/enc-0009.wav"),
        "this is not json",
        {"detail": {"object": {"key": "audio/enc-0010.wav"}}},
        object_created("another-bucket", "audio/enc-0011.wav"),
    )
    response = start_transcription.handler(event, lambda_context)
    assert response == {"batchItemFailures": []}
    assert job(cloud, "enc-0009")["MedicalTranscriptionJobName"] == f"{PREFIX}-enc-0009"
    records = [cloud.read_json(key) for key in cloud.keys("failures/")]
    assert sorted(r["source_key"] for r in records) == sorted(
        f"sqs:work/{r['messageId']}" for r in event["Records"][1:]
    )
    assert {r["kind"] for r in records} == {"quarantine"}
    assert not any("enc-001" in r["reason"] for r in records), "nothing of the message's content is kept"


def test_a_template_name_typed_into_the_upload_is_recorded_by_its_digest_never_quoted(cloud, lambda_context):
    """GIVEN an upload whose template metadata (x-amz-meta-template) holds a name that is no template (a
    patient's, say) WHEN intake refuses it THEN its failure record names the name by its digest only."""
    marker = "Jane-Roe-MRN-4471"
    cloud.s3.put_object(Bucket=BUCKET, Key="audio/enc-0006.wav", Body=b"RIFF....WAVE", Metadata={"template": marker})
    assert run(cloud, lambda_context, "audio/enc-0006.wav") == {"batchItemFailures": []}
    record = cloud.read_json("failures/enc-0006.json")
    assert (record["stage"], record["error_type"]) == ("intake", "UnknownTemplate")
    assert f"unknown note template {digest_reference(marker)} (known: dap, hp, soap)" in record["message"]
    assert "Jane" not in json.dumps(record)

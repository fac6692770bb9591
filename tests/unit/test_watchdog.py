"""choreography.watchdog: jobs that failed or stalled inside Transcribe become failure records."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from choreography import watchdog
from clinical import clients
from clinical.errors import UnexpectedError
from clinical.settings import PipelineSettings
from clinical.settlements import mark_settled
from tests.unit.conftest import BUCKET, PREFIX

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def summary(encounter_id, status, started_minutes_ago=10, prefix=PREFIX):
    return {
        "MedicalTranscriptionJobName": f"{prefix}-{encounter_id}",
        "CreationTime": NOW - timedelta(minutes=started_minutes_ago),
        "StartTime": NOW - timedelta(minutes=started_minutes_ago),
        "LanguageCode": "en-US",
        "TranscriptionJobStatus": status,
        "Specialty": "PRIMARYCARE",
        "Type": "DICTATION",
    }


@pytest.fixture
def transcribe(cloud, monkeypatch):
    client = boto3.client("transcribe")
    stub = Stubber(client)
    monkeypatch.setattr(clients, "transcribe", lambda: client)
    with stub:
        yield stub
        stub.assert_no_pending_responses()


def listing(stub, status, *summaries):
    stub.add_response(
        "list_medical_transcription_jobs",
        {"MedicalTranscriptionJobSummaries": list(summaries)},
        {"Status": status, "JobNameContains": PREFIX, "MaxResults": 100},
    )


def failed_job(stub, encounter_id, reason):
    stub.add_response(
        "get_medical_transcription_job",
        {
            "MedicalTranscriptionJob": {
                "MedicalTranscriptionJobName": f"{PREFIX}-{encounter_id}",
                "TranscriptionJobStatus": "FAILED",
                "FailureReason": reason,
            }
        },
        {"MedicalTranscriptionJobName": f"{PREFIX}-{encounter_id}"},
    )


def sweep():
    return watchdog.surface_unfinished_jobs(BUCKET, PipelineSettings.from_env(), now=NOW)


def test_a_failed_job_gets_a_failure_record_with_transcribes_reason(cloud, transcribe, structured_logs):
    listing(transcribe, "FAILED", summary("enc-1", "FAILED"))
    failed_job(transcribe, "enc-1", "The media format provided does not match the detected media format.")
    listing(transcribe, "QUEUED")
    listing(transcribe, "IN_PROGRESS")
    listing(transcribe, "COMPLETED")
    assert sweep() == 1
    record = cloud.read_json("failures/enc-1.json")
    assert (record["stage"], record["error_type"], record["variant"]) == (
        "transcription",
        "TranscriptionJobFailed",
        "choreography",
    )
    assert "does not match the detected media format" in record["message"]
    assert '"failures_recorded": 1' in structured_logs.getvalue().replace('":1', '": 1')


def test_failed_jobs_with_a_note_or_a_record_and_other_deployments_jobs_are_left_alone(cloud, transcribe):
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/enc-2.json", Body=b"{}")
    cloud.s3.put_object(Bucket=BUCKET, Key="failures/enc-3.json", Body=b"{}")
    listing(
        transcribe,
        "FAILED",
        summary("enc-2", "FAILED"),
        summary("enc-3", "FAILED"),
        summary("enc-4", "FAILED", prefix=f"{PREFIX}Other"),
    )
    failed_job(transcribe, "enc-3", "Internal failure")
    listing(transcribe, "QUEUED")
    listing(transcribe, "IN_PROGRESS")
    listing(transcribe, "COMPLETED")
    assert sweep() == 0
    assert cloud.keys("failures/") == ["failures/enc-3.json"]


def test_a_job_running_past_the_limit_is_recorded_as_stalled_and_a_recent_one_is_not(cloud, transcribe):
    listing(transcribe, "FAILED")
    listing(transcribe, "QUEUED", summary("enc-5", "QUEUED", started_minutes_ago=5))
    listing(transcribe, "IN_PROGRESS", summary("enc-6", "IN_PROGRESS", started_minutes_ago=121))
    listing(transcribe, "COMPLETED")
    assert sweep() == 1
    record = cloud.read_json("failures/enc-6.json")
    assert record["error_type"] == "TranscriptionStalled"
    assert "still IN_PROGRESS after 120 minutes" in record["message"]


@pytest.fixture
def note_dlq(cloud, monkeypatch):
    url = cloud.sqs.create_queue(QueueName="NoteRequestsDlq")["QueueUrl"]
    monkeypatch.setenv("NOTE_REQUESTS_DLQ_URL", url)
    return url


def dead_request(cloud, url, key):
    body = json.dumps({"detail-type": "Object Created", "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}})
    cloud.sqs.send_message(QueueUrl=url, MessageBody=body)


def test_a_note_request_that_died_on_every_try_gets_the_state_machines_record_and_stays(cloud, note_dlq):
    """GIVEN note requests in the DLQ (every try died with the function, so no handler code recorded them),
    one of them twice and one not an encounter's, WHEN the watchdog runs THEN an encounter with neither note
    nor record gets the record the state machine writes for its note task's Lambda.Unknown, the others are
    left alone, and every message is still in the DLQ for a redrive."""
    for key in ("transcripts/enc-1.json", "transcripts/enc-1.json", "transcripts/enc-2.json",
                "transcripts/enc-3.json", "transcripts/no such id!.json"):  # fmt: skip
        dead_request(cloud, note_dlq, key)
    cloud.put_transcript("enc-2")
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/enc-2.json", Body=b"{}")
    cloud.s3.put_object(Bucket=BUCKET, Key="failures/enc-3.json", Body=b'{"source_key": "transcripts/enc-3.json"}')
    settings = PipelineSettings.from_env()

    assert watchdog.surface_dead_note_requests(BUCKET, settings, note_dlq, now=NOW) == 1
    record = cloud.read_json("failures/enc-1.json")
    assert (record["stage"], record["error_type"], record["attempts"]) == (
        "note",
        "Lambda.Unknown",
        settings.policy.note.tries,
    )
    assert record["retryable"] and "runtime dying" in record["message"]
    assert cloud.read_json("failures/enc-3.json") == {"source_key": "transcripts/enc-3.json"}
    assert cloud.keys("failures/") == ["failures/enc-1.json", "failures/enc-3.json"]
    attributes = cloud.sqs.get_queue_attributes(QueueUrl=note_dlq, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "5",
        "0",
    )
    assert watchdog.surface_dead_note_requests(BUCKET, settings, note_dlq, now=NOW) == 0, "recorded once"


def test_the_handler_reports_what_it_recorded_and_emits_the_failure_metric(
    cloud, transcribe, note_dlq, lambda_context, capsys
):
    def just_started(encounter_id, status):  # the handler reads the real clock: jobs younger than the stall limit
        return {**summary(encounter_id, status), "CreationTime": datetime.now(UTC), "StartTime": datetime.now(UTC)}

    listing(transcribe, "FAILED", just_started("enc-7", "FAILED"))
    failed_job(transcribe, "enc-7", "Internal failure")
    listing(transcribe, "QUEUED", just_started("enc-8", "QUEUED"))
    listing(transcribe, "IN_PROGRESS", just_started("enc-9", "IN_PROGRESS"), just_started("enc-10", "IN_PROGRESS"))
    listing(transcribe, "COMPLETED")
    assert watchdog.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, lambda_context) == {
        "failures_recorded": 1,
        "lost_uploads_taken_in": 0,
        "waiters_woken": 0,
        "waiting": False,
        "reviews_reminded": 0,
        "reviews_expired": 0,
    }
    printed = capsys.readouterr().out
    assert '"EncounterFailures":[1.0]' in printed
    # The gauges every sweep publishes: the jobs queued or running, and the reviews awaiting (none here).
    assert '"TranscriptionJobsInFlight":[3.0]' in printed and '"ReviewsAwaiting":[0.0]' in printed


def test_a_sweep_that_fails_does_not_stop_the_others_and_the_run_still_fails(
    cloud, transcribe, note_dlq, lambda_context, monkeypatch
):
    """Transcribe unreachable (a VPC without its endpoint): the reviews' deadlines are still kept, the lost uploads
    still looked at, and the run fails with the first error, after them."""
    ran = []

    def unreachable(*_args, **_kwargs):
        raise ConnectionError("Transcribe did not answer")

    monkeypatch.setattr(watchdog, "surface_unfinished_jobs", unreachable)
    monkeypatch.setattr(watchdog, "take_in_lost_uploads_of", lambda *_a, **_k: ran.append("lost uploads"))
    monkeypatch.setattr(watchdog, "sweep_review_deadlines", lambda *_a, **_k: ran.append("review deadlines") or (0, 1))
    with pytest.raises(UnexpectedError, match="unexpected ConnectionError"):  # by its type only
        watchdog.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, lambda_context)
    assert ran == ["lost uploads", "review deadlines"]


def completed(encounter_id, minutes_ago):
    return {
        **summary(encounter_id, "COMPLETED", started_minutes_ago=minutes_ago + 2),
        "CompletionTime": NOW - timedelta(minutes=minutes_ago),
    }


def test_a_completed_job_with_no_note_past_the_limit_is_recorded_as_not_processed(cloud, transcribe):
    """GIVEN a transcript whose S3 event was lost WHEN the watchdog sweeps THEN the encounter gets a record."""
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/enc-9.json", Body=b"{}")
    listing(transcribe, "FAILED")
    listing(transcribe, "QUEUED")
    listing(transcribe, "IN_PROGRESS")
    listing(transcribe, "COMPLETED", completed("enc-8", 150), completed("enc-9", 150), completed("enc-10", 30))
    assert sweep() == 1
    record = cloud.read_json("failures/enc-8.json")
    assert (record["stage"], record["error_type"]) == ("note", "TranscriptNotProcessed")
    assert cloud.keys("failures/") == ["failures/enc-8.json"]


def test_jobs_that_ended_before_the_lookback_are_not_checked_again(cloud, transcribe):
    """Each sweep checks S3 only for recent jobs (upload_window_hours + the stall limit), not the whole history."""
    listing(transcribe, "FAILED", summary("enc-11", "FAILED") | {"CompletionTime": NOW - timedelta(hours=30)})
    listing(transcribe, "QUEUED")
    listing(transcribe, "IN_PROGRESS")
    listing(transcribe, "COMPLETED", completed("enc-12", 30 * 60))
    assert sweep() == 0, "no GetMedicalTranscriptionJob, no record: earlier sweeps settled these"
    assert cloud.keys("failures/") == []


def test_completed_jobs_are_listed_back_to_the_window_only_and_a_note_is_known_by_its_marker_or_itself(
    cloud, transcribe
):
    """GIVEN completed jobs listed newest first, as Transcribe lists them: one with its note's marker, one whose
    note has no marker (a crash between the two writes), one with no note at all, then one older than the window
    on the first page of many WHEN the watchdog sweeps THEN it asks for no further page, and records only the job
    with no note."""
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/enc-20.json", Body=b"{}")
    mark_settled(cloud.s3, BUCKET, "notes/enc-20.json", at=NOW - timedelta(minutes=200))
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/enc-21.json", Body=b"{}")
    listing(transcribe, "FAILED")
    listing(transcribe, "QUEUED")
    listing(transcribe, "IN_PROGRESS")
    transcribe.add_response(
        "list_medical_transcription_jobs",
        {
            "MedicalTranscriptionJobSummaries": [
                completed("enc-20", 200),
                completed("enc-21", 300),
                completed("enc-22", 400),
                completed("enc-23", 3 * 24 * 60),  # three days ago: before the window, so every later page too
            ],
            "NextToken": "page-2",
        },
        {"Status": "COMPLETED", "JobNameContains": PREFIX, "MaxResults": 100},
    )
    assert sweep() == 1
    assert cloud.keys("failures/") == ["failures/enc-22.json"]
    assert cloud.read_json("failures/enc-22.json")["error_type"] == "TranscriptNotProcessed"


def test_a_job_whose_failure_was_recorded_lately_costs_the_sweep_nothing_more(cloud, transcribe):
    """GIVEN a FAILED job whose encounter's failure record has its marker WHEN the watchdog sweeps THEN it asks
    Transcribe nothing about the job and S3 nothing about the encounter (no GetMedicalTranscriptionJob is stubbed:
    asking would fail the test)."""
    cloud.s3.put_object(Bucket=BUCKET, Key="failures/enc-30.json", Body=b"{}")
    mark_settled(cloud.s3, BUCKET, "failures/enc-30.json", at=NOW - timedelta(minutes=5))
    listing(transcribe, "FAILED", summary("enc-30", "FAILED"))
    listing(transcribe, "QUEUED")
    listing(transcribe, "IN_PROGRESS")
    listing(transcribe, "COMPLETED")
    made: list[str] = []
    clients.s3().meta.events.register("before-call.s3.*", lambda model, **_: made.append(model.name))
    assert sweep() == 0
    assert made == ["ListObjectsV2"], "the markers' listing only"

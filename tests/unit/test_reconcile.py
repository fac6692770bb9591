"""The lost-upload sweep: uploads whose event never arrived are taken in by the variant's own intake step."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from choreography import watchdog
from clinical.errors import SweepIncomplete, TranscriptionThrottled, UnsupportedAudioFormat
from clinical.executions import execution_arn
from clinical.failures import FailureRecord, record_failure
from clinical.layout import rejected_upload_failure_key
from clinical.reconcile import take_in_lost_uploads, unclaimed_uploads
from clinical.settings import PipelineSettings
from clinical.settlements import mark_settled, settled_since
from orchestration.upload_sweep import execution_status
from tests.unit.conftest import BUCKET, PREFIX

GRACE, WINDOW = timedelta(minutes=15), timedelta(hours=24)


def later(minutes: float) -> datetime:
    """moto stamps objects with the real time; the sweep runs this many minutes after the uploads."""
    return datetime.now(UTC) + timedelta(minutes=minutes)


def unclaimed(cloud, *, claimed=(), now=None):
    return unclaimed_uploads(
        cloud.s3, BUCKET, is_claimed=lambda eid: eid in claimed, grace=GRACE, window=WINDOW, now=now or later(30)
    )


def test_only_uploads_with_no_note_record_or_claim_are_unclaimed(cloud):
    for name in ("lost", "noted", "failed", "claimed"):
        cloud.put_audio(f"audio/{name}.wav")
    cloud.put_audio("audio/bad name.wav")
    cloud.put_audio("audio/bad id, recorded.wav")
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/noted.json", Body=b"{}")
    cloud.s3.put_object(Bucket=BUCKET, Key="failures/failed.json", Body=b"{}")
    cloud.s3.put_object(Bucket=BUCKET, Key=rejected_upload_failure_key("audio/bad id, recorded.wav"), Body=b"{}")
    assert unclaimed(cloud, claimed={"claimed"}) == ["audio/bad name.wav", "audio/lost.wav"]


def test_uploads_younger_than_the_grace_period_or_older_than_the_window_are_left_alone(cloud):
    cloud.put_audio("audio/enc-1.wav")
    assert unclaimed(cloud, now=later(5)) == []
    assert unclaimed(cloud, now=later(25 * 60)) == []
    assert unclaimed(cloud, now=later(16)) == ["audio/enc-1.wav"]


def test_a_contract_violation_is_recorded_and_a_transient_error_fails_the_sweep_for_the_next_one(cloud):
    taken = []

    def take_in(key):
        if "bad" in key:
            raise UnsupportedAudioFormat("'.txt' is not a format Transcribe Medical accepts")
        if "down" in key:
            raise ConnectionError("S3 did not answer")
        taken.append(key)

    keys = ["audio/ok.wav", "audio/bad.txt", "audio/down.wav"]
    with pytest.raises(SweepIncomplete, match="1 lost uploads could not be taken in"):
        take_in_lost_uploads(
            cloud.s3, BUCKET, keys, take_in=take_in, stage_of=lambda _e: "intake", variant="choreography", now=later(0)
        )
    assert taken == ["audio/ok.wav"]
    assert cloud.keys("failures/") == ["failures/bad.json"]
    assert cloud.read_json("failures/bad.json")["error_type"] == "UnsupportedAudioFormat"


def test_an_upload_throttled_by_transcribes_quota_is_left_to_the_next_sweep_without_an_error(cloud):
    def take_in(_key):
        raise TranscriptionThrottled("Transcribe Medical is throttling (LimitExceededException)")

    result = take_in_lost_uploads(
        cloud.s3, BUCKET, ["audio/busy.wav"], take_in=take_in, stage_of=lambda _e: "intake", variant="choreography",
        now=later(0),
    )  # fmt: skip
    assert (result.deferred, result.failed, cloud.keys("failures/")) == (["audio/busy.wav"], {}, [])


def test_the_choreography_watchdog_starts_the_job_of_a_lost_upload_once(cloud):
    cloud.put_audio("audio/enc-2.wav")
    settings = PipelineSettings.from_env()
    assert watchdog.take_in_lost_uploads_of(BUCKET, settings, now=later(20)).taken_in == ["audio/enc-2.wav"]
    job = cloud.transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=f"{PREFIX}-enc-2")
    assert job["MedicalTranscriptionJob"]["Media"]["MediaFileUri"] == f"s3://{BUCKET}/audio/enc-2.wav"
    assert watchdog.take_in_lost_uploads_of(BUCKET, settings, now=later(40)).taken_in == [], "its job claims it"


def test_an_encounter_is_claimed_in_orchestration_once_its_execution_exists(cloud):
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"{PREFIX}-encounters",
        definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    assert execution_status(sfn, machine, "enc-3") is None
    started = sfn.start_execution(stateMachineArn=machine, name="enc-3", input="{}")["executionArn"]
    assert execution_arn(machine, "enc-3") == started
    assert execution_status(sfn, machine, "enc-3") in ("RUNNING", "SUCCEEDED")


def s3_calls(cloud) -> list[str]:
    """The S3 operations the client makes from now on, in order."""
    made: list[str] = []
    cloud.s3.meta.events.register("before-call.s3.*", lambda model, **_: made.append(model.name))
    return made


def test_the_sweep_knows_settled_uploads_from_the_markers_of_its_window_and_looks_only_at_the_rest(cloud):
    """GIVEN a year's notes and failure records, with their markers, and three uploads in the window, one noted,
    one failed (each with its marker) and one with neither, WHEN the sweep runs THEN it lists the audio and the
    markers since the window's start (one page: the old markers are never read), asks nothing about the settled
    uploads, and HEADs the unsettled one's note and record before its claim."""
    long_ago = datetime.now(UTC) - timedelta(days=200)
    for n in range(1_200):
        mark_settled(cloud.s3, BUCKET, f"notes/old-{n}.json", at=long_ago + timedelta(minutes=n))
    for name in ("noted", "failed", "lost"):
        cloud.put_audio(f"audio/{name}.wav")
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/noted.json", Body=b"{}")
    mark_settled(cloud.s3, BUCKET, "notes/noted.json")
    cloud.s3.put_object(Bucket=BUCKET, Key="failures/failed.json", Body=b"{}")
    mark_settled(cloud.s3, BUCKET, "failures/failed.json")
    asked: list[str] = []
    made = s3_calls(cloud)

    found = unclaimed_uploads(
        cloud.s3, BUCKET, is_claimed=lambda eid: asked.append(eid) or False, grace=GRACE, window=WINDOW, now=later(30)
    )

    assert found == ["audio/lost.wav"] and asked == ["lost"]
    assert made == ["ListObjectsV2", "ListObjectsV2", "HeadObject", "HeadObject"]


def test_an_upload_known_to_wait_in_line_is_passed_over_without_asking_for_its_records_or_its_claim(cloud):
    """A burst's backlog waits in line for Transcribe's slots: the sweep reads the line once (the variants pass
    its encounters as `claimed`) instead of two HEADs and a claim per waiting upload."""
    for n in range(30):
        cloud.put_audio(f"audio/waiting-{n}.wav")
    cloud.put_audio("audio/lost.wav")
    asked: list[str] = []
    made = s3_calls(cloud)

    waiting = {f"waiting-{n}" for n in range(30)}
    found = unclaimed_uploads(
        cloud.s3,
        BUCKET,
        is_claimed=lambda eid: asked.append(eid) or False,
        grace=GRACE,
        window=WINDOW,
        now=later(30),
        claimed=waiting,
    )

    assert found == ["audio/lost.wav"] and asked == ["lost"]
    assert made == ["ListObjectsV2", "ListObjectsV2", "HeadObject", "HeadObject"]


def test_both_sweeps_count_an_upload_waiting_in_line_as_claimed_unasked(cloud, monkeypatch):
    """The choreography watchdog and the orchestration upload sweep pass the line's encounters as claimed."""
    from clinical import reconcile
    from orchestration import upload_sweep

    passed = []

    def sweep(*_args, claimed=frozenset(), **_named):
        passed.append(set(claimed))
        return reconcile.SweepResult()

    monkeypatch.setattr(watchdog, "sweep_lost_uploads", sweep)
    monkeypatch.setattr(upload_sweep, "sweep_lost_uploads", sweep)
    monkeypatch.setattr(watchdog, "waiting_ids", lambda *_: {"enc-waiting"})
    monkeypatch.setattr(upload_sweep, "waiting_ids", lambda *_: {"enc-waiting"})
    settings = PipelineSettings.from_env()
    watchdog.take_in_lost_uploads_of(BUCKET, settings, now=later(30))
    upload_sweep.take_in_lost_uploads_of(BUCKET, "arn:aws:states:us-east-1:123456789012:stateMachine:m", settings)
    assert passed == [{"enc-waiting"}, {"enc-waiting"}]


def test_an_upload_whose_note_has_no_marker_is_still_settled(cloud):
    """A crash between the note and its marker (or a note from before the markers): the note itself decides."""
    cloud.put_audio("audio/noted.wav")
    cloud.s3.put_object(Bucket=BUCKET, Key="notes/noted.json", Body=b"{}")
    assert unclaimed(cloud) == []
    assert settled_since(cloud.s3, BUCKET, datetime.now(UTC) - WINDOW) == set()


def test_writing_a_failure_record_marks_it_settled(cloud):
    record_failure(
        cloud.s3,
        BUCKET,
        FailureRecord(
            encounter_id="enc-1",
            variant="choreography",
            stage="intake",
            error_type="UnsupportedAudioFormat",
            message="not a format",
            retryable=False,
            attempts=1,
            source_key="audio/enc-1.txt",
            first_attempt_at=datetime.now(UTC),
            recorded_at=datetime.now(UTC),
        ),
    )
    assert settled_since(cloud.s3, BUCKET, datetime.now(UTC) - timedelta(minutes=1)) == {"failures/enc-1.json"}
    assert settled_since(cloud.s3, BUCKET, datetime.now(UTC) + timedelta(minutes=10)) == set()

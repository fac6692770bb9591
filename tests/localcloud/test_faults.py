"""Each fault kind, injected on every occasion, and what each variant shows for it."""

import contextlib
import json

import pytest

from clinical.policy import DEFAULT
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultPlan
from tests.localcloud.conftest import STACKS, deploy_both, keys, read_json, upload_to_both

AUDIO = b"RIFF....WAVEfmt fault test dictation"
CHOREOGRAPHY, ORCHESTRATION = STACKS


@pytest.fixture
def faulty_cloud(cdk_out, request):
    with LocalCloud(cdk_out, faults=FaultPlan(rates=request.param, seed=3)) as cloud:
        deploy_both(cloud, AUDIO)
        upload_to_both(cloud, "audio/enc-1.wav", AUDIO)
        cloud.run_until_quiet()
        yield cloud


def dlq_messages(cloud, stack, output) -> list[dict]:
    sqs = cloud.client("sqs")
    messages = sqs.receive_message(QueueUrl=cloud.outputs[stack][output], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def execution(cloud) -> dict:
    sfn = cloud.client("stepfunctions")
    [summary] = sfn.list_executions(stateMachineArn=cloud.outputs[ORCHESTRATION]["StateMachineArn"])["executions"]
    return sfn.describe_execution(executionArn=summary["executionArn"])


@pytest.mark.parametrize("faulty_cloud", [{"transcribe_start": 1.0}], indirect=True)
def test_transcribe_always_throttled(faulty_cloud):
    """Both variants wait in line for a slot (the sweeps wake the head every 15 minutes) for quota_wait_minutes
    (180), then record the same failure."""
    from datetime import datetime

    for stack in STACKS:
        record = read_json(faulty_cloud, stack, "failures/enc-1.json")
        assert (record["error_type"], record["retryable"]) == ("TranscriptionQuotaExhausted", False), stack
        assert "180 minutes of waiting in line" in record["message"], stack
        waited = datetime.fromisoformat(record["recorded_at"]) - faulty_cloud.clock.wall(0)
        assert 180 * 60 <= waited.total_seconds() < 215 * 60, (stack, waited)
    assert dlq_messages(faulty_cloud, CHOREOGRAPHY, "TranscriptionRequestsDlqUrl") == [], "waiting used no receives"
    assert execution(faulty_cloud)["status"] == "FAILED"


@pytest.mark.parametrize("faulty_cloud", [{"transcribe_job": 1.0}], indirect=True)
def test_transcription_job_failed(faulty_cloud):
    for stack in STACKS:
        record = read_json(faulty_cloud, stack, "failures/enc-1.json")
        assert record["error_type"] == "TranscriptionJobFailed", stack
        assert "local fault" in record["message"]
    assert execution(faulty_cloud)["status"] == "FAILED"


@pytest.mark.parametrize("faulty_cloud", [{"bedrock_throttle": 1.0}], indirect=True)
def test_bedrock_always_throttled(faulty_cloud):
    for stack in STACKS:
        record = read_json(faulty_cloud, stack, "failures/enc-1.json")
        assert record["error_type"] == "NoteModelThrottled", record
        assert keys(faulty_cloud, stack, "notes/") == []
    assert len(dlq_messages(faulty_cloud, CHOREOGRAPHY, "NoteRequestsDlqUrl")) == 1


@pytest.mark.parametrize("faulty_cloud", [{"bedrock_malformed": 1.0}], indirect=True)
def test_model_output_always_malformed(faulty_cloud):
    for stack in STACKS:
        record = read_json(faulty_cloud, stack, "failures/enc-1.json")
        assert (record["stage"], record["error_type"]) == ("note", "InvalidModelOutput")


@pytest.mark.parametrize("faulty_cloud", [{"bedrock_miscited": 1.0}], indirect=True)
def test_a_statement_citing_a_segment_the_transcript_lacks_is_refused_in_both(faulty_cloud):
    """The model cites a segment past the transcript's end: InvalidModelOutput, retried with that error's
    policy, then a failure record; never a note with a dangling citation."""
    for stack in STACKS:
        record = read_json(faulty_cloud, stack, "failures/enc-1.json")
        assert (record["stage"], record["error_type"]) == ("note", "InvalidModelOutput"), stack
        assert "cites segments the transcript does not have" in record["message"], stack
        assert record["attempts"] == DEFAULT.model_output.tries, stack
        assert keys(faulty_cloud, stack, "notes/") == [], stack


@pytest.mark.parametrize("faulty_cloud", [{"bedrock_unsupported": 1.0}], indirect=True)
def test_a_statement_the_transcript_does_not_support_makes_a_note_for_review_and_its_alarm(faulty_cloud):
    """The model's note carries a drug and dose nobody said: both variants write the note (never drop it),
    as needs_review with the statement flagged and why, count it and put NotesNeedingReview in ALARM."""
    for stack in STACKS:
        note = read_json(faulty_cloud, stack, "notes/enc-1.json")
        assert note["status"] == "needs_review", stack
        assert [(f["section"], f["reason"], f["evidence"]) for f in note["flagged"]] == [
            ("plan", "the medication warfarin is not in its evidence", [1])
        ], stack
        assert note["speakers"] == [{"speaker_label": "spk_0", "role": "CLINICIAN", "confidence": 1.0}]
        assert keys(faulty_cloud, stack, "failures/") == [], "a note for review is not a failure"
    fired = {(event.alarm_name.split("-", 1)[0], event.metric) for event in faulty_cloud.alarms.fired}
    assert {(CHOREOGRAPHY, "NotesNeedingReview"), (ORCHESTRATION, "NotesNeedingReview")} <= fired


@pytest.mark.parametrize("faulty_cloud", [{}], indirect=True)
def test_a_note_its_transcript_supports_is_a_plain_draft(faulty_cloud):
    for stack in STACKS:
        note = read_json(faulty_cloud, stack, "notes/enc-1.json")
        assert (note["status"], note["flagged"]) == ("draft", []), stack
    assert not any(event.metric == "NotesNeedingReview" for event in faulty_cloud.alarms.fired)


@pytest.mark.parametrize("faulty_cloud", [{"lambda_crash": 0.6}], indirect=True)
def test_lambda_crashes_are_retried_and_nothing_is_lost(faulty_cloud):
    assert faulty_cloud.faults.injected["lambda_crash"] > 0
    for stack in STACKS:
        outcomes = keys(faulty_cloud, stack, "notes/") + keys(faulty_cloud, stack, "failures/")
        assert outcomes in (["notes/enc-1.json"], ["failures/enc-1.json"]), stack


@pytest.mark.parametrize("faulty_cloud", [{"bedrock_malformed": 1.0}], indirect=True)
def test_permanent_failures_put_alarms_in_alarm_and_notify_the_topic(faulty_cloud):
    fired = {(event.alarm_name.split("-", 1)[0], event.metric) for event in faulty_cloud.alarms.fired}
    assert (CHOREOGRAPHY, "EncounterFailures") in fired
    assert (ORCHESTRATION, "EncounterFailures") in fired
    assert (ORCHESTRATION, "ExecutionsFailed") in fired
    cloudwatch = faulty_cloud.client("cloudwatch")
    in_alarm = {a["MetricName"] for a in cloudwatch.describe_alarms(StateValue="ALARM")["MetricAlarms"]}
    assert {"EncounterFailures", "ExecutionsFailed"} <= in_alarm
    delivered = {n["AlarmName"] for n in faulty_cloud.alarm_notifications()}
    assert {e.alarm_name for e in faulty_cloud.alarms.fired} == delivered


@pytest.mark.parametrize("faulty_cloud", [{"bedrock_throttle": 1.0}], indirect=True)
def test_messages_in_a_dlq_put_its_alarm_in_alarm(faulty_cloud):
    fired = {(event.alarm_name.split("-", 1)[0], event.metric) for event in faulty_cloud.alarms.fired}
    assert (CHOREOGRAPHY, "ApproximateNumberOfMessagesVisible") in fired


@contextlib.contextmanager
def events_lost_under(cdk_out, prefix: str, key: str, job_seconds: float | None = None):
    """Both stacks deployed with every S3 event under `prefix` lost, and `key` uploaded to both."""
    plan = FaultPlan(rates={"event_lost": 1.0}, only={"event_lost": prefix}, seed=3)
    with LocalCloud(cdk_out, faults=plan) as cloud:
        deploy_both(cloud, AUDIO)
        if job_seconds is not None:
            cloud.transcribe.job_seconds = lambda _audio_seconds: job_seconds
        upload_to_both(cloud, key, AUDIO)
        yield cloud


def run_until(cloud, done, simulated_hours: float) -> None:
    """Let the cloud run (its schedules included) until done() and then until nothing is pending; the
    simulated hours are the horizon."""
    cloud.run_until(done, horizon=simulated_hours * 3600)
    cloud.run_until_quiet(horizon=simulated_hours * 3600)


@pytest.fixture
def transcript_events_lost(cdk_out):
    # Jobs (50 minutes) outlast the callback timeout: the machine is waiting when the transcript lands.
    with events_lost_under(cdk_out, "transcripts/", "audio/enc-1.wav", job_seconds=3000) as cloud:
        # The choreography watchdog records the encounter once it is stalled past stalled_job_minutes (120).
        run_until(cloud, lambda: keys(cloud, CHOREOGRAPHY, "failures/"), simulated_hours=5)
        yield cloud


def test_a_lost_transcript_event(transcript_events_lost):
    """Choreography: the encounter stops until the watchdog records it. Orchestration: the callback
    times out, the machine asks Transcribe, sees COMPLETED and writes the note."""
    cloud = transcript_events_lost
    assert cloud.faults.injected["event_lost"] >= 2
    record = read_json(cloud, CHOREOGRAPHY, "failures/enc-1.json")
    assert (record["stage"], record["error_type"]) == ("note", "TranscriptNotProcessed")
    assert keys(cloud, ORCHESTRATION, "notes/") == ["notes/enc-1.json"]
    sfn = cloud.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=execution(cloud)["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "CheckTranscriptionJob" in entered
    assert entered[-4:] == ["GenerateNote", "CheckReview", "ReviewOutcome", "AwaitReview"]


def test_a_lost_upload_event_is_taken_in_by_the_scheduled_sweep_in_both_variants(cdk_out):
    with events_lost_under(cdk_out, "audio/", "audio/enc-2.wav") as cloud:
        run_until(cloud, lambda: all(keys(cloud, s, "notes/") for s in STACKS), simulated_hours=2)
        assert cloud.faults.injected["event_lost"] == 2, "both upload events were lost"
        for stack in STACKS:
            assert keys(cloud, stack, "notes/") == ["notes/enc-2.json"], stack
            assert keys(cloud, stack, "failures/") == [], stack
        assert execution(cloud)["status"] == "RUNNING", "the note written, the execution waits for its review"


def test_a_lost_event_is_drawn_by_its_object_key_or_by_its_kind_and_name():
    """The report names the error class by the subject: an event's kind and name, never its whole body."""
    from localcloud.cloud import event_subject

    assert event_subject(json.dumps({"detail": {"object": {"key": "audio/enc-1.wav"}}})) == "audio/enc-1.wav"
    status = {"detail-type": "Step Functions Execution Status Change", "detail": {"name": "enc-1", "status": "FAILED"}}
    assert event_subject(json.dumps(status)) == "Step Functions Execution Status Change/enc-1"
    assert event_subject("not json") == "not json"


def test_an_event_is_lost_or_not_once_however_often_its_message_is_received(cdk_out):
    """The event_lost fault is drawn as EventBridge hands the event to its queue, once per event: a message the
    note step puts back (six throttled Converse calls here: more than one invocation's SDK retries) was delivered, and no later receive of it is lost.
    So both variants draw once for the transcript, with a seed whose first draw keeps the event and whose
    next two would lose it (they were drawn on choreography's redeliveries, which lost its note)."""
    subject, rate = "transcripts/enc-1.json", 0.5

    def draws(seed: int) -> list[bool]:
        plan = FaultPlan(rates={"event_lost": rate}, seed=seed)
        return [plan.draw("event_lost", subject) is not None for _ in range(3)]

    seed = next(seed for seed in range(1000) if draws(seed) == [False, True, True])
    plan = FaultPlan(
        rates={"event_lost": rate}, only={"event_lost": "transcripts/"}, first={"bedrock_throttle": 6}, seed=seed
    )
    with LocalCloud(cdk_out, faults=plan) as cloud:
        deploy_both(cloud, AUDIO)
        upload_to_both(cloud, "audio/enc-1.wav", AUDIO)
        run_until(cloud, lambda: all(keys(cloud, s, "notes/") for s in STACKS), simulated_hours=3)
        for stack in STACKS:
            assert keys(cloud, stack, "notes/") == ["notes/enc-1.json"], stack
            assert keys(cloud, stack, "failures/") == [], stack
        assert plan.asked("event_lost") == {(subject, CHOREOGRAPHY): 1, (subject, ORCHESTRATION): 1}
        assert plan.attempts("bedrock_throttle") == {("enc-1", CHOREOGRAPHY): 7, ("enc-1", ORCHESTRATION): 7}
        assert plan.injected["event_lost"] == 0


def test_a_second_delivery_of_an_upload_makes_no_try_at_a_job_already_started(cdk_out):
    """The same upload's event twice, its first start throttled: in choreography one delivery starts the job and
    the other's retry then finds it started (ConflictException). That call is no try at starting the job: both
    variants make the policy's two tries (storm, seed 2: a duplicated upload counted 3 tries in
    choreography, 1 in orchestration)."""
    plan = FaultPlan(first={"transcribe_start": 1}, seed=3)
    with LocalCloud(cdk_out, faults=plan) as cloud:
        deploy_both(cloud, AUDIO)
        upload_to_both(cloud, "audio/enc-1.wav", AUDIO)
        upload_to_both(cloud, "audio/enc-1.wav", AUDIO)
        run_until(cloud, lambda: all(keys(cloud, s, "notes/") for s in STACKS), simulated_hours=2)
        for stack in STACKS:
            assert keys(cloud, stack, "notes/") == ["notes/enc-1.json"], stack
        assert plan.asked("transcribe_start") == {("enc-1", CHOREOGRAPHY): 2, ("enc-1", ORCHESTRATION): 2}

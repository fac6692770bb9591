"""The orchestration variant's state machine, executed by moto's ASL interpreter.

The definition is statemachines/encounter.asl.json with the stack's substitutions; its Lambda
tasks run the real handlers in-process. Time is simulated: a 15-minute callback timeout is 15 simulated
minutes, skipped over when nothing else can happen (localcloud.simulation).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto.core.exceptions import JsonRESTError
from moto.moto_api import state_manager
from moto.transcribe.models import transcribe_backends

from clinical.layout import transcript_key
from clinical.review import read_review, sign
from clinical.waiting_line import waiters, wake_head
from localcloud.lambda_runtime import in_process_lambdas
from localcloud.simulation import Simulation, active
from localcloud.stepfunctions_shims import aws_error_names, catches_may_lead_back_to_their_state, on_simulated_time
from localcloud.transcribe_shims import failure_reason_in_get
from orchestration.slots import waker
from stacks.app_factory import ORCHESTRATION_STACK
from tests.support.events import execution_status_change, object_created, sqs_event
from tests.support.orchestration import (
    Deployed,
    deploy_function,
    finished,
    invoke,
    state_transitions,
    substitute,
    wait_for,
)
from tests.support.templates import ref_id, resources_of_type, synthesized_template
from tests.unit.conftest import BUCKET, LINE_TABLE, TRANSCRIPT_TEXT, converse_answer

TABLE = "transcript-waits"
CLINICIAN = "arn:aws:sts::123456789012:assumed-role/clinician/dr-lee"


def resolve(value, template: dict, known: dict[str, str]) -> str:
    """A substitution value as CloudFormation would resolve it, against the resources of this test."""
    if isinstance(value, str):
        return value
    logical_id = ref_id(value)
    if logical_id not in known:
        raise KeyError(f"the test has no stand-in for {logical_id} ({template['Resources'][logical_id]['Type']})")
    return known[logical_id]


@pytest.fixture
def machine(cloud, pipeline_env):
    """The stack's state machine (its definition and substitutions from the synthesized template) and
    the stack's orchestration functions, deployed into moto with AWS error names and simulated time."""
    template = synthesized_template(ORCHESTRATION_STACK)
    [props] = [r["Properties"] for r in resources_of_type(template, "AWS::StepFunctions::StateMachine").values()]
    substitutions = props["DefinitionSubstitutions"]
    prefix = substitutions["TranscriptionJobPrefix"]
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "encounter_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "encounter_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    environment = {
        **pipeline_env,
        "PIPELINE_VARIANT": "orchestration",
        "TRANSCRIPTION_JOB_PREFIX": prefix,
        "TRANSCRIPT_WAITS_TABLE": TABLE,
        "POWERTOOLS_SERVICE_NAME": "ClinicalScribeTest",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicalScribe",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    functions = {
        logical_id: resource["Properties"]["Handler"]
        for logical_id, resource in resources_of_type(template, "AWS::Lambda::Function").items()
    }
    with (
        Simulation(),
        in_process_lambdas(),
        aws_error_names(),
        catches_may_lead_back_to_their_state(),
        on_simulated_time(),
        failure_reason_in_get(),
    ):
        known = {
            ref_id(substitutions["EncounterBucket"]): BUCKET,
            ref_id(substitutions["KmsKeyArn"]): cloud.kms_key_arn,
        }
        tasks = {ref_id(v) for k, v in substitutions.items() if k.endswith("FunctionArn")}
        for logical_id in tasks:
            known[logical_id] = deploy_function(logical_id, functions[logical_id], environment)
        definition = substitute(
            props["DefinitionString"], {name: resolve(v, template, known) for name, v in substitutions.items()}
        )
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="encounter", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        for handler in functions.values():
            if handler in (
                "orchestration.intake.handler",
                "orchestration.transcript_ready.handler",
                "orchestration.record_failure.handler",
            ):
                deploy_function(handler.split(".")[1], handler, {**environment, "STATE_MACHINE_ARN": arn})
        yield Deployed(state_machine_arn=arn, job_prefix=prefix)
        for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"])
            finished(execution["executionArn"])


def waiting(encounter_id: str) -> bool:
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"encounter_id": {"S": encounter_id}})
    return "Item" in item


def awaiting_transcript(machine, execution_arn: str) -> None:
    """Block until the callback task's Lambda has returned (its token stored, the transcript looked for)."""
    wait_for(
        lambda: any(e["type"] == "TaskSubmitted" for e in machine.history(execution_arn)),
        what="the callback task to register",
    )


def start(cloud, machine, encounter_id: str) -> str:
    cloud.put_audio(f"audio/{encounter_id}.wav")
    invoke("intake", sqs_event(object_created(BUCKET, f"audio/{encounter_id}.wav")))
    return f"{machine.state_machine_arn.replace(':stateMachine:', ':execution:')}:{encounter_id}"


def transcribe_finishes(cloud, encounter_id: str, *, event_delivered: bool = True) -> None:
    """What Transcribe does when a job completes: write the output, mark the job COMPLETED with it, and S3
    emits its event."""
    cloud.put_transcript(encounter_id, by_job=False)
    for name, job in transcribe_backends["123456789012"]["us-east-1"].medical_transcriptions.items():
        if name.endswith(f"-{encounter_id}"):
            job.status = "COMPLETED"
            job.transcript = {"TranscriptFileUri": f"s3://{BUCKET}/{transcript_key(encounter_id)}"}
            job.completion_time = datetime.now(UTC).isoformat()
    if event_delivered:
        invoke("transcript_ready", sqs_event(object_created(BUCKET, transcript_key(encounter_id))))


def signed_off(execution_arn: str) -> dict:
    """The execution's end after the note's review: once its wait for the clinician has stored its token, a
    clinician signs (as `scribe sign` does), which ends the wait."""
    encounter_id = execution_arn.rsplit(":", 1)[-1]
    s3 = boto3.client("s3")

    def awaiting() -> bool:
        found = read_review(s3, BUCKET, encounter_id)
        return found is not None and found[0].task_token is not None

    wait_for(awaiting, what="the execution to wait for the review")
    sign(s3, BUCKET, encounter_id, clinician=CLINICIAN, stepfunctions=boto3.client("stepfunctions"))
    return finished(execution_arn)


def ended(execution_arn: str) -> dict:
    """The execution's end, and what its status change event makes of it (EventBridge -> SQS -> record_failure)."""
    result = finished(execution_arn)
    assert invoke("record_failure", sqs_event(execution_status_change(execution_arn, result["status"]))) == {
        "batchItemFailures": []
    }
    return result


def errors_in(events: list[dict]) -> list[str]:
    return [
        event[key]["error"]
        for event in events
        for key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails")
        if key in event
    ]


def test_happy_path_writes_the_note_in_few_transitions_without_polling(cloud, machine, capsys):
    cloud.model_answers(converse_answer())
    execution = start(cloud, machine, "enc-1")
    awaiting_transcript(machine, execution)
    transcribe_finishes(cloud, "enc-1")
    result = signed_off(execution)
    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["note"] == {
        "note_key": "notes/enc-1.json",
        "written": True,
        "transcript_sha256": cloud.read_json("notes/enc-1.json")["provenance"]["transcript_sha256"],
    }
    # What the token was redeemed with is not read: CheckReview's reading of the record is.
    assert output["review"] == {"status": "SIGNED", "wait_seconds": 0}
    events = machine.history(execution)
    transitions = state_transitions(events)
    status_checks = sum("getMedicalTranscriptionJob" in json.dumps(e, default=str) for e in events)
    with capsys.disabled():
        print(f"\nhappy path: {transitions} state transitions, {status_checks} GetMedicalTranscriptionJob calls")
    assert transitions <= 12
    assert status_checks == 0
    assert cloud.read_json("notes/enc-1.json")["provenance"]["variant"] == "orchestration"


def test_transcript_already_there_when_the_wait_registers_resumes_at_once(cloud, machine, monkeypatch):
    """Transcribe finishes before the execution registers its wait (its event is then of no use)."""
    from moto.transcribe.models import TranscribeBackend

    real_start = TranscribeBackend.start_medical_transcription_job

    def finished_at_once(backend, **kwargs):
        response = real_start(backend, **kwargs)
        transcribe_finishes(cloud, "enc-2", event_delivered=False)
        return response

    monkeypatch.setattr(TranscribeBackend, "start_medical_transcription_job", finished_at_once)
    cloud.model_answers(converse_answer())
    result = signed_off(start(cloud, machine, "enc-2"))
    assert result["status"] == "SUCCEEDED"
    assert not waiting("enc-2")


def test_the_same_upload_twice_runs_one_execution(cloud, machine):
    cloud.model_answers(converse_answer())
    first = start(cloud, machine, "enc-3")
    assert start(cloud, machine, "enc-3") == first, "same name and input while running is the same execution"
    awaiting_transcript(machine, first)
    transcribe_finishes(cloud, "enc-3")
    assert signed_off(first)["status"] == "SUCCEEDED"
    invoke("intake", sqs_event(object_created(BUCKET, "audio/enc-3.wav")))
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine.state_machine_arn)
    assert [e["name"] for e in executions["executions"]] == ["enc-3"]
    assert cloud.keys("failures/") == []


class LimitExceeded(JsonRESTError):
    def __init__(self):
        super().__init__("LimitExceededException", "You have exceeded the concurrent job limit")


def in_line(encounter_id: str) -> bool:
    return any(w.place.encounter_id == encounter_id for w in waiters(boto3.client("dynamodb"), LINE_TABLE))


def test_a_start_refused_for_the_quota_waits_in_line_and_asks_again_only_when_woken(cloud, machine, monkeypatch):
    """Refused twice: each time the execution stands its token in line (AwaitSlot) and asks nothing until a
    job's end wakes it; the third ask starts the job."""
    backend = transcribe_backends["123456789012"]["us-east-1"]
    real_start, calls = backend.start_medical_transcription_job, []

    def throttled_twice(**kwargs):
        calls.append(kwargs)
        if len(calls) <= 2:
            raise LimitExceeded()
        return real_start(**kwargs)

    monkeypatch.setattr(backend, "start_medical_transcription_job", throttled_twice)
    cloud.model_answers(converse_answer())
    execution = start(cloud, machine, "enc-4")
    for refused in (1, 2):
        wait_for(lambda: in_line("enc-4"), what="the execution to stand in line")
        assert len(calls) == refused, "in line, it asks nothing"
        assert wake_head(boto3.client("dynamodb"), LINE_TABLE, waker()) is not None  # another job's end
    awaiting_transcript(machine, execution)
    transcribe_finishes(cloud, "enc-4")
    assert signed_off(execution)["status"] == "SUCCEEDED"
    assert errors_in(machine.history(execution)) == ["Transcribe.LimitExceededException"] * 2
    assert len(calls) == 3
    assert not in_line("enc-4")


def test_a_wait_in_line_that_times_out_stands_in_line_again_without_asking(cloud, machine, monkeypatch):
    """Nobody wakes it (a wake lost to a crash): at AwaitSlot's timeout the execution stands in line again at its
    place and asks nothing; the next wake starts the job."""
    backend = transcribe_backends["123456789012"]["us-east-1"]
    real_start, calls = backend.start_medical_transcription_job, []

    def throttled_once(**kwargs):
        calls.append(active().now())
        if len(calls) == 1:
            raise LimitExceeded()
        return real_start(**kwargs)

    monkeypatch.setattr(backend, "start_medical_transcription_job", throttled_once)
    cloud.model_answers(converse_answer())
    execution = start(cloud, machine, "enc-4")
    wait_for(lambda: in_line("enc-4"), what="the execution to stand in line")
    joined_at = active().now()
    timed_out = lambda: sum(e["type"] == "TaskTimedOut" for e in machine.history(execution))  # noqa: E731
    wait_for(lambda: timed_out() >= 2 and in_line("enc-4"), what="two timeouts of the wait")
    assert active().now() - joined_at >= 2 * 1800
    assert len(calls) == 1, "a timed-out wait asks nothing"
    assert wake_head(boto3.client("dynamodb"), LINE_TABLE, waker()) is not None
    awaiting_transcript(machine, execution)
    assert len(calls) == 2


def test_a_failed_job_ends_in_a_failure_record_and_a_failed_execution(cloud, machine):
    execution = start(cloud, machine, "enc-5")
    awaiting_transcript(machine, execution)
    job = transcribe_backends["123456789012"]["us-east-1"].medical_transcriptions[f"{machine.job_prefix}-enc-5"]
    job.status, job.failure_reason = "FAILED", "The media format provided does not match the detected media format."
    result = ended(execution)
    assert result["status"] == "FAILED" and result["error"] == "TranscriptionJobFailed"
    record = cloud.read_json("failures/enc-5.json")
    assert (record["stage"], record["error_type"], record["variant"]) == (
        "transcription",
        "TranscriptionJobFailed",
        "orchestration",
    )
    assert "does not match the detected media format" in record["message"]


def test_a_lost_callback_times_out_checks_the_job_and_continues(cloud, machine):
    state_manager.set_transition(
        model_name="transcribe::medicaltranscriptionjob", transition={"progression": "immediate"}
    )
    try:
        cloud.model_answers(converse_answer())
        execution = start(cloud, machine, "enc-6")
        awaiting_transcript(machine, execution)
        transcribe_finishes(cloud, "enc-6", event_delivered=False)
        assert signed_off(execution)["status"] == "SUCCEEDED"
    finally:
        state_manager.unset_transition("transcribe::medicaltranscriptionjob")
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in machine.history(execution) if "stateEnteredEventDetails" in e
    ]
    assert entered[entered.index("WaitForTranscript") + 1 : entered.index("GenerateNote")] == [
        "CheckTranscriptionJob",
        "TranscriptionJobStatus",
    ]


def test_bedrock_throttled_then_succeeding_retries_only_the_note_step(cloud, machine):
    cloud.model_fails("ThrottlingException", times=2)
    cloud.model_answers(converse_answer())
    execution = start(cloud, machine, "enc-7")
    awaiting_transcript(machine, execution)
    transcribe_finishes(cloud, "enc-7")
    assert signed_off(execution)["status"] == "SUCCEEDED"
    events = machine.history(execution)
    assert errors_in(events) == ["NoteModelThrottled"] * 2
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered.count("StartTranscription") == 1, "a retry of step 3 does not repeat step 1"


def test_invalid_note_output_is_recorded_and_fails_the_execution(cloud, machine):
    cloud.model_answers(converse_answer("not a note"), converse_answer("still not a note"))
    execution = start(cloud, machine, "enc-8")
    awaiting_transcript(machine, execution)
    transcribe_finishes(cloud, "enc-8")
    assert ended(execution)["status"] == "FAILED"
    record = cloud.read_json("failures/enc-8.json")
    assert (record["stage"], record["error_type"], record["attempts"]) == ("note", "InvalidModelOutput", 2)
    assert "holds no JSON object" in record["message"]
    assert cloud.keys("notes/") == []


def test_a_bad_upload_gets_a_failure_record_and_no_execution(cloud, machine):
    cloud.put_audio("audio/enc-9.txt")
    invoke("intake", sqs_event(object_created(BUCKET, "audio/enc-9.txt")))
    assert cloud.read_json("failures/enc-9.json")["error_type"] == "UnsupportedAudioFormat"
    assert boto3.client("stepfunctions").list_executions(stateMachineArn=machine.state_machine_arn)["executions"] == []


def test_execution_history_and_logs_hold_no_transcript_or_note_text(cloud, machine, structured_logs):
    cloud.model_answers(converse_answer())
    execution = start(cloud, machine, "enc-10")
    awaiting_transcript(machine, execution)
    transcribe_finishes(cloud, "enc-10")
    assert signed_off(execution)["status"] == "SUCCEEDED"
    history = json.dumps(machine.history(execution), default=str)
    logs = structured_logs.getvalue()
    assert "notes/enc-10.json" in history, "the history is captured"
    assert "enc-10" in logs, "the logs are captured"
    note = cloud.read_json("notes/enc-10.json")
    stated = [s["text"] for section in note["sections"] for s in section["statements"]]
    for text in [TRANSCRIPT_TEXT, "productive cough", "amoxicillin", *stated]:
        assert text not in history
        assert text not in logs

"""Every consumer validates what it consumes (issue 13, item 5): a message of another shape is quarantined
by where it came from (nothing from its body) and acknowledged; no key is ever built from it."""

import json
from datetime import UTC, datetime

import pytest

from choreography import write_note
from clinical.errors import InvalidEncounterId, MalformedMessage
from clinical.layout import failure_key, note_key, transcript_key
from clinical.settings import PipelineSettings
from orchestration import await_transcript, generate_note, intake, record_failure, transcript_ready
from orchestration.failed_executions import record_execution_failure
from tests.support.events import sqs_event

GARBAGE = ("not json at all", {"detail": {"object": {"key": "audio/enc-1.wav"}}}, ["a", "list"])


def quarantine_records(cloud) -> list[dict]:
    return [cloud.read_json(key) for key in cloud.keys("failures/")]


@pytest.mark.parametrize("handler", [write_note, intake, transcript_ready, record_failure])
def test_a_message_of_another_shape_is_quarantined_and_acknowledged(cloud, lambda_context, monkeypatch, handler):
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:encounters")
    monkeypatch.setenv("TRANSCRIPT_WAITS_TABLE", "transcript-waits")
    event = sqs_event(*GARBAGE, queue="some-queue")
    assert handler.handler(event, lambda_context) == {"batchItemFailures": []}
    records = quarantine_records(cloud)
    assert sorted(r["source_key"] for r in records) == sorted(
        f"sqs:some-queue/{r['messageId']}" for r in event["Records"]
    )
    assert {r["kind"] for r in records} == {"quarantine"}
    assert not any("enc-1" in r["reason"] or "list" in r["reason"] for r in records)


class OneExecution:
    """DescribeExecution and GetExecutionHistory of one execution that ended FAILED."""

    def __init__(self, name: str, execution_input: str) -> None:
        self.name, self.input = name, execution_input

    def describe_execution(self, executionArn):
        now = datetime.now(UTC)
        return {"executionArn": executionArn, "name": self.name, "status": "FAILED", "input": self.input,
                "startDate": now, "stopDate": now, "error": "States.Runtime"}  # fmt: skip

    def get_execution_history(self, **_):
        return {"events": []}


@pytest.mark.parametrize(
    ("name", "execution_input"),
    [
        ("by-hand", "{}"),
        ("by-hand", json.dumps({"encounter_id": "../../x", "audio_key": "audio/x.wav", "media_format": "wav"})),
        ("enc-1", json.dumps({"encounter_id": "enc-1", "audio_key": "notes/enc-1.json", "media_format": "wav"})),
        ("by-hand", json.dumps({"encounter_id": "enc-1", "audio_key": "audio/enc-1.wav", "media_format": "wav"})),
        ("by-hand", '"a string"'),
    ],
)
def test_an_execution_that_ran_for_no_encounter_is_quarantined_once(cloud, name, execution_input):
    settings = PipelineSettings.from_env()
    execution = OneExecution(name, execution_input)
    arn = f"arn:aws:states:us-east-1:123456789012:execution:encounters:{name}"
    assert record_execution_failure(execution, cloud.s3, cloud.bucket, arn, settings) is True
    assert record_execution_failure(execution, cloud.s3, cloud.bucket, arn, settings) is False, "once"
    [record] = quarantine_records(cloud)
    assert (record["kind"], record["source_key"]) == ("quarantine", f"execution:{name}")


@pytest.mark.parametrize("payload", [{}, {"encounter_id": "../../x", "task_token": "t"}, {"encounter_id": 7}])
def test_the_state_machines_tasks_refuse_a_payload_that_names_no_encounter(cloud, lambda_context, monkeypatch, payload):
    monkeypatch.setenv("TRANSCRIPT_WAITS_TABLE", "transcript-waits")
    for task in (await_transcript, generate_note):
        with pytest.raises(MalformedMessage):
            task.handler(payload, lambda_context)
    assert cloud.keys("") == []


@pytest.mark.parametrize("build", [failure_key, note_key, transcript_key])
def test_no_key_of_an_encounter_is_built_from_an_invalid_id(build):
    with pytest.raises(InvalidEncounterId):
        build("../../x")

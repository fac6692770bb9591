"""No transcript, note or model text in any error, anywhere (issue 13, item 3).

A marker is planted in every dictation, in the notes the model returns, in malformed model output,
in a stored note that fails validation, in transcripts that are not Transcribe documents, in the
names of objects that name no encounter (a patient's name as a file name, say), in an upload's template
metadata (x-amz-meta-template, typed by whoever uploads), and in the reason a clinician gives for sending a
note back. Both variants run each failure path to its end, and the review path too (the note sent back,
drafted again, signed, exported to FHIR); then every place an operator or a log reader can look is searched
for the marker: handler output and log records, execution histories, failure records, DLQ messages, alarm
notifications, the domain events on the buses and the X-Ray documents the functions sent.
"""

import contextlib
import io
import json
import logging
from unittest import mock

import pytest
from moto.bedrockruntime.responses import BedrockRuntimeResponse
from moto.core.responses import ActionResult

from clinical.layout import ENCOUNTER_ID_PATTERN, fhir_export_key, key_reference, signed_key
from clinical.review import send_back, sign
from localcloud.bedrock_converse import segments_from_request
from localcloud.lambda_runtime import send_handler_output_to
from tests.localcloud.conftest import DICTATION, STACKS, keys, read_json, upload
from tests.support.domain_events import received, subscribe

MARKER = "ZEBRA-PHI-MARKER-7"
# What is searched for: the marker's first 9 characters, so a name cut short in a message still counts.
SEARCHED = MARKER[:9]
CHOREOGRAPHY, ORCHESTRATION = STACKS
# The emulator's own loggers: what AWS logs inside its services, not what the functions log.
LOCAL_CLOUD_LOGGERS = ("moto", "localcloud", "werkzeug")

# What the model answers, by the case word in the dictation: prose, JSON that does not parse, JSON that
# breaks the schema (with the marker in values, in a field name and in an enum). Other dictations get
# the local model's note, which quotes the dictation and so the marker.
HOSTILE_ANSWERS = {
    "caseprose": f"I could not produce JSON. The patient said {MARKER} twice.",
    "casebrokenjson": '{"subjective": "' + MARKER + '" "plan": "' + MARKER + '"}',
    "caseschema": json.dumps(
        {
            "subjective": MARKER,
            "objective": 7,
            "assessment": [MARKER],
            "plan": "",
            MARKER: MARKER,
            "medications_and_orders": [{"category": MARKER, "description": MARKER, f"{MARKER}-order": 1}],
        }
    ),
}
MODEL_CASES = ("ok", *HOSTILE_ANSWERS)
# A stored note that fails validation, and transcripts that are not Transcribe documents.
STORED_NOTE = json.dumps({"schema_version": "1", "soap": {"subjective": MARKER, "plan": 5}, "provenance": MARKER})
FORGED_TRANSCRIPTS = {
    "transcripts/forged-notjson.json": f"not json {MARKER}".encode(),
    "transcripts/forged-shape.json": json.dumps({"results": {"transcripts": [{"transcript": {MARKER: 1}}]}}).encode(),
    "transcripts/forged-keys.json": json.dumps({MARKER: [MARKER]}).encode(),
    f"transcripts/{MARKER} Smith.json": json.dumps({"results": {"transcripts": [{"transcript": "x"}]}}).encode(),
}
# Names that are no encounter id (an id is the pipeline's identifier, logged by design; these are not),
# and an extension that is no format: each ends in a record, and the name in none of what is searched.
MARKED_NAMES = (
    f"audio/{MARKER} Smith.wav",
    f"audio/{MARKER}/visit.wav",
    f"audio/{MARKER}+dob.mp3",
    f"audio/{MARKER} x",
    "audio/enc-marked." + MARKER,
)
CLINICIAN = "arn:aws:iam::123456789012:user/dr-rivera"
# A clinician's free text: the model is given it as feedback, and it is kept in the review record only.
SEND_BACK_REASON = f"The plan misses what the patient said about {MARKER}; draft it again."


def audio(case: str) -> bytes:
    return f"RIFF....WAVEfmt phi test {case}".encode()


def dictation(case: str) -> str:
    return f"{DICTATION} The patient's code word is {MARKER} {case}."


@contextlib.contextmanager
def hostile_model():
    """Bedrock Converse answers HOSTILE_ANSWERS for their cases and the local note model otherwise."""
    local = BedrockRuntimeResponse.converse

    def converse(self):
        transcript = " ".join(words for _number, words in segments_from_request(self._get_param("messages") or []))
        answer = next((text for case, text in HOSTILE_ANSWERS.items() if transcript.endswith(f"{case}.")), None)
        if answer is None:
            return local(self)
        return ActionResult(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 500, "outputTokens": 50, "totalTokens": 550},
            }
        )

    with mock.patch.object(BedrockRuntimeResponse, "converse", converse):
        yield


@contextlib.contextmanager
def powertools_log_to(stream):
    """The handlers' Powertools Logger writes its JSON lines to `stream`."""
    from clinical.observability import logger

    handler = logger.registered_handler
    previous = handler.setStream(stream)
    try:
        yield
    finally:
        handler.setStream(previous)


def everything_visible(cloud) -> dict[str, str]:
    """Every execution history, failure record, DLQ message and alarm notification, by where it was found."""
    found: dict[str, str] = {}
    s3, sqs, sfn = cloud.client("s3"), cloud.client("sqs"), cloud.client("stepfunctions")
    machine = cloud.outputs[ORCHESTRATION]["StateMachineArn"]
    for summary in sfn.list_executions(stateMachineArn=machine)["executions"]:
        arn = summary["executionArn"]
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        found[f"history {summary['name']}"] = json.dumps(history, default=str)
        found[f"execution {summary['name']}"] = json.dumps(sfn.describe_execution(executionArn=arn), default=str)
    for stack in STACKS:
        bucket = cloud.outputs[stack]["EncounterBucketName"]
        for key in keys(cloud, stack, "failures/"):
            found[f"{stack} {key}"] = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        for output, url in cloud.outputs[stack].items():
            if output.endswith("DlqUrl"):
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                found[f"{stack} {output}"] = json.dumps([m["Body"] for m in messages])
    found["alarm notifications"] = json.dumps(cloud.alarm_notifications(), default=str)
    for function, documents in cloud.traces().items():
        found[f"X-Ray documents of {function}"] = json.dumps(documents)
    return found


def review_ok_encounter(cloud) -> None:
    """In both variants the clinician sends enc-ok's note back with a marked reason, lets it be drafted again,
    then signs it as it stands (it quotes the marked dictation) and lets the FHIR export run."""
    s3, stepfunctions = cloud.client("s3"), cloud.client("stepfunctions")
    for act in (
        lambda bucket, bus: send_back(s3, bucket, "enc-ok", clinician=CLINICIAN, reason=SEND_BACK_REASON, bus=bus,
                                      stepfunctions=stepfunctions),
        lambda bucket, bus: sign(s3, bucket, "enc-ok", clinician=CLINICIAN, bus=bus, stepfunctions=stepfunctions),
    ):  # fmt: skip
        for stack in STACKS:
            act(cloud.outputs[stack]["EncounterBucketName"], cloud.outputs[stack]["DomainEventBusName"])
        cloud.run_until_quiet()


@pytest.fixture
def hostile_run(local_cloud, caplog):
    """Every failure path with planted markers, then enc-ok's review path, run to its end in both variants."""
    cloud = local_cloud
    handler_output, powertools_lines = io.StringIO(), io.StringIO()
    send_handler_output_to(handler_output)
    caplog.set_level(logging.INFO)  # what Lambda's runtime would write to CloudWatch Logs
    for case in (*MODEL_CASES, "stored"):
        cloud.transcribe.register(audio(case), dictation(case))
    events, sqs = cloud.client("events"), cloud.client("sqs")
    buses = {
        stack: subscribe(events, sqs, cloud.outputs[stack]["DomainEventBusName"], f"bus-{stack}") for stack in STACKS
    }
    with hostile_model(), powertools_log_to(powertools_lines):
        for stack in STACKS:
            bucket = cloud.outputs[stack]["EncounterBucketName"]
            cloud.client("s3").put_object(Bucket=bucket, Key="notes/enc-stored.json", Body=STORED_NOTE.encode())
            for case in (*MODEL_CASES, "stored"):
                upload(cloud, stack, f"audio/enc-{case}.wav", audio(case))
            for key, body in FORGED_TRANSCRIPTS.items():
                upload(cloud, stack, key, body)
            for key in MARKED_NAMES:
                upload(cloud, stack, key, audio("ok"))
            upload(cloud, stack, "audio/enc-template.wav", audio("ok"), template=MARKER)
        cloud.run_until_quiet()
        review_ok_encounter(cloud)
    captured = {
        "handler output": handler_output.getvalue(),
        "Powertools log lines": powertools_lines.getvalue(),
        "log records": "\n".join(
            f"{record.getMessage()} {logging.Formatter().formatException(record.exc_info) if record.exc_info else ''}"
            for record in caplog.records
            if not record.name.startswith(LOCAL_CLOUD_LOGGERS)
        ),
        **{f"domain events on {stack}'s bus": json.dumps(received(sqs, url)) for stack, url in buses.items()},
    }
    return cloud, captured


def test_the_failure_paths_were_taken(hostile_run):
    cloud, captured = hostile_run
    assert captured["Powertools log lines"], "the handlers' log lines were captured"
    assert '"errorType": "InvalidModelOutput"' in captured["handler output"], "the runtime's error lines were captured"
    for stack in STACKS:
        for case in HOSTILE_ANSWERS:
            assert read_json(cloud, stack, f"failures/enc-{case}.json")["error_type"] == "InvalidModelOutput", stack
        assert read_json(cloud, stack, "failures/enc-stored.json")["error_type"] == "StoredNoteInvalid", stack
        assert "notes/enc-ok.json" in keys(cloud, stack, "notes/"), stack
    # Transcripts no job wrote are set aside (quarantined), never read: their markers reach no parser.
    quarantined = [read_json(cloud, CHOREOGRAPHY, key) for key in keys(cloud, CHOREOGRAPHY, "failures/_quarantine-")]
    assert {record["source_key"] for record in quarantined} >= {key_reference(key) for key in FORGED_TRANSCRIPTS}
    for stack in STACKS:
        rejected = [read_json(cloud, stack, key) for key in keys(cloud, stack, "failures/_rejected-")]
        assert {record["source_key"] for record in rejected} >= {key_reference(key) for key in MARKED_NAMES[:-1]}
        assert read_json(cloud, stack, "failures/enc-marked.json")["error_type"] == "UnsupportedAudioFormat", stack
        assert read_json(cloud, stack, "failures/enc-template.json")["error_type"] == "UnknownTemplate", stack


def test_the_review_path_was_taken_and_every_function_sent_its_traces(hostile_run):
    cloud, captured = hostile_run
    for stack in STACKS:
        kinds = [event["detail-type"] for event in json.loads(captured[f"domain events on {stack}'s bus"])]
        assert {"NoteSentBack", "NoteRedrafted", "NoteSigned"} <= set(kinds), stack
        signed = read_json(cloud, stack, signed_key("enc-ok"))
        assert (signed["version"], signed["signed_by"]) == (2, CLINICIAN), stack
        assert MARKER in json.dumps(signed["note"]), "the signed note quotes the marked dictation"
        assert fhir_export_key("enc-ok") in keys(cloud, stack, "exports/"), stack
    # Each function sent the local cloud's X-Ray its handler's subsegment and its AWS calls'.
    traced = {
        function
        for function, documents in cloud.traces().items()
        if {"## handler", "s3"} <= {document["name"] for document in documents}
    }
    for stack, functions in {
        CHOREOGRAPHY: ("StartTranscription", "WriteNote", "FhirExport"),
        ORCHESTRATION: ("Intake", "GenerateNote", "AwaitReview", "FhirExport"),
    }.items():
        for function in functions:
            assert any(name.startswith(f"{stack}-{function}Function") for name in traced), (function, sorted(traced))
    # Each hop's encounter_id annotation is an encounter's id: never an object name that is none (a patient's).
    annotated = {
        document["annotations"]["encounter_id"]
        for documents in cloud.traces().values()
        for document in documents
        if "encounter_id" in document.get("annotations", {})
    }
    assert "enc-ok" in annotated
    assert all(ENCOUNTER_ID_PATTERN.fullmatch(value) for value in annotated), sorted(annotated)


def test_no_marker_in_any_log_history_record_dlq_message_event_or_trace(hostile_run):
    cloud, captured = hostile_run
    searched = {**captured, **everything_visible(cloud)}
    leaks = {where: text[max(0, text.find(SEARCHED) - 200) : text.find(SEARCHED) + 60]
             for where, text in searched.items() if SEARCHED in text}  # fmt: skip
    assert not leaks, json.dumps(leaks, indent=1)

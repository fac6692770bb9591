"""choreography.write_note: a transcript becomes one schema-valid draft note, or a failure record."""

import json

import pytest

from choreography import write_note
from clinical.notes import Note, transcript_sha256
from clinical.policy import DEFAULT, MODEL_OUTPUT_ERRORS
from tests.support.events import object_created, sqs_event
from tests.unit.conftest import BUCKET, MODEL_ID, PREFIX, TRANSCRIPT_TEXT, converse_answer


def run(lambda_context, *keys, receive_count=1):
    event = sqs_event(*(object_created(BUCKET, key) for key in keys), receive_count=receive_count)
    return write_note.handler(event, lambda_context)


def test_a_transcript_becomes_a_schema_valid_draft_note_with_provenance(cloud, lambda_context):
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    assert run(lambda_context, "transcripts/enc-0001.json") == {"batchItemFailures": []}
    note = Note.model_validate(cloud.read_json("notes/enc-0001.json"))
    assert note.status == "draft" and "clinician must review" in note.review_notice
    assert note.flagged == [], "every statement of the answer is in the transcript"
    assert note.template == "soap" and [s.name for s in note.sections] == [
        "subjective",
        "objective",
        "assessment",
        "plan",
    ]
    assert [(s.text, s.evidence) for s in note.sections[2].statements] == [("Community-acquired pneumonia.", [3])]
    assert [order.category for order in note.medications_and_orders] == ["medication", "imaging"]
    assert [s.speaker_label for s in note.speakers] == ["spk_0"], "one voice: a dictation"
    provenance = note.provenance
    assert provenance.encounter_id == "enc-0001"
    assert provenance.model_id == MODEL_ID
    assert (provenance.template, provenance.prompt_version) == ("soap", "soap-v3")
    assert provenance.transcript_sha256 == transcript_sha256(TRANSCRIPT_TEXT)
    assert provenance.transcription_job_name == f"{PREFIX}-enc-0001"
    assert provenance.variant == "choreography"
    assert (provenance.input_tokens, provenance.output_tokens) == (412, 118)
    assert [(c.first_segment, c.last_segment) for c in provenance.model_calls] == [(1, 4)]


def test_the_uploads_template_chooses_the_notes_sections_and_is_recorded(cloud, lambda_context):
    """GIVEN audio uploaded with x-amz-meta-template: dap WHEN its note is drafted THEN the model is asked for
    the DAP note's sections and the note records the template."""
    cloud.s3.put_object(Bucket=BUCKET, Key="audio/enc-0030.wav", Body=b"RIFF....WAVE", Metadata={"template": "dap"})
    cloud.put_transcript("enc-0030")
    answer = {"data": [{"text": "Cough for three days.", "evidence": [1]}], "assessment": [], "plan": []}
    cloud.bedrock_stub.add_response("converse", converse_answer(json.dumps(answer | {"medications_and_orders": []})))
    assert run(lambda_context, "transcripts/enc-0030.json") == {"batchItemFailures": []}
    note = Note.model_validate(cloud.read_json("notes/enc-0030.json"))
    assert (note.template, note.provenance.prompt_version) == ("dap", "dap-v2")
    assert [s.title for s in note.sections] == ["Data", "Assessment", "Plan"]


def test_a_statement_citing_a_segment_the_transcript_lacks_is_invalid_model_output(cloud, lambda_context):
    cloud.put_transcript("enc-0031")
    answer = json.loads(converse_answer()["output"]["message"]["content"][0]["text"])
    answer["plan"][0]["evidence"] = [99]
    cloud.model_answers(*[converse_answer(json.dumps(answer))] * DEFAULT.model_output.tries)
    for attempt in range(1, DEFAULT.model_output.tries + 1):
        run(lambda_context, "transcripts/enc-0031.json", receive_count=attempt)
    record = cloud.read_json("failures/enc-0031.json")
    assert (record["error_type"], record["attempts"]) == ("InvalidModelOutput", DEFAULT.model_output.tries)
    assert record["message"].endswith("cites segments the transcript does not have at: plan.0")
    assert cloud.keys("notes/") == []


def test_a_statement_the_transcript_does_not_support_is_written_for_review_counted_and_not_logged(
    cloud, lambda_context, capsys, structured_logs
):
    """GIVEN a model answer whose plan adds a drug and dose the transcript never mentions WHEN the note is
    drafted THEN it is written (never dropped) as needs_review, the statement flagged with its reason, the
    NotesNeedingReview metric counted, and the log line holds counts, not the statement."""
    cloud.put_transcript("enc-0009")
    answer = json.loads(converse_answer()["output"]["message"]["content"][0]["text"])
    answer["plan"].append({"text": "Start warfarin 5 mg daily.", "evidence": [4]})
    cloud.model_answers(converse_answer(json.dumps(answer)))
    assert run(lambda_context, "transcripts/enc-0009.json") == {"batchItemFailures": []}
    note = Note.model_validate(cloud.read_json("notes/enc-0009.json"))
    assert note.status == "needs_review"
    assert [(f.section, f.text, f.reason, f.evidence) for f in note.flagged] == [
        ("plan", "Start warfarin 5 mg daily.", "the medication warfarin is not in its evidence", [4])
    ]
    assert '"NotesNeedingReview":[1.0]' in capsys.readouterr().out
    logged = structured_logs.getvalue()
    assert '"flagged_statements":1' in logged and "warfarin" not in logged


def test_a_duplicate_delivery_neither_calls_the_model_nor_changes_the_note(cloud, lambda_context):
    cloud.put_transcript("enc-0002")
    cloud.model_answers(converse_answer())
    run(lambda_context, "transcripts/enc-0002.json")
    first = cloud.s3.get_object(Bucket=BUCKET, Key="notes/enc-0002.json")
    # No further model answer is queued: a second Converse call would fail the test.
    assert run(lambda_context, "transcripts/enc-0002.json") == {"batchItemFailures": []}
    second = cloud.s3.get_object(Bucket=BUCKET, Key="notes/enc-0002.json")
    assert second["ETag"] == first["ETag"]
    versions = cloud.s3.list_object_versions(Bucket=BUCKET, Prefix="notes/enc-0002.json")["Versions"]
    assert len(versions) == 1


def test_a_new_transcript_for_the_encounter_replaces_the_note(cloud, lambda_context):
    cloud.put_transcript("enc-0003", TRANSCRIPT_TEXT)
    cloud.model_answers(converse_answer(), converse_answer())
    run(lambda_context, "transcripts/enc-0003.json")
    corrected = TRANSCRIPT_TEXT.replace("three days", "four days")
    cloud.put_transcript("enc-0003", corrected)
    run(lambda_context, "transcripts/enc-0003.json")
    note = cloud.read_json("notes/enc-0003.json")
    assert note["provenance"]["transcript_sha256"] == transcript_sha256(corrected)


@pytest.mark.parametrize(
    ("answer", "error_type", "reason"),
    [
        (converse_answer("Sorry, I can't do that."), "InvalidModelOutput", "holds no JSON object"),
        (converse_answer('{"subjective": "x"}'), "InvalidModelOutput", "objective"),
        (converse_answer('{"cannot_generate": true}'), "ModelRefused", "declined"),
        (converse_answer(stop_reason="guardrail_intervened"), "ModelRefused", "blocked"),
    ],
)
def test_invalid_or_refused_output_is_a_failure_record_never_a_placeholder(
    cloud, lambda_context, answer, error_type, reason
):
    cloud.put_transcript("enc-0005")
    tries = DEFAULT.model_output.tries if error_type in MODEL_OUTPUT_ERRORS else 1  # a malformed answer: another try
    cloud.model_answers(*[answer] * tries)
    for attempt in range(1, tries):
        result = run(lambda_context, "transcripts/enc-0005.json", receive_count=attempt)
        assert len(result["batchItemFailures"]) == 1, "delivered again, as the state machine retries it"
        assert cloud.keys("failures/") == []
    assert run(lambda_context, "transcripts/enc-0005.json", receive_count=tries) == {"batchItemFailures": []}
    assert cloud.keys("notes/") == []
    record = cloud.read_json("failures/enc-0005.json")
    assert (record["stage"], record["error_type"], record["retryable"]) == ("note", error_type, False)
    assert reason in record["message"] and record["attempts"] == tries


@pytest.mark.parametrize(("text", "error_type"), [("   ", "EmptyTranscript"), (None, "TranscriptMalformed")])
def test_an_empty_or_malformed_transcript_is_recorded_without_calling_the_model(
    cloud, lambda_context, text, error_type
):
    if text is None:  # what the job wrote is not a Transcribe document
        cloud.s3.put_object(Bucket=BUCKET, Key="transcripts/enc-0006.json", Body=b'{"results": {}}')
        cloud.complete_job("enc-0006", "transcripts/enc-0006.json")
    else:
        cloud.put_transcript("enc-0006", text)
    run(lambda_context, "transcripts/enc-0006.json")
    assert cloud.read_json("failures/enc-0006.json")["error_type"] == error_type


def test_bedrock_throttling_is_retried_and_recorded_only_on_the_last_attempt(cloud, lambda_context):
    cloud.put_transcript("enc-0007")
    cloud.model_fails("ThrottlingException", times=2)
    assert len(run(lambda_context, "transcripts/enc-0007.json", receive_count=1)["batchItemFailures"]) == 1
    assert cloud.keys("failures/") == []
    assert len(run(lambda_context, "transcripts/enc-0007.json", receive_count=5)["batchItemFailures"]) == 1
    record = cloud.read_json("failures/enc-0007.json")
    assert (record["error_type"], record["attempts"], record["retryable"]) == ("NoteModelThrottled", 5, True)


def test_a_note_written_after_a_recorded_failure_supersedes_the_record(cloud, lambda_context):
    cloud.put_transcript("enc-0008")
    cloud.model_fails("ThrottlingException")
    run(lambda_context, "transcripts/enc-0008.json", receive_count=5)
    assert cloud.keys("failures/") == ["failures/enc-0008.json"]
    cloud.model_answers(converse_answer())
    run(lambda_context, "transcripts/enc-0008.json", receive_count=1)
    assert cloud.keys("failures/") == [] and cloud.keys("notes/") == ["notes/enc-0008.json"]


def test_transcribes_write_check_object_is_skipped(cloud, lambda_context):
    cloud.s3.put_object(Bucket=BUCKET, Key="transcripts/.write_access_check_file.temp", Body=b"")
    assert run(lambda_context, "transcripts/.write_access_check_file.temp") == {"batchItemFailures": []}
    assert cloud.keys("failures/") == [] and cloud.keys("notes/") == []


def test_no_log_line_contains_transcript_or_note_text(cloud, lambda_context, capsys, caplog, structured_logs):
    cloud.put_transcript("enc-0009")
    cloud.put_transcript("enc-0010")
    cloud.model_answers(converse_answer(), converse_answer('{"subjective": "Crackles everywhere"}'))
    run(lambda_context, "transcripts/enc-0009.json", "transcripts/enc-0010.json")
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text + structured_logs.getvalue()
    assert "enc-0009" in logs, "the logs are captured (encounter ids are logged)"
    note = cloud.read_json("notes/enc-0009.json")
    stated = [s["text"] for section in note["sections"] for s in section["statements"]]
    for phrase in ["productive cough", "amoxicillin", "Amoxicillin", "Crackles", "crackles", *stated]:
        assert phrase not in logs
    assert json.dumps(note) not in logs


def test_a_transcript_no_job_wrote_is_quarantined_not_drafted_and_fails_no_encounter(cloud, lambda_context):
    cloud.put_transcript("enc-0020", by_job=False)
    assert run(lambda_context, "transcripts/enc-0020.json") == {"batchItemFailures": []}
    cloud.bedrock_stub.assert_no_pending_responses()  # the model was never asked
    assert cloud.keys("notes/") == []
    [key] = cloud.keys("failures/")
    assert key.startswith("failures/_quarantine-")
    record = cloud.read_json(key)
    assert (record["kind"], record["source_key"]) == ("quarantine", "transcripts/enc-0020.json")
    assert "no Transcribe job ClinicalScribeTest-enc-0020 was started for it" in record["reason"]


def test_a_transcript_replaced_after_its_job_completed_does_not_redraft_the_note(cloud, lambda_context):
    cloud.put_transcript("enc-0021")
    cloud.model_answers(converse_answer())
    run(lambda_context, "transcripts/enc-0021.json")
    note = cloud.read_json("notes/enc-0021.json")
    from moto.transcribe.models import transcribe_backends

    job = transcribe_backends["123456789012"]["us-east-1"].medical_transcriptions["ClinicalScribeTest-enc-0021"]
    job.completion_time = "2020-01-01T00:00:00+00:00"  # it completed long before the object below was written
    cloud.put_transcript("enc-0021", "Patient is fine. Plan: nothing.", by_job=False)
    run(lambda_context, "transcripts/enc-0021.json")
    assert cloud.read_json("notes/enc-0021.json") == note
    [key] = [k for k in cloud.keys("failures/") if k.startswith("failures/_quarantine-")]
    assert "written after job ClinicalScribeTest-enc-0021 completed" in cloud.read_json(key)["reason"]


def test_the_same_stray_object_met_twice_is_quarantined_and_counted_once(cloud, lambda_context, capsys):
    cloud.put_transcript("enc-0022", by_job=False)
    run(lambda_context, "transcripts/enc-0022.json")
    run(lambda_context, "transcripts/enc-0022.json")
    assert len([k for k in cloud.keys("failures/") if k.startswith("failures/_quarantine-")]) == 1
    assert capsys.readouterr().out.count('"QuarantinedObjects":[1.0]') == 1

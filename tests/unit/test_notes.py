"""Note generation: the Converse request, validation of the model's answer, and error classes."""

import json

import pytest

from clinical import notes
from clinical.errors import (
    InvalidModelOutput,
    ModelRefused,
    NoteModelRejected,
    NoteModelThrottled,
    NoteWriteConflict,
    StoredNoteInvalid,
    TranscriptTooLong,
)
from clinical.notes import (
    PROMPT_VERSION,
    ModelReply,
    SoapNote,
    compose_note,
    converse_request,
    parse_model_output,
    request_note,
    save_note,
    system_prompt,
    transcript_sha256,
)
from tests.unit.conftest import MODEL_ID, TRANSCRIPT_TEXT, converse_answer

VALID = {
    "subjective": "Cough for three days.",
    "objective": "Temperature 38.4 C.",
    "assessment": "Pneumonia.",
    "plan": "Antibiotics.",
    "medications_and_orders": [{"category": "medication", "description": "Amoxicillin 1 g TID"}],
}


def test_a_schema_valid_answer_parses():
    note = parse_model_output(json.dumps(VALID))
    assert note.assessment == "Pneumonia."
    assert note.medications_and_orders[0].category == "medication"


def test_an_answer_wrapped_in_a_code_fence_still_parses():
    assert parse_model_output(f"```json\n{json.dumps(VALID)}\n```").plan == "Antibiotics."


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I am sorry, I cannot help with that.", "holds no JSON object"),
        ("{subjective: unquoted}", "not valid JSON"),
        (json.dumps({**VALID, "plan": ""}), "at: plan"),
        (json.dumps({k: v for k, v in VALID.items() if k != "objective"}), "at: objective"),
        (json.dumps({**VALID, "diagnosis_codes": ["J18.9"]}), "at: (unexpected field)"),
        (
            json.dumps({**VALID, "medications_and_orders": [{"category": "diet", "description": "x"}]}),
            "at: medications_and_orders.0.category",
        ),
    ],
)
def test_invalid_answers_are_rejected_naming_fields_not_content(answer, reason):
    with pytest.raises(InvalidModelOutput) as raised:
        parse_model_output(answer)
    assert reason in raised.value.message
    assert "Pneumonia" not in raised.value.message and "Antibiotics" not in raised.value.message


def test_a_field_name_the_schema_does_not_define_is_withheld():
    """The model chooses extra field names: they are model text, so the message does not repeat them."""
    answer = {
        **VALID,
        "Patient Jane Roe": "x",
        "medications_and_orders": [{"category": "lab", "description": "x", "HbA1c 9": 1}],
    }
    with pytest.raises(InvalidModelOutput) as raised:
        parse_model_output(json.dumps(answer))
    assert raised.value.message.endswith("at: (unexpected field), medications_and_orders.0.(unexpected field)")


def test_a_stored_note_that_fails_validation_is_reported_without_its_text(cloud):
    """GIVEN a stored note that breaks the schema WHEN it is read THEN the error names no content
    (pydantic's own message quotes the note)."""
    body = json.dumps({"soap": {"subjective": "Jane Roe has chest pain"}, "provenance": "Jane Roe"})
    cloud.s3.put_object(Bucket=cloud.bucket, Key="notes/enc-bad.json", Body=body.encode())
    with pytest.raises(StoredNoteInvalid) as raised:
        notes.read_note(cloud.s3, cloud.bucket, "enc-bad")
    assert "Jane Roe" not in str(raised.value) and raised.value.__suppress_context__
    assert not raised.value.retryable


def test_the_transcript_budget_comes_from_the_models_context_window():
    """Haiku 4.5 (200K tokens) less the answer's 2,048 and the prompt, at 2.5 characters a token."""
    prompt_chars = len(system_prompt()) + len(notes.user_message(""))
    assert notes.max_transcript_chars(MODEL_ID) == int((200_000 - 2048) * 2.5) - prompt_chars
    assert notes.max_transcript_chars("amazon.nova-lite-v1:0") < notes.max_transcript_chars(MODEL_ID)


def test_a_transcript_over_the_budget_is_not_sent(cloud):
    """GIVEN a transcript one character over the budget WHEN a note is requested THEN Bedrock is not
    called (the stub has no answer to give) and the failure is permanent, naming sizes only."""
    limit = notes.max_transcript_chars(MODEL_ID)
    with pytest.raises(TranscriptTooLong) as raised:
        request_note(cloud.bedrock, MODEL_ID, "x" * (limit + 1), encounter_id="enc-1")
    assert not raised.value.retryable and str(limit) in raised.value.message
    cloud.bedrock_stub.assert_no_pending_responses()


def test_a_declined_answer_is_a_refusal():
    with pytest.raises(ModelRefused):
        parse_model_output('{"cannot_generate": true}')


def test_the_request_carries_the_versioned_prompt_the_transcript_and_the_encounter(cloud):
    request = converse_request(MODEL_ID, "hi", "enc-1")
    assert request["requestMetadata"] == {"encounter_id": "enc-1"}  # in the invocation logs: no prompt read
    cloud.bedrock_stub.add_response("converse", converse_answer(), expected_params=request)
    reply = request_note(cloud.bedrock, MODEL_ID, "hi", encounter_id="enc-1")
    assert (reply.input_tokens, reply.output_tokens) == (412, 118)
    assert PROMPT_VERSION == "soap-note-v1" and "SOAP note" in system_prompt()
    cloud.bedrock_stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ServiceUnavailableException", "ModelTimeoutException", "InternalServerException"]
)
def test_throttling_and_unavailability_are_transient(cloud, code):
    cloud.model_fails(code)
    with pytest.raises(NoteModelThrottled) as raised:
        request_note(cloud.bedrock, MODEL_ID, TRANSCRIPT_TEXT, encounter_id="enc-1")
    assert raised.value.retryable


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException"])
def test_rejected_requests_are_permanent(cloud, code):
    cloud.model_fails(code)
    with pytest.raises(NoteModelRejected) as raised:
        request_note(cloud.bedrock, MODEL_ID, TRANSCRIPT_TEXT, encounter_id="enc-1")
    assert not raised.value.retryable and code in raised.value.message


@pytest.mark.parametrize(
    ("stop_reason", "error"),
    [("max_tokens", InvalidModelOutput), ("guardrail_intervened", ModelRefused), ("content_filtered", ModelRefused)],
)
def test_truncated_or_blocked_answers_are_failures(cloud, stop_reason, error):
    cloud.model_answers(converse_answer(stop_reason=stop_reason))
    with pytest.raises(error):
        request_note(cloud.bedrock, MODEL_ID, TRANSCRIPT_TEXT, encounter_id="enc-1")


def note_for(encounter_id, transcript_text, assessment="Pneumonia."):
    return compose_note(
        encounter_id=encounter_id,
        reply=ModelReply(
            soap=SoapNote.model_validate({**VALID, "assessment": assessment}), input_tokens=1, output_tokens=1
        ),
        model_id=MODEL_ID,
        transcript_hash=transcript_sha256(transcript_text),
        job_name="job",
        variant="choreography",
    )


def test_a_delivery_that_loses_the_write_race_keeps_the_winners_note(cloud, monkeypatch):
    """GIVEN two deliveries of one transcript that both asked the model
    WHEN the loser writes after the winner (its read saw no note yet)
    THEN the conditional write refuses, and the stored note is the winner's."""
    assert save_note(cloud.s3, cloud.bucket, note_for("enc-race", "same transcript", assessment="Winner."))
    real_read, reads = notes.read_note, []

    def first_read_sees_no_note(*args):
        reads.append(args)
        return None if len(reads) == 1 else real_read(*args)

    monkeypatch.setattr(notes, "read_note", first_read_sees_no_note)
    assert save_note(cloud.s3, cloud.bucket, note_for("enc-race", "same transcript", assessment="Loser.")) is False
    assert cloud.read_json("notes/enc-race.json")["soap"]["assessment"] == "Winner."


def test_a_losing_write_for_a_different_transcript_is_retried(cloud, monkeypatch):
    assert save_note(cloud.s3, cloud.bucket, note_for("enc-race2", "first transcript"))
    monkeypatch.setattr(notes, "read_note", lambda *a: None)
    with pytest.raises(NoteWriteConflict) as raised:
        save_note(cloud.s3, cloud.bucket, note_for("enc-race2", "second transcript"))
    assert raised.value.retryable

"""Both variants, deployed from their synthesized templates, take the same upload to the same note."""

import pytest

from clinical.conversation import segments_of
from clinical.drafting import transcript_chars_per_call
from clinical.templates import template_named
from localcloud.bedrock_converse import LOCAL_MODEL_NOTICE
from stacks.config import PipelineConfig
from tests.localcloud.conftest import DICTATION, STACKS, keys, read_json, upload

AUDIO = b"RIFF....WAVEfmt local test dictation"


@pytest.mark.parametrize("stack", STACKS)
def test_an_upload_becomes_a_transcript_and_a_draft_note(local_cloud, stack):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    upload(local_cloud, stack, "audio/enc-1.wav", AUDIO)
    local_cloud.run_until_quiet()
    found = keys(local_cloud, stack)
    assert [key for key in found if not key.startswith("index/")] == [
        "audio/enc-1.wav",
        "notes/enc-1.json",
        "reviews/enc-1.json",
        "transcripts/enc-1.json",
    ]
    # The reviews' index: a worklist entry, and in choreography the deadlines of its sweep (reminder, window end);
    # and the note's marker for the sweeps (decision 0017).
    indexed = sorted(key.split("/")[1] for key in found if key.startswith("index/"))
    assert indexed == (["awaiting", "due", "due", "settled"] if "Choreography" in stack else ["awaiting", "settled"])
    assert [key.partition("Z/")[2] for key in found if key.startswith("index/settled/")] == ["notes/enc-1.json"]
    transcript = read_json(local_cloud, stack, "transcripts/enc-1.json")
    assert transcript["results"]["transcripts"][0]["transcript"] == DICTATION
    # A CONVERSATION job with speaker labels (both variants' Settings): numbered segments, each with its speaker.
    segments = segments_of(transcript)
    assert [s.number for s in segments] == list(range(1, len(segments) + 1)) and len(segments) > 1
    assert {s.speaker for s in segments} == {"spk_0"} and " ".join(s.text for s in segments) == DICTATION
    note = read_json(local_cloud, stack, "notes/enc-1.json")
    assert note["status"] == "draft"
    assert note["provenance"]["variant"] == local_cloud.outputs[stack]["Variant"]
    assert (note["template"], note["provenance"]["prompt_version"]) == ("soap", "soap-v3")
    assessment = next(s for s in note["sections"] if s["name"] == "assessment")
    assert assessment["statements"][0]["text"].startswith(LOCAL_MODEL_NOTICE)
    assert {o["category"] for o in note["medications_and_orders"]} == {"medication", "imaging"}
    assert cited(note) and cited(note) <= {s.number for s in segments}, "every statement cites existing segments"


def cited(note: dict) -> set[int]:
    """The segment numbers the note's statements and orders cite; each cites at least one."""
    items = [s for section in note["sections"] for s in section["statements"]] + note["medications_and_orders"]
    assert all(item["evidence"] for item in items)
    return {number for item in items for number in item["evidence"]}


def test_both_variants_run_side_by_side_on_the_same_work(local_cloud):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    for stack in STACKS:
        upload(local_cloud, stack, "audio/enc-2.wav", AUDIO)
    local_cloud.run_until_quiet()
    notes = [read_json(local_cloud, stack, "notes/enc-2.json") for stack in STACKS]
    assert notes[0]["sections"] == notes[1]["sections"]
    assert notes[0]["provenance"]["transcript_sha256"] == notes[1]["provenance"]["transcript_sha256"]
    sfn = local_cloud.client("stepfunctions")
    arn = local_cloud.outputs["ClinicalScribeOrchestration"]["StateMachineArn"]
    # The note is written and its execution waits for the clinician's review (the run is quiet meanwhile).
    assert [e["status"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]] == ["RUNNING"]
    assert {read_json(local_cloud, stack, "reviews/enc-2.json")["status"] for stack in STACKS} == {"AWAITING_REVIEW"}


@pytest.mark.parametrize("stack", STACKS)
def test_a_bad_upload_ends_in_a_failure_record(local_cloud, stack):
    upload(local_cloud, stack, "audio/enc-3.txt", b"not audio")
    local_cloud.run_until_quiet()
    assert keys(local_cloud, stack, "notes/") == []
    assert read_json(local_cloud, stack, "failures/enc-3.json")["error_type"] == "UnsupportedAudioFormat"


@pytest.mark.parametrize("stack", STACKS)
def test_a_duplicate_upload_makes_one_job_one_note_and_no_failure(local_cloud, stack):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    upload(local_cloud, stack, "audio/enc-4.wav", AUDIO)
    upload(local_cloud, stack, "audio/enc-4.wav", AUDIO)
    local_cloud.run_until_quiet()
    assert keys(local_cloud, stack, "notes/") == ["notes/enc-4.json"]
    assert keys(local_cloud, stack, "failures/") == []
    jobs = local_cloud.client("transcribe").list_medical_transcription_jobs(JobNameContains=stack)
    assert [j["MedicalTranscriptionJobName"] for j in jobs["MedicalTranscriptionJobSummaries"]] == [f"{stack}-enc-4"]
    versions = local_cloud.client("s3").list_object_versions(
        Bucket=local_cloud.outputs[stack]["EncounterBucketName"], Prefix="notes/enc-4.json"
    )["Versions"]
    assert len(versions) == 1, "the second delivery wrote no second note"


@pytest.mark.parametrize("stack", STACKS)
def test_a_transcript_over_the_models_input_budget_ends_in_one_permanent_failure(local_cloud, stack):
    """GIVEN a dictation with one segment longer than a model call's input budget (a long transcript of
    sentences is drafted in chunks; one sentence cannot be split) THEN no note is drafted, and the failure
    record says TranscriptTooLong after a single attempt."""
    limit = transcript_chars_per_call(PipelineConfig().bedrock_model_id, template_named(None))
    long_audio = b"RIFF....WAVEfmt a very long dictation"
    # Few words, many characters: the local Transcribe writes one item per word.
    local_cloud.transcribe.register(long_audio, f"{DICTATION} {'x' * limit}")
    upload(local_cloud, stack, "audio/enc-5.wav", long_audio)
    local_cloud.run_until_quiet()
    assert keys(local_cloud, stack, "notes/") == []
    record = read_json(local_cloud, stack, "failures/enc-5.json")
    assert (record["stage"], record["error_type"], record["retryable"]) == ("note", "TranscriptTooLong", False)
    assert record["attempts"] == 1, "a permanent failure is not retried"


CONVERSATION = (
    "[spk_1] Good morning. How long have you had the cough? Any fever or chills? "
    "[spk_0] About three days now. No fever, but I feel tired and my chest hurts when I cough. "
    "[spk_1] Okay, let me listen to your lungs. I hear crackles at the right base. "
    "I'm going to order a chest x-ray and we'll start amoxicillin 500 mg three times a day. "
    "[spk_0] Okay, thank you."
)  # this project's own words; the clinician is spk_1, so the label's number says nothing


def test_a_conversation_gets_each_speakers_role_from_what_is_said_in_both_variants(local_cloud):
    audio = b"RIFF....WAVEfmt local test conversation"
    local_cloud.transcribe.register(audio, CONVERSATION)
    for stack in STACKS:
        upload(local_cloud, stack, "audio/visit-1.wav", audio)
    local_cloud.run_until_quiet()
    for stack in STACKS:
        transcript = read_json(local_cloud, stack, "transcripts/visit-1.json")
        assert transcript["results"]["speaker_labels"]["speakers"] == 2, stack
        note = read_json(local_cloud, stack, "notes/visit-1.json")
        assert [(s["speaker_label"], s["role"]) for s in note["speakers"]] == [
            ("spk_0", "PATIENT"),
            ("spk_1", "CLINICIAN"),
        ], stack
        assert (note["status"], note["flagged"]) == ("draft", []), stack
        assert cited(note) <= {s.number for s in segments_of(transcript)}, stack
        plan = next(s for s in note["sections"] if s["name"] == "plan")["statements"]
        assert any("amoxicillin 500 mg" in s["text"] for s in plan), stack


@pytest.mark.parametrize("template", ["hp", "dap"])
def test_the_template_an_upload_names_shapes_the_note_in_both_variants(local_cloud, template):
    audio = f"RIFF....WAVEfmt {template} visit".encode()
    local_cloud.transcribe.register(audio, CONVERSATION)
    for stack in STACKS:
        upload(local_cloud, stack, f"audio/visit-{template}.wav", audio, template=template)
    local_cloud.run_until_quiet()
    notes = [read_json(local_cloud, stack, f"notes/visit-{template}.json") for stack in STACKS]
    for note in notes:
        assert note["template"] == note["provenance"]["template"] == template
        assert [s["name"] for s in note["sections"]] == list(template_named(template).section_names)
    assert notes[0]["sections"] == notes[1]["sections"]


@pytest.mark.parametrize("stack", STACKS)
def test_an_upload_naming_an_unknown_template_fails_before_transcription(local_cloud, stack):
    upload(local_cloud, stack, "audio/visit-typo.wav", b"RIFF....WAVEfmt typo", template="soapp")
    local_cloud.run_until_quiet()
    assert keys(local_cloud, stack, "notes/") == [] and keys(local_cloud, stack, "transcripts/") == []
    record = read_json(local_cloud, stack, "failures/visit-typo.json")
    assert (record["stage"], record["error_type"]) == ("intake", "UnknownTemplate")
    assert "did you mean soap?" in record["message"]

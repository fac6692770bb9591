"""The encounter contract: which audio keys are accepted, and the clear error for each that is not."""

import re

import pytest

from clinical.errors import InvalidEncounterId, UnsupportedAudioFormat
from clinical.layout import (
    claimed_encounter_id,
    encounter_id_from_job_name,
    encounter_id_from_key,
    key_reference,
    parse_audio_key,
    rejected_upload_failure_key,
    transcription_job_name,
)


@pytest.mark.parametrize(
    ("key", "encounter_id", "media_format"),
    [
        ("audio/enc-0001.wav", "enc-0001", "wav"),
        ("audio/A.flac", "A", "flac"),
        ("audio/visit_2026_11_20.MP3", "visit_2026_11_20", "mp3"),
        ("audio/clinic-7.webm", "clinic-7", "webm"),
        (f"audio/{'x' * 80}.ogg", "x" * 80, "ogg"),
    ],
)
def test_valid_audio_keys_give_encounter_id_and_media_format(key, encounter_id, media_format):
    upload = parse_audio_key(key)
    assert (upload.encounter_id, upload.media_format) == (encounter_id, media_format)


@pytest.mark.parametrize(
    ("key", "error", "reason"),
    [
        ("audio/-leading-dash.wav", InvalidEncounterId, "starting with a letter or digit"),
        ("audio/has space.wav", InvalidEncounterId, "letters, digits"),
        ("audio/dotted.name.wav", InvalidEncounterId, "letters, digits"),
        (f"audio/{'x' * 81}.wav", InvalidEncounterId, "1-80 characters"),
        ("audio/nested/enc-1.wav", InvalidEncounterId, "letters, digits"),
        ("audio/.wav", InvalidEncounterId, "1-80 characters"),
        ("audio/enc-1", UnsupportedAudioFormat, "no extension"),
        ("audio/enc-1.txt", UnsupportedAudioFormat, "'.txt' is not a format Transcribe Medical accepts"),
        ("audio/enc-1.aiff", UnsupportedAudioFormat, "expected one of amr, flac, mp3, mp4, ogg, wav, webm"),
        ("audio/enc-1.m4a", UnsupportedAudioFormat, "'.m4a' is not a format Transcribe Medical accepts"),
        ("uploads/enc-1.wav", InvalidEncounterId, "under audio/"),
    ],
)
def test_contract_violations_raise_a_clear_reason(key, error, reason):
    with pytest.raises(error) as raised:
        parse_audio_key(key)
    assert reason in raised.value.message


def test_job_names_round_trip_and_ignore_other_deployments():
    name = transcription_job_name("ClinicalScribeChoreography", "enc-1")
    assert name == "ClinicalScribeChoreography-enc-1"
    assert encounter_id_from_job_name("ClinicalScribeChoreography", name) == "enc-1"
    assert encounter_id_from_job_name("ClinicalScribeOrchestration", name) is None


def test_transcript_keys_give_their_encounter_id_and_nothing_else_does():
    assert encounter_id_from_key("transcripts/enc-1.json", "transcripts/", ".json") == "enc-1"
    assert encounter_id_from_key("transcripts/.write_access_check_file.temp", "transcripts/", ".json") is None
    assert encounter_id_from_key("transcripts/a/b.json", "transcripts/", ".json") is None


def test_rejected_uploads_get_a_key_no_valid_encounter_can_have():
    key = rejected_upload_failure_key("audio/has space.wav")
    assert key.startswith("failures/_rejected-") and key.endswith(".json")
    assert key == rejected_upload_failure_key("audio/has space.wav")
    assert key != rejected_upload_failure_key("audio/other space.wav")


@pytest.mark.parametrize(
    ("key", "claimed"),
    [("audio/enc-1.txt", "enc-1"), ("audio/enc-1", "enc-1"), ("audio/bad id.wav", None), ("other/enc-1.wav", None)],
)
def test_the_claimed_encounter_id_ignores_the_format(key, claimed):
    assert claimed_encounter_id(key) == claimed


@pytest.mark.parametrize(
    "key",
    ["audio/enc-1.wav", "audio/enc-1.WAV", "transcripts/enc-1.json", "notes/enc-1.json", "execution:enc-1",
     "sqs:ClinicalScribe-Work/0b6c8f7e-5c1a-4c9e-9f2b-3f1d2a6b7c8d"],
)  # fmt: skip
def test_a_key_that_names_an_encounter_is_shown_as_it_is(key):
    assert key_reference(key) == key


@pytest.mark.parametrize(
    "key",
    ["audio/John Smith.wav", "audio/enc-1.John Smith", "audio/sub/enc-1.wav", "audio/o'brien.wav",
     "transcripts/not an id.json", "execution:John Smith", "audio/enc-1.wav.txt", "uploads/enc-1.wav"],
)  # fmt: skip
def test_any_other_key_is_shown_only_as_its_digest_and_names_the_same_record(key):
    reference = key_reference(key)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", reference) and key_reference(reference) == reference
    assert rejected_upload_failure_key(reference) == rejected_upload_failure_key(key)


def test_an_extension_that_is_no_format_is_not_quoted_unless_it_looks_like_one():
    with pytest.raises(UnsupportedAudioFormat, match=r"^'\.aiff' is not a format"):
        parse_audio_key("audio/enc-1.aiff")
    with pytest.raises(UnsupportedAudioFormat) as refused:
        parse_audio_key("audio/enc-1.John Smith")
    assert "John" not in refused.value.message and refused.value.message.startswith("the file's extension")

"""Keys are read once, as stored: the handler's key (from the EventBridge event) and the sweep's key (from
ListObjectsV2) are the same string, so both name the same terminal record for any key S3 accepts."""

from __future__ import annotations

import os
from unittest.mock import patch

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.errors import ContractViolation
from clinical.events import object_created
from clinical.layout import (
    AUDIO_PREFIX,
    ENCOUNTER_ID_PATTERN,
    claimed_encounter_id,
    failure_key,
    note_key,
    parse_audio_key,
    rejected_upload_failure_key,
)
from tests.support.events import object_created as object_created_event
from tests.support.events import sqs_event

# Characters the contract accepts, and ones it rejects that S3 allows and URL-encoding treats specially.
CONTRACT = "aZ09-_"
SPECIAL = " +%.()&=@~#,;:!$'*[]{}^`|<>\"\\é中\u00a0"
ESCAPES = ("%41", "%2B", "%20", "%25", "%2F", "+", "%")
EXTENSIONS = ("wav", "WAV", "mp3", "flac", "txt", "m4a", "wa%76", "w+v", "")

stems = st.lists(st.one_of(st.sampled_from(CONTRACT + SPECIAL), st.sampled_from(ESCAPES)), min_size=1, max_size=12).map(
    "".join
)
audio_keys = st.builds(
    lambda stem, extension: f"{AUDIO_PREFIX}{stem}.{extension}" if extension else f"{AUDIO_PREFIX}{stem}",
    stems,
    st.sampled_from(EXTENSIONS),
)


def terminal_record_key(key: str) -> str:
    """Where an upload's one terminal record goes: the note, the encounter's failure record, or the rejection's."""
    try:
        return note_key(parse_audio_key(key).encounter_id)
    except ContractViolation:
        encounter_id = claimed_encounter_id(key)
        return failure_key(encounter_id) if encounter_id else rejected_upload_failure_key(key)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(audio_keys)
def test_the_handler_reads_the_key_s3_stored(key):
    record = SQSRecord(sqs_event(object_created_event("encounters", key))["Records"][0])
    with patch.dict(os.environ, {"ENCOUNTER_BUCKET": "encounters"}):
        assert object_created(record, "choreography").key == key


@settings(max_examples=300, derandomize=True, deadline=None)
@given(audio_keys)
def test_an_accepted_key_names_its_encounter_verbatim_and_a_rejected_one_names_no_other(key):
    encounter_id = claimed_encounter_id(key)
    if encounter_id is None:
        assert terminal_record_key(key).startswith("failures/_rejected-")
        return
    assert ENCOUNTER_ID_PATTERN.fullmatch(encounter_id)
    assert key.startswith(f"{AUDIO_PREFIX}{encounter_id}")
    assert terminal_record_key(key) in (note_key(encounter_id), failure_key(encounter_id))


def test_escapes_and_plus_are_part_of_the_key_not_encodings():
    assert claimed_encounter_id("audio/b11%41pct.wav") is None
    assert terminal_record_key("audio/b11%41pct.wav") == rejected_upload_failure_key("audio/b11%41pct.wav")
    assert claimed_encounter_id("audio/a+b.wav") is None
    assert rejected_upload_failure_key("audio/a+b.wav") != rejected_upload_failure_key("audio/a b.wav")

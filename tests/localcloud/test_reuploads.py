"""Uploads are immutable facts: a second, different upload under an encounter id in use is refused
with its own record and an alarm, and the first upload's note stands (issue 13, item 1)."""

import pytest

from tests.localcloud.conftest import DICTATION, STACKS, keys, read_json, upload

AUDIO = b"RIFF....WAVEfmt local test dictation"
RERECORDED = b"RIFF....WAVEfmt the same visit, dictated again"


def rejected_records(cloud, stack) -> list[dict]:
    return [read_json(cloud, stack, key) for key in keys(cloud, stack, "failures/_rejected-")]


def note_versions(cloud, stack, encounter_id: str) -> int:
    listing = cloud.client("s3").list_object_versions(
        Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix=f"notes/{encounter_id}.json"
    )
    return len(listing.get("Versions", []))


@pytest.mark.parametrize("stack", STACKS)
def test_audio_written_again_after_its_note_is_refused_and_the_note_stands(local_cloud, stack):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    local_cloud.transcribe.register(RERECORDED, "Patient is well. Plan is no change.")
    upload(local_cloud, stack, "audio/enc-r1.wav", AUDIO)
    local_cloud.run_until_quiet()
    first_note = read_json(local_cloud, stack, "notes/enc-r1.json")
    upload(local_cloud, stack, "audio/enc-r1.wav", RERECORDED)
    local_cloud.run_until_quiet()
    assert read_json(local_cloud, stack, "notes/enc-r1.json") == first_note
    assert note_versions(local_cloud, stack, "enc-r1") == 1
    [record] = rejected_records(local_cloud, stack)
    assert record["error_type"] == "EncounterIdInUse"
    assert record["source_key"] == "audio/enc-r1.wav"
    assert "written again after encounter enc-r1 began" in record["message"]
    assert keys(local_cloud, stack, "failures/enc-r1") == [], "the encounter itself did not fail"
    assert any(f.alarm_name.startswith(f"{stack}-EncounterFailures") for f in local_cloud.alarms.fired)


@pytest.mark.parametrize("stack", STACKS)
def test_a_second_format_under_the_same_id_is_refused_not_dropped(local_cloud, stack):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    upload(local_cloud, stack, "audio/enc-r2.wav", AUDIO)
    local_cloud.run_until_quiet()
    upload(local_cloud, stack, "audio/enc-r2.mp3", RERECORDED)
    local_cloud.run_until_quiet()
    assert keys(local_cloud, stack, "notes/") == ["notes/enc-r2.json"]
    [record] = rejected_records(local_cloud, stack)
    assert (record["error_type"], record["source_key"]) == ("EncounterIdInUse", "audio/enc-r2.mp3")
    assert "already in use by audio/enc-r2.wav" in record["message"]

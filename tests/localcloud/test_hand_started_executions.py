"""Every consumer validates what it consumes (issue 13, item 5): an execution started by hand with input
that is not an encounter ends in one quarantine record, never a crash into a DLQ nor a key built from it."""

import json

import pytest

from clinical.layout import ENCOUNTER_ID_PATTERN
from clinical.prefixes import DATA_PREFIXES
from tests.localcloud.conftest import keys, read_json, upload

STACK = "ClinicalScribeOrchestration"
AUDIO = b"RIFF....WAVEfmt local test dictation"
LAYOUT_PREFIXES = DATA_PREFIXES


def start_by_hand(cloud, name: str, execution_input: dict) -> None:
    cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.outputs[STACK]["StateMachineArn"], name=name, input=json.dumps(execution_input)
    )


def outside_the_layout(cloud) -> list[str]:
    def in_layout(key: str) -> bool:
        prefix, _, name = key.partition("/")
        first = name.split("/", 1)[0]  # reviews/<id>/v<n>.json: a version of <id>'s note
        stem = first.rpartition(".")[0] or first
        return f"{prefix}/" in LAYOUT_PREFIXES and (
            bool(ENCOUNTER_ID_PATTERN.fullmatch(stem)) or stem.startswith(("_quarantine-", "_rejected-"))
        )

    return [key for key in keys(cloud, STACK) if not in_layout(key)]


def dead_letters(cloud) -> list[str]:
    sqs = cloud.client("sqs")
    found = []
    for url in sqs.list_queues().get("QueueUrls", []):
        if "Dlq" in url or "dlq" in url.lower():
            count = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                        ["Attributes"]["ApproximateNumberOfMessages"])  # fmt: skip
            found += [url] * count
    return found


@pytest.mark.parametrize(
    "execution_input",
    [
        {},
        {"encounter_id": "../../x", "audio_key": "audio/enc-h1.wav", "media_format": "wav"},
        {"encounter_id": "enc-h1", "audio_key": "notes/enc-h1.json", "media_format": "wav"},
        {"encounter_id": ["enc-h1"], "audio_key": "audio/enc-h1.wav", "media_format": "wav"},
        # Its own name and id, and another encounter's audio: never a note drafted from that audio.
        {"encounter_id": "by-hand", "audio_key": "audio/enc-h1.wav", "media_format": "wav"},
        {"encounter_id": "by-hand", "audio_key": "audio/by-hand/../enc-h1.wav", "media_format": "wav"},
    ],
    ids=[
        "empty",
        "path-traversal-id",
        "audio-key-outside-audio",
        "id-not-a-string",
        "another-encounters-audio",
        "another-encounters-audio-by-a-path",
    ],
)
def test_a_hand_started_execution_with_bad_input_ends_in_one_quarantine_record(local_cloud, execution_input):
    local_cloud.transcribe.register(AUDIO, "Patient is well.")
    upload(local_cloud, STACK, "audio/enc-h1.wav", AUDIO)
    local_cloud.run_until_quiet()
    start_by_hand(local_cloud, "by-hand", execution_input)
    local_cloud.run_until_quiet()
    [record_key] = keys(local_cloud, STACK, "failures/")
    record = read_json(local_cloud, STACK, record_key)
    assert (record["kind"], record["source_key"]) == ("quarantine", "execution:by-hand")
    assert outside_the_layout(local_cloud) == []
    assert dead_letters(local_cloud) == []
    assert keys(local_cloud, STACK, "notes/") == ["notes/enc-h1.json"], "the real encounter is untouched"
    assert any(f.alarm_name.startswith(f"{STACK}-QuarantinedObjects") for f in local_cloud.alarms.fired)

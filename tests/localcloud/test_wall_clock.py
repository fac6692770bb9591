"""A local cloud that a person drives keeps wall-clock time and skips only when asked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from localcloud.cloud import LocalCloud
from scribe.cli import BadInput, duration_seconds
from tests.localcloud.conftest import DICTATION, STACKS, keys, read_json, upload

AUDIO = b"RIFF....WAVEfmt wall clock dictation"


def test_an_upload_reaches_its_note_when_the_operator_advances_the_clock(cdk_out):
    real_start = datetime.now(UTC)  # before the local cloud holds the clock
    with LocalCloud(cdk_out, time_mode="wall") as cloud:
        for stack in STACKS:
            cloud.deploy(stack)
        cloud.transcribe.register(AUDIO, DICTATION)
        for stack in STACKS:
            upload(cloud, stack, "audio/enc-1.wav", AUDIO)
        assert all(keys(cloud, stack, "notes/") == [] for stack in STACKS), "nothing happens by itself this fast"
        cloud.simulation.advance(300)
        sfn = cloud.client("stepfunctions")
        arn = cloud.outputs[STACKS[1]]["StateMachineArn"].replace(":stateMachine:", ":execution:") + ":enc-1"
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        notes = {stack: read_json(cloud, stack, "notes/enc-1.json") for stack in STACKS}
    assert sum(1 for event in history if event["type"].endswith("StateEntered")) == 8, "as in the demo"
    for note in notes.values():
        created = datetime.fromisoformat(note["provenance"]["created_at"])
        minutes_from_real = (created - real_start).total_seconds() / 60
        assert 0 < minutes_from_real < 30, f"the note's time is minutes, not hours, from the upload: {created}"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)])
def test_durations_read_as_an_operator_writes_them(text, seconds):
    assert duration_seconds(text) == seconds


# Only ASCII digits are numbers: float() would read an Arabic-Indic 2 (U+0662) or a fullwidth 5 as one.
@pytest.mark.parametrize("text", ["2 hours", "-5m", "h", "10", "3w", "\u0662h", "\uff155m"])
def test_a_duration_that_is_not_one_is_a_clear_error(text):
    with pytest.raises(BadInput, match="is not a duration: write it like 90s, 15m, 2h or 1h30m"):
        duration_seconds(text)

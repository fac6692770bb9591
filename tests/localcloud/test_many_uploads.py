"""Fifty uploads at once end in fifty notes in both variants (issue 13: once all fifty orchestration
encounters ended TranscriptionStalled)."""

import pytest

from tests.localcloud.conftest import DICTATION, STACKS, keys, upload

AUDIO = b"RIFF....WAVEfmt one of fifty"


@pytest.mark.parametrize("stack", STACKS)
def test_fifty_uploads_at_once_end_in_fifty_notes(local_cloud, stack):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    for number in range(50):
        upload(local_cloud, stack, f"audio/burst-{number:02d}.wav", AUDIO)
    local_cloud.run_until_quiet()
    assert keys(local_cloud, stack, "notes/") == [f"notes/burst-{number:02d}.json" for number in range(50)]
    assert keys(local_cloud, stack, "failures/") == []

"""Odd keys end to end: one upload, whatever characters S3 allows in its key, ends in exactly one
terminal record under the right id, in both variants (the local cloud delivers keys as S3 -> EventBridge
does: unencoded)."""

import pytest
from hypothesis import HealthCheck, assume, given, settings

from tests.localcloud.conftest import DICTATION, STACKS, keys, upload
from tests.unit.test_event_keys import audio_keys, terminal_record_key

AUDIO = b"RIFF....WAVEfmt local test dictation"


def terminal_records(cloud, stack) -> set[str]:
    return set(keys(cloud, stack, "notes/")) | set(keys(cloud, stack, "failures/"))


@pytest.mark.parametrize("stack", STACKS)
def test_each_odd_key_ends_in_exactly_one_terminal_record_under_the_right_id(local_cloud, stack):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    seen: set[str] = set()

    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(audio_keys)
    def one_upload(key):
        assume(key not in seen and terminal_record_key(key) not in {terminal_record_key(k) for k in seen})
        seen.add(key)
        before = terminal_records(local_cloud, stack)
        upload(local_cloud, stack, key, AUDIO)
        local_cloud.run_until_quiet()
        assert terminal_records(local_cloud, stack) - before == {terminal_record_key(key)}

    one_upload()

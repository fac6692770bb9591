"""The comparison's checker on snapshots made by hand: each invariant holds for every name the workload can
draw, and fails where it must."""

from __future__ import annotations

import pytest

from clinical.layout import key_reference
from experiments.invariants import Snapshot, check


def hostile_snapshot(invalid_keys: list[str], records: list[str]) -> Snapshot:
    return Snapshot(
        valid_ids={"enc-1"},
        invalid_keys=invalid_keys,
        note_versions={"notes/enc-1.json": 1},
        failure_keys=set(),
        encounter_failures_counted=0.0,
        failure_alarm_fired=False,
        logs="",
        histories="",
        hostile_expected={},
        records=["note:enc-1", *records],
    )


def verdict(snapshot: Snapshot, name: str):
    return next(v for v in check(snapshot) if v.name.startswith(name))


@pytest.mark.parametrize(
    "key",
    [
        "audio/visit 0005.wav",  # a space: the record names it by its digest
        "audio/-lead.wav",  # no valid id, but a key records may show as it is
        "audio/ünï.wav",
        "audio/sub/dir.wav",
    ],
)
def test_a_rejected_upload_is_matched_to_its_record_by_the_reference_that_named_it(key):
    """The defect: the checker looked for the raw key in the record, which names such an upload by its digest,
    so a workload's bad name ended 'nobody's record' and 'an upload with none'."""
    record = f"rejected:{key_reference(key)}:InvalidEncounterId"
    held = verdict(hostile_snapshot([key], [record]), "every upload ends in exactly one terminal record")
    assert held.passed, held.detail


def test_an_upload_without_its_record_and_a_record_of_nobody_still_fail():
    stray = f"rejected:{key_reference('audio/nobody uploaded this.wav')}:InvalidEncounterId"
    failed = verdict(hostile_snapshot(["audio/visit 0005.wav"], [stray]), "every upload ends in exactly one")
    assert not failed.passed
    assert "nobody's: " in failed.detail and "none: audio/visit 0005.wav" in failed.detail

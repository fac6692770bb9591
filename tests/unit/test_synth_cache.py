"""The synth cache keeps the newest synths only (it grew by one per source change, forever)."""

from __future__ import annotations

import os

from tests.support.synth_cache import prune


def test_a_new_synth_leaves_the_three_newest_and_whatever_is_still_being_built(tmp_path):
    for age, name in enumerate(["d5", "d4", "d3", "d2", "d1"]):  # d1 is the oldest
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
        (tmp_path / f"{name}.lock").write_text("")
        os.utime(tmp_path / name, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / "d9.partial-abc").mkdir()
    assert sorted(prune(tmp_path, keep=3)) == ["d1", "d2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "d3", "d3.lock", "d4", "d4.lock", "d5", "d5.lock", "d9.partial-abc",
    ]  # fmt: skip

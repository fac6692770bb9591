"""The synth cache keeps the newest synths only (it grew by one per source change, forever)."""

from __future__ import annotations

import os

from tests.support.synth_cache import context_digest, prune


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


def test_the_current_sources_keep_every_configurations_synth_and_older_sources_go_whole(tmp_path):
    """GIVEN the matrix's synths of the current sources (`new`) and of four older ones, the oldest newest, WHEN
    pruned to one kept THEN every synth of `new` stays, with its scan stamp; the others go with their files."""
    synths = {"old1": 1, "old1+ctx": 2, "old2": 3, "old2+ctx": 4, "new": 5, "new+a": 6, "new+b": 7}
    for name, mtime in synths.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
        (tmp_path / f"{name}.lock").write_text("")
        (tmp_path / f"{name}.scanned-abc").write_text("")
        os.utime(tmp_path / name, (mtime, mtime))
    os.utime(tmp_path / "old2+ctx", (9, 9))  # an older sources' synth touched last: kept by `keep`, not `current`
    assert prune(tmp_path, keep=1, current="new") == ["old1", "old1+ctx"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["new", "new+a", "new+b", "old2", "old2+ctx"]
    assert not list(tmp_path.glob("old1*"))
    assert (tmp_path / "new+b.scanned-abc").is_file()


def test_a_context_is_cached_apart_from_the_default_and_by_its_content_not_its_order():
    assert context_digest({"a": 1, "b": True}) == context_digest({"b": True, "a": 1})
    assert context_digest({"a": 1}) != context_digest({"a": 2})

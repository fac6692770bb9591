"""`scribe status --watch` on a fake clock: each variant's stage said once as it changes, the watch ends when every
variant has settled, and gives up after the looks it is allowed."""

from __future__ import annotations

import pytest

from scribe.watch import NotSettled, Sighting, follow


def looks(*rounds: dict[str, str]):
    """A look per round: each variant's stage then (settled where it waits for a person or ends)."""
    settled = {"AWAITING_REVIEW", "SIGNED", "REVIEW_EXPIRED", "FAILED"}
    remaining = list(rounds)
    return lambda: [Sighting(variant, stage, stage in settled) for variant, stage in remaining.pop(0).items()]


def test_each_new_stage_once_until_every_variant_settles():
    pauses = []
    look = looks(
        {"choreography": "RECEIVED", "orchestration": "RECEIVED"},
        {"choreography": "TRANSCRIBING", "orchestration": "RECEIVED"},
        {"choreography": "TRANSCRIBING", "orchestration": "TRANSCRIBING"},
        {"choreography": "AWAITING_REVIEW", "orchestration": "DRAFTING"},
        {"choreography": "AWAITING_REVIEW", "orchestration": "AWAITING_REVIEW"},
        {"choreography": "SIGNED", "orchestration": "SIGNED"},  # never looked at: the watch ended
    )
    said = [(s.variant, s.stage) for s in follow(look, lambda: pauses.append(1), looks=10)]
    assert said == [
        ("choreography", "RECEIVED"),
        ("orchestration", "RECEIVED"),
        ("choreography", "TRANSCRIBING"),
        ("orchestration", "TRANSCRIBING"),
        ("choreography", "AWAITING_REVIEW"),
        ("orchestration", "DRAFTING"),
        ("orchestration", "AWAITING_REVIEW"),
    ]
    assert len(pauses) == 4, "a pause between two looks, none after the last"


def test_a_settled_encounter_is_said_once_with_no_pause():
    pauses = []
    said = list(follow(looks({"orchestration": "FAILED"}), lambda: pauses.append(1), looks=5))
    assert said == [Sighting("orchestration", "FAILED", True)] and pauses == []


def test_it_gives_up_after_the_looks_allowed_naming_where_each_variant_was():
    said = []
    stuck = looks(*[{"choreography": "TRANSCRIBING", "orchestration": "RECEIVED"}] * 3)
    with pytest.raises(NotSettled, match=r"^choreography TRANSCRIBING, orchestration RECEIVED$"):
        said += follow(stuck, lambda: None, looks=3)
    assert [s.stage for s in said] == ["TRANSCRIBING", "RECEIVED"]

"""One stage model for every view: the stage each variant's records give, the review record deciding the review's
state, a review that ended standing against any later failure; pure, and complete over the state machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from clinical.review import Status
from clinical.stages import (
    OF_REVIEW,
    OF_STATE,
    EncounterStage,
    Failure,
    KeptByChoreography,
    KeptByOrchestration,
    Stage,
    stage_of,
)

ROOT = Path(__file__).resolve().parents[2]
THROTTLED = Failure("note", "NoteModelThrottled", "Bedrock is unavailable or throttling", "GenerateNote")


def test_every_state_but_the_fail_states_has_a_stage():
    states = json.loads((ROOT / "statemachines" / "encounter.asl.json").read_text())["States"]
    assert set(OF_STATE) == {name for name, state in states.items() if state["Type"] != "Fail"}


def test_every_review_status_has_a_stage():
    assert set(OF_REVIEW) == set(typing.get_args(Status))


@pytest.mark.parametrize(
    ("kept", "expected"),
    [
        (KeptByChoreography(), None),
        (KeptByChoreography(audio=True), Stage.RECEIVED),
        (KeptByChoreography(audio=True, job=True), Stage.TRANSCRIBING),
        (KeptByChoreography(audio=True, job=True, transcript=True), Stage.DRAFTING),
        (KeptByChoreography(audio=True, job=True, transcript=True, note=True), Stage.DRAFTING),
        (KeptByChoreography(audio=True, note=True, review="AWAITING_REVIEW"), Stage.AWAITING_REVIEW),
        (KeptByChoreography(audio=True, note=True, review="SENT_BACK"), Stage.REDRAFTING),
        (KeptByChoreography(audio=True, note=True, review="SIGNED"), Stage.SIGNED),
        (KeptByChoreography(audio=True, note=True, review="REVIEW_EXPIRED"), Stage.REVIEW_EXPIRED),
        (KeptByOrchestration(), None),
        (KeptByOrchestration(audio=True), Stage.RECEIVED),
        (KeptByOrchestration(started=True), Stage.RECEIVED),
        (KeptByOrchestration(started=True, state="StartTranscription"), Stage.RECEIVED),
        (KeptByOrchestration(started=True, state="WaitForTranscript"), Stage.TRANSCRIBING),
        (KeptByOrchestration(started=True, state="GenerateNote"), Stage.DRAFTING),
        (KeptByOrchestration(started=True, state="AwaitReview", review="AWAITING_REVIEW"), Stage.AWAITING_REVIEW),
        # The record decides: sent back while the execution still waits, drafted again while it still redrafts.
        (KeptByOrchestration(started=True, state="AwaitReview", review="SENT_BACK"), Stage.REDRAFTING),
        (KeptByOrchestration(started=True, state="RedraftNote", review="AWAITING_REVIEW"), Stage.AWAITING_REVIEW),
        (KeptByOrchestration(started=True, state="AwaitReview", review="SIGNED"), Stage.SIGNED),
        (KeptByOrchestration(started=True, state="ReviewExpired", review="REVIEW_EXPIRED"), Stage.REVIEW_EXPIRED),
    ],
)
def test_the_stage_each_variant_keeps(kept, expected):
    where = stage_of(kept)
    assert (where.stage if where else None) == expected
    assert where is None or where.failure is None


@pytest.mark.parametrize("variant", [KeptByChoreography, KeptByOrchestration])
def test_a_failure_shows_with_its_reason_unless_the_review_had_ended(variant):
    failed = stage_of(variant(audio=True, failure=THROTTLED))
    assert failed == EncounterStage(Stage.FAILED, THROTTLED)
    assert str(failed) == "FAILED: NoteModelThrottled at note"
    assert THROTTLED.reason == (
        "NoteModelThrottled at stage note, step GenerateNote: Bedrock is unavailable or throttling"
    )
    # A redraft that failed: the record still says SENT_BACK, the failure says what happened.
    assert stage_of(variant(audio=True, failure=THROTTLED, review="SENT_BACK")).stage == Stage.FAILED
    assert stage_of(variant(audio=True, failure=THROTTLED, review="AWAITING_REVIEW")).stage == Stage.FAILED
    # What a clinician signed, or a window that closed, stands.
    assert stage_of(variant(audio=True, failure=THROTTLED, review="SIGNED")) == EncounterStage(Stage.SIGNED)
    assert stage_of(variant(audio=True, failure=THROTTLED, review="REVIEW_EXPIRED")).stage == Stage.REVIEW_EXPIRED


def test_a_stage_settles_where_it_waits_for_a_person_or_ends():
    assert [stage for stage in Stage if EncounterStage(stage).settled] == [
        Stage.AWAITING_REVIEW,
        Stage.SIGNED,
        Stage.REVIEW_EXPIRED,
        Stage.FAILED,
    ]


def test_the_stage_rules_import_no_aws_library():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, clinical.stages; print(' '.join(sorted(sys.modules)))"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "lambdas")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [m for m in loaded if m.split(".")[0] in ("boto3", "botocore", "aws_lambda_powertools")] == []

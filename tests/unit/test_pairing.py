"""The paired comparison's parts: the work an invocation carries (so a crash is drawn per step, encounter and
try, whatever the batching; FaultPlan.crash's own tests are in tests/localcloud/test_shims.py), and the pairing of
two variants' traces with a mechanism for every difference."""

from __future__ import annotations

import json

import pytest

from experiments.pairing import (
    MECHANISMS,
    UNEXPLAINED,
    encounters_in,
    pair,
    paired_markdown,
    parity_failures,
    step_work,
)


def sqs_batch(*keys: str) -> dict:
    return {"Records": [{"body": json.dumps({"detail": {"object": {"key": key}}})} for key in keys]}


def test_both_variants_note_steps_name_the_same_work():
    choreography = step_work("choreography.write_note.handler", sqs_batch("transcripts/enc-1.json"))
    orchestration = step_work("orchestration.generate_note.handler", {"encounter_id": "enc-1"})
    assert choreography == orchestration == ["note:enc-1"]


def test_an_event_names_its_encounters_and_nothing_else():
    assert encounters_in(sqs_batch("transcripts/a.json", "audio/b.wav", "notes/c.json")) == ["a", "b"]
    assert encounters_in({"detail": {"object": {"key": "audio/d.mp3"}}}) == ["d"]
    assert encounters_in({"Records": [{"body": "not json"}]}) == []
    assert encounters_in({"source": "aws.events"}) == [] and encounters_in("text") == []
    assert step_work("orchestration.upload_sweep.handler", {}) == []


def trace(outcome="note", faults=(), redriven=False):
    return {"outcome": outcome, "first_failure": None, "redriven": redriven, "faults": list(faults)}


def test_each_difference_names_the_mechanism_its_traces_show():
    traces = {
        "choreography": {
            "a": trace(),
            "b": trace("note: TranscriptNotProcessed", ["event lost: transcripts/"]),
            "c": trace("note: InvalidModelOutput"),
            "d": trace("note: NoteModelThrottled"),
        },
        "orchestration": {
            "a": trace(),
            "b": trace("note", ["event lost: transcripts/"]),
            "c": trace(redriven=True),
            "d": trace(),
        },
    }
    attempts = {"choreography": {"note: ThrottlingException": 5}, "orchestration": {"note: ThrottlingException": 5}}
    paired = pair(traces, attempts)
    assert (paired["same_outcome"], paired["different_outcome"]) == (1, 3)
    mechanisms = {d["encounter"]: d["mechanism"] for d in paired["differences"]}
    assert mechanisms == {"b": "lost transcript event", "c": "redrive", "d": UNEXPLAINED}
    assert {"b", "c"} <= set(mechanisms) and set(MECHANISMS) >= {mechanisms["b"], mechanisms["c"]}
    # The unexplained one fails the run, named with both outcomes.
    (failure,) = parity_failures(paired)
    assert failure.startswith("d ended 'note: NoteModelThrottled' in choreography and 'note' in orchestration")
    assert "| d | note: NoteModelThrottled | note | unexplained |" in paired_markdown(paired)


@pytest.mark.parametrize("orchestration_tries", [4, 6])
def test_tries_that_differ_for_an_error_class_both_met_fail_the_run(orchestration_tries):
    attempts = {
        "choreography": {"note: ThrottlingException": 5, "crash in choreography.start_transcription": 2},
        "orchestration": {"note: ThrottlingException": orchestration_tries, "crash in orchestration.intake": 3},
    }
    paired = pair({"choreography": {"a": trace()}, "orchestration": {"a": trace()}}, attempts)
    assert paired["attempts_differ"] == ["note: ThrottlingException"]
    assert parity_failures(paired) == [
        f"tries differ for note: ThrottlingException: 5 in choreography, {orchestration_tries} in orchestration"
    ]
    assert "| crash in orchestration.intake | - | 3 |" in paired_markdown(paired)

"""The paired comparison's parts: the work an invocation carries (so a crash is drawn per step, encounter and
try, whatever the batching; FaultPlan.crash's own tests are in tests/localcloud/test_shims.py), and the pairing of
two variants' traces with a mechanism for every difference."""

from __future__ import annotations

import json

import pytest

from experiments.pairing import (
    MECHANISMS,
    TRIES_MECHANISMS,
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


THROTTLED = "note: ThrottlingException"


def test_tries_are_compared_encounter_by_encounter_and_a_difference_a_lost_event_explains_passes():
    """Storm, seed 2: choreography lost enc-28's transcript event, so it never called the model for it; orchestration
    was throttled 4 times. The most tries of any encounter still agree (7), and the run passes: the lost event
    made the difference, not the policy."""
    traces = {
        "choreography": {
            "enc-8": trace(),
            "enc-28": trace("note: TranscriptNotProcessed", ["event lost: transcripts/"]),
        },
        "orchestration": {"enc-8": trace(), "enc-28": trace("note", ["event lost: transcripts/", THROTTLED])},
    }
    attempts = {"choreography": {THROTTLED: 7}, "orchestration": {THROTTLED: 7}}
    tries = {"choreography": {THROTTLED: {"enc-8": 7}}, "orchestration": {THROTTLED: {"enc-8": 7, "enc-28": 4}}}
    paired = pair(traces, attempts, tries)
    assert paired["tries_differences"] == [
        {"error_class": THROTTLED, "encounter": "enc-28", "choreography": 0, "orchestration": 4,
         "mechanism": "lost transcript event"}
    ]  # fmt: skip
    assert paired["attempts_differ"] == []
    assert [line for line in parity_failures(paired) if "tries" in line] == []
    assert "| note: ThrottlingException | enc-28 | 0 | 4 | lost transcript event |" in paired_markdown(paired)


def test_one_encounters_tries_that_differ_with_no_mechanism_fail_the_run_though_the_most_tries_agree():
    traces = {"choreography": {"a": trace(), "b": trace()}, "orchestration": {"a": trace(), "b": trace()}}
    attempts = {"choreography": {THROTTLED: 5}, "orchestration": {THROTTLED: 5}}
    tries = {"choreography": {THROTTLED: {"a": 5, "b": 2}}, "orchestration": {THROTTLED: {"a": 5, "b": 3}}}
    paired = pair(traces, attempts, tries)
    assert paired["attempts_differ"] == [THROTTLED]
    assert parity_failures(paired) == [
        "tries differ for note: ThrottlingException of b: 2 in choreography, 3 in orchestration, "
        "and no mechanism in the traces"
    ]


def test_a_redrive_explains_an_outcome_but_never_a_try_counted_before_it():
    assert "redrive" in MECHANISMS and "redrive" not in TRIES_MECHANISMS
    traces = {"choreography": {"a": trace(redriven=True)}, "orchestration": {"a": trace()}}
    tries = {"choreography": {THROTTLED: {"a": 2}}, "orchestration": {THROTTLED: {"a": 3}}}
    paired = pair(traces, {"choreography": {THROTTLED: 2}, "orchestration": {THROTTLED: 3}}, tries)
    assert paired["tries_differences"][0]["mechanism"] == UNEXPLAINED
    assert len(parity_failures(paired)) == 1


def test_a_run_that_met_no_error_class_prints_no_empty_tries_table():
    empty = {"choreography": {}, "orchestration": {}}
    paired = pair({"choreography": {"a": trace()}, "orchestration": {"a": trace()}}, empty, empty)
    assert paired_markdown(paired) == "Paired by encounter: 1 ended the same way in both variants, 0 differently.\n\n"
    met = pair(
        {"choreography": {"a": trace()}, "orchestration": {"a": trace()}}, {**empty, "choreography": {THROTTLED: 2}}
    )
    assert "| most tries of one encounter's work, by error class | choreography | orchestration |" in paired_markdown(
        met
    )


def exhausted(waited=None):
    return trace("transcription: TranscriptionQuotaExhausted") | {"slot_wait_seconds": waited}


def noted(waited):
    return trace() | {"slot_wait_seconds": waited}


def test_a_line_longer_than_the_wait_explains_the_uploads_at_its_edge_and_only_those():
    """One variant's line got to an upload near the end of quota_wait_minutes, the other's did not: the wait's edge.
    An upload the other variant took in early, or a run that does not say its wait, is no edge."""
    wait = 180 * 60.0
    traces = {
        "choreography": {"edge": exhausted(), "early": exhausted(), "theirs": noted(170 * 60.0)},
        "orchestration": {"edge": noted(175 * 60.0), "early": noted(20 * 60.0), "theirs": exhausted()},
    }
    paired = pair(traces, {"choreography": {}, "orchestration": {}}, quota_wait_seconds=wait)
    mechanisms = {d["encounter"]: d["mechanism"] for d in paired["differences"]}
    assert mechanisms == {"edge": "line outlasted the wait", "early": UNEXPLAINED, "theirs": "line outlasted the wait"}
    assert "line outlasted the wait" in MECHANISMS
    (failure,) = parity_failures(paired)
    assert failure.startswith("early ended 'transcription: TranscriptionQuotaExhausted' in choreography and 'note'")
    unsaid = pair(traces, {"choreography": {}, "orchestration": {}})
    assert {d["mechanism"] for d in unsaid["differences"]} == {UNEXPLAINED}

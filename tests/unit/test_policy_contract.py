"""The state machine and the handlers read one policy (lambdas/clinical/policy.py).

The ASL file names the policy of each Retry entry and holds none of its numbers or error names; synth fills
them in (clinical.policy.fill_definition). Whatever fills them, the definition must retry exactly what the
policy says: every Transcribe task the transient Transcribe errors, the note step Bedrock's transient errors
and a crashed invocation with the note's tries, a malformed answer with its own. A disagreement is named by
state and field. Choreography's waits are the same backoff: its delays stay under the ceilings Step
Functions' Retry has for the same attempt.
"""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from clinical.policy import (
    DEFAULT,
    LAMBDA_CRASH,
    RETRIERS,
    TRANSCRIBE_SLOT_CODES,
    TRANSCRIBE_TRANSIENT_CODES,
    Backoff,
    Policy,
    PolicyError,
    fill_definition,
    step_functions_names,
)
from clinical.throttling import defer_throttled_start, jitter

FILE = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "encounter.asl.json").read_text())
RETRY_FIELDS = ("IntervalSeconds", "BackoffRate", "MaxAttempts", "MaxDelaySeconds", "JitterStrategy")


def disagreements(definition: dict, policy: Policy) -> list[str]:
    found = []
    slots = set(step_functions_names("Transcribe", TRANSCRIBE_SLOT_CODES))
    states = definition["States"]
    for name, state in states.items():
        if not state.get("Resource", "").startswith("arn:aws:states:::aws-sdk:transcribe:"):
            continue
        # A start refused for the quota waits in line (AwaitSlot); any other call is tried again on refusal too.
        transient = set(step_functions_names("Transcribe", TRANSCRIBE_TRANSIENT_CODES))
        if name == "StartTranscription":
            waits = {error for catcher in state.get("Catch", []) if catcher["Next"] == "AwaitSlot"
                     for error in catcher["ErrorEquals"]}  # fmt: skip
            if waits != slots:
                found.append(f"{name}.Catch[AwaitSlot].ErrorEquals: {sorted(waits)}, not the quota's {sorted(slots)}")
        else:
            transient |= slots
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        if retried != transient:
            missing, extra = sorted(transient - retried), sorted(retried - transient)
            found.append(f"{name}.Retry[].ErrorEquals: missing {missing}, not in the policy {extra}")
    expected = {"GenerateNote": ("note", "model_output"), "StartTranscription": ("transcription_start",)}
    for state_name, steps in expected.items():
        retriers = states[state_name].get("Retry", [])
        for step in steps:
            errors, _why = RETRIERS[step]
            backoff: Backoff = getattr(policy, step)
            matching = [r for r in retriers if set(errors) <= set(r["ErrorEquals"])]
            if not matching:
                found.append(f"{state_name}.Retry[{step}].ErrorEquals: {sorted(errors)} are not retried together")
                continue
            tries = [r.get("MaxAttempts", 3) + 1 for r in matching]
            if tries != [backoff.tries]:
                found.append(f"{state_name}.Retry[{step}].MaxAttempts: {tries} tries, the policy's {backoff.tries}")
            if [r.get("JitterStrategy") for r in matching] != ["FULL"]:
                found.append(f"{state_name}.Retry[{step}].JitterStrategy: not FULL, as choreography's waits are")
    return found


def test_the_file_names_each_retry_policy_and_holds_none_of_its_values():
    written = [
        f"{name}.Retry: {entry}"
        for name, state in FILE["States"].items()
        for entry in state.get("Retry", [])
        if set(entry) != {"Policy"} or entry["Policy"] not in RETRIERS
    ]
    assert written == []
    numbers = [
        f"{name}.{field}" for name, state in FILE["States"].items() for field in ("TimeoutSeconds",)
        if isinstance(state.get(field), int)
    ]  # fmt: skip
    assert numbers == [], "a timeout is the policy's, filled in at synth"


def test_the_filled_definition_retries_what_the_policy_says():
    assert disagreements(fill_definition(FILE, DEFAULT, 120), DEFAULT) == []
    shorter = replace(DEFAULT, note=replace(DEFAULT.note, tries=3))
    filled = fill_definition(FILE, shorter, 120)
    assert disagreements(filled, shorter) == []
    assert disagreements(filled, DEFAULT) == ["GenerateNote.Retry[note].MaxAttempts: [3] tries, the policy's 5"]
    [note] = [r for r in filled["States"]["GenerateNote"]["Retry"] if LAMBDA_CRASH in r["ErrorEquals"]]
    assert "NoteModelThrottled" in note["ErrorEquals"], "a crash and a throttle share the note's count"


def test_a_disagreement_is_named_by_state_and_field():
    drifted = fill_definition(FILE, DEFAULT, 120)
    drifted["States"]["CheckTranscriptionJob"]["Retry"][0]["ErrorEquals"].remove("Transcribe.ThrottlingException")
    drifted["States"]["GenerateNote"]["Retry"][0]["ErrorEquals"].remove("NoteModelThrottled")
    drifted["States"]["GenerateNote"]["Retry"][1]["MaxAttempts"] = 3
    drifted["States"]["StartTranscription"]["Retry"][0]["JitterStrategy"] = "NONE"
    drifted["States"]["StartTranscription"]["Catch"][0]["ErrorEquals"].remove("Transcribe.LimitExceededException")
    assert disagreements(drifted, DEFAULT) == [
        "StartTranscription.Catch[AwaitSlot].ErrorEquals: ['Transcribe.ThrottlingException', "
        "'Transcribe.TooManyRequestsException'], not the quota's ['Transcribe.LimitExceededException', "
        "'Transcribe.ThrottlingException', 'Transcribe.TooManyRequestsException']",
        "CheckTranscriptionJob.Retry[].ErrorEquals: missing ['Transcribe.ThrottlingException'], not in the policy []",
        "GenerateNote.Retry[note].ErrorEquals: ['Lambda.AWSLambdaException', 'Lambda.ClientExecutionTimeoutException', "
        "'Lambda.SdkClientException', 'Lambda.ServiceException', 'Lambda.TooManyRequestsException', 'Lambda.Unknown', "
        "'NoteModelThrottled', 'NoteWriteConflict'] are not retried together",
        "GenerateNote.Retry[model_output].MaxAttempts: [4] tries, the policy's 2",
        "StartTranscription.Retry[transcription_start].JitterStrategy: not FULL, as choreography's waits are",
    ]


def test_a_retry_entry_naming_no_policy_fails_naming_where():
    broken = json.loads(json.dumps(FILE))
    broken["States"]["GenerateNote"]["Retry"][0] = {"Policy": "notes"}
    with pytest.raises(PolicyError, match=r"^\$\.States\.GenerateNote\.Retry: a Retry entry names one policy of"):
        fill_definition(broken, DEFAULT, 120)


@pytest.mark.parametrize("step", ["note", "model_output", "transcription_start"])
def test_choreography_waits_no_longer_than_the_state_machine_would_for_the_same_attempt(step):
    backoff: Backoff = getattr(DEFAULT, step)
    for attempt in range(1, 12):
        ceiling = min(backoff.max_delay_seconds, backoff.interval_seconds * backoff.backoff_rate ** (attempt - 1))
        delays = [backoff.delay_seconds(attempt, jitter(f"enc-{n}", attempt)) for n in range(40)]
        assert all(0 <= d <= round(ceiling) for d in delays)
        assert len(set(delays)) > 1 or ceiling < 2, "full jitter spreads the retries out"


def test_the_wait_for_quota_takes_the_transcription_starts_backoff_and_replays():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
    backoff = DEFAULT.transcription_start
    delays = [defer_throttled_start("enc-1", n, now, now, backoff).delay_seconds for n in range(8)]
    assert delays[0] <= 10 and max(delays) <= 60
    assert delays == [defer_throttled_start("enc-1", n, now, now, backoff).delay_seconds for n in range(8)]
    assert defer_throttled_start("enc-1", backoff.tries - 2, now, now, backoff) is not None
    assert defer_throttled_start("enc-1", backoff.tries - 1, now, now, backoff) is None, "its last try was throttled"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"note_tries": -1}, "note_tries must be from 1 to 1000 tries in all, not -1"),
        ({"model_output_tries": 0}, "model_output_tries must be from 1 to 1000 tries in all, not 0"),
        ({"note_backoff_rate": 0.5}, "note_backoff_rate must be at least 1.0 (Step Functions' BackoffRate"),
        ({"note_interval_seconds": 0}, "note_interval_seconds must be 1 or more, not 0"),
        ({"note_max_delay_seconds": 2}, "note_max_delay_seconds must be from note_interval_seconds (5) to 43200"),
        ({"transcription_start_max_delay_seconds": 1800}, "transcription_start_max_delay_seconds must be at most 900"),
        ({"note_timeout_seconds": 30}, "note_timeout_seconds must be from 60 (a model call may take that long)"),
        ({"note_retries": 3}, "unknown policy values ['note_retries']"),
    ],
)
def test_a_policy_value_out_of_range_is_refused_in_one_line(values, message):
    with pytest.raises(PolicyError) as refused:
        DEFAULT.with_values(values).check()
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_the_policy_travels_to_the_handlers_unchanged():
    changed = DEFAULT.with_values({"note_tries": 3, "note_backoff_rate": 1.5, "note_timeout_seconds": 90})
    assert Policy.from_json(changed.to_json()) == changed
    assert (changed.note.tries, changed.note.backoff_rate, changed.note_timeout_seconds) == (3, 1.5, 90)
    assert DEFAULT.with_quota_wait(60).transcription_start.tries == 120, "an hour of 30-second waits on average"

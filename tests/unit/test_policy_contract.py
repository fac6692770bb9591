"""The state machine and the handlers read one policy (lambdas/clinical/policy.py): every Transcribe task of
the ASL retries exactly the transient Transcribe errors the choreography handlers retry, and the note step
retries the error the handlers raise for Bedrock's transient codes. A disagreement is named by state and field."""

import json
from pathlib import Path

from clinical.policy import TRANSCRIBE_TRANSIENT_CODES, TRIES_OF_PERMANENT_ERRORS, step_functions_names

DEFINITION = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "encounter.asl.json").read_text())


def disagreements(definition: dict) -> list[str]:
    found = []
    transient = step_functions_names("Transcribe", TRANSCRIBE_TRANSIENT_CODES)
    for name, state in definition["States"].items():
        if not state.get("Resource", "").startswith("arn:aws:states:::aws-sdk:transcribe:"):
            continue
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        if retried != transient:
            missing, extra = sorted(transient - retried), sorted(retried - transient)
            found.append(f"{name}.Retry[].ErrorEquals: missing {missing}, not in the policy {extra}")
    note = definition["States"]["GenerateNote"]
    if not any("NoteModelThrottled" in retrier["ErrorEquals"] for retrier in note.get("Retry", [])):
        found.append("GenerateNote.Retry[].ErrorEquals: NoteModelThrottled (Bedrock's transient codes) is not retried")
    for error, tries in TRIES_OF_PERMANENT_ERRORS.items():
        allowed = [r.get("MaxAttempts", 3) for r in note.get("Retry", []) if error in r["ErrorEquals"]]
        if allowed != [tries - 1]:
            found.append(
                f"GenerateNote.Retry[{error}].MaxAttempts: {allowed or 'none'}, the policy's {tries} tries want {tries - 1}"
            )
    return found


def test_the_state_machine_retries_what_the_policy_calls_transient():
    assert disagreements(DEFINITION) == []


def test_a_disagreement_is_named_by_state_and_field():
    drifted = json.loads(json.dumps(DEFINITION))
    drifted["States"]["CheckTranscriptionJob"]["Retry"][0]["ErrorEquals"].remove("Transcribe.ThrottlingException")
    drifted["States"]["GenerateNote"]["Retry"][0]["ErrorEquals"].remove("NoteModelThrottled")
    drifted["States"]["GenerateNote"]["Retry"][1]["MaxAttempts"] = 3
    assert disagreements(drifted) == [
        "CheckTranscriptionJob.Retry[].ErrorEquals: missing ['Transcribe.ThrottlingException'], not in the policy []",
        "GenerateNote.Retry[].ErrorEquals: NoteModelThrottled (Bedrock's transient codes) is not retried",
        "GenerateNote.Retry[InvalidModelOutput].MaxAttempts: [3], the policy's 2 tries want 1",
    ]

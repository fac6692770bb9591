"""What makes the two variants' runs comparable encounter by encounter: the work an invocation carries (so a
crash is drawn per step, encounter and try, the same in both), and the paired report that sets each
encounter's outcome in one variant beside the other's and names the mechanism behind every difference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinical.dead_letters import encounter_of_body
from clinical.layout import encounter_id_from_key, encounter_of_key
from clinical.prefixes import NOTES_PREFIX

if TYPE_CHECKING:  # the unit tier loads this module without the local cloud
    from localcloud.faults import FaultPlan

# The step each variant's function does, where both variants have a function for it; any other function's
# work items are named by its module.
SHARED_STEPS = {
    "choreography.write_note.handler": "note",
    "orchestration.generate_note.handler": "note",
}


def _encounter_of_key(key: Any) -> str | None:
    return encounter_of_key(key) if isinstance(key, str) else None


def _object_key(event: Any) -> Any:
    try:
        return event["detail"]["object"]["key"]
    except (KeyError, TypeError):
        return None


def encounters_in(event: Any) -> list[str]:
    """The encounters a pipeline event names: a task payload's encounter_id, or the S3 object of each SQS
    record's (or the event's own) Object Created event. Anything else names none."""
    if not isinstance(event, dict):
        return []
    if isinstance(event.get("encounter_id"), str):
        return [event["encounter_id"]]
    if isinstance(event.get("Records"), list):
        bodies = (record.get("body") for record in event["Records"] if isinstance(record, dict))
        return [encounter for body in bodies if isinstance(body, str) and (encounter := encounter_of_body(body))]
    encounter = _encounter_of_key(_object_key(event))
    return [encounter] if encounter else []


def step_work(handler: str, event: Any) -> list[str]:
    """`FaultPlan.work`: one "<step>:<encounter>" per encounter the invocation carries."""
    step = SHARED_STEPS.get(handler, handler.rpartition(".")[0])
    return [f"{step}:{encounter}" for encounter in encounters_in(event)]


# What each error class is, as the report names it: fault kind -> error class (localcloud.faults).
ERROR_CLASSES = {
    "transcribe_start": "transcription start: LimitExceededException",
    "transcribe_job": "transcription job: FAILED",
    "bedrock_throttle": "note: ThrottlingException",
    "bedrock_malformed": "note: malformed answer",
    "bedrock_miscited": "note: citation of a missing segment",
    "bedrock_unsupported": "note: unsupported statement",
    "lambda_crash": "crash",
    "event_lost": "event lost",
}


def _error_class(kind: str, subject: str) -> str | None:
    """The class one hit subject belongs to; None for a crash subject that is a whole function (its
    invocations are many encounters' work, not one item's tries)."""
    label = ERROR_CLASSES[kind]
    if kind == "lambda_crash":
        step, sep, _encounter = subject.partition(":")
        return f"{label} in {step}" if sep else None
    if kind == "event_lost":
        return f"{label}: {subject.partition('/')[0]}/"
    return label


def attempts_by_error(plan: FaultPlan) -> dict[str, int]:
    """Per error class, the most tries one piece of work made while meeting it (each service call, each
    invocation, each delivery of an event)."""
    found: dict[str, int] = {}
    for kind in ERROR_CLASSES:
        for (subject, _scope), asked in plan.attempts(kind).items():
            if (label := _error_class(kind, subject)) is not None:
                found[label] = max(found.get(label, 0), asked)
    return dict(sorted(found.items()))


def tries_by_encounter(plan: FaultPlan) -> dict[str, dict[str, int]]:
    """Per error class, each encounter's tries while meeting it (the work of one encounter, one step): what the
    parity invariant compares encounter by encounter."""
    found: dict[str, dict[str, int]] = {}
    for kind in ERROR_CLASSES:
        for (subject, _scope), asked in plan.attempts(kind).items():
            encounter, label = _encounter_of_subject(kind, subject), _error_class(kind, subject)
            if encounter is not None and label is not None:
                by_encounter = found.setdefault(label, {})
                by_encounter[encounter] = max(by_encounter.get(encounter, 0), asked)
    return {label: dict(sorted(counts.items())) for label, counts in sorted(found.items())}


def _encounter_of_subject(kind: str, subject: str) -> str | None:
    if kind.startswith(("transcribe_", "bedrock_")):
        return subject
    if kind == "lambda_crash":
        return subject.partition(":")[2] or None
    if kind == "event_lost":
        return _encounter_of_key(subject)
    return None


def faults_by_encounter(plan: FaultPlan) -> dict[str, list[str]]:
    """Encounter -> the error classes it met."""
    met: dict[str, set[str]] = {}
    for kind in ERROR_CLASSES:
        for subject, _scope in plan.attempts(kind):
            encounter, label = _encounter_of_subject(kind, subject), _error_class(kind, subject)
            if encounter is not None and label is not None:
                met.setdefault(encounter, set()).add(label)
    return {encounter: sorted(labels) for encounter, labels in sorted(met.items())}


def record_outcome(record: dict) -> str:
    """How a failure record reads in the report: "stage: error_type", or "quarantine" for an object set aside."""
    return "quarantine" if record.get("kind") == "quarantine" else f"{record['stage']}: {record['error_type']}"


def encounter_traces(
    valid_ids,
    *,
    notes: list[str],
    records: list[dict],
    first_records: list[dict],
    redriven: set[str],
    faults: dict,
    slot_waits: dict[str, float] | None = None,
) -> dict[str, dict]:
    """Encounter -> how it ended ("note", its record's "stage: error_type", or "none"), its first failure
    before the operator's redrive, whether the redrive took it, the faults it met, and how long it waited for a
    Transcribe slot (`slot_waits`: from its upload to its job's creation; None without a job)."""
    slot_waits = slot_waits or {}
    noted = {encounter_id_from_key(key, NOTES_PREFIX, ".json") for key in notes}
    final = {r["encounter_id"]: record_outcome(r) for r in records if r.get("encounter_id")}
    first = {r["encounter_id"]: record_outcome(r) for r in first_records if r.get("encounter_id")}
    return {
        encounter: {
            "outcome": "note" if encounter in noted else final.get(encounter, "none"),
            "first_failure": first.get(encounter),
            "redriven": encounter in redriven,
            "faults": faults.get(encounter, []),
            "slot_wait_seconds": slot_waits.get(encounter),
        }
        for encounter in sorted(valid_ids)
    }


# The coordination mechanisms that can make one encounter end differently in the two variants, each with the
# evidence in the traces that names it (docs/results.md explains each once).
MECHANISMS = {
    "lost transcript event": "the transcript's Object Created event never reached its queue",
    "lost upload event": "the upload's Object Created event never reached its queue",
    "redrive": "the operator's redrive took the encounter in one variant and ended it otherwise",
    "crash retry": "an invocation that did the encounter's work crashed",
    "line outlasted the wait": "the upload waited quota_wait_minutes for a Transcribe slot in one variant and failed "
    "by design, while the other took it in near the wait's end: each variant drains the line at its own pace, so the "
    "uploads at the wait's edge differ",
}
# The record of an upload that waited its deployment's quota_wait_minutes in line (clinical.errors).
QUOTA_EXHAUSTED = "TranscriptionQuotaExhausted"
# How near the wait's end the other variant must have taken the upload in for the wait's edge to explain a
# difference: a variant that failed uploads which the other took in early is a fault, not the edge.
EDGE_OF_THE_WAIT = 0.9
UNEXPLAINED = "unexplained"
# What can make one encounter's tries against an error class differ between the variants while the policy is one:
# a lost event (one variant did the step later, or never: nobody was waiting for the transcript), or a crashed
# invocation (choreography's crashed batch returns each of its records, and each uses up a try).
TRIES_MECHANISMS = ("lost transcript event", "lost upload event", "crash retry")


def _at_the_edge_of_the_wait(one: dict, other: dict, quota_wait_seconds: float | None) -> bool:
    """One ended waiting out quota_wait_minutes, the other in a note whose job began within the wait's last tenth."""
    if not quota_wait_seconds:
        return False
    for exhausted, noted in ((one, other), (other, one)):
        waited = noted.get("slot_wait_seconds")
        if (
            exhausted["outcome"].endswith(f": {QUOTA_EXHAUSTED}")
            and noted["outcome"] == "note"
            and waited is not None
            and waited >= EDGE_OF_THE_WAIT * quota_wait_seconds
        ):
            return True
    return False


def mechanism(one: dict, other: dict, quota_wait_seconds: float | None = None) -> str:
    """What made the difference, from the two traces (and the deployment's quota wait, in seconds); UNEXPLAINED
    when they hold no evidence of any."""
    met = set(one["faults"]) | set(other["faults"])
    if "event lost: transcripts/" in met:
        return "lost transcript event"
    if "event lost: audio/" in met:
        return "lost upload event"
    if one["redriven"] != other["redriven"]:
        return "redrive"
    if any(label.startswith(ERROR_CLASSES["lambda_crash"]) for label in met):
        return "crash retry"
    if _at_the_edge_of_the_wait(one, other, quota_wait_seconds):
        return "line outlasted the wait"
    return UNEXPLAINED


def tries_mechanism(one: dict, other: dict) -> str:
    """What made one encounter's tries differ, from its two traces; UNEXPLAINED when they hold no evidence of a
    mechanism that can (TRIES_MECHANISMS): then the retry policies drifted."""
    found = mechanism(one, other)
    return found if found in TRIES_MECHANISMS else UNEXPLAINED


def pair(
    traces: dict[str, dict[str, dict]],
    attempts: dict[str, dict[str, int]],
    tries: dict[str, dict[str, dict[str, int]]] | None = None,
    *,
    quota_wait_seconds: float | None = None,
) -> dict:
    """The paired report of two variants' runs of the same work: how many encounters ended the same way,
    each that did not with the mechanism behind it, and each variant's most tries per error class. With
    `tries` (tries_by_encounter of each variant), the tries are compared encounter by encounter, for each error
    class both variants met: a difference is named by its mechanism, or it is drift (`attempts_differ`).
    `quota_wait_seconds`: the deployment's quota_wait_minutes (the edge of the wait is a mechanism only with it)."""
    (first, one), (second, other) = sorted(traces.items())
    nothing = {"outcome": "none", "first_failure": None, "redriven": False, "faults": [], "slot_wait_seconds": None}
    same, differences = 0, []
    for encounter in sorted(set(one) | set(other)):
        mine, theirs = one.get(encounter, nothing), other.get(encounter, nothing)
        if mine["outcome"] == theirs["outcome"]:
            same += 1
            continue
        differences.append(
            {
                "encounter": encounter,
                first: mine["outcome"],
                second: theirs["outcome"],
                "mechanism": mechanism(mine, theirs, quota_wait_seconds),
            }
        )
    both = set(attempts[first]) & set(attempts[second])
    paired = {
        "same_outcome": same,
        "different_outcome": len(differences),
        "differences": differences,
        "attempts_by_error": attempts,
        "attempts_differ": sorted(label for label in both if attempts[first][label] != attempts[second][label]),
    }
    if tries is None:
        return paired
    tries_differences = []
    for label in sorted(set(tries[first]) & set(tries[second])):
        mine, theirs = tries[first][label], tries[second][label]
        for encounter in sorted(set(mine) | set(theirs)):
            if mine.get(encounter, 0) != theirs.get(encounter, 0):
                tries_differences.append(
                    {
                        "error_class": label,
                        "encounter": encounter,
                        first: mine.get(encounter, 0),
                        second: theirs.get(encounter, 0),
                        "mechanism": tries_mechanism(one.get(encounter, nothing), other.get(encounter, nothing)),
                    }
                )
    paired["tries_differences"] = tries_differences
    paired["attempts_differ"] = sorted({d["error_class"] for d in tries_differences if d["mechanism"] == UNEXPLAINED})
    return paired


def parity_failures(paired: dict) -> list[str]:
    """What breaks the pairing's promise: a difference no mechanism explains, or a policy's tries that
    differ for an error class both variants met."""
    first, second = sorted(paired["attempts_by_error"])
    unexplained = [
        f"{d['encounter']} ended {d[first]!r} in {first} and {d[second]!r} in {second}, and no mechanism in the traces"
        for d in paired["differences"]
        if d["mechanism"] not in MECHANISMS
    ]
    tries = paired["attempts_by_error"]
    if "tries_differences" in paired:
        drift = [
            f"tries differ for {d['error_class']} of {d['encounter']}: {d[first]} in {first}, {d[second]} in {second}, "
            "and no mechanism in the traces"
            for d in paired["tries_differences"]
            if d["mechanism"] not in TRIES_MECHANISMS
        ]
    else:  # a report made before the tries were compared encounter by encounter
        drift = [
            f"tries differ for {label}: {tries[first][label]} in {first}, {tries[second][label]} in {second}"
            for label in paired["attempts_differ"]
        ]
    return unexplained + drift


def paired_markdown(paired: dict) -> str:
    """The paired table: the same encounters' outcomes side by side, and each variant's tries per error class."""
    first, second = sorted(paired["attempts_by_error"])
    lines = [
        f"Paired by encounter: {paired['same_outcome']} ended the same way in both variants, "
        f"{paired['different_outcome']} differently.\n\n"
    ]
    if paired["differences"]:
        lines.append(f"| encounter | {first} | {second} | mechanism |\n|---|---|---|---|\n")
        for d in paired["differences"]:
            lines.append(f"| {d['encounter']} | {d[first]} | {d[second]} | {d['mechanism']} |\n")
        lines.append("\n")
    tries = paired["attempts_by_error"]
    labels = sorted(set(tries[first]) | set(tries[second]))
    if labels:  # no error class met in either variant (a run without faults): no table
        lines.append(f"| most tries of one encounter's work, by error class | {first} | {second} |\n|---|---|---|\n")
    for label in labels:
        cells = [str(tries[v].get(label, "-")) for v in (first, second)]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |\n")
    if paired.get("tries_differences"):
        lines.append(
            f"\nOne encounter's tries against an error class both variants met, where they differ:\n\n"
            f"| error class | encounter | {first} | {second} | mechanism |\n|---|---|---|---|---|\n"
        )
        for d in paired["tries_differences"]:
            lines.append(f"| {d['error_class']} | {d['encounter']} | {d[first]} | {d[second]} | {d['mechanism']} |\n")
    return "".join(lines)

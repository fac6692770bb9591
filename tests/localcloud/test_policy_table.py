"""The policy contract, one row per (step, error class): the fault is injected into both variants on the local
cloud, at the same occasions of the same work, and both must make the same tries, end the same way and, when
the encounter fails, write the same failure record (stage, reason and attempts). A row that drifts names the
step, the error class and what differed.

Tries are counted where the fault is: the service calls the step made for the encounter (Transcribe's
StartMedicalTranscriptionJob, Bedrock's Converse) or the invocations of the step's function (a crash).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from clinical.policy import DEFAULT
from experiments.pairing import step_work
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultPlan
from tests.localcloud.conftest import STACKS, deploy_both, keys, read_json, upload_to_both

AUDIO = b"RIFF....WAVEfmt policy contract dictation"
CHOREOGRAPHY, ORCHESTRATION = STACKS


@dataclass(frozen=True)
class Row:
    step: str
    error_class: str
    kind: str  # the fault (localcloud.faults)
    first: int | None  # the first n occasions fail; None: every occasion
    outcome: str  # "note", or the record's "stage: error_type"
    record_attempts: int | None = None
    function: str = ""  # a crash: the step and encounter (experiments.pairing.step_work)
    # A sweep also asks Transcribe in one variant and not the other; the step's own tries (the record's
    # attempts) are still the same.
    sweep_asks_too: bool = False
    # Other faults at their first occasions, as (kind, n).
    with_first: tuple[tuple[str, int], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.step}-{self.error_class}"


EVERY = None
ROWS = (
    Row("transcription_start", "transient-then-ok", "transcribe_start", 2, "note"),
    Row(
        "transcription_start",
        "transient-always",
        "transcribe_start",
        EVERY,
        "transcription: TranscriptionQuotaExhausted",
        # Refused every time, it waits in line (decision 0018): each sweep wakes it to ask once more until it has
        # waited quota_wait_minutes; the last wake's one try is the record's.
        record_attempts=1,
    ),
    Row("transcription_job", "permanent", "transcribe_job", EVERY, "transcription: TranscriptionJobFailed", 1),
    Row("note", "transient-then-ok", "bedrock_throttle", 2, "note"),
    Row("note", "transient-always", "bedrock_throttle", EVERY, "note: NoteModelThrottled", DEFAULT.note.tries),
    Row("note", "malformed-then-ok", "bedrock_malformed", 1, "note"),
    Row("note", "malformed-always", "bedrock_malformed", EVERY, "note: InvalidModelOutput", DEFAULT.model_output.tries),
    Row("note", "crash-then-ok", "lambda_crash", 1, "note", function="note:enc-1"),
    # Every try dies with the function: no handler code records it. The state machine's task fails with
    # Lambda.Unknown; choreography's watchdog finds the request in the DLQ and writes the same record.
    Row(
        "note", "crash-always", "lambda_crash", EVERY, "note: Lambda.Unknown", DEFAULT.note.tries, function="note:enc-1"
    ),
    # A throttled try (past the SDK's own retries) before a malformed answer leaves the answer its second try.
    Row("note", "transient-then-malformed", "bedrock_malformed", 1, "note", with_first=(("bedrock_throttle", 6),)),
)


def outcome(cloud: LocalCloud, stack: str) -> tuple[str, int | None]:
    if keys(cloud, stack, "notes/") == ["notes/enc-1.json"]:
        return "note", None
    records = keys(cloud, stack, "failures/")
    assert records == ["failures/enc-1.json"], f"{stack}: neither a note nor one failure record: {records}"
    record = read_json(cloud, stack, records[0])
    return f"{record['stage']}: {record['error_type']}", record["attempts"]


def tries_by_variant(cloud: LocalCloud, row: Row) -> dict[str, int]:
    """The most tries one subject of the row's fault took, per variant (named in the subject or scope)."""
    found: dict[str, int] = {}
    for (subject, scope), asked in cloud.faults.attempts(row.kind).items():
        if row.function and row.function not in subject:
            continue
        where = f"{subject} {scope}".lower()
        variant = "choreography" if "choreography" in where else "orchestration"
        found[variant] = max(found.get(variant, 0), asked)
    return found


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_both_variants_try_as_often_and_end_the_same_way(cdk_out, row):
    if row.first is None:
        # Only the row's work fails every time (a crash of every function would stop everything else too).
        only = {row.kind: row.function} if row.function else {}
        plan = FaultPlan(rates={row.kind: 1.0}, only=only, seed=3, work=step_work)
    else:
        plan = FaultPlan(first={row.kind: row.first, **dict(row.with_first)}, work=step_work)
    with LocalCloud(cdk_out, faults=plan) as cloud:
        deploy_both(cloud, AUDIO)
        upload_to_both(cloud, "audio/enc-1.wav", AUDIO)
        # Until each variant has an outcome (a dead request's record waits for the watchdog's next run, and
        # a request in a DLQ is not pending work), then until nothing is pending.
        cloud.run_until(lambda: all(keys(cloud, s, "notes/") + keys(cloud, s, "failures/") for s in STACKS))
        cloud.run_until_quiet()
        ends = {stack: outcome(cloud, stack) for stack in STACKS}
        tries = tries_by_variant(cloud, row)

    assert ends[CHOREOGRAPHY] == ends[ORCHESTRATION], f"{row.id}: the variants ended differently: {ends}"
    assert ends[CHOREOGRAPHY] == (row.outcome, row.record_attempts), f"{row.id}: {ends[CHOREOGRAPHY]}"
    assert set(tries) == {"choreography", "orchestration"}, f"{row.id}: the fault met only {sorted(tries)}"
    if row.sweep_asks_too:
        assert tries["choreography"] > tries["orchestration"] == row.record_attempts, f"{row.id}: {tries}"
    else:
        assert tries["choreography"] == tries["orchestration"], f"{row.id}: tries differ: {tries}"
    if row.first is not None:
        assert tries["choreography"] > row.first, f"{row.id}: no try after the faults: {tries}"

"""Time in the local cloud only goes forward (hypothesis): over any sequence of advances, waits, signatures and
send-backs, in skip mode and in wall mode, the clock never reads earlier than it did, and what the pipeline
writes about an encounter is stamped in the order it happened: the upload, the drafts, the review's opening,
its signature or send-back, the signed note and its FHIR document, a failure record, the execution's history.

In wall mode nothing runs between the steps (no driver runs in-process) but real time passes, as it does
between an operator's commands; its waits are real and short.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinical.executions import execution_arn, execution_history
from clinical.layout import failure_key, fhir_export_key, note_key, review_key, signed_key
from clinical.review import ReviewRecord, send_back, sign
from localcloud.cloud import LocalCloud
from localcloud.simulation import Simulation
from tests.localcloud.conftest import STACKS, deploy_both, read_json, upload_to_both

AUDIO = b"RIFF....WAVEfmt time goes forward dictation"
CLINICIAN = "arn:aws:iam::123456789012:user/dr-rivera"
ENCOUNTERS = itertools.count(1)

STEPS = st.one_of(
    # Up to two simulated hours: each simulated hour of the stacks' sweeps costs about a real second here.
    st.tuples(st.just("advance"), st.integers(min_value=1, max_value=2 * 3600)),
    st.tuples(st.just("wait"), st.just(0)),
    st.tuples(st.just("sign"), st.just(0)),
    st.tuples(st.just("send back"), st.just(0)),
)


@pytest.fixture(params=["skip", "wall"])
def cloud(request, cdk_out):
    """One cloud for all of a test's examples, each example with encounters of its own."""
    with LocalCloud(cdk_out, time_mode=request.param) as cloud:
        yield deploy_both(cloud, AUDIO)


def wait(cloud: LocalCloud) -> None:
    """Skip mode: until nothing is pending. Wall mode: a real moment (what is due in it runs)."""
    if cloud.simulation.mode == "skip":
        cloud.run_until_quiet()
    else:
        cloud.simulation.run_for(0.05)


def awaiting(cloud: LocalCloud, stack: str, encounter: str) -> bool:
    s3 = cloud.client("s3")
    listing = s3.list_objects_v2(Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix=review_key(encounter))
    return bool(listing.get("KeyCount")) and read_review_record(cloud, stack, encounter).status == "AWAITING_REVIEW"


def read_review_record(cloud: LocalCloud, stack: str, encounter: str) -> ReviewRecord:
    return ReviewRecord.model_validate(read_json(cloud, stack, review_key(encounter)))


def review_action(cloud: LocalCloud, action: str, encounter: str) -> None:
    for stack in STACKS:
        if not awaiting(cloud, stack, encounter):
            continue
        clients = {"bus": cloud.outputs[stack]["DomainEventBusName"], "stepfunctions": cloud.client("stepfunctions")}
        bucket = cloud.outputs[stack]["EncounterBucketName"]
        if action == "sign":
            sign(cloud.client("s3"), bucket, encounter, clinician=CLINICIAN, patient="Patient/123", **clients)
        else:
            send_back(cloud.client("s3"), bucket, encounter, clinician=CLINICIAN, reason="Say it again.", **clients)


def last_modified(cloud: LocalCloud, stack: str, key: str) -> datetime | None:
    listing = cloud.client("s3").list_objects_v2(Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix=key)
    return next((item["LastModified"] for item in listing.get("Contents", []) if item["Key"] == key), None)


def read_if_written(cloud: LocalCloud, stack: str, key: str) -> dict | None:
    return read_json(cloud, stack, key) if last_modified(cloud, stack, key) else None


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def out_of_order(cloud: LocalCloud, stack: str, encounter: str, audio_key: str) -> list[str]:
    """Each pair of what the pipeline wrote about `encounter` whose times say the later one came first."""
    pairs: list[tuple[str, datetime | None, str, datetime | None]] = []

    def before(first: str, at: datetime | None, then: str, then_at: datetime | None) -> None:
        pairs.append((first, at, then, then_at))

    uploaded = last_modified(cloud, stack, audio_key)
    note = read_if_written(cloud, stack, note_key(encounter))
    if note:
        before("audio uploaded", uploaded, "note created", moment(note["provenance"]["created_at"]))
    if read_if_written(cloud, stack, review_key(encounter)):
        record = read_review_record(cloud, stack, encounter)
        before("audio uploaded", uploaded, f"version {record.versions[0].version}", record.versions[0].at)
        for earlier, later in itertools.pairwise(record.versions):
            before(f"version {earlier.version}", earlier.at, f"version {later.version}", later.at)
        before("version 1 drafted", record.versions[0].at, "review opened", record.opened_at)
        # A redraft's review opens once the redraft exists (test_a_redrafted_note_is_drafted_before_...).
        if record.redrafts:
            before("sent back", record.sent_back_at, "review opened again", record.opened_at)
        before("review opened", record.opened_at, "review due", record.due_at)
        before("review opened", record.opened_at, "signed", record.signed_at)
        before("version 1", record.versions[0].at, "sent back", record.sent_back_at)
        before("review due", record.due_at, "expired", record.expired_at)
        if record.status == "SENT_BACK":
            before("review opened", record.opened_at, "sent back", record.sent_back_at)
        signed = read_if_written(cloud, stack, signed_key(encounter))
        if signed:
            before("review opened", record.opened_at, "signed note", moment(signed["signed_at"]))
            fhir = read_if_written(cloud, stack, fhir_export_key(encounter))
            if fhir:
                before("signed note", moment(signed["signed_at"]), "FHIR date", moment(fhir["date"]))
                signed_at = moment(signed["signed_at"])
                # S3 keeps milliseconds: the signature compared at the same precision.
                signed_at -= timedelta(microseconds=signed_at.microsecond % 1000)
                before(
                    "signed note",
                    signed_at,
                    "FHIR document written",
                    last_modified(cloud, stack, fhir_export_key(encounter)),
                )
    failure = read_if_written(cloud, stack, failure_key(encounter))
    if failure:
        before("audio uploaded", uploaded, "failure recorded", moment(failure["recorded_at"]))
    if stack == STACKS[1]:
        arn = execution_arn(cloud.outputs[stack]["StateMachineArn"], encounter)
        if any(e["executionArn"] == arn for e in cloud.client("stepfunctions").list_executions(
            stateMachineArn=cloud.outputs[stack]["StateMachineArn"])["executions"]):  # fmt: skip
            history = execution_history(cloud.client("stepfunctions"), arn)
            before("audio uploaded", uploaded, "execution started", history[0]["timestamp"])
            for earlier, later in itertools.pairwise(history):
                before(f"event #{earlier['id']}", earlier["timestamp"], f"event #{later['id']}", later["timestamp"])
    return [
        f"{stack} {encounter}: {then} at {then_at.isoformat()} is before {first} at {at.isoformat()}"
        for first, at, then, then_at in pairs
        if at is not None and then_at is not None and then_at < at
    ]


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# A .txt upload is refused at once: a failure record instead of a note.
@given(extension=st.sampled_from(["wav", "wav", "txt"]), steps=st.lists(STEPS, min_size=1, max_size=5))
def test_the_clock_and_what_the_pipeline_writes_only_go_forward(cloud, extension, steps):
    encounter = f"forward-{next(ENCOUNTERS)}"
    audio_key = f"audio/{encounter}.{extension}"
    readings = [("start", cloud.simulation.wall())]
    upload_to_both(cloud, audio_key, AUDIO)
    readings.append(("upload", cloud.simulation.wall()))
    # Then the steps, and five minutes for the pipeline to finish what the last of them started.
    for step, seconds in [*steps, ("advance", 300)]:
        if step == "advance":
            cloud.simulation.advance(seconds)
        elif step == "wait":
            wait(cloud)
        else:
            review_action(cloud, step, encounter)
        readings.append((f"{step} {seconds or ''}".strip(), cloud.simulation.wall()))
    back = [
        f"after {later} the clock read {at} (before: {earlier_at} after {earlier})"
        for (earlier, earlier_at), (later, at) in itertools.pairwise(readings)
        if at < earlier_at
    ]
    assert not back, back
    for stack in STACKS:
        wrong = out_of_order(cloud, stack, encounter, audio_key)
        assert not wrong, "\n".join(wrong)


def test_a_redrafted_note_is_drafted_before_its_review_opens_again(cdk_out):
    with LocalCloud(cdk_out) as cloud:
        deploy_both(cloud, AUDIO)
        upload_to_both(cloud, "audio/redrafted.wav", AUDIO)
        cloud.run_until_quiet()
        review_action(cloud, "send back", "redrafted")
        cloud.run_until_quiet()
        records = {stack: read_review_record(cloud, stack, "redrafted") for stack in STACKS}
    for record in records.values():
        assert (record.status, record.redrafts) == ("AWAITING_REVIEW", 1)
        assert record.versions[-1].at <= record.opened_at, (
            f"{record.variant}: {record.versions[-1].at} > {record.opened_at}"
        )


class Hourly:
    """A source with something to do every simulated hour, forever (as the stacks' sweeps are)."""

    name = "hourly"

    def __init__(self, simulation: Simulation) -> None:
        self.next_at = simulation.epoch() + 3600
        self.runs = 0

    def next_due(self) -> float:
        return self.next_at

    def run_due(self, now: float) -> int:
        self.next_at += 3600
        self.runs += 1
        return 1

    def pending_work(self) -> list[str]:
        return []


@pytest.mark.parametrize("mode", ["skip", "wall"])
def test_an_advance_is_forward_and_finite(mode):
    with Simulation(mode=mode) as simulation:
        before = simulation.wall()
        for seconds in (0, -60, float("inf"), float("nan")):
            with pytest.raises(ValueError, match="moves the clock forward"):
                simulation.advance(seconds)
        assert before <= simulation.wall() < before + timedelta(seconds=5)


@pytest.mark.parametrize("mode", ["skip", "wall"])
def test_an_advance_longer_than_the_horizon_runs_to_its_end(mode):
    """An advance is bounded by its own end: one of more than the simulated week a run may take is not stuck."""
    with Simulation(mode=mode) as simulation:
        hourly = Hourly(simulation)
        simulation.sources.append(hourly)
        before = simulation.wall()
        simulation.advance(8 * 24 * 3600)
        assert simulation.wall() >= before + timedelta(days=8)
        assert datetime.now(UTC) >= before + timedelta(days=8), "every clock of the process reads it"
        assert hourly.runs == 8 * 24

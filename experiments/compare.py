"""`scribe compare`: the same workload and the same seeded faults through both variants, on the local cloud.

Each variant runs in its own local cloud (so operations are counted per variant) with the same
fault plan: decisions depend on the seed, the fault kind, the subject and the attempt, so both
variants meet the same faults on the same work. The run uploads N encounters (the sample
dictations, some duplicated, some breaking the contract), waits until every encounter has an
outcome or the simulated budget is spent, redrives what failed, waits again, then checks the
invariants (experiments/invariants.py) and writes a report (JSON and Markdown). The `hostile` profile
injects no service faults: it mixes the hostile table (experiments/hostile.py) into the uploads, writes
each case's second round once the first drain is over, and checks that each case ends in exactly its
records.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from clinical.layout import FAILURES_PREFIX, RECORDING_SECONDS_METADATA
from clinical.objects import keys_under
from clinical.stages import Stage, stage_of_review
from experiments import INTERPRETER_LOG, SAMPLES, SIGNED_SHARE, fault_profiles, upload_name
from experiments.hostile import CASES, TRANSCRIPTS, Case
from experiments.hostile import records as terminal_records
from experiments.invariants import QUARANTINE_PREFIX, Snapshot, check, invalid_upload_recorded
from experiments.measure import execution_histories, per_encounter_figures, state_transitions
from experiments.pairing import (
    attempts_by_error,
    encounter_traces,
    faults_by_encounter,
    pair,
    parity_failures,
    record_outcome,
    step_work,
    tries_by_encounter,
)
from experiments.processes import each_run
from experiments.results import CHARTS as CHART_TITLES
from experiments.results import report_markdown, variants_of
from experiments.workloads import Plan, plan, workload_named
from localcloud.bedrock_converse import LOCAL_MODEL_NOTICE
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultPlan
from localcloud.lambda_runtime import INVOCATIONS, emf_metrics, send_handler_output_to
from localcloud.service_model import load_latencies, quotas_named
from localcloud.simulation import HorizonReached
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

VARIANTS = {"choreography": CHOREOGRAPHY_STACK, "orchestration": ORCHESTRATION_STACK}
# The variants by how long a run of theirs takes, longest first: the local cloud interprets orchestration's state
# machine in the run's process (a 1,000-upload burst's orchestration runs take about twice choreography's).
LONGER_FIRST = ("orchestration", "choreography")
SETTLE_BUDGET_SECONDS = 12 * 3600  # simulated: past the watchdog's 120-minute stall limit and several sweeps
COST_MINUTES = 5.0
PROGRESS_SECONDS = 10.0  # real: how often a run says how far it is
FIRST_UPLOAD_AFTER_SECONDS = 120  # the deployed cloud idles a little before the first upload
HOSTILE_PROFILE = "hostile"  # the fault profile that also mixes the hostile table into the workload
HOSTILE_SWEEP_SECONDS = 3 * 3600  # simulated: the sweeps and the watchdog have their say on every case


def profiles() -> dict[str, dict[str, float]]:
    return fault_profiles()


@dataclass
class VariantRun:
    variant: str
    outcomes: dict = field(default_factory=dict)
    invariants: list = field(default_factory=list)
    operations_per_encounter: dict = field(default_factory=dict)
    cost_per_1000: float = 0.0
    latency: dict = field(default_factory=dict)
    drain: dict = field(default_factory=dict)
    timeline: list = field(default_factory=list)
    snapshot: Snapshot | None = None
    # Per encounter, what the paired report sets beside the other variant's (experiments.pairing).
    encounters: dict = field(default_factory=dict)
    attempts_by_error: dict = field(default_factory=dict)
    tries_by_encounter: dict = field(default_factory=dict)
    # Encounter -> simulated seconds from its upload to its Transcribe job's creation (its wait for a slot).
    slot_waits: dict = field(default_factory=dict)


def quota_wait_seconds(cdk_out: Path, stack: str) -> float | None:
    """The deployment's `quota_wait_minutes`, in seconds, as its template gives its functions (None: none reads it)."""
    template = json.loads((Path(cdk_out) / f"{stack}.template.json").read_text())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Lambda::Function":
            value = resource["Properties"].get("Environment", {}).get("Variables", {}).get("QUOTA_WAIT_MINUTES")
            if value is not None:
                return float(value) * 60
    return None


def _keys(cloud: LocalCloud, stack: str, prefix: str) -> list[str]:
    return sorted(keys_under(cloud.client("s3"), cloud.outputs[stack]["EncounterBucketName"], prefix))


def _json(cloud: LocalCloud, stack: str, key: str) -> dict:
    body = cloud.client("s3").get_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key)["Body"]
    return json.loads(body.read())


def _settled(cloud: LocalCloud, stack: str, valid: set[str]) -> int:
    done = {k.removeprefix("notes/").removesuffix(".json") for k in _keys(cloud, stack, "notes/")}
    done |= {k.removeprefix("failures/").removesuffix(".json") for k in _keys(cloud, stack, "failures/")}
    return len(valid & done)


def _settle(cloud: LocalCloud, stack: str, workload: Plan, show) -> None:
    """Run until every upload has its outcome (a valid encounter its note or record, an upload that breaks the
    contract its record), or the simulated budget is spent (then the invariants report what is missing). An
    upload whose event was lost gets its outcome from a sweep, after the grace period: the run waits for it."""
    checked_at = [None]

    def settled() -> bool:
        # Listing the bucket is not free: look once every five simulated minutes at most.
        if checked_at[0] is not None and cloud.clock.now() - checked_at[0] < 300:
            return False
        checked_at[0] = cloud.clock.now()
        if _settled(cloud, stack, workload.valid_ids) < len(workload.valid_ids):
            return False
        failure_keys = set(_keys(cloud, stack, FAILURES_PREFIX))
        return all(invalid_upload_recorded(key, failure_keys) for key in workload.invalid_keys)

    with contextlib.suppress(HorizonReached):
        cloud.run_until(settled, horizon=SETTLE_BUDGET_SECONDS, progress=show)
    with contextlib.suppress(HorizonReached):
        cloud.run_until_quiet(horizon=SETTLE_BUDGET_SECONDS)


def _quiet_after_sweeps(cloud: LocalCloud) -> None:
    cloud.run_for(HOSTILE_SWEEP_SECONDS)
    with contextlib.suppress(HorizonReached):
        cloud.run_until_quiet(horizon=SETTLE_BUDGET_SECONDS)


def _arrivals(workload: Plan, cases: tuple[Case, ...]) -> list[tuple[float, str, bytes]]:
    """(simulated second, key, body) of every round-one write: the workload's uploads, and each hostile
    case's objects spread evenly over the workload's upload window."""
    arrivals = [(upload.at, upload.key, upload.body) for upload in workload.uploads]
    span = max((upload.at for upload in workload.uploads), default=0.0)
    for index, case in enumerate(cases):
        arrivals += [(span * index / len(cases), key, body) for key, body in case.first]
    return sorted(arrivals, key=lambda arrival: arrival[0])  # stable: ties keep their order


def _emf_sum(documents: list[dict], metric: str, service: str) -> float:
    """The metric as CloudWatch keeps it under the one dimension `service`: a document publishing the same count
    with a dimension more (EncounterFailures by error_type) is another metric, not a second count."""
    counted = (
        total
        for _namespace, name, dimensions, total in emf_metrics(documents)
        if name == metric and dimensions == (("service", service),)
    )
    return sum(counted, 0.0)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class _Phase:
    """What one variant's run carries from phase to phase."""

    cloud: LocalCloud
    variant: str
    stack: str
    workload: Plan
    hostile: tuple[Case, ...]
    s3: Any
    bucket: str
    emf_start: int
    invocations_start: Counter
    uploaded_at: dict[str, float] = field(default_factory=dict)
    failed_before: set[str] = field(default_factory=set)
    first_records: list[dict] = field(default_factory=list)
    first_fired: list[float] = field(default_factory=list)
    redriven: set[str] = field(default_factory=set)
    first_attempts: dict = field(default_factory=dict)
    first_tries: dict = field(default_factory=dict)
    reviews: dict[str, int] = field(default_factory=dict)


@dataclass
class _Left:
    """What a run left behind, read once for the snapshot, the timings and the outcomes."""

    notes: list[str]
    failures: list[str]
    versions: Counter
    records: list[dict]
    transitions: int
    statuses: dict[str, str]
    dlq: dict[str, int]
    fired: list
    histories: str = ""


def run_variant(
    cdk_out: Path,
    variant: str,
    workload: Plan,
    rates: dict,
    seed: int,
    show,
    tamper=None,
    quotas: str = "default",
    hostile: tuple[Case, ...] = (),
    reviews: bool = True,
) -> VariantRun:
    """One variant's run under one quota setting, with the `hostile` cases mixed in. `tamper(cloud, stack)`,
    if given, acts behind the pipeline's back before the check (the tests use it to prove the checker can fail)."""
    stack = VARIANTS[variant]
    run = VariantRun(variant)
    with LocalCloud(
        cdk_out, faults=FaultPlan(rates=dict(rates), seed=seed, work=step_work), seed=seed, quotas=quotas
    ) as cloud:
        cloud.deploy(stack)
        for upload in workload.uploads:
            cloud.transcribe.register(upload.body, upload.transcript, upload.audio_seconds)
        if hostile:
            for audio, transcript in TRANSCRIPTS.items():
                cloud.transcribe.register(audio, transcript)
        from clinical import observability  # loaded by the deploy (as Lambda's init would)

        logs = io.StringIO()
        previous_stream = observability.logger.registered_handler.setStream(logs)
        send_handler_output_to(io.StringIO())  # the EMF lines are kept in INVOCATIONS; not for the console
        phase = _Phase(
            cloud, variant, stack, workload, hostile, cloud.client("s3"), cloud.outputs[stack]["EncounterBucketName"],
            len(INVOCATIONS.emf), Counter(INVOCATIONS.invocations),
        )  # fmt: skip
        cloud.operations.counts.clear()
        progress = {"phase": "uploading", "shown_at": 0.0}

        def tick() -> None:
            # Counting the settled lists the bucket: at most once per PROGRESS_SECONDS of real time.
            if time.monotonic() - progress["shown_at"] < PROGRESS_SECONDS:
                return
            progress["shown_at"] = time.monotonic()
            if progress["phase"] == "uploading":
                count = f"{len(phase.uploaded_at)}/{len(workload.valid_ids)} uploaded"
            else:
                count = f"{_settled(cloud, stack, workload.valid_ids)}/{len(workload.valid_ids)} settled"
            show(f"{quotas}/{variant:13} {progress['phase']:<10} {count}, {cloud.clock.now() / 3600:5.1f} simulated h")

        _upload_and_settle(phase, progress, tick if show is not None else None)
        _note_first_failures(phase)
        progress["phase"] = "redriving"
        _redrive_and_settle(phase, progress, tick if show is not None else None)
        if reviews:
            progress["phase"] = "reviewing"
            _review_and_wait(phase)
        if tamper is not None:
            tamper(cloud, stack)
        left = _what_was_left(phase)
        run.snapshot = _snapshot(phase, left, logs)
        observability.logger.registered_handler.setStream(previous_stream)
        run.invariants = check(run.snapshot)
        _timings(phase, left, run)
        run.drain["quota_wait_seconds"] = quota_wait_seconds(cdk_out, stack)
        _operations_and_cost(phase, left, run)
        run.outcomes = _outcomes(phase, left)
        run.encounters = encounter_traces(
            phase.workload.valid_ids,
            notes=left.notes,
            records=left.records,
            first_records=phase.first_records,
            redriven=phase.redriven,
            faults=faults_by_encounter(cloud.faults),
            slot_waits=run.slot_waits,
        )
        run.attempts_by_error = phase.first_attempts
        run.tries_by_encounter = phase.first_tries
    return run


def _upload_and_settle(phase: _Phase, progress: dict, tick, after_upload=None) -> None:
    """Each upload at its moment of the workload's simulated time (the cloud runs meanwhile), then the hostile
    cases' second round (re-uploads, forged transcripts) once the first is over. `after_upload()`, if given, is
    called after each upload (experiments.scale seeds the bucket's history from there)."""
    cloud, s3 = phase.cloud, phase.s3
    first_upload = cloud.clock.now() + FIRST_UPLOAD_AFTER_SECONDS
    for at, key, body in _arrivals(phase.workload, phase.hostile):
        cloud.run_for(max(first_upload + at - cloud.clock.now(), 0.0))
        encounter_id = upload_name(key)
        # The recording's length, declared as `scribe upload` declares a WAV file's (clinical.waiting_line).
        seconds = phase.workload.audio_seconds.get(encounter_id)
        declared = {"Metadata": {RECORDING_SECONDS_METADATA: str(round(seconds))}} if seconds else {}
        s3.put_object(Bucket=phase.bucket, Key=key, Body=body, **declared)
        cloud.operations.add("s3", "PutObject")  # the upload (the harness makes it here)
        if encounter_id in phase.workload.valid_ids:
            phase.uploaded_at.setdefault(encounter_id, cloud.clock.now())
        if after_upload is not None:
            after_upload()
        if tick is not None:
            tick()
    progress["phase"] = "settling"
    _settle(cloud, phase.stack, phase.workload, tick)
    if phase.hostile:
        _quiet_after_sweeps(cloud)
        for case in phase.hostile:
            for key, body in case.then:
                s3.put_object(Bucket=phase.bucket, Key=key, Body=body)
                cloud.operations.add("s3", "PutObject")
        _quiet_after_sweeps(cloud)


def _note_first_failures(phase: _Phase) -> None:
    """Before the redrive rewrites records: which encounters failed, their records, and when the
    EncounterFailures alarm went to ALARM (for the time from failure to alarm)."""
    cloud, stack = phase.cloud, phase.stack
    phase.failed_before = {k.removeprefix("failures/").removesuffix(".json") for k in _keys(cloud, stack, "failures/")}
    # The policy's tries, before the operator's redrive gives a failed encounter another go (a mechanism the
    # paired report names where it changed an outcome).
    phase.first_attempts = attempts_by_error(cloud.faults)
    phase.first_tries = tries_by_encounter(cloud.faults)
    cloud.alarms.evaluate()
    phase.first_records = [_json(cloud, stack, f"failures/{i}.json") for i in sorted(phase.failed_before)]
    phase.first_fired = [e.simulated_at for e in cloud.alarms.fired if e.alarm_name.startswith(f"{stack}-")
                         and e.metric == "EncounterFailures"]  # fmt: skip


def _redrive_and_settle(phase: _Phase, progress: dict, tick) -> None:
    """`scribe redrive --all`, as an operator would, then settle again."""
    from scribe.redrive import redrive
    from scribe.target import Target

    deployment = Target(region="us-east-1", local=True).deployment(phase.variant)
    phase.redriven = set(redrive(deployment, None).encounters)
    progress["phase"] = "settling"
    _settle(phase.cloud, phase.stack, phase.workload, tick)
    phase.cloud.alarms.evaluate()


# Who signs for the run's clinicians (they sign SIGNED_SHARE of the notes awaiting review: experiments/__init__.py).
CLINICIAN = "arn:aws:sts::123456789012:assumed-role/clinician/compare"


def signs(encounter_id: str) -> bool:
    return int(hashlib.sha256(encounter_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < SIGNED_SHARE


def sign_their_share(phase: _Phase, awaiting: list) -> None:
    """The clinicians sign their share of these reviews awaiting them (`signs`), as `scribe sign` does (redeeming
    orchestration's task tokens), each read and accepted as it is."""
    from clinical.review import note_of, sign
    from clinical.revisions import Changes

    sfn, bus = phase.cloud.client("stepfunctions"), phase.cloud.outputs[phase.stack]["DomainEventBusName"]
    for record in awaiting:
        if signs(record.encounter_id):
            # The clinician reads every flagged statement and accepts it as it is (a signature needs that).
            note = note_of(phase.s3, phase.bucket, record)
            accepted = [flag.statement for flag in note.flagged if flag.statement]
            sign(phase.s3, phase.bucket, record.encounter_id, clinician=CLINICIAN, bus=bus, stepfunctions=sfn,
                 changes=Changes(accepted=accepted), version=record.version)  # fmt: skip


def _review_and_wait(phase: _Phase) -> None:
    """Clinicians sign their share of the notes awaiting review as `scribe sign` does (redeeming orchestration's
    task tokens); nobody acts on the rest, and the run goes on past the review window, so they expire (each
    variant keeps the deadline its own way). Counts the reviews by the stage they ended in (SIGNED, REVIEW_EXPIRED),
    as every view names it."""
    from clinical.review import reviews

    cloud = phase.cloud
    awaiting = [
        r
        for r in reviews(phase.s3, phase.bucket, variant=phase.variant)
        if stage_of_review(r.status) == Stage.AWAITING_REVIEW
    ]
    sign_their_share(phase, awaiting)
    if awaiting:
        last_due = max(record.due_at for record in awaiting).timestamp() - cloud.clock.start.timestamp()
        cloud.run_for(max(last_due - cloud.clock.now(), 0.0) + 3600)  # the sweep's interval, and then some
    cloud.run_until_quiet(horizon=SETTLE_BUDGET_SECONDS)
    phase.reviews = dict(
        sorted(Counter(str(stage_of_review(r.status)) for r in reviews(phase.s3, phase.bucket)).items())
    )


def _what_was_left(phase: _Phase) -> _Left:
    cloud, stack, s3 = phase.cloud, phase.stack, phase.s3
    versions = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=phase.bucket, Prefix="notes/"):
        for version in page.get("Versions", []):
            versions[version["Key"]] += 1
    failures = _keys(cloud, stack, "failures/")
    executions = execution_histories(cloud, stack)
    sqs = cloud.client("sqs")
    dlq = {
        name.removesuffix("Url"): int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        for name, url in cloud.outputs[stack].items()
        if name.endswith("DlqUrl")
    }
    left = _Left(
        notes=_keys(cloud, stack, "notes/"),
        failures=failures,
        versions=versions,
        records=[_json(cloud, stack, key) for key in failures],
        transitions=state_transitions(executions),
        statuses={name: status for name, status, _events in executions},
        dlq=dlq,
        fired=[event for event in cloud.alarms.fired if event.alarm_name.startswith(f"{stack}-")],
        histories="\n".join(json.dumps(events, default=str) for _name, _status, events in executions),
    )
    return left


def _snapshot(phase: _Phase, left: _Left, logs: io.StringIO) -> Snapshot:
    """What the invariant checker sees: the records, the metrics the handlers emitted, every log line and
    execution history, and the transcript and note text that must appear in none of them."""
    cloud, stack, s3 = phase.cloud, phase.stack, phase.s3
    records_written = Counter()
    failed_uploads = set()  # (record key, upload): a failure written again after a redrive is the same one
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=phase.bucket, Prefix=FAILURES_PREFIX):
        for version in page.get("Versions", []):
            quarantine = version["Key"].startswith(QUARANTINE_PREFIX)
            records_written[quarantine] += 1
            if not quarantine:
                body = s3.get_object(Bucket=phase.bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
                failed_uploads.add((version["Key"], json.loads(body.read()).get("source_key")))
    emf = INVOCATIONS.emf[phase.emf_start :]
    phi = [sample.read_text().strip() for sample in sorted(SAMPLES.glob("*.txt"))]
    phi += [sentence.strip() for text in list(phi) for sentence in text.split(". ") if len(sentence.strip()) >= 12]
    for key in left.notes[:50]:
        note = _json(cloud, stack, key)
        phi += [
            statement["text"].removeprefix(LOCAL_MODEL_NOTICE)
            for section in note.get("sections", [])
            for statement in section["statements"]
        ]
    return Snapshot(
        valid_ids=set(phase.workload.valid_ids),
        invalid_keys=list(phase.workload.invalid_keys),
        note_versions={
            key: left.versions[key] for key in left.notes
        },  # a deleted note (a delete marker) counts as none
        failure_keys=set(left.failures),
        encounter_failures_counted=_emf_sum(emf, "EncounterFailures", stack),
        failure_alarm_fired=any(event.metric == "EncounterFailures" for event in left.fired),
        logs=logs.getvalue() + "\n".join(json.dumps(document) for document in emf),
        histories=left.histories,
        phi_texts=phi,
        quarantined_counted=_emf_sum(emf, "QuarantinedObjects", stack),
        quarantine_alarm_fired=any(event.metric == "QuarantinedObjects" for event in left.fired),
        failure_records_written=records_written[False],
        failed_uploads=len(failed_uploads),
        quarantine_records_written=records_written[True],
        hostile_expected={case.name: case.expected_records for case in phase.hostile} if phase.hostile else None,
        records=terminal_records(s3, phase.bucket) if phase.hostile else [],
    )


def _timings(phase: _Phase, left: _Left, run: VariantRun) -> None:
    """From upload to note, less the time Transcribe itself took; the drain against its physical floor; the
    time from each first failure to its alarm."""
    cloud, stack, workload = phase.cloud, phase.stack, phase.workload
    notes, failures, versions = left.notes, left.failures, left.versions
    uploaded_at, redriven = phase.uploaded_at, phase.redriven
    first_records, first_fired = phase.first_records, phase.first_fired
    # Timings: from upload to note, less the time Transcribe itself took (the local note model takes none).
    jobs = {}
    transcribe = cloud.client("transcribe")
    for status in ("COMPLETED", "FAILED"):
        kwargs = {"Status": status, "MaxResults": 100}
        while True:
            page = transcribe.list_medical_transcription_jobs(**kwargs)
            for job in page["MedicalTranscriptionJobSummaries"]:
                jobs[job["MedicalTranscriptionJobName"].removeprefix(f"{stack}-")] = job
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    # Per encounter: time to note, and the coordination overhead in it (less its own Transcribe job and
    # its own model call, as the latency model prices them).
    latencies, concurrency = cloud.latencies, cloud.quotas.transcribe_medical_concurrent_jobs
    time_to_note, overheads, timeline = [], [], []
    own_work = {e: latencies.transcribe_job(workload.audio_seconds[e]) for e in sorted(uploaded_at)}
    for key in notes:
        encounter_id = key.removeprefix("notes/").removesuffix(".json")
        job = jobs.get(encounter_id)
        if encounter_id not in uploaded_at or encounter_id in redriven or not job:
            continue
        provenance = _json(cloud, stack, key).get("provenance")
        if not provenance:
            continue
        note_at = cloud.clock.at(datetime.fromisoformat(provenance["created_at"]))
        model = latencies.bedrock(provenance.get("input_tokens") or 0, provenance.get("output_tokens") or 0)
        took = note_at - uploaded_at[encounter_id]
        time_to_note.append(took)
        overheads.append(max(took - own_work[encounter_id] - model, 0.0))
        timeline.append((uploaded_at[encounter_id], cloud.clock.at(job["CreationTime"]), note_at))
    run.timeline = sorted(timeline)
    run.slot_waits = {
        encounter: _round(cloud.clock.at(job["CreationTime"]) - uploaded_at[encounter])
        for encounter, job in sorted(jobs.items())
        if encounter in uploaded_at
    }
    note_times = [t[2] for t in timeline]
    first = min(uploaded_at.values()) if uploaded_at else 0.0
    # The physical floor: the longest single encounter (from its upload), or all Transcribe work spread
    # over the concurrent-job quota, whichever is larger.
    at_quota = sum(own_work.values()) / max(concurrency, 1)  # the jobs' time over the quota's slots: the line's own
    bound = max(max((uploaded_at[e] - first + work for e, work in own_work.items()), default=0.0), at_quota)
    drain = (max(note_times) - first) if note_times else None
    starts = cloud.operations.counts[("transcribe", "StartMedicalTranscriptionJob")]
    outcome_ids = {k.removeprefix("notes/").removesuffix(".json") for k in notes}
    outcome_ids |= {k.removeprefix("failures/").removesuffix(".json") for k in failures}
    run.drain = {
        "drain_seconds": _round(drain),
        "lower_bound_seconds": _round(bound),
        "quota_bound_seconds": _round(at_quota),
        "drain_to_bound_ratio": _round(drain / bound, 3) if drain and bound else None,
        "time_to_note_p50_seconds": _round(_percentile(time_to_note, 50)),
        "time_to_note_p95_seconds": _round(_percentile(time_to_note, 95)),
        "time_to_note_p99_seconds": _round(_percentile(time_to_note, 99)),
        "overhead_p50_seconds": _round(_percentile(overheads, 50)),
        "overhead_p95_seconds": _round(_percentile(overheads, 95)),
        "lost": len(workload.valid_ids - outcome_ids),
        "duplicates": sum(1 for count in versions.values() if count > 1),
        "throttled": dict(sorted(cloud.quota_ledger.throttled.items())),
        "transcribe_start_retries": max(starts - len(jobs), 0),
        "transcribe_starts_per_upload": _round(starts / len(workload.valid_ids), 2) if workload.valid_ids else None,
        "peak_transcribe_jobs": cloud.transcribe.peak_concurrency,
        "lambda_starts": dict(sorted(cloud.lambda_starts.items())),
    }
    to_alarm = []
    alarm_times = sorted(first_fired)
    for record in first_records:
        at = cloud.clock.at(datetime.fromisoformat(record["recorded_at"]))
        later = [t - at for t in alarm_times if t >= at - 1]
        earlier = [t for t in alarm_times if t < at - 1]
        if later:
            to_alarm.append(max(later[0], 0.0))
        elif earlier:
            to_alarm.append(0.0)  # the alarm was already in ALARM
    run.latency = {
        "overhead_p50_s": _round(_percentile(overheads, 50)),
        "overhead_p95_s": _round(_percentile(overheads, 95)),
        "failure_to_alarm_p50_s": _round(_percentile(to_alarm, 50)),
        "failure_to_alarm_max_s": _round(max(to_alarm)) if to_alarm else None,
    }


def operations_per_upload(
    cloud: LocalCloud, stack: str, invoked: Counter, transitions: int, n: int
) -> tuple[dict, dict]:
    """What the run asked of AWS, per upload (`n` of them): the figures `scribe cost` prices
    (experiments.measure.per_encounter_figures), and the report's summary of them (Lambda invocations, state
    transitions, and the requests of the services the pipeline calls most), from the local cloud's operation
    counter and the invocations and transitions the run made."""
    figures = per_encounter_figures(cloud, stack, invoked, transitions, n)
    by_service = Counter(cloud.operations.by_service())
    return figures, {
        "lambda_invocations": sum(f["invocations"] for f in figures["lambda"].values()),
        "state_transitions": figures["state_transitions"],
        "sqs_requests": by_service["sqs"] / n,
        "s3_requests": by_service["s3"] / n,
        "transcribe_calls": by_service["transcribe"] / n,
        "bedrock_calls": by_service["bedrock-runtime"] / n,
    }


def _operations_and_cost(phase: _Phase, left: _Left, run: VariantRun) -> None:
    """AWS operations per upload, and what 1,000 encounters would cost at those counts."""
    from scribe.cost import PRICES, encounter_cost

    cloud, stack, workload, hostile, variant = phase.cloud, phase.stack, phase.workload, phase.hostile, phase.variant
    n = len(workload.uploads) + sum(len(case.first) + len(case.then) for case in hostile)
    invoked = Counter(INVOCATIONS.invocations) - phase.invocations_start
    figures, run.operations_per_encounter = operations_per_upload(cloud, stack, invoked, left.transitions, n)
    measured = {"per_encounter": {variant: figures}}
    lines = encounter_cost(
        variant,
        COST_MINUTES,
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        json.loads(PRICES.read_text()),
        measured,
    )
    run.cost_per_1000 = sum(line.usd_per_encounter for line in lines) * 1000


def _outcomes(phase: _Phase, left: _Left) -> dict:
    """How the run ended: notes, records by reason, DLQs, failed executions, alarms, the redrive, the faults."""
    cloud, stack, workload, hostile, variant = phase.cloud, phase.stack, phase.workload, phase.hostile, phase.variant
    notes, failures, records, dlq, statuses, fired = (
        left.notes, left.failures, left.records, left.dlq, left.statuses, left.fired
    )  # fmt: skip
    redriven, failed_before = phase.redriven, phase.failed_before
    n = len(workload.uploads) + sum(len(case.first) + len(case.then) for case in hostile)
    return {
        "uploads": n,
        "valid_encounters": len(workload.valid_ids),
        "notes": len(notes),
        "failure_records": len(failures),
        "failures_by_stage_and_reason": _by_stage_and_reason(records),
        # Before the operator's redrive: what the policy alone ended in.
        "first_failures_by_stage_and_reason": _by_stage_and_reason(phase.first_records),
        "dlq_messages": dlq,
        "failed_executions": sum(1 for s in statuses.values() if s in ("FAILED", "TIMED_OUT", "ABORTED"))
        if variant == "orchestration"
        else None,
        "alarms_to_alarm": sorted({e.alarm_name.removeprefix(f"{stack}-") for e in fired}),
        "recovered_by_redrive": len((redriven & failed_before) & {k[6:-5] for k in notes}),
        "redriven": len(redriven),
        # How each note's review ended: signed by the run's clinicians, or REVIEW_EXPIRED after the window.
        "reviews": phase.reviews,
        "faults_injected": dict(cloud.faults.injected),
    }


def _by_stage_and_reason(records: list[dict]) -> dict[str, int]:
    return dict(Counter(record_outcome(r) for r in records).most_common())


def _run_one(args: tuple) -> tuple[str, str, dict]:
    """One (quota setting, variant) run, as a plain dict (it may run in a worker process)."""
    cdk_out, variant, workload, rates, seed, quotas, hostile, reviews, shows_progress = args
    logging.getLogger(INTERPRETER_LOG).setLevel(logging.CRITICAL)
    # Runs in worker processes print whole lines (two of them share the terminal).
    show = progress_printer(whole_lines=True) if shows_progress else None
    run = run_variant(cdk_out, variant, workload, rates, seed, show, quotas=quotas, hostile=hostile, reviews=reviews)
    return (
        quotas,
        variant,
        {
            "outcomes": run.outcomes,
            "invariants": [{"name": v.name, "status": v.status, "detail": v.detail} for v in run.invariants],
            "operations_per_upload": run.operations_per_encounter,
            "cost_per_1000_encounters_usd": round(run.cost_per_1000, 4),
            "simulated_latency": run.latency,
            "drain": run.drain,
            "timeline": run.timeline,
            "attempts_by_error": run.attempts_by_error,
            "tries_by_encounter": run.tries_by_encounter,
            "encounters": run.encounters,
        },
    )


def compare(
    cdk_out: Path,
    encounters: int | None = None,
    profile: str = "default",
    seed: int = 7,
    show=lambda _line: None,
    *,
    workload: str = "steady",
    quotas: list[str] | None = None,
    workers: int = 1,
    reviews: bool = True,
    progress: bool = False,
) -> dict:
    """Both variants through the same workload, faults and seed, under each quota setting of the workload.
    `workers` > 1 runs the (setting, variant) runs in that many processes (each run is independent).
    `reviews`: after the redrive, clinicians sign their share of the notes and the run goes on past the
    review window (some 73 simulated hours); without it the run ends with the reviews open. `progress`: each
    run prints on stderr how far it is, every PROGRESS_SECONDS of real time."""
    known = profiles()
    if profile not in known:
        raise ValueError(f"unknown fault profile {profile!r}; profiles: {', '.join(sorted(known))}")
    spec = workload_named(workload)
    settings = quotas or list(spec.quotas)
    for name in settings:
        quotas_named(name)  # an unknown setting fails here, before anything runs
    uploads = plan(spec, seed, encounters)
    started = time.monotonic()
    logging.getLogger(INTERPRETER_LOG).setLevel(logging.CRITICAL)
    hostile = tuple(CASES) if profile == HOSTILE_PROFILE else ()
    # The longer runs go first (LONGER_FIRST), so each worker takes one of them and then a shorter one, instead of
    # one worker ending with the two longest while the other idles.
    jobs = [
        (cdk_out, variant, uploads, known[profile], seed, setting, hostile, reviews, progress)
        for variant in LONGER_FIRST
        for setting in settings
    ]
    found: dict[tuple[str, str], dict] = {}
    for setting, variant, figures in each_run(_run_one, jobs, workers):
        show(f"{setting}/{variant} done")
        found[setting, variant] = figures
    results = {setting: {variant: found[setting, variant] for variant in VARIANTS} for setting in settings}
    waits = {quota_wait_seconds(cdk_out, stack) for stack in VARIANTS.values()}
    quota_wait = waits.pop() if len(waits) == 1 else None  # the deployment's, when both stacks have the same
    # The paired report from each encounter's trace; the traces themselves stay out of the report.
    parity = {
        setting: pair(
            {variant: figures.pop("encounters") for variant, figures in by_variant.items()},
            {variant: figures.pop("attempts_by_error") for variant, figures in by_variant.items()},
            {variant: figures.pop("tries_by_encounter") for variant, figures in by_variant.items()},
            quota_wait_seconds=quota_wait,
        )
        for setting, by_variant in results.items()
    }
    by_setting = {
        setting: {"values": asdict(quotas_named(setting)), "variants": by_variant}
        for setting, by_variant in results.items()
    }
    return {
        "parameters": {
            "workload": workload,
            "encounters": uploads.encounters,
            "uploads": len(uploads.uploads),
            "duplicates": uploads.duplicates,
            "invalid": len(uploads.invalid_keys),
            **({"hostile_cases": len(hostile)} if hostile else {}),
            "faults": profile,
            "rates": known[profile],
            "seed": seed,
            "quota_settings": settings,
            **({"quota_wait_minutes": round(quota_wait / 60)} if quota_wait is not None else {}),
            **({} if reviews else {"reviews": False}),
            "cost_minutes_per_encounter": COST_MINUTES,
        },
        "real_seconds": round(time.monotonic() - started, 1),
        "all_invariants_pass": not _failed(by_setting, parity),
        "latency_model": asdict(load_latencies()),
        "quotas": by_setting,
        "parity": parity,
    }


def failed_invariants(report: dict) -> list[str]:
    """Each failed invariant, as `setting/variant: name (detail)`, then the paired report's, as
    `setting/parity: ...`."""
    return _failed(report["quotas"], report.get("parity", {}))


def _failed(by_setting: dict, parity: dict) -> list[str]:
    return [
        f"{setting}/{variant}: {invariant['name']} ({invariant['detail']})"
        for setting, by_variant in by_setting.items()
        for variant, run in by_variant["variants"].items()
        for invariant in run["invariants"]
        if invariant["status"] != "PASS"
    ] + [f"{setting}/parity: {failure}" for setting, paired in parity.items() for failure in parity_failures(paired)]


# Drawn from the first quota setting; their names and titles are the results page's (experiments.results.CHARTS).
CHARTS = {
    "outcomes.png": (
        CHART_TITLES["outcomes.png"],
        "encounters",
        {
            "notes": lambda v: v["outcomes"]["notes"],
            "failure records": lambda v: v["outcomes"]["failure_records"],
            "recovered by redrive": lambda v: v["outcomes"]["recovered_by_redrive"],
            "left in DLQs": lambda v: sum(v["outcomes"]["dlq_messages"].values()),
        },
    ),
    "operations.png": (
        CHART_TITLES["operations.png"],
        "count",
        {
            "Lambda invocations": lambda v: v["operations_per_upload"]["lambda_invocations"],
            "state transitions": lambda v: v["operations_per_upload"]["state_transitions"],
            "SQS requests": lambda v: v["operations_per_upload"]["sqs_requests"],
            "S3 requests": lambda v: v["operations_per_upload"]["s3_requests"],
        },
    ),
    "latency.png": (
        CHART_TITLES["latency.png"],
        "simulated minutes",
        {
            "overhead p50": lambda v: (v["simulated_latency"]["overhead_p50_s"] or 0) / 60,
            "overhead p95": lambda v: (v["simulated_latency"]["overhead_p95_s"] or 0) / 60,
            "failure to alarm p50": lambda v: (v["simulated_latency"]["failure_to_alarm_p50_s"] or 0) / 60,
        },
    ),
}


def write_charts(report: dict, directory: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    by_variant = variants_of(report)
    variants = list(by_variant)
    for name, (title, unit, series) in CHARTS.items():
        figure, axes = pyplot.subplots(figsize=(7, 3.2))
        width = 0.8 / len(variants)
        for index, variant in enumerate(variants):
            values = [get(by_variant[variant]) for get in series.values()]
            positions = [x + index * width for x in range(len(series))]
            axes.bar(positions, values, width=width, label=variant)
        axes.set_xticks([x + width * (len(variants) - 1) / 2 for x in range(len(series))], list(series))
        axes.set_title(f"{title} ({report['parameters']['faults']} faults)")
        axes.set_ylabel(unit)
        axes.legend()
        figure.tight_layout()
        figure.savefig(directory / name, dpi=100)
        pyplot.close(figure)
    charts = list(CHARTS)
    for setting in report["parameters"]["quota_settings"]:
        name = f"encounters-over-time-{setting}.png"
        _timeline_chart(
            pyplot, variants_of(report, setting), f"Encounters over simulated time ({setting} quotas)", directory / name
        )
        charts.append(name)
    return charts


def _timeline_chart(pyplot, variants: dict, title: str, path: Path) -> None:
    """Encounters waiting (uploaded, no Transcribe job yet), in flight (job started, no note) and done (note),
    minute by minute, both variants on one chart."""
    figure, axes = pyplot.subplots(figsize=(8, 3.6))
    styles = {"choreography": "-", "orchestration": "--"}
    end = max((t[2] for run in variants.values() for t in run["timeline"]), default=0.0)
    start = min((t[0] for run in variants.values() for t in run["timeline"]), default=0.0)
    minutes = [start + 60 * m for m in range(int((end - start) / 60) + 2)]
    for variant, run in variants.items():
        timeline = run["timeline"]
        for label, color, inside in (
            ("waiting", "tab:orange", lambda t, m: t[0] <= m < t[1]),
            ("in flight", "tab:blue", lambda t, m: t[1] <= m < t[2]),
            ("done", "tab:green", lambda t, m: t[2] <= m),
        ):
            counts = [sum(1 for t in timeline if inside(t, m)) for m in minutes]
            axes.plot([(m - start) / 60 for m in minutes], counts, styles.get(variant, "-"), color=color,
                      label=f"{variant} {label}")  # fmt: skip
    axes.set_title(title)
    axes.set_xlabel("simulated minutes after the first upload")
    axes.set_ylabel("encounters")
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def report_json(report: dict) -> str:
    """The report as stored: the per-encounter timelines (the charts' data) left out."""
    stored = json.loads(json.dumps(report))
    for setting in stored["quotas"].values():
        for run in setting["variants"].values():
            run.pop("timeline", None)
    return json.dumps(stored, indent=2) + "\n"


def write_report(report: dict, directory: Path) -> list[str]:
    """report.json, the charts (those it could draw: a report without its timelines gets none of those), and
    report.md; returns the charts written."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(report_json(report))
    charts = write_charts(report, directory)
    (directory / "report.md").write_text(report_markdown(report, charts))
    return charts


def progress_printer(*, whole_lines: bool = False):
    """Progress on stderr: one line rewritten on a terminal, else whole lines (a run's own lines come at most every
    PROGRESS_SECONDS: run_variant's tick spaces them)."""

    def show(line: str) -> None:
        if sys.stderr.isatty() and not whole_lines:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    return show

"""`scribe scale` on the local cloud: the same pipeline at N and at 10N encounters, both variants, the review window
on: does what an upload costs grow with what a deployment keeps?

Each (variant, scale) is its own local cloud. At each scale R encounters (the `steady` workload, N by default) go
through the pipeline for real, exactly as `scribe compare` runs them (its phases: uploads, settling, the redrive,
then the clinicians sign their share and the rest of the review windows end), so every scale runs the same real
work over the same simulated hours with the same number of sweeps. What differs is what the deployment keeps: at
scale X, the X - R encounters the pipeline does not run are seeded, straight into the bucket (and Transcribe's job
list), as the finished work of the days before:

- right after the first real review opens (before the first sweep), X - R - A encounters copied from that real
  one under new ids, as a clinician left them: audio/ (a few bytes: nothing reads a settled upload's audio),
  notes/ (the real note), reviews/ (the real record, SIGNED and settled, so with no index objects, as decision
  0016 leaves a signed review) and a COMPLETED Transcribe job, each dated days before the run;
- the A = 10% of the seeded that still await a clinician, copied the same way from a real review that awaits one,
  with their worklist entry and (choreography) their deadlines (clinical.review_index), opened when their
  reminder falls just after the run ends, so no sweep of the run has their time to keep: the sweeps list past
  them, as a sweep lists past every deadline not yet due (their Transcribe jobs are dated with the history's).

Seeding writes hold S3's event notifications back (history is not news to the pipeline) and is made with the local
cloud's own clients, which the operation counter does not count. Every figure "per upload" is divided by the R
real uploads of the window (their duplicates and contract-breaking uploads included, as `scribe compare` counts):
the seeded encounters made none of their requests during the run, so dividing by them would measure the seeding,
not the pipeline. A figure that holds per upload from N to 10N is one that does not grow with what is kept.

Figures: requests per upload by service (the local cloud's operation counter, as `scribe compare` computes them),
Lambda invocations and state transitions per upload; Lambda GB-seconds per upload, from each invocation's
simulated duration (its X-Ray `## handler` subsegment) and the function's memory, and as `scribe cost` states it
(its billed milliseconds per handler); every sweep of the variant's scheduled function (choreography's watchdog,
orchestration's upload sweep), from its X-Ray trace: its simulated duration and its requests; and the worklist's
requests per page (review_desk.desk.ReviewDesk.page, counted with a botocore before-call hook), paged through when
the backlog peaks (before the clinicians sign) and again once the seeded awaiting reviews are in. The figures,
the targets and the report are experiments/scale.py's.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from moto.s3.models import s3_backends
from moto.transcribe.models import transcribe_backends

from clinical import review_index
from clinical.layout import note_key, review_key, transcription_job_name
from clinical.review import entry_of, read_review
from clinical.stages import Stage, stage_of_review
from experiments import INTERPRETER_LOG, fault_profiles
from experiments import compare as comparison
from experiments.measure import execution_histories, state_transitions
from experiments.pairing import step_work
from experiments.processes import each_run
from experiments.scale import (
    AWAITING_SHARE,
    SERVICES,
    SWEEPS,
    WORKLOAD,
    ScaleInputError,
    Scales,
    invocations_of,
    report_of,
    run_figures,
    service_of_prefixes,
    simulated_gb_seconds,
    worklist_requests,
)
from experiments.workloads import plan, workload_named
from localcloud.cloud import ACCOUNT, REGION, LocalCloud
from localcloud.faults import FaultPlan
from localcloud.lambda_runtime import INVOCATIONS, send_handler_output_to
from scribe.cost import PRICES, lambda_gb_seconds

HISTORY_BEFORE = timedelta(days=3)  # the newest seeded (signed) encounter ended this long before the run
SIGNED_AFTER = timedelta(hours=1)  # how long after its opening a seeded review was signed


@contextlib.contextmanager
def events_held_back():
    """S3 sends no event notification for the writes made meanwhile (moto's notifications, which the local cloud
    delivers through EventBridge): the seeded history is not news to the pipeline."""
    with mock.patch("moto.s3.notifications.send_event", lambda *_args, **_kwargs: None):
        yield


def _shifted(value, by: timedelta):
    return value - by if isinstance(value, datetime) else value


def _dated(bucket: str, key: str, at: datetime) -> None:
    """The seeded upload as old as its seeded job: history the sweeps' windows (a day) no longer hold. S3 sets an
    object's LastModified itself; the simulated bucket's object is dated directly."""
    stored = s3_backends[ACCOUNT]["global"].get_object(bucket, key)
    stored.last_modified = at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)  # moto: naive UTC


def _job_prefix(cloud, stack: str) -> str:
    for function in cloud.client("lambda").list_functions()["Functions"]:
        variables = (function.get("Environment") or {}).get("Variables", {})
        if function["FunctionName"].startswith(f"{stack}-") and "TRANSCRIPTION_JOB_PREFIX" in variables:
            return variables["TRANSCRIPTION_JOB_PREFIX"]
    return stack


class History:
    """The encounters a scale seeds: `signed` of them finished (seeded when the first real review opens) and
    `awaiting` still awaiting a clinician (seeded by `open_awaiting`), each a copy of a real one of the run."""

    def __init__(self, phase, signed: int, awaiting: int, interval: float) -> None:
        self.phase, self.signed, self.awaiting, self.interval = phase, signed, awaiting, timedelta(seconds=interval)
        self.job_prefix = _job_prefix(phase.cloud, phase.stack)
        self.signed_at: float | None = None
        self.awaiting_at: float | None = None

    def _real(self, awaiting: bool | None = None):
        """A real review of the run (awaiting a clinician, if asked), its note and its Transcribe job, or None."""
        phase = self.phase
        jobs, prefix = transcribe_backends[ACCOUNT][REGION].medical_transcriptions, self.job_prefix
        # The reviews the bucket holds so far (one listing: this runs after every upload), the run's own only.
        listed = phase.s3.list_objects_v2(Bucket=phase.bucket, Prefix="reviews/", MaxKeys=1000).get("Contents", [])
        opened = sorted(
            encounter_id
            for item in listed
            if (encounter_id := item["Key"].removeprefix("reviews/").removesuffix(".json")) in phase.workload.valid_ids
        )
        for encounter_id in opened:
            found = read_review(phase.s3, phase.bucket, encounter_id)
            job = jobs.get(transcription_job_name(prefix, encounter_id))
            if found is None or job is None or job.status != "COMPLETED":
                continue
            if awaiting is not None and (stage_of_review(found[0].status) == Stage.AWAITING_REVIEW) != awaiting:
                continue
            note = json.loads(phase.s3.get_object(Bucket=phase.bucket, Key=found[0].versions[0].key)["Body"].read())
            return found[0], note, job, prefix
        return None

    def seed_signed(self, force: bool = False) -> None:
        """Once a real review of the run has opened (called after each upload; `force`: now, with any real one):
        the finished encounters, before the first sweep."""
        if self.signed_at is not None or self.signed == 0:
            return
        real = self._real()
        if real is None:
            if force:
                raise RuntimeError("no real encounter of the run reached its review: nothing to seed the history from")
            return
        record, note, job, prefix = real
        cloud = self.phase.cloud
        for k in range(self.signed):
            shift = self._history_shift(record.opened_at, self.signed - k)
            self._seed(f"kept-{k:05d}", record, note, job, prefix, shift, shift, awaiting=False)
        self.signed_at = cloud.clock.now()

    def open_awaiting(self) -> None:
        """The reviews of the history that still await a clinician: opened now (their reminder after the run's end)."""
        if self.awaiting == 0 or self.awaiting_at is not None:
            return
        real = self._real(awaiting=True) or self._real()
        if real is None:
            raise RuntimeError("no real encounter of the run reached its review: nothing to seed the history from")
        record, note, job, prefix = real
        shift = record.opened_at - self.phase.cloud.clock.wall()  # opened now
        for k in range(self.awaiting):
            # Their Transcribe jobs are dated with the history's: the watchdog's look at the jobs of the last day
            # (clinical.transcription.find_unfinished_jobs) then sees the run's own jobs only, as at the smaller scale.
            job_shift = self._history_shift(record.opened_at, self.awaiting - k)
            self._seed(f"open-{k:05d}", record, note, job, prefix, shift, job_shift, awaiting=True)
        self.awaiting_at = self.phase.cloud.clock.now()

    def _history_shift(self, opened_at: datetime, back: int) -> timedelta:
        """How far back a real review opened at `opened_at` goes to open `back` uploads before the history's end."""
        return (opened_at - self.phase.cloud.clock.wall() + HISTORY_BEFORE) + back * self.interval

    def _seed(self, encounter_id: str, record, note: dict, job, prefix: str, shift: timedelta, job_shift: timedelta,
              *, awaiting: bool) -> None:  # fmt: skip
        """One seeded encounter: the real `record`, `note` and `job` copied under `encounter_id`, the review's moments
        `shift` earlier and the job's `job_shift` earlier."""
        s3, bucket = self.phase.s3, self.phase.bucket
        opened = record.opened_at - shift
        versions = [
            version.model_copy(update={"at": version.at - shift, "key": note_key(encounter_id), "object_version": None})
            for version in record.versions
        ]
        update: dict[str, Any] = {
            "encounter_id": encounter_id,
            "opened_at": opened,
            "due_at": record.due_at - shift,
            "remind_at": _shifted(record.remind_at, shift),
            "reminded_at": None,
            "versions": versions,
            "task_token": None,
            "sent_back_by": None,
            "sent_back_at": None,
            "reason": None,
            "expired_at": None,
        }
        if awaiting:
            update |= {"status": "AWAITING_REVIEW", "signed_by": None, "signed_at": None,
                       "last_transition": "opened", "settled_at": opened}  # fmt: skip
        else:
            signed = opened + SIGNED_AFTER
            update |= {"status": "SIGNED", "signed_by": comparison.CLINICIAN, "signed_at": signed,
                       "last_transition": "signed", "settled_at": signed}  # fmt: skip
        seeded = record.model_copy(update=update)
        body = json.loads(json.dumps(note))
        body["provenance"] |= {
            "encounter_id": encounter_id,
            "transcription_job_name": transcription_job_name(prefix, encounter_id),
        }
        with events_held_back():
            s3.put_object(Bucket=bucket, Key=f"audio/{encounter_id}.wav", Body=b"seeded history")
            _dated(bucket, f"audio/{encounter_id}.wav", _shifted(job.creation_time, job_shift))
            s3.put_object(Bucket=bucket, Key=note_key(encounter_id), Body=json.dumps(body).encode())
            if awaiting:  # the index first, as the pipeline writes it (decision 0016)
                review_index.mark_awaiting(s3, bucket, entry_of(seeded))
                if seeded.kept_by == "sweep":
                    for at in sorted({seeded.next_deadline(), seeded.due_at}):
                        review_index.mark_due(s3, bucket, review_index.Deadline(at, encounter_id, seeded.opened_at))
            s3.put_object(Bucket=bucket, Key=review_key(encounter_id), Body=seeded.model_dump_json().encode())
        kept = copy.copy(job)
        name = transcription_job_name(prefix, encounter_id)
        kept.medical_transcription_job_name = name
        kept.media = {"MediaFileUri": f"s3://{bucket}/audio/{encounter_id}.wav"}
        kept.transcript = {"TranscriptFileUri": f"s3://{bucket}/transcripts/{encounter_id}.json"}
        kept.creation_time = _shifted(job.creation_time, job_shift)
        kept.start_time = _shifted(job.start_time, job_shift)
        kept.completion_time = _shifted(job.completion_time, job_shift)
        transcribe_backends[ACCOUNT][REGION].medical_transcriptions[name] = kept


# ---- one run: a variant at a scale ---------------------------------------------------------------------------------
def _reviews_of(phase) -> list:
    found = (read_review(phase.s3, phase.bucket, e) for e in sorted(phase.workload.valid_ids))
    return [f[0] for f in found if f is not None]


def _run_for(cloud, seconds: float, tick) -> None:
    """Let `seconds` of simulated time pass, a progress line every 6 simulated hours."""
    until = cloud.clock.now() + max(seconds, 0.0)
    while cloud.clock.now() < until:
        cloud.run_for(min(until - cloud.clock.now(), 6 * 3600))
        tick()


def _review_and_wait(phase, history: History, tick) -> list[dict]:
    """As `scribe compare` does (its clinicians sign their share of the real reviews awaiting them, the rest run to
    the end of their windows), with the worklist paged through when its backlog peaks (before the signing) and
    once the seeded awaiting reviews are in (when their reminders come after the run's end). Returns the
    worklist's figures."""

    cloud = phase.cloud
    awaiting = [r for r in _reviews_of(phase) if stage_of_review(r.status) == Stage.AWAITING_REVIEW]
    worklists = [worklist_requests(phase.s3, phase.bucket, phase.variant, "the backlog at its peak")]
    comparison.sign_their_share(phase, awaiting)
    if awaiting:
        start = cloud.clock.start.timestamp()
        end = max(record.due_at for record in awaiting).timestamp() - start + 3600  # as compare runs past them
        first = min(awaiting, key=lambda record: record.opened_at)
        until_reminder = ((first.remind_at or first.due_at) - first.opened_at).total_seconds()
        _run_for(cloud, end + 3600 - until_reminder - cloud.clock.now(), tick)
        history.open_awaiting()
        worklists.append(worklist_requests(phase.s3, phase.bucket, phase.variant, "with the seeded reviews awaiting"))
        _run_for(cloud, end - cloud.clock.now(), tick)
    cloud.run_until_quiet(horizon=comparison.SETTLE_BUDGET_SECONDS)
    phase.reviews = dict(sorted(Counter(str(stage_of_review(r.status)) for r in _reviews_of(phase)).items()))
    return worklists


def _progress(label: str):
    """A progress line at most every 15 real seconds (several runs may share the terminal)."""
    last = [0.0]

    def show(line: str) -> None:
        if time.monotonic() - last[0] > 15:
            print(f"{label}: {line}", file=sys.stderr, flush=True)
            last[0] = time.monotonic()

    return show


def run_at(cdk_out: Path, variant: str, held: int, real: int, profile_rates: dict, seed: int, show=None) -> dict:
    """One variant holding `held` encounters, `real` of them run through the pipeline; its figures."""

    started = time.monotonic()
    spec = workload_named(WORKLOAD)
    workload = plan(spec, seed, real)
    stack = comparison.VARIANTS[variant]
    seeded = held - workload.encounters  # the workload's encounters: its valid ones and those breaking the contract
    awaiting = round(seeded * AWAITING_SHARE)
    logging.getLogger(INTERPRETER_LOG).setLevel(logging.CRITICAL)
    with LocalCloud(
        cdk_out, faults=FaultPlan(rates=dict(profile_rates), seed=seed, work=step_work), seed=seed
    ) as cloud:
        cloud.deploy(stack)
        for upload in workload.uploads:
            cloud.transcribe.register(upload.body, upload.transcript, upload.audio_seconds)
        from clinical import observability  # loaded by the deploy (as Lambda's init would)

        previous_stream = observability.logger.registered_handler.setStream(io.StringIO())
        send_handler_output_to(io.StringIO())
        phase = comparison._Phase(
            cloud, variant, stack, workload, (), cloud.client("s3"), cloud.outputs[stack]["EncounterBucketName"],
            len(INVOCATIONS.emf), Counter(INVOCATIONS.invocations),
        )  # fmt: skip
        cloud.operations.counts.clear()
        since, start = cloud.clock.epoch(), cloud.clock.start.timestamp()
        history = History(phase, seeded - awaiting, awaiting, spec.upload_interval_seconds or 120)
        progress = {"phase": "uploading"}

        def tick() -> None:
            if show is None:
                return
            if progress["phase"] == "uploading":
                done = f"{len(phase.uploaded_at)}/{len(workload.valid_ids)} uploaded"
            else:
                done = f"{comparison._settled(cloud, stack, workload.valid_ids)}/{len(workload.valid_ids)} settled"
            show(f"{progress['phase']} {done}, {cloud.clock.now() / 3600:5.1f} simulated h")

        def after_upload() -> None:
            history.seed_signed()
            tick()

        phases = {"deploying": time.monotonic() - started}
        comparison._upload_and_settle(phase, progress, tick, after_upload=after_upload)
        history.seed_signed(force=True)
        phases["uploading and settling"] = time.monotonic() - started - sum(phases.values())
        progress["phase"] = "redriving"
        comparison._redrive_and_settle(phase, progress, tick)
        phases["redriving"] = time.monotonic() - started - sum(phases.values())
        progress["phase"] = "reviewing"
        tick()
        worklists = _review_and_wait(phase, history, tick)
        phases["reviewing (to the end of the windows)"] = time.monotonic() - started - sum(phases.values())
        observability.logger.registered_handler.setStream(previous_stream)
        # Every real encounter must have its outcome, or the figures would be a broken run's.
        settled = comparison._settled(cloud, stack, workload.valid_ids)
        failure_keys = set(comparison._keys(cloud, stack, "failures/"))
        unrecorded = [k for k in workload.invalid_keys if not comparison.invalid_upload_recorded(k, failure_keys)]
        invoked = Counter(INVOCATIONS.invocations) - phase.invocations_start
        transitions = state_transitions(execution_histories(cloud, stack))
        figures, summary = comparison.operations_per_upload(cloud, stack, invoked, transitions, len(workload.uploads))
        counted = cloud.operations.by_service()
        functions = {
            f["FunctionName"]: (f["Handler"], f["MemorySize"])
            for f in cloud.client("lambda").list_functions()["Functions"]
            if f["FunctionName"].startswith(f"{stack}-")
        }
        traces = cloud.traces()
        prefixes = service_of_prefixes(set(counted) | set(SERVICES))
        sweep_function = next(name for name, (handler, _mb) in functions.items() if handler == SWEEPS[variant])
        sweeps = invocations_of(traces.get(sweep_function, []), SWEEPS[variant], since, prefixes)
        billed_ms = json.loads(PRICES.read_text())["assumptions"]["lambda_billed_ms"]["value"]
        return run_figures(
            encounters=held,
            real=workload.encounters,
            valid=len(workload.valid_ids),
            uploads=len(workload.uploads),
            seeded={
                "signed": history.signed,
                "awaiting": history.awaiting,
                "signed_at_simulated_hours": _hours(history.signed_at),
                "awaiting_at_simulated_hours": _hours(history.awaiting_at),
                "sweeps_before_the_history": sum(1 for s in sweeps if s["started"] - start < (history.signed_at or 0)),
            },
            outcomes={
                "settled": settled,
                "unsettled": len(workload.valid_ids) - settled,
                "invalid_uploads_unrecorded": len(unrecorded),
                "reviews": phase.reviews,
            },
            counted=counted,
            per_upload=summary,
            sweeps=sweeps,
            start=start,
            gb_seconds=simulated_gb_seconds(traces, functions, since),
            stated_gb_seconds_per_upload=lambda_gb_seconds(figures["lambda"], billed_ms),
            worklists=worklists,
            simulated_hours=cloud.clock.now() / 3600,
            real_seconds=time.monotonic() - started,
            real_seconds_by_phase=phases,
        )


def _hours(simulated_seconds: float | None) -> float | None:
    return None if simulated_seconds is None else round(simulated_seconds / 3600, 3)


def _run_one(args: tuple) -> tuple[str, int, dict]:
    cdk_out, variant, held, real, rates, seed, progress = args
    show = _progress(f"{variant} at {held}") if progress else None
    return variant, held, run_at(cdk_out, variant, held, real, rates, seed, show)


# ---- the experiment and its report ---------------------------------------------------------------------------------


def scale(cdk_out: Path, chosen: Scales, profile: str = "none", seed: int = 7, workers: int = 2,
          show=lambda _line: None, progress: bool = True) -> dict:  # fmt: skip
    """Both variants at both scales (each its own run; `workers` processes at once), and the targets' verdicts."""
    known = fault_profiles()
    if profile not in known:
        raise ScaleInputError(f"unknown fault profile {profile!r}; profiles: {', '.join(sorted(known))}")
    started = time.monotonic()
    jobs = [
        (cdk_out, variant, held, chosen.real, known[profile], seed, progress)
        for held in (chosen.larger, chosen.encounters)  # the longer runs first
        for variant in comparison.VARIANTS
    ]
    runs: dict[str, dict[int, dict]] = {variant: {} for variant in comparison.VARIANTS}
    for variant, held, figures in each_run(_run_one, jobs, workers):
        show(f"{variant} at {held} encounters done ({figures['real_seconds']} s real)")
        runs[variant][held] = figures
    return report_of(
        chosen, profile, seed, runs, round(time.monotonic() - started, 1), signed_share=comparison.SIGNED_SHARE
    )

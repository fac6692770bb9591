"""`scribe compare`: the same workload and the same seeded faults through both variants, on the local cloud.

Each variant runs in its own local cloud (so operations are counted per variant) with the same
fault plan: decisions depend on the seed, the fault kind, the subject and the attempt, so both
variants meet the same faults on the same work. The run uploads N encounters (the sample
dictations, some duplicated, some breaking the contract), waits until every encounter has an
outcome or the simulated budget is spent, redrives what failed, waits again, then checks the
invariants (localcloud/invariants.py) and writes a report (JSON and Markdown).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from clinical.objects import keys_under
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultPlan
from localcloud.invariants import Snapshot, check
from localcloud.lambda_runtime import INVOCATIONS, send_handler_output_to
from localcloud.measure import execution_histories, per_encounter_figures, state_transitions
from localcloud.simulation import HorizonReached
from stacks.app_factory import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

PROJECT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT / "samples"
PROFILES_FILE = Path(__file__).resolve().parent / "fault_profiles.json"
VARIANTS = {"choreography": CHOREOGRAPHY_STACK, "orchestration": ORCHESTRATION_STACK}
SETTLE_BUDGET_SECONDS = 6 * 3600  # simulated: past the watchdog's 120-minute stall limit and several sweeps
COST_MINUTES = 5.0
UPLOAD_INTERVAL_SECONDS = 120
README_BEGIN, README_END = "<!-- compare:begin -->", "<!-- compare:end -->"


def profiles() -> dict[str, dict[str, float]]:
    return {name: rates for name, rates in json.loads(PROFILES_FILE.read_text()).items() if not name.startswith("_")}


@dataclass
class Workload:
    uploads: list[tuple[str, bytes]]  # in order, duplicates included
    valid_ids: set[str]
    invalid_keys: list[str]
    duplicates: int


def make_workload(encounters: int, seed: int) -> Workload:
    """N encounters: sample audio, about 5% uploaded twice, about 5% breaking the contract."""
    rng = random.Random(f"workload:{seed}")  # noqa: S311 (a reproducible workload, not a secret)
    samples = [path.read_bytes() for path in sorted(SAMPLES.glob("*.wav"))]
    uploads, valid, invalid, duplicates = [], set(), [], 0
    for n in range(encounters):
        audio = samples[n % len(samples)]
        draw = rng.random()
        if draw < 0.05:
            key, body = rng.choice(
                [
                    (f"audio/visit {n:04d}.wav", audio),
                    (f"audio/enc-{n:04d}.txt", audio),
                    (f"audio/enc-{n:04d}.wav", b""),
                ]
            )
            invalid.append(key)
        else:
            key, body = f"audio/enc-{n:04d}.wav", audio
            valid.add(f"enc-{n:04d}")
        uploads.append((key, body))
        if draw > 0.95 and key not in invalid:
            uploads.append((key, body))
            duplicates += 1
    return Workload(uploads, valid, invalid, duplicates)


@dataclass
class VariantRun:
    variant: str
    outcomes: dict = field(default_factory=dict)
    invariants: list = field(default_factory=list)
    operations_per_encounter: dict = field(default_factory=dict)
    cost_per_1000: float = 0.0
    latency: dict = field(default_factory=dict)
    snapshot: Snapshot | None = None


def _keys(cloud: LocalCloud, stack: str, prefix: str) -> list[str]:
    return sorted(keys_under(cloud.client("s3"), cloud.outputs[stack]["EncounterBucketName"], prefix))


def _json(cloud: LocalCloud, stack: str, key: str) -> dict:
    body = cloud.client("s3").get_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key)["Body"]
    return json.loads(body.read())


def _settled(cloud: LocalCloud, stack: str, valid: set[str]) -> int:
    done = {k.removeprefix("notes/").removesuffix(".json") for k in _keys(cloud, stack, "notes/")}
    done |= {k.removeprefix("failures/").removesuffix(".json") for k in _keys(cloud, stack, "failures/")}
    return len(valid & done)


def _settle(cloud: LocalCloud, stack: str, workload: Workload, show) -> None:
    """Run until every valid encounter has an outcome, or the simulated budget is spent (then the
    invariants report what is missing)."""
    checked_at = [None]

    def settled() -> bool:
        # Listing the bucket is not free: look once per simulated minute at most.
        if checked_at[0] is not None and cloud.clock.now() - checked_at[0] < 60:
            return False
        checked_at[0] = cloud.clock.now()
        return _settled(cloud, stack, workload.valid_ids) >= len(workload.valid_ids)

    with contextlib.suppress(HorizonReached):
        cloud.run_until(settled, horizon=SETTLE_BUDGET_SECONDS, progress=show)
    with contextlib.suppress(HorizonReached):
        cloud.run_until_quiet(horizon=SETTLE_BUDGET_SECONDS)


def _emf_sum(documents: list[dict], metric: str, service: str) -> float:
    total = 0.0
    for document in documents:
        if document.get("service") == service and metric in document:
            value = document[metric]
            total += sum(value) if isinstance(value, list) else value
    return total


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_variant(
    cdk_out: Path, variant: str, workload: Workload, rates: dict, seed: int, show, tamper=None
) -> VariantRun:
    """One variant's run. `tamper(cloud, stack)`, if given, acts behind the pipeline's back before the
    check (the tests use it to prove the checker can fail)."""
    from scribe.cost import PRICES, encounter_cost
    from scribe.redrive import redrive
    from scribe.target import Target

    stack = VARIANTS[variant]
    run = VariantRun(variant)
    with LocalCloud(cdk_out, faults=FaultPlan(rates=dict(rates), seed=seed), seed=seed) as cloud:
        cloud.deploy(stack)
        for sample in sorted(SAMPLES.glob("*.wav")):
            cloud.transcribe.register(sample.read_bytes(), sample.with_suffix(".txt").read_text().strip())
        from clinical import observability  # loaded by the deploy (as Lambda's init would)

        logs = io.StringIO()
        previous_stream = observability.logger.registered_handler.setStream(logs)
        send_handler_output_to(io.StringIO())  # the EMF lines are kept in INVOCATIONS; not for the console
        emf_start, invocations_start = len(INVOCATIONS.emf), Counter(INVOCATIONS.invocations)
        cloud.operations.counts.clear()
        bucket = cloud.outputs[stack]["EncounterBucketName"]
        s3 = cloud.client("s3")
        uploaded_at: dict[str, float] = {}
        progress = {"phase": "uploading"}

        def tick() -> None:
            done = _settled(cloud, stack, workload.valid_ids) if progress["phase"] != "uploading" else 0
            show(f"{variant:13} {progress['phase']:<10} {done}/{len(workload.valid_ids)} settled, "
                 f"{cloud.clock.now() / 3600:5.1f} simulated h")  # fmt: skip

        for key, body in workload.uploads:
            # Uploads trickle in, one every UPLOAD_INTERVAL simulated seconds, as from a clinic's day: a burst
            # of hundreds would only measure how slowly this one process works through a queue.
            cloud.run_for(UPLOAD_INTERVAL_SECONDS)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            cloud.operations.add("s3", "PutObject")  # the upload (the harness makes it here)
            if (encounter_id := key.removeprefix("audio/").rpartition(".")[0]) in workload.valid_ids:
                uploaded_at.setdefault(encounter_id, cloud.clock.now())
        progress["phase"] = "settling"
        _settle(cloud, stack, workload, tick)
        failed_before = {k.removeprefix("failures/").removesuffix(".json") for k in _keys(cloud, stack, "failures/")}
        # Failure to alarm, before the redrive rewrites records: each record's time to the next ALARM
        # transition of EncounterFailures (0 if the alarm was already in ALARM from an earlier failure).
        cloud.alarms.evaluate()
        first_records = [_json(cloud, stack, f"failures/{i}.json") for i in sorted(failed_before)]
        first_fired = [e.simulated_at for e in cloud.alarms.fired if e.alarm_name.startswith(f"{stack}-")
                       and e.metric == "EncounterFailures"]  # fmt: skip
        progress["phase"] = "redriving"
        deployment = Target(region="us-east-1", local=True).deployment(variant)
        redriven = set(redrive(deployment, None).encounters)
        progress["phase"] = "settling"
        _settle(cloud, stack, workload, tick)
        cloud.alarms.evaluate()
        if tamper is not None:
            tamper(cloud, stack)

        notes = _keys(cloud, stack, "notes/")
        failures = _keys(cloud, stack, "failures/")
        versions = Counter()
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="notes/"):
            for version in page.get("Versions", []):
                versions[version["Key"]] += 1
        records = [_json(cloud, stack, key) for key in failures]
        executions = execution_histories(cloud, stack)
        histories = "\n".join(json.dumps(events, default=str) for _name, _status, events in executions)
        transitions = state_transitions(executions)
        statuses = {name: status for name, status, _events in executions}
        emf = INVOCATIONS.emf[emf_start:]
        fired = [event for event in cloud.alarms.fired if event.alarm_name.startswith(f"{stack}-")]
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
        phi = [s.read_text().strip() for s in sorted(SAMPLES.glob("*.txt"))]
        phi += [sentence.strip() for text in list(phi) for sentence in text.split(". ") if len(sentence.strip()) >= 12]
        for key in notes[:50]:
            soap = _json(cloud, stack, key).get("soap", {})
            sections = ("subjective", "objective", "assessment", "plan")
            phi += [soap[s].removeprefix("[local note model] ") for s in sections if s in soap]
        observability.logger.registered_handler.setStream(previous_stream)
        log_text = logs.getvalue() + "\n".join(json.dumps(document) for document in emf)

        run.snapshot = Snapshot(
            valid_ids=set(workload.valid_ids),
            invalid_keys=list(workload.invalid_keys),
            note_versions={key: versions[key] for key in notes},  # a deleted note (a delete marker) counts as none
            failure_keys=set(failures),
            encounter_failures_counted=_emf_sum(emf, "EncounterFailures", stack),
            failure_alarm_fired=any(event.metric == "EncounterFailures" for event in fired),
            logs=log_text,
            histories=histories,
            phi_texts=phi,
        )
        run.invariants = check(run.snapshot)

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
        overheads = []
        for key in notes:
            encounter_id = key.removeprefix("notes/").removesuffix(".json")
            job = jobs.get(encounter_id)
            if encounter_id not in uploaded_at or encounter_id in redriven or not job or not job.get("CompletionTime"):
                continue
            provenance = _json(cloud, stack, key).get("provenance")
            if not provenance:
                continue
            note_at = cloud.clock.at(datetime.fromisoformat(provenance["created_at"]))
            transcribing = (job["CompletionTime"] - job["CreationTime"]).total_seconds()
            overheads.append(max(note_at - uploaded_at[encounter_id] - transcribing, 0.0))
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
            "overhead_p50_s": _percentile(overheads, 50),
            "overhead_p95_s": _percentile(overheads, 95),
            "failure_to_alarm_p50_s": _percentile(to_alarm, 50),
            "failure_to_alarm_max_s": max(to_alarm) if to_alarm else None,
        }

        n = len(workload.uploads)
        invoked = Counter(INVOCATIONS.invocations) - invocations_start
        figures = per_encounter_figures(cloud, stack, invoked, transitions, n)
        by_service = Counter()
        for (service, _operation), count in cloud.operations.counts.items():
            by_service[service] += count
        run.operations_per_encounter = {
            "lambda_invocations": sum(f["invocations"] for f in figures["lambda"].values()),
            "state_transitions": figures["state_transitions"],
            "sqs_requests": by_service["sqs"] / n,
            "s3_requests": by_service["s3"] / n,
            "transcribe_calls": by_service["transcribe"] / n,
            "bedrock_calls": by_service["bedrock-runtime"] / n,
        }
        measured = {"per_encounter": {variant: figures}}
        lines = encounter_cost(
            variant,
            COST_MINUTES,
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            json.loads(PRICES.read_text()),
            measured,
        )
        run.cost_per_1000 = sum(line.usd_per_encounter for line in lines) * 1000
        run.outcomes = {
            "uploads": n,
            "valid_encounters": len(workload.valid_ids),
            "notes": len(notes),
            "failure_records": len(failures),
            "failures_by_stage_and_reason": dict(
                Counter(f"{r['stage']}: {r['error_type']}" for r in records).most_common()
            ),
            "dlq_messages": dlq,
            "failed_executions": sum(1 for s in statuses.values() if s in ("FAILED", "TIMED_OUT", "ABORTED"))
            if variant == "orchestration"
            else None,
            "alarms_to_alarm": sorted({e.alarm_name.removeprefix(f"{stack}-") for e in fired}),
            "recovered_by_redrive": len((redriven & failed_before) & {k[6:-5] for k in notes}),
            "redriven": len(redriven),
            "faults_injected": dict(cloud.faults.injected),
        }
    return run


def compare(cdk_out: Path, encounters: int, profile: str, seed: int, show=lambda _line: None) -> dict:
    known = profiles()
    if profile not in known:
        raise ValueError(f"unknown fault profile {profile!r}; profiles: {', '.join(sorted(known))}")
    workload = make_workload(encounters, seed)
    started = time.monotonic()
    # moto's interpreter logs every failed state at ERROR: under faults that is noise, not news.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    runs = {variant: run_variant(cdk_out, variant, workload, known[profile], seed, show) for variant in VARIANTS}
    return {
        "parameters": {
            "encounters": encounters,
            "uploads": len(workload.uploads),
            "duplicates": workload.duplicates,
            "invalid": len(workload.invalid_keys),
            "faults": profile,
            "rates": known[profile],
            "seed": seed,
            "cost_minutes_per_encounter": COST_MINUTES,
        },
        "real_seconds": round(time.monotonic() - started, 1),
        "all_invariants_pass": all(v.passed for run in runs.values() for v in run.invariants),
        "variants": {
            variant: {
                "outcomes": run.outcomes,
                "invariants": [{"name": v.name, "status": v.status, "detail": v.detail} for v in run.invariants],
                "operations_per_upload": run.operations_per_encounter,
                "cost_per_1000_encounters_usd": round(run.cost_per_1000, 4),
                "simulated_latency": run.latency,
            }
            for variant, run in runs.items()
        },
    }


def _seconds(value) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s"


def markdown(report: dict) -> str:
    p, variants = report["parameters"], report["variants"]
    names = list(variants)
    header = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"

    def row(label, get):
        return f"| {label} | " + " | ".join(str(get(variants[v])) for v in names) + " |\n"

    lines = [
        f"{p['encounters']} encounters ({p['uploads']} uploads: {p['duplicates']} duplicates, {p['invalid']} breaking "
        f"the contract), fault profile `{p['faults']}`, seed {p['seed']}; {report['real_seconds']} s real.\n\n",
        header,
        row("notes", lambda v: v["outcomes"]["notes"]),
        row("failure records", lambda v: v["outcomes"]["failure_records"]),
        row(
            "failures by stage: reason",
            lambda v: "<br>".join(f"{k} ({n})" for k, n in v["outcomes"]["failures_by_stage_and_reason"].items()) or "-",
        ),
        row("messages left in DLQs", lambda v: sum(v["outcomes"]["dlq_messages"].values())),
        row("failed executions", lambda v: "-" if v["outcomes"]["failed_executions"] is None else v["outcomes"]["failed_executions"]),
        row("alarms that went to ALARM", lambda v: "<br>".join(v["outcomes"]["alarms_to_alarm"]) or "-"),
        row("redriven / recovered by redrive", lambda v: f"{v['outcomes']['redriven']} / {v['outcomes']['recovered_by_redrive']}"),
        row("Lambda invocations per upload", lambda v: f"{v['operations_per_upload']['lambda_invocations']:.2f}"),
        row("state transitions per upload", lambda v: f"{v['operations_per_upload']['state_transitions']:.2f}"),
        row("SQS requests per upload", lambda v: f"{v['operations_per_upload']['sqs_requests']:.2f}"),
        row("S3 requests per upload", lambda v: f"{v['operations_per_upload']['s3_requests']:.2f}"),
        row("Transcribe / Bedrock calls per upload", lambda v: f"{v['operations_per_upload']['transcribe_calls']:.2f} / {v['operations_per_upload']['bedrock_calls']:.2f}"),
        row(f"cost per 1,000 encounters ({p['cost_minutes_per_encounter']:g} min)", lambda v: f"${v['cost_per_1000_encounters_usd']:.2f}"),
        row("coordination overhead p50 / p95 (simulated)", lambda v: f"{_seconds(v['simulated_latency']['overhead_p50_s'])} / {_seconds(v['simulated_latency']['overhead_p95_s'])}"),
        row("failure to alarm p50 / max (simulated)", lambda v: f"{_seconds(v['simulated_latency']['failure_to_alarm_p50_s'])} / {_seconds(v['simulated_latency']['failure_to_alarm_max_s'])}"),
        "\n| invariant | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n",
    ]  # fmt: skip
    for index, invariant in enumerate(variants[names[0]]["invariants"]):
        cells = [
            f"{variants[v]['invariants'][index]['status']} ({variants[v]['invariants'][index]['detail']})"
            for v in names
        ]
        lines.append(f"| {invariant['name']} | " + " | ".join(cells) + " |\n")
    return "".join(lines)


def update_readme(readme: Path, report: dict) -> None:
    text = readme.read_text()
    begin, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    readme.write_text(text[:begin] + "\n" + markdown(report) + text[end:])


CHARTS = {
    "outcomes.png": (
        "Outcomes",
        "encounters",
        {
            "notes": lambda v: v["outcomes"]["notes"],
            "failure records": lambda v: v["outcomes"]["failure_records"],
            "recovered by redrive": lambda v: v["outcomes"]["recovered_by_redrive"],
            "left in DLQs": lambda v: sum(v["outcomes"]["dlq_messages"].values()),
        },
    ),
    "operations.png": (
        "Operations per upload",
        "count",
        {
            "Lambda invocations": lambda v: v["operations_per_upload"]["lambda_invocations"],
            "state transitions": lambda v: v["operations_per_upload"]["state_transitions"],
            "SQS requests": lambda v: v["operations_per_upload"]["sqs_requests"],
            "S3 requests": lambda v: v["operations_per_upload"]["s3_requests"],
        },
    ),
    "latency.png": (
        "Simulated coordination overhead and time to alarm",
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

    variants = list(report["variants"])
    for name, (title, unit, series) in CHARTS.items():
        figure, axes = pyplot.subplots(figsize=(7, 3.2))
        width = 0.8 / len(variants)
        for index, variant in enumerate(variants):
            values = [get(report["variants"][variant]) for get in series.values()]
            positions = [x + index * width for x in range(len(series))]
            axes.bar(positions, values, width=width, label=variant)
        axes.set_xticks([x + width * (len(variants) - 1) / 2 for x in range(len(series))], list(series))
        axes.set_title(f"{title} ({report['parameters']['faults']} faults)")
        axes.set_ylabel(unit)
        axes.legend()
        figure.tight_layout()
        figure.savefig(directory / name, dpi=100)
        pyplot.close(figure)
    return list(CHARTS)


def write_report(report: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    charts = write_charts(report, directory)
    images = "".join(f"![{name.removesuffix('.png')}]({name})\n" for name in charts)
    (directory / "report.md").write_text("# Side by side under faults\n\n" + markdown(report) + "\n" + images)


def progress_printer():
    last = [0.0]

    def show(line: str) -> None:
        if sys.stderr.isatty():
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif time.monotonic() - last[0] > 10:
            print(line, file=sys.stderr, flush=True)
            last[0] = time.monotonic()

    return show

"""docs/results.md and the comparison's report.md, rendered from the reports' JSON: the summary that opens the page
(which variant to choose when), each `scribe compare` run's section with its charts and the notes that explain its
odd-looking figures, and the page's writing between markers. `scribe scale`'s section is experiments/scale.py's.

Everything here is computed from the report dicts, so a report made again renders again: `python -m
experiments.results` (`make results`) renders the page (and each report.md) from the committed report.json files
without running anything. This module loads no local cloud, so the unit tier tests it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

from experiments import PROJECT, SIGNED_SHARE
from experiments.pairing import paired_markdown

PAGE = PROJECT / "docs" / "results.md"
REPORTS = PROJECT / "reports"
# The committed reports, by the page's section each renders: `make compare`, `make burst`, `make scale`.
STEADY_REPORT, BURST_REPORT = "compare-default", "clinic-burst"
COMPARE_REPORTS = {"steady": STEADY_REPORT, "clinic-burst": BURST_REPORT, "clinic-burst-1000": "clinic-burst-1000"}
# The quota wait cdk.json deploys (a run on other templates says so: deployment_line).
DEFAULT_QUOTA_WAIT_MINUTES = json.loads((PROJECT / "cdk.json").read_text())["context"]["quota_wait_minutes"]
# experiments/workloads.py's WORKLOADS_FILE (this module does not load the local cloud to name it).
WORKLOADS = PROJECT / "experiments" / "workloads.json"
SCALE_REPORT = "scale"
SUMMARY = "summary"
# localcloud/service_model.py's LATENCIES_FILE (this module does not load the local cloud to name it).
LATENCIES = PROJECT / "localcloud" / "model" / "latencies.json"
# The charts experiments.compare.write_charts draws from a report's first quota setting, with their titles; then
# one timeline per quota setting (encounters-over-time-<setting>.png).
CHARTS = {
    "outcomes.png": "Outcomes",
    "operations.png": "Operations per upload",
    "latency.png": "Simulated coordination overhead and time to alarm",
}
QUOTA_NAMES = {
    "transcribe_medical_concurrent_jobs": "Transcribe Medical concurrent jobs",
    "transcribe_medical_starts_per_second": "Transcribe Medical starts per second",
}
# What each fault kind of experiments/fault_profiles.json did, as a count reads.
FAULT_NAMES = {
    "lambda_crash": "crashed invocations",
    "bedrock_throttle": "throttled Converse calls",
    "bedrock_malformed": "malformed model answers",
    "bedrock_unsupported": "unsupported statements",
    "transcribe_start": "refused Transcribe starts",
    "transcribe_job": "failed Transcribe jobs",
    "event_lost": "lost S3 events",
}
ALARM_INVARIANT = "every permanent failure raised an alarm, counted once"
HISTORY_INVARIANT = "no transcript or note text in logs or execution history"
# The invariant's detail (experiments/invariants.py): "<left> failure records, <written> written for <n> failed uploads"
RECORDS_WRITTEN = re.compile(r"(\d+) failure records, (\d+) written for (\d+) failed uploads")


# ---- readable figures ---------------------------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    """A duration as a reader takes it in: `2.6 s`, `57 s`, `12 min 57 s`, from an hour on `6 h 39 min` (to the
    minute); `-` for none. The exact seconds stay in report.json."""
    if seconds is None:
        return "-"
    if round(seconds, 1) < 10 and round(seconds, 1) != round(seconds):
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def count(value: float | None) -> str:
    """A count with thousands separators (`4,005,377`); `-` for none."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def ratio(value: float | None) -> str:
    """A ratio, always with two decimals (`1.00`, `1.01`); `-` for none."""
    return "-" if value is None else f"{value:.2f}"


def per_upload(value: float | None) -> str:
    """A figure per upload: two decimals, or two significant digits below 0.01 (`0.0048`, not `0.00`)."""
    if value is None:
        return "-"
    return f"{value:,.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2g}"


def usd(value: float) -> str:
    return f"${value:,.2f}"


def share(value: float) -> str:
    """A share as a percentage: whole percents from 10% on, two significant digits below (`0.1%`, `0.037%`)."""
    return f"{value:.0%}" if abs(value) >= 0.1 else f"{value * 100:.2g}%"


def percent_apart(a: float, b: float) -> float:
    """How far apart two figures are, as a share of the smaller."""
    low = min(abs(a), abs(b))
    return 0.0 if a == b else (abs(a - b) / low if low else float("inf"))


def thousands(text: str) -> str:
    """Every plain number of four or more digits in a text with thousands separators (`3199 log lines` ->
    `3,199 log lines`); ids such as `enc-0044` and decimals are left as they are."""
    return re.sub(r"(?<![\w.\-/])[1-9]\d{3,}(?![\w.])", lambda m: f"{int(m[0]):,}", text)


def alarm_name(name: str) -> str:
    """An alarm's name without the suffix the CDK adds to its construct id (`EncounterFailuresAlarm55F4787A` ->
    `EncounterFailures`)."""
    return re.sub(r"Alarm[0-9A-F]{8}$", "", name)


def quota_name(name: str) -> str:
    return QUOTA_NAMES.get(name, name.replace("_", " "))


def _and(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---- tables -------------------------------------------------------------------------------------------------------
def table(header: list[str], rows: list[tuple[str, list[str | None]]]) -> str:
    """A Markdown table; a cell None is `-` (does not apply), a row whose every cell is None is left out, and a
    table left without rows is not printed at all."""
    kept = [(label, cells) for label, cells in rows if any(cell is not None for cell in cells)]
    if not kept:
        return ""
    lines = [
        "|" + "|".join(f" {h} " if h else " " for h in header) + "|\n",
        "|---|" + "---|" * (len(header) - 1) + "\n",
    ]
    lines += [
        f"| {label} | " + " | ".join("-" if c is None else str(c) for c in cells) + " |\n" for label, cells in kept
    ]
    return "".join(lines)


def notes(items: list[str]) -> str:
    """Notes under a table: one bullet each (none: nothing)."""
    return "".join(f"- {item}\n" for item in items if item)


def _counts_cell(counts: dict[str, int]) -> str | None:
    return "<br>".join(f"{name} ({count(n)})" for name, n in counts.items()) or None


def variants_of(report: dict, setting: str | None = None) -> dict:
    """The per-variant figures of one quota setting (the first, by default)."""
    return report["quotas"][setting or report["parameters"]["quota_settings"][0]]["variants"]


def without_state_machine(variants: dict) -> list[str]:
    """The variants with no state machine: their runs count no executions (`failed_executions` is None)."""
    return [name for name, v in variants.items() if v["outcomes"]["failed_executions"] is None]


# ---- one comparison run -------------------------------------------------------------------------------------------
def _figures_rows(report: dict, variants: dict) -> list[tuple[str, list[str | None]]]:
    p = report["parameters"]
    runs = list(variants.values())
    stateless = set(without_state_machine(variants))
    names = list(variants)

    def each(get) -> list[str | None]:
        return [get(v) for v in runs]

    nothing_to_redrive = all(
        not v["outcomes"]["first_failures_by_stage_and_reason"] and not v["outcomes"]["redriven"] for v in runs
    )
    reviews = p.get("reviews", True) and all("reviews" in v["outcomes"] for v in runs)
    return [
        ("notes", each(lambda v: count(v["outcomes"]["notes"]))),
        ("failure records", each(lambda v: count(v["outcomes"]["failure_records"]))),
        ("failures by stage: reason", _or_none(each(lambda v: _counts_cell(v["outcomes"]["failures_by_stage_and_reason"])))),
        ("the same, before the redrive", _or_none(each(lambda v: _counts_cell(v["outcomes"]["first_failures_by_stage_and_reason"])))),
        ("messages left in DLQs", each(lambda v: count(sum(v["outcomes"]["dlq_messages"].values())))),
        ("failed executions", [None if n in stateless else count(variants[n]["outcomes"]["failed_executions"]) for n in names]),
        ("alarms that went to ALARM", each(lambda v: "<br>".join(alarm_name(a) for a in v["outcomes"]["alarms_to_alarm"]) or "none")),
        ("redriven / recovered by redrive",
         [None] * len(runs) if nothing_to_redrive
         else each(lambda v: f"{count(v['outcomes']['redriven'])} / {count(v['outcomes']['recovered_by_redrive'])}")),
        *([(f"reviews signed / expired ({SIGNED_SHARE:.0%} signed, the rest left)",
            each(lambda v: f"{count(v['outcomes']['reviews'].get('SIGNED', 0))} / "
                           f"{count(v['outcomes']['reviews'].get('REVIEW_EXPIRED', 0))}"))] if reviews else []),
        ("Lambda invocations per upload", each(lambda v: per_upload(v["operations_per_upload"]["lambda_invocations"]))),
        ("state transitions per upload",
         [None if n in stateless else per_upload(variants[n]["operations_per_upload"]["state_transitions"]) for n in names]),
        ("SQS requests per upload", each(lambda v: per_upload(v["operations_per_upload"]["sqs_requests"]))),
        ("S3 requests per upload", each(lambda v: per_upload(v["operations_per_upload"]["s3_requests"]))),
        ("Transcribe / Bedrock calls per upload",
         each(lambda v: f"{per_upload(v['operations_per_upload']['transcribe_calls'])} / "
                        f"{per_upload(v['operations_per_upload']['bedrock_calls'])}")),
        (f"cost per 1,000 encounters ({p['cost_minutes_per_encounter']:g} min of audio each)",
         each(lambda v: usd(v["cost_per_1000_encounters_usd"]))),
        ("coordination overhead p50 / p95 (simulated)",
         each(lambda v: f"{duration(v['simulated_latency']['overhead_p50_s'])} / "
                        f"{duration(v['simulated_latency']['overhead_p95_s'])}")),
        ("failure to alarm p50 / max (simulated)",
         _or_none(each(lambda v: None if v["simulated_latency"]["failure_to_alarm_max_s"] is None else
                       f"{duration(v['simulated_latency']['failure_to_alarm_p50_s'])} / "
                       f"{duration(v['simulated_latency']['failure_to_alarm_max_s'])}"))),
    ]  # fmt: skip


def _or_none(cells: list[str | None]) -> list[str | None]:
    """A row whose cells are all empty is left out; where only some are, those read `none`."""
    return cells if all(c is None for c in cells) else [c or "none" for c in cells]


def _figures_notes(report: dict, variants: dict, first: bool = True) -> list[str]:
    """What the main table's odd-looking figures are, from the run's own figures; what a row means, under the first
    quota setting's table only (`first`)."""
    p = report["parameters"]
    names = list(variants)
    stateless = without_state_machine(variants)
    found = []
    if stateless:
        found.append(
            f"`-` does not apply: {_and(stateless)} {'has' if len(stateless) == 1 else 'have'} no state machine (no "
            "executions to fail, no state transitions)."
        )
    found += _redrive_notes(variants)
    found += _alarm_notes(p, variants)
    found += _throttle_notes(variants)
    if not first:
        return found
    transcribe = {n: variants[n]["operations_per_upload"]["transcribe_calls"] for n in names}
    found.append(
        "Transcribe calls per upload are every Transcribe request of the run over its "
        f"{count(p['uploads'])} uploads ({_and([f'{n} {per_upload(t)}' for n, t in transcribe.items()])}), not only "
        "each encounter's job start: a refused or throttled start is tried again (Transcribe start retries, below), "
        "and each variant's scheduled sweep lists jobs on every run whatever was uploaded (choreography's watchdog "
        "the deployment's jobs by status, orchestration's upload sweep the jobs in flight). The scale section below "
        "counts the sweeps' share apart."
    )
    sqs = {n: variants[n]["operations_per_upload"]["sqs_requests"] for n in names}
    silent = [n for n, value in sqs.items() if value == 0]
    found.append(
        "SQS requests per upload are the requests the functions make (choreography's watchdog reading its "
        "dead-letter queues, a throttled step putting its message back to wait); Lambda's own polling of the queues "
        "is not counted in either variant"
        + (f", so {_and(silent)}'s {per_upload(0)} does not mean it has no queues." if silent else ".")
    )
    costs = {n: variants[n]["cost_per_1000_encounters_usd"] for n in names}
    apart = percent_apart(*list(costs.values())[:2]) if len(costs) >= 2 else 0.0
    found.append(
        f"Cost per 1,000 encounters: `scribe cost`'s price table (scribe/prices.json) at this run's operations per "
        f"upload, each encounter priced as {p['cost_minutes_per_encounter']:g} minutes of audio whatever the "
        "workload's recordings last (Transcribe Medical bills per audio minute, Bedrock per token, whatever the "
        "coordination)"
        + (
            f": the variants are {usd(abs(costs[names[0]] - costs[names[1]]))} ({share(apart)}) apart."
            if len(names) == 2
            else "."
        )
    )
    if any(v["simulated_latency"]["failure_to_alarm_max_s"] is not None for v in variants.values()):
        found.append(
            "Failure to alarm: from each failure record written before the redrive to the EncounterFailures alarm "
            f"going to ALARM; {duration(0)} when the alarm was in ALARM already."
        )
    found.append(
        "Coordination overhead: an encounter's time from upload to note less its own Transcribe job and model call, "
        "as the latency model below prices them: the time it spent on events, queues, retries and quotas."
    )
    return found


def _throttle_notes(variants: dict) -> list[str]:
    """Where the throttled starts wait: in line for a slot (reports since decision 0018 count the asks per upload);
    before, a variant without a state machine waited in its queue, invoked again each time."""
    found = []
    if all("transcribe_starts_per_upload" in v["drain"] for v in variants.values()):
        if any(v["drain"]["throttled"] for v in variants.values()):
            asks = ", ".join(f"{n} {ratio(v['drain']['transcribe_starts_per_upload'])}" for n, v in variants.items())
            found.append(
                "Both variants wait in line for a Transcribe slot (decision 0018): a start refused for the quota, "
                "and an upload that finds others waiting, ask nothing more until the end of a job or a sweep wakes "
                f"the head; Transcribe start calls per upload: {asks}. A wait costs choreography one more run of its "
                "start function (the request sent again), orchestration an AwaitSlot task."
            )
        return found
    stateless = without_state_machine(variants)
    for name in stateless:
        throttled = sum(variants[name]["drain"]["throttled"].values())
        if not throttled:
            continue
        o = variants[name]["operations_per_upload"]
        others = [n for n in variants if n not in stateless]
        found.append(
            f"{name} waits for quota in its queue: a throttled start's message comes back delayed and the function "
            f"runs again, so its Lambda invocations ({per_upload(o['lambda_invocations'])}) and SQS requests "
            f"({per_upload(o['sqs_requests'])}) per upload grow with the throttles ({count(throttled)} here)"
            + (
                f"; {_and(others)}'s state machine starts the job and retries a throttled start itself, with no "
                "function."
                if others
                else "."
            )
        )
    return found


def _redrive_notes(variants: dict) -> list[str]:
    found = []
    for name in without_state_machine(variants):
        outcomes = variants[name]["outcomes"]
        if outcomes["first_failures_by_stage_and_reason"] and not outcomes["redriven"]:
            found.append(
                f"{name} redrove nothing: its redrive moves dead-letter messages back to their queues, and a failure "
                "its handler or its watchdog recorded as permanent leaves no message (that encounter is uploaded "
                "again under a new id)."
            )
    return found


def _alarm_notes(p: dict, variants: dict) -> list[str]:
    """Why alarms went to ALARM: each fires on a single occurrence, and a fault profile makes work fail on purpose."""
    fired = {name: [alarm_name(a) for a in v["outcomes"]["alarms_to_alarm"]] for name, v in variants.items()}
    if not any(fired.values()):
        return []
    injected = {
        name: ", ".join(
            f"{count(n)} {FAULT_NAMES.get(kind, kind)}" for kind, n in v["outcomes"]["faults_injected"].items()
        )
        for name, v in variants.items()
    }
    every = {alarm for alarms in fired.values() for alarm in alarms}
    kinds = []
    if any(alarm.endswith("Errors") for alarm in every):
        kinds.append("a function's `…Errors` alarm on any invocation that ended in an error (a crash or a timeout)")
    if "EncounterFailures" in every:
        records = _and([f"{count(v['outcomes']['failure_records'])}" for v in variants.values()])
        kinds.append(f"`EncounterFailures` on a failure record ({records} left)")
    failed = {n: v["outcomes"]["failed_executions"] for n, v in variants.items() if v["outcomes"]["failed_executions"]}
    if any(alarm.startswith("Executions") for alarm in every) and failed:
        kinds.append(f"`ExecutionsFailed` on a failed execution ({_and([f'{count(n)}' for n in failed.values()])})")
    if "ReviewsExpired" in every:
        expired = _and(
            [f"{count(v['outcomes'].get('reviews', {}).get('REVIEW_EXPIRED', 0))}" for v in variants.values()]
        )
        kinds.append(f"`ReviewsExpired` on a review nobody signed in its window ({expired}: the notes left unsigned)")
    return [
        "Alarms that went to ALARM: each goes off on a single occurrence in its period: "
        + "; ".join(kinds)
        + "."
        + (
            f" The `{p['faults']}` fault profile makes work fail on purpose ("
            + "; ".join(f"{name}: {text}" for name, text in injected.items() if text)
            + "), so these alarms going off is the monitoring working, not an incident."
            if any(injected.values())
            else ""
        )
    ]


def _invariant_rows(variants: dict) -> tuple[list[str], list[tuple[str, list[str | None]]]]:
    names = list(variants)
    rows = []
    for index, invariant in enumerate(variants[names[0]]["invariants"]):
        verdicts = [variants[v]["invariants"][index] for v in names]
        rows.append((invariant["name"], [f"{i['status']} ({thousands(i['detail'])})" for i in verdicts]))
    return ["invariant", *names], rows


def _invariant_notes(variants: dict) -> list[str]:
    """Failure records written more often than uploads failed (a redrive), and a history of 0 characters."""
    found = []
    for name, v in variants.items():
        detail = next((i["detail"] for i in v["invariants"] if i["name"] == ALARM_INVARIANT), "")
        matched = RECORDS_WRITTEN.search(detail)
        if not matched:
            continue
        left, written, failed = (int(n) for n in matched.groups())
        if written == failed and left == failed:
            continue
        outcomes = v["outcomes"]
        text = f"{name}: {count(left)} failure records, {count(written)} written for {count(failed)} failed uploads."
        if outcomes["redriven"]:
            text += (
                f" The redrive removed the record of each of the {count(outcomes['redriven'])} encounters it retried "
                "(S3 versioning keeps it)"
            )
            if written > failed:
                text += (
                    f"; {count(written - failed)} failed again and wrote their records again, the same uploads' "
                    "failures, which EncounterFailures did not count twice"
                )
            recovered = outcomes["recovered_by_redrive"]
            if recovered and failed - left == recovered:
                text += (
                    "; 1 got its note, so its record stays removed"
                    if recovered == 1
                    else f"; {count(recovered)} got their notes, so their records stay removed"
                )
            text += "."
        found.append(text)
    for name in without_state_machine(variants):
        detail = next((i["detail"] for i in variants[name]["invariants"] if i["name"] == HISTORY_INVARIANT), "")
        if " 0 characters of history" in f" {detail}":
            found.append(f"{name} keeps no execution history (no state machine): its 0 characters are none to search.")
    return found


DRAIN_ROWS = (
    ("drain (first upload to last note)", "drain_seconds", duration),
    ("physical lower bound", "lower_bound_seconds", duration),
    ("drain / bound", "drain_to_bound_ratio", ratio),
    ("time to note p50", "time_to_note_p50_seconds", duration),
    ("time to note p95", "time_to_note_p95_seconds", duration),
    ("time to note p99", "time_to_note_p99_seconds", duration),
    ("coordination overhead p95", "overhead_p95_seconds", duration),
    ("lost / duplicated", "lost", None),
    ("throttled, by quota", "throttled", None),
    ("Transcribe start retries", "transcribe_start_retries", count),
    ("Transcribe start calls per upload", "transcribe_starts_per_upload", ratio),
    ("peak concurrent Transcribe jobs", "peak_transcribe_jobs", count),
)


def drain_table(variants: dict) -> str:
    rows = []
    for label, key, shown in DRAIN_ROWS:
        if key == "lost":
            cells = [f"{count(v['drain']['lost'])} / {count(v['drain']['duplicates'])}" for v in variants.values()]
        elif key == "throttled":
            cells = [
                "<br>".join(f"{quota_name(q)} ({count(n)})" for q, n in v["drain"]["throttled"].items()) or "none"
                for v in variants.values()
            ]
        else:
            cells = [shown(v["drain"].get(key)) for v in variants.values()]
        rows.append((label, cells))
    return table(["", *variants], rows)


def _drain_notes(report: dict, setting: str, variants: dict, first: bool = True) -> list[str]:
    """The drain table's definitions (under the first quota setting's; `first`) and its peak of concurrent jobs."""
    quotas = report["quotas"][setting].get("values", {})
    jobs = quotas.get("transcribe_medical_concurrent_jobs")
    latency = report.get("latency_model", {})
    found = (
        [
            "Physical lower bound: the shortest drain this workload allows, whatever coordinates it: the later of "
            "the latest any encounter's own Transcribe job could end (its upload after the first, plus the job's time "
            "in the latency model below) and all the jobs' time spread over the quota's "
            f"{count(jobs)} concurrent jobs; the note model's time is not in it. Drain / bound is how far above that "
            "floor each variant drained (1.00: on it).",
            "Time to note: from an encounter's upload to its note, over the notes made without the operator's redrive.",
        ]
        if first
        else [f"Physical lower bound: as above, over the `{setting}` quota's {count(jobs)} concurrent jobs."]
    )
    peaks = {name: v["drain"]["peak_transcribe_jobs"] for name, v in variants.items()}
    if jobs and peaks:
        top = max(peaks.values())
        same = len(set(peaks.values())) == 1 and len(peaks) > 1
        shown = f"{count(top)} in each variant" if same else _and([f"{count(n)} ({name})" for name, n in peaks.items()])
        if top < jobs:
            drains = [v["drain"]["drain_seconds"] for v in variants.values() if v["drain"]["drain_seconds"]]
            job_time = ""
            if "transcribe_job_fixed" in latency and "transcribe_job_per_audio_second" in latency:
                job_time = (
                    f", and a job takes {duration(latency['transcribe_job_fixed'])} plus "
                    f"{latency['transcribe_job_per_audio_second']:g} s per second of audio in the latency model"
                )
            found.append(
                f"Peak concurrent Transcribe jobs: at most {shown} ran at once, against a quota of {count(jobs)}: "
                f"the {count(report['parameters']['uploads'])} uploads were spread over a drain of "
                f"{duration(min(drains)) if drains else '-'}{job_time}, so few jobs overlapped."
            )
        elif top >= jobs:
            found.append(
                f"Peak concurrent Transcribe jobs: {shown}, the quota's {count(jobs)}: the starts beyond it were "
                "throttled (throttled, by quota) and tried again (Transcribe start retries)."
            )
    found += _wait_notes(report, variants)
    return found


def _wait_notes(report: dict, variants: dict) -> list[str]:
    """When the line outlasts the deployment's quota_wait_minutes (all the jobs' time over the quota, the line's
    bound, is longer than the wait): the uploads past it fail by design, so drain / bound measures the wait, not
    the coordination. Uploads spread over hours (`steady`) make a long bound but no line."""
    waits = {v["drain"].get("quota_wait_seconds") for v in variants.values()} - {None}
    bounds = {v["drain"].get("quota_bound_seconds") for v in variants.values()} - {None}
    if len(waits) != 1 or not bounds or max(bounds) <= (wait := waits.pop()):
        return []
    failed = {
        name: v["outcomes"].get("failures_by_stage_and_reason", {}).get("transcription: TranscriptionQuotaExhausted", 0)
        for name, v in variants.items()
    }
    return [
        f"The line outlasts the wait: all the jobs' time over the quota ({duration(max(bounds))}) is past the deployment's "
        f"`quota_wait_minutes` ({duration(wait)}), so the uploads still in line after it waited their wait out and "
        f"failed by design (TranscriptionQuotaExhausted: {_and([f'{count(n)} in {name}' for name, n in failed.items()])}); "
        "drain / bound says nothing of the coordination here. A deployment that expects such bursts sets "
        "`quota_wait_minutes` above its line's bound (docs/reference.md)."
    ]


def chart_files(report: dict) -> list[str]:
    """The charts experiments.compare.write_charts draws for a report, in its order."""
    return [*CHARTS, *(f"encounters-over-time-{s}.png" for s in report["parameters"]["quota_settings"])]


def charts_in(report: dict, directory: Path) -> list[str]:
    """The report's charts its directory actually holds."""
    return [name for name in chart_files(report) if (directory / name).is_file()]


def chart_links(report: dict, directory: Path, page: Path) -> dict[str, str]:
    """Each chart the report's directory holds -> its link from the page's folder (`../reports/<dir>/<chart>`)."""
    return {
        name: Path(os.path.relpath(directory / name, page.parent)).as_posix() for name in charts_in(report, directory)
    }


def _images(names: list[str], links: dict[str, str], setting: str) -> str:
    shown = []
    for name in names:
        if name in links:
            title = CHARTS.get(name, "Encounters waiting, in flight and done over simulated time")
            shown.append(f"![{title} ({setting} quotas)]({links[name]})\n")
    return "\n" + "\n".join(shown) if shown else ""


def markdown_for(report: dict, setting: str, links: dict[str, str] | None = None) -> str:
    """One quota setting's tables, each with the notes that explain its odd-looking figures, and its charts."""
    p = report["parameters"]
    variants = variants_of(report, setting)
    links = links or {}
    first = setting == p["quota_settings"][0]
    lines = [
        f"Workload `{p['workload']}`: {count(p['encounters'])} encounters ({count(p['uploads'])} uploads: "
        f"{count(p['duplicates'])} duplicates, {count(p['invalid'])} breaking the contract)"
        + (f", plus the {p['hostile_cases']} cases of the hostile table" if p.get("hostile_cases") else "")
        + f", fault profile `{p['faults']}`, seed {p['seed']}, quotas `{setting}`; "
        f"{duration(report['real_seconds'])} real.\n\n",
        table(["", *variants], _figures_rows(report, variants)),
        "\n" + notes(_figures_notes(report, variants, first)),
    ]
    header, rows = _invariant_rows(variants)
    lines.append("\n" + table(header, rows))
    if found := _invariant_notes(variants):
        lines.append("\n" + notes(found))
    if setting in report.get("parity", {}):
        lines.append("\n" + paired_markdown(report["parity"][setting]).rstrip("\n") + "\n")
    lines.append("\n" + drain_table(variants))
    lines.append("\n" + notes(_drain_notes(report, setting, variants, first)))
    lines.append(_images([*(CHARTS if first else []), f"encounters-over-time-{setting}.png"], links, setting))
    return "".join(lines)


def markdown(report: dict) -> str:
    """report.md's body (and `scribe compare`'s output): the first quota setting whole, the others' drains."""
    p = report["parameters"]
    text = markdown_for(report, p["quota_settings"][0])
    for setting in p["quota_settings"][1:]:
        text += f"\nUnder the `{setting}` quotas:\n\n" + drain_table(variants_of(report, setting))
    return text


def report_markdown(report: dict, charts: list[str]) -> str:
    """report.md: the report, then the charts written beside it."""
    images = "".join(f"![{name.removesuffix('.png')}]({name})\n" for name in charts)
    return "# Side by side under faults\n\n" + markdown(report) + "\n" + images


def command_of(report: dict) -> str:
    p = report["parameters"]
    return (
        f"scribe compare --workload {p['workload']} --encounters {p['encounters']} --faults {p['faults']} "
        f"--seed {p['seed']} --quotas {','.join(p['quota_settings'])}"
        + ("" if p.get("reviews", True) else " --no-reviews")
    )


def section_name(report: dict) -> str:
    """The results page's section a comparison writes: its workload's, with its count when it ran another than the
    workload's own (`clinic-burst-1000`)."""
    p = report["parameters"]
    own = json.loads(WORKLOADS.read_text()).get(p["workload"], {}).get("encounters")
    return p["workload"] if p["encounters"] == own else f"{p['workload']}-{p['encounters']}"


def deployment_line(report: dict) -> str:
    """What the deployment set that the run depends on, when it is not cdk.json's: its quota wait."""
    minutes = report["parameters"].get("quota_wait_minutes")
    if minutes is None or minutes == DEFAULT_QUOTA_WAIT_MINUTES:
        return ""
    return (
        f"The deployment's `quota_wait_minutes` is {count(minutes)}, not cdk.json's {DEFAULT_QUOTA_WAIT_MINUTES} "
        f'(templates made with `make templates CONTEXT="-c quota_wait_minutes={minutes}"`).\n'
    )


def results_section(report: dict, links: dict[str, str] | None = None) -> str:
    """One run's section of docs/results.md: its command, every quota setting's tables and notes, the charts its
    report directory holds (`links`: chart_links), and the latency model."""
    p = report["parameters"]
    sources = json.loads(LATENCIES.read_text())
    size = "" if section_name(report) == p["workload"] else f" at {count(p['encounters'])} encounters"
    lines = [f"## Workload `{p['workload']}`{size}, faults `{p['faults']}`\n\n`{command_of(report)}`\n"]
    if deployment := deployment_line(report):
        lines.append("\n" + deployment)
    for setting in p["quota_settings"]:
        quotas = report["quotas"][setting]["values"]
        lines.append(
            f"\n### Quotas `{setting}`\n\nTranscribe Medical {quotas['transcribe_medical_concurrent_jobs']:g} "
            f"concurrent jobs and {quotas['transcribe_medical_starts_per_second']:g} starts per second; Bedrock "
            f"{quotas['bedrock_tokens_per_minute']:,.0f} tokens and {quotas['bedrock_requests_per_minute']:,.0f} "
            f"requests per minute; Lambda {quotas['lambda_account_concurrency']:,.0f} concurrent executions.\n\n"
        )
        lines.append(markdown_for(report, setting, links))
    lines.append("\n### The latency model these figures come from (localcloud/model/latencies.json)\n\n")
    rows = []
    for name, value in report["latency_model"].items():
        entry = sources.get(name, {})
        rows.append(
            (f"`{name}`", [f"{value:g}", ("assumption: " if entry.get("assumption") else "") + entry.get("source", "")])
        )
    lines.append(table(["step", "seconds", "source"], rows))
    return "".join(lines)


# ---- the summary: which variant, when -----------------------------------------------------------------------------
# What each mechanism (experiments.pairing) did for the variant whose encounter it brought to a note.
MECHANISM_STORY = {
    "lost transcript event": "whose transcript event was lost (its wait timed out, it asked Transcribe and went on "
    "to the note)",
    "redrive": "whose failure its redrive resumed at the step that failed",
    "lost upload event": "whose upload event was lost (a sweep took the upload in)",
    "crash retry": "whose invocation crashed (its task retried that encounter alone)",
    "line outlasted the wait": "that got a Transcribe slot near the end of quota_wait_minutes (the other variant's "
    "line was slower to reach them, and they waited their wait out)",
}


def _runs(*reports: dict) -> list[tuple[dict, str]]:
    return [(report, setting) for report in reports for setting in report["parameters"]["quota_settings"]]


def _growth(scaled: dict, variant: str) -> list[str]:
    """The variant's per-upload figures that grew past the target from the smaller scale to the larger."""
    limit = scaled["parameters"]["targets"]["most_growth"]
    return [
        f"{t['target'].split(' per upload')[0]} {t['growth']:+.0%}"
        for t in scaled["targets"]
        if t["variant"] == variant and " per upload " in t["target"] and t["growth"] is not None and t["growth"] > limit
    ]


def summary(steady: dict, burst: dict, scaled: dict) -> str:
    """The page's opening: which variant to choose when, in five lines, each from the committed reports' figures."""
    runs = _runs(steady, burst)
    names = list(variants_of(steady))
    first, second = names[0], names[1]
    lines = [
        "## Which variant, when\n\n",
        "From the committed reports (`reports/compare-default`, `reports/clinic-burst`, `reports/scale`); the "
        "sections below hold every figure and say how it was measured.\n\n",
        "- " + _outcomes_line(runs) + "\n",
        "- " + _cost_line(steady, names) + "\n",
        "- " + _burst_line(burst, names) + "\n",
    ]
    stateless = without_state_machine(variants_of(steady))
    keeper = next((n for n in names if n not in stateless), second)  # the variant with one place per encounter
    other = next((n for n in names if n != keeper), first)
    lines.append("- " + _choose_keeper(steady, scaled, keeper, other) + "\n")
    lines.append("- " + _choose_other(steady, scaled, other, keeper) + "\n")
    return "".join(lines)


def _outcomes_line(runs: list[tuple[dict, str]]) -> str:
    failed = [
        f"{setting}/{variant}: {i['name']}"
        for report, setting in runs
        for variant, v in variants_of(report, setting).items()
        for i in v["invariants"]
        if i["status"] != "PASS"
    ]
    invariants = max(len(v["invariants"]) for report, setting in runs for v in variants_of(report, setting).values())
    reports = list({id(r): r for r, _s in runs}.values())
    described = _and([
        f"`{r['parameters']['workload']}`"
        + (f" at {_and([f'`{s}`' for s in r['parameters']['quota_settings']])} quotas"
           if len(r["parameters"]["quota_settings"]) > 1 else "")
        + f" under `{r['parameters']['faults']}` faults"
        for r in reports
    ])  # fmt: skip
    paired = [report["parity"][setting] for report, setting in runs if setting in report.get("parity", {})]
    same = sum(p["same_outcome"] for p in paired)
    total = same + sum(p["different_outcome"] for p in paired)
    mechanisms = Counter(d["mechanism"] for p in paired for d in p["differences"])
    differing = total - same
    text = (
        f"**Guarantees: {'a tie' if not failed else 'not held'}.** "
        + (
            f"All {invariants} invariants passed in both variants in all {len(runs)} runs ({described})"
            if not failed
            else f"{len(failed)} invariant(s) failed ({'; '.join(failed)})"
        )
        + f"; paired by encounter, {count(same)} of {count(total)} ended the same way in both"
    )
    if differing:
        text += (
            f", and the other {count(differing)} met a failure each variant handles its own way ("
            + ", ".join(f"{m}: {count(n)}" for m, n in mechanisms.most_common())
            + "; below)"
        )
    return text + "."


def _cost_line(steady: dict, names: list[str]) -> str:
    variants = variants_of(steady)
    p = steady["parameters"]
    costs = {n: variants[n]["cost_per_1000_encounters_usd"] for n in names}
    apart = percent_apart(costs[names[0]], costs[names[1]])
    cheaper = min(names, key=lambda n: costs[n])
    stateless = set(without_state_machine(variants))

    def work(name: str) -> str:
        o = variants[name]["operations_per_upload"]
        parts = [f"{per_upload(o['lambda_invocations'])} Lambda invocations"]
        parts.append(
            "no state transitions" if name in stateless else f"{per_upload(o['state_transitions'])} state transitions"
        )
        parts += [f"{per_upload(o['s3_requests'])} S3", f"{per_upload(o['transcribe_calls'])} Transcribe",
                  f"{per_upload(o['sqs_requests'])} SQS requests"]  # fmt: skip
        return f"{name} " + ", ".join(parts)

    head = "**Cost: a tie; the work differs.**" if apart < 0.01 else f"**Cost: {cheaper} is {share(apart)} cheaper.**"
    return (
        f"{head} Per 1,000 encounters of {p['cost_minutes_per_encounter']:g} minutes (`{p['workload']}`, "
        f"`{p['faults']}` faults): " + _and([f"{n} {usd(costs[n])}" for n in names]) + f" ({share(apart)} apart). "
        "Per upload: " + "; ".join(work(n) for n in names) + "."
    )


def _burst_line(burst: dict, names: list[str]) -> str:
    p = burst["parameters"]
    settings = p["quota_settings"]
    ratios = {s: {n: variants_of(burst, s)[n]["drain"]["drain_to_bound_ratio"] for n in names} for s in settings}
    lost = sum(v["drain"]["lost"] for s in settings for v in variants_of(burst, s).values())
    worst = max((r for by in ratios.values() for r in by.values() if r is not None), default=None)
    faster = {
        s: min(names, key=lambda n: by[n])
        for s, by in ratios.items()
        if None not in by.values() and percent_apart(*by.values()) >= 0.02
    }
    if not faster:
        head = "**Bursts: a tie.**"
    elif len(set(faster.values())) == 1 and len(faster) == len(settings):
        head = f"**Bursts: {next(iter(faster.values()))} drains faster.**"
    else:
        head = "**Bursts: no clear winner.**"
    jobs = {s: count(burst["quotas"][s]["values"]["transcribe_medical_concurrent_jobs"]) for s in settings}
    text = (
        f"{head} {count(p['uploads'])} uploads in a burst (`{p['workload']}`): drain / bound "
        + "; ".join(
            _and([f"{ratio(by[n])} ({n})" for n in names]) + f" at `{s}` quotas ({jobs[s]} concurrent Transcribe jobs)"
            for s, by in ratios.items()
        )
        + ("" if worst is None else f", within {share(worst - 1)} of the physical bound")
        + "; time to note p95 "
        + "; ".join(
            _and([duration(variants_of(burst, s)[n]["drain"]["time_to_note_p95_seconds"]) for n in names])
            + f" at `{s}`"
            for s in settings
        )
        + f"; {count(lost)} lost."
    )
    stateless = without_state_machine(variants_of(burst))
    if stateless:
        queued = stateless[0]
        keeper = next(n for n in names if n != queued)
        setting = max(
            settings, key=lambda s: variants_of(burst, s)[queued]["operations_per_upload"]["lambda_invocations"]
        )
        ops = {n: variants_of(burst, setting)[n]["operations_per_upload"] for n in names}
        if ops[queued]["lambda_invocations"] >= 2 * ops[keeper]["lambda_invocations"]:
            text += (
                f" At `{setting}` quotas {queued} retries its throttled starts through its queue: "
                f"{per_upload(ops[queued]['lambda_invocations'])} Lambda invocations and "
                f"{per_upload(ops[queued]['sqs_requests'])} SQS requests per upload, {keeper} "
                f"{per_upload(ops[keeper]['lambda_invocations'])} and {per_upload(ops[keeper]['sqs_requests'])} (its "
                "state machine waits and retries)."
            )
    return text


def _better_in(steady: dict, winner: str, loser: str) -> tuple[Counter, Counter]:
    """The encounters that ended in a note in `winner` and not in `loser`: by mechanism, and by the loser's outcome."""
    paired = steady["parity"].get(steady["parameters"]["quota_settings"][0], {"differences": []})
    better = [d for d in paired["differences"] if d[winner] == "note" and d[loser] != "note"]
    return Counter(d["mechanism"] for d in better), Counter(d[loser] for d in better)


def _scale_clause(scaled: dict, variant: str) -> str:
    p = scaled["parameters"]
    grew = _growth(scaled, variant)
    span = f"from {p['encounters']} to {p['larger']} kept encounters"  # as the scale section names its two scales
    if not grew:
        return f"{span} none of its figures per upload grew more than {p['targets']['most_growth']:.0%}"
    return f"{span} its requests per upload grew: {_and(grew)}"


def _choose_keeper(steady: dict, scaled: dict, keeper: str, other: str) -> str:
    variants = variants_of(steady)
    mechanisms, _outcomes = _better_in(steady, keeper, other)
    notes_ = {n: variants[n]["outcomes"]["notes"] for n in (keeper, other)}
    valid = variants[keeper]["outcomes"]["valid_encounters"]
    text = (
        f"**Choose {keeper}** when one place must know where each encounter is (an execution per encounter, with its "
        "history) and a failure should resume rather than be uploaded again: "
    )
    if mechanisms:
        better = sum(mechanisms.values())
        text += (
            f"in `{steady['parameters']['workload']}` {count(better)} {'encounter' if better == 1 else 'encounters'} "
            f"got a note in it and not in {other}: "
            + _and([f"{count(n)} {MECHANISM_STORY.get(m, f'({m})')}" for m, n in mechanisms.most_common()])
            + f" ({count(notes_[keeper])} notes to {other}'s {count(notes_[other])}, of {count(valid)} valid "
            "encounters)"
        )
    else:
        text += f"in `{steady['parameters']['workload']}` no encounter ended better in it than in {other}"
    return text + "; " + _scale_clause(scaled, keeper) + "."


def _choose_other(steady: dict, scaled: dict, other: str, keeper: str) -> str:
    variants = variants_of(steady)
    ops = {n: variants[n]["operations_per_upload"] for n in (other, keeper)}
    costs = {n: variants[n]["cost_per_1000_encounters_usd"] for n in (other, keeper)}
    fewer = ops[other]["lambda_invocations"] < ops[keeper]["lambda_invocations"]
    cost = (
        "at the same cost"
        if percent_apart(costs[other], costs[keeper]) < 0.01
        else ("for less" if costs[other] < costs[keeper] else "for more")
    )
    _mechanisms, outcomes = _better_in(steady, keeper, other)
    than = " than those recoveries" if outcomes else ""
    text = f"**Choose {other}** when "
    if fewer:
        text += (
            f"fewer moving parts per upload matter more{than}: "
            f"{per_upload(ops[other]['lambda_invocations'])} Lambda invocations per upload to {keeper}'s "
            f"{per_upload(ops[keeper]['lambda_invocations'])}"
            + (" and no state machine" if other in without_state_machine(variants) else "")
            + f", {cost}"
        )
    else:
        text += (
            f"independent steps matter more{than} ({per_upload(ops[other]['lambda_invocations'])} "
            f"Lambda invocations per upload to {keeper}'s {per_upload(ops[keeper]['lambda_invocations'])}, {cost})"
        )
    if outcomes:
        text += (
            "; but here those encounters ended as failure records ("
            + ", ".join(f"`{o}` {count(n)}" for o, n in outcomes.most_common())
            + "), alarmed, to upload again"
        )
    return (
        text + "; " + _scale_clause(scaled, other) + " ([what the scale figures show](#what-the-scale-figures-show))."
    )


# ---- the page -----------------------------------------------------------------------------------------------------
RESULTS_INTRO = (
    "# Results\n\n"
    "Generated by `scribe compare ... --results docs/results.md` (`make compare`, `make burst`), one section per "
    "workload, and by `scribe scale ... --results docs/results.md` (`make scale`), from the runs whose reports are in "
    "`reports/`; `make results` renders the page again from those reports without running anything. Every duration "
    "is simulated time on the local cloud ([simulated-time.md](simulated-time.md)): the same on any machine, apart "
    "from the real time a run took, and as good as the latency model each section lists. A test checks that the "
    "summary and each section match the committed reports.\n"
)


def results_markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name}:begin -->", f"<!-- results:{name}:end -->"


def write_results_section(path: Path, name: str, body: str, *, first: bool = False) -> None:
    """Write `body` as the results page's section `name` (between its markers), replacing the section of that
    name; a page without it gets it after the others, or (`first`) right under the page's title."""
    begin, end = results_markers(name)
    text = path.read_text() if path.exists() else RESULTS_INTRO
    section = f"{begin}\n{body}{end}\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) + 1 :]
    elif first:
        title, _, rest = text.partition("\n\n")
        text = f"{title}\n\n{section}\n{rest}"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def section_of(path: Path, name: str) -> str | None:
    """The body of the page's section `name`, as write_results_section wrote it (None: the page has none)."""
    text = path.read_text() if path.exists() else ""
    begin, end = results_markers(name)
    if begin not in text or end not in text:
        return None
    return text[text.index(begin) + len(begin) + 1 : text.index(end)]


def load(directory: Path) -> dict | None:
    found = directory / "report.json"
    return json.loads(found.read_text()) if found.is_file() else None


def summary_of(reports: Path = REPORTS) -> str | None:
    """The summary from the committed reports (None: one of the three is missing)."""
    steady, burst, scaled = (load(reports / name) for name in (STEADY_REPORT, BURST_REPORT, SCALE_REPORT))
    if steady is None or burst is None or scaled is None:
        return None
    return summary(steady, burst, scaled)


def refresh_summary(path: Path, reports: Path = REPORTS) -> None:
    """Render the page's summary again from the committed reports, if the page has one (a run's own results page
    elsewhere has none)."""
    if section_of(path, SUMMARY) is not None and (text := summary_of(reports)) is not None:
        write_results_section(path, SUMMARY, text, first=True)


def update_results(path: Path, report: dict, report_dir: Path | None = None) -> None:
    """Write this run's section into the results page, replacing the section of the same workload, with the charts
    `report_dir` holds (none without it); then the page's summary again."""
    links = chart_links(report, report_dir, path) if report_dir is not None else {}
    write_results_section(path, section_name(report), results_section(report, links))
    refresh_summary(path)


def render(page: Path = PAGE, reports: Path = REPORTS) -> list[tuple[Path, str]]:
    """Render the page and each report.md again from the committed report.json files, running nothing: the summary,
    each comparison's section (with the charts its directory holds) and the scale section. Returns each (file, what
    of it) written."""
    from experiments import scale  # it writes its section through this module

    written = []
    for directory in (reports / name for name in COMPARE_REPORTS.values()):
        if (report := load(directory)) is None:
            continue
        name = section_name(report)
        (directory / "report.md").write_text(report_markdown(report, charts_in(report, directory)))
        write_results_section(page, name, results_section(report, chart_links(report, directory, page)))
        written += [(directory / "report.md", "all"), (page, f"section {name}")]
    if (report := load(reports / SCALE_REPORT)) is not None:
        (reports / SCALE_REPORT / "report.md").write_text(scale.report_text(report))
        write_results_section(page, "scale", scale.results_section(report))
        written += [(reports / SCALE_REPORT / "report.md", "all"), (page, "section scale")]
    if (text := summary_of(reports)) is not None:
        write_results_section(page, SUMMARY, text, first=True)
        written.append((page, "summary"))
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.results",
        description="Render docs/results.md and each report.md again from the committed report.json files.",
    )
    parser.add_argument("--page", type=Path, default=PAGE, help="the results page (default: docs/results.md)")
    parser.add_argument("--reports", type=Path, default=REPORTS, help="the reports' folder (default: reports/)")
    args = parser.parse_args(argv[1:])
    for path, what in render(args.page, args.reports):
        print(f"rendered {os.path.relpath(path)}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

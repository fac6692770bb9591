"""`scribe scale`'s figures, targets and report: what a run of a variant at a scale measured (from what the local
cloud counted and traced), the targets they are held to, and the report (JSON, Markdown, its section of
docs/results.md). How the runs are made (the real encounters, the seeded history): experiments/scale_run.py. This
module loads no local cloud, so the unit tier tests it."""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session

from experiments import results
from experiments.results import count, duration, notes
from review_desk.desk import ReviewDesk

SCALE_FACTOR = 10  # the larger scale, by default, is this many times the smaller
AWAITING_SHARE = 0.10  # of the seeded encounters, the reviews still awaiting a clinician
WORKLOAD = "steady"
# The targets the experiment holds the figures to.
MOST_GROWTH = 0.10  # each per-upload figure at the larger scale within this share of the smaller's
LONGEST_SWEEP_SECONDS = 60.0  # the longest sweep at the larger scale, simulated
MOST_PAGE_REQUESTS = 10  # a worklist page's requests, at any scale (fewer than this)
# Each variant's scheduled sweep, by handler.
SWEEPS = {"choreography": "choreography.watchdog.handler", "orchestration": "orchestration.upload_sweep.handler"}
SWEEP_NAMES = {"choreography": "watchdog", "orchestration": "upload sweep"}
# How the report names the services the local cloud counts (its botocore names), in this order.
SERVICES = {
    "s3": "S3",
    "transcribe": "Transcribe",
    "bedrock-runtime": "Bedrock",
    "sqs": "SQS",
    "events": "EventBridge",
    "stepfunctions": "Step Functions",
    "lambda": "Lambda API",
    "dynamodb": "DynamoDB",
    "cloudformation": "CloudFormation",
}


class ScaleInputError(ValueError):
    """Options the experiment cannot run with (one line, for the CLI)."""


@dataclass(frozen=True)
class Scales:
    encounters: int
    larger: int
    real: int


def scales(encounters: int, larger: int | None = None, real: int | None = None) -> Scales:
    """The two scales and the real encounters of each, checked: N >= 1, 10N > N, 1 <= R <= N."""
    if encounters < 1:
        raise ScaleInputError(f"--encounters must be at least 1 (got {encounters})")
    larger = SCALE_FACTOR * encounters if larger is None else larger
    if larger <= encounters:
        raise ScaleInputError(f"--larger must be more than --encounters ({larger} is not more than {encounters})")
    real = encounters if real is None else real
    if not 1 <= real <= encounters:
        raise ScaleInputError(f"--real must be from 1 to --encounters ({encounters}), got {real}")
    return Scales(encounters, larger, real)


# ---- what the run measures, from what the local cloud counted and traced ------------------------------------------
def service_of_prefixes(services) -> dict[str, str]:
    """The X-Ray name of each counted service's calls (its endpoint prefix: `states` for Step Functions) -> the
    operation counter's name for it."""
    session = botocore.session.get_session()
    named = {}
    for service in services:
        with contextlib.suppress(Exception):
            named[session.get_service_model(service).endpoint_prefix] = service
    return named


def invocations_of(
    documents: list[dict], handler: str, since: float, services: dict[str, str] | None = None
) -> list[dict]:
    """Each invocation of a function from its X-Ray documents (the subsegments each invocation's trace streamed):
    when it started, its simulated duration (its `## <handler function>` subsegment) and its AWS calls by service
    (`services` maps an X-Ray name to the operation counter's). Only invocations that started at `since` or later."""
    services = services or {}
    top = f"## {handler.rsplit('.', 1)[-1]}"
    by_trace: defaultdict[str, list[dict]] = defaultdict(list)
    for document in documents:
        by_trace[document["trace_id"]].append(document)
    found = []
    for trace in by_trace.values():
        handled = [d for d in trace if d.get("name") == top and "end_time" in d]
        if not handled or handled[0]["start_time"] < since:
            continue
        made = [d for d in trace if d.get("namespace") == "aws"]
        calls = Counter(services.get(d["name"], d["name"]) for d in made)
        operations = Counter(
            f"{services.get(d['name'], d['name'])}:{d.get('aws', {}).get('operation', '?')}" for d in made
        )
        found.append(
            {
                "started": handled[0]["start_time"],
                "seconds": handled[0]["end_time"] - handled[0]["start_time"],
                "requests": dict(sorted(calls.items())),
                "operations": dict(sorted(operations.items())),
            }
        )
    return sorted(found, key=lambda invocation: invocation["started"])


def simulated_gb_seconds(traces: dict[str, list[dict]], functions: dict[str, tuple[str, int]], since: float) -> float:
    """GB-seconds of every invocation since `since`: its simulated duration times its function's memory
    (`functions`: name -> (handler, memory MB))."""
    total = 0.0
    for name, (handler, memory_mb) in functions.items():
        seconds = sum(invocation["seconds"] for invocation in invocations_of(traces.get(name, []), handler, since))
        total += seconds * memory_mb / 1024
    return total


def sweep_figures(sweeps: list[dict], start: float) -> dict:
    """The sweeps of a run: how many, the longest (its simulated duration, when, its requests), the most requests
    one made, and the mean."""
    if not sweeps:
        return {"count": 0, "longest": None, "most_requests": 0, "mean_requests": 0.0}
    longest = max(sweeps, key=lambda sweep: (sweep["seconds"], sum(sweep["requests"].values())))
    totals = [sum(sweep["requests"].values()) for sweep in sweeps]
    return {
        "count": len(sweeps),
        "longest": {
            "seconds": round(longest["seconds"], 3),
            "at_simulated_hours": round((longest["started"] - start) / 3600, 2),
            "requests": longest["requests"],
            "operations": longest["operations"],
            "total_requests": sum(longest["requests"].values()),
        },
        "most_requests": max(totals),
        "mean_requests": round(sum(totals) / len(totals), 2),
    }


def run_figures(*, encounters: int, real: int, valid: int, uploads: int, seeded: dict, outcomes: dict,
                counted: dict[str, int], per_upload: dict, sweeps: list[dict], start: float, gb_seconds: float,
                stated_gb_seconds_per_upload: float, worklists: list[dict], simulated_hours: float,
                real_seconds: float, real_seconds_by_phase: dict[str, float] | None = None) -> dict:  # fmt: skip
    """A run's figures, per upload of its `uploads` (the real ones): the requests the local cloud's operation counter
    `counted` by service, and those the sweeps made (`sweeps`, from invocations_of); Lambda invocations and state
    transitions (`per_upload`: experiments.compare.operations_per_upload's); the invocations' simulated
    `gb_seconds`, and as `scribe cost` states them; the sweeps (sweep_figures) and the worklist's pages."""
    in_sweeps: Counter[str] = Counter()
    for sweep in sweeps:
        in_sweeps.update(sweep["requests"])
    return {
        "encounters": encounters,
        "real_encounters": real,
        "valid_encounters": valid,
        "uploads": uploads,
        "seeded": seeded,
        "outcomes": outcomes,
        "requests_per_upload": {service: count / uploads for service, count in sorted(counted.items())},
        "requests_in_sweeps_per_upload": {service: count / uploads for service, count in sorted(in_sweeps.items())},
        "lambda_invocations_per_upload": per_upload["lambda_invocations"],
        "state_transitions_per_upload": per_upload["state_transitions"],
        "lambda_gb_seconds_per_upload": {"simulated": gb_seconds / uploads, "stated": stated_gb_seconds_per_upload},
        "sweeps": sweep_figures(sweeps, start),
        "worklist": worklists,
        "simulated_hours": round(simulated_hours, 2),
        "real_seconds": round(real_seconds, 1),
        "real_seconds_by_phase": {name: round(seconds, 1) for name, seconds in (real_seconds_by_phase or {}).items()},
    }


@dataclass
class _Place:
    """The one deployment a worklist is read from (review_desk.desk.Place)."""

    s3: Any
    bucket: str
    outputs: dict = field(default_factory=dict)

    def client(self, service: str):
        if service != "s3":
            raise ValueError(f"the worklist reads S3 only, not {service}")
        return self.s3


def worklist_requests(s3, bucket: str, variant: str, when: str) -> dict:
    """Every page of the variant's worklist (ReviewDesk.page, as the review page shows it), each page's S3
    requests counted with a botocore before-call hook on the client."""

    desk = ReviewDesk({variant: _Place(s3, bucket)})
    made: list[str] = []

    def count(model, **_kwargs) -> None:
        made.append(model.name)

    s3.meta.events.register("before-call.s3", count, unique_id="scale-worklist-requests")
    pages: list[int] = []
    entries, after = 0, {}
    try:
        while True:
            before = len(made)
            page = desk.page(after=after)
            pages.append(len(made) - before)
            entries += len(page.items)
            if not page.after:
                break
            after = page.after
    finally:
        s3.meta.events.unregister("before-call.s3", unique_id="scale-worklist-requests")
    return {"when": when, "entries": entries, "pages": len(pages), "most_requests_per_page": max(pages),
            "requests": sum(pages), "operations": dict(Counter(made))}  # fmt: skip


def report_of(chosen: Scales, profile: str, seed: int, runs: dict[str, dict[int, dict]], real_seconds: float, *,
              signed_share: float) -> dict:  # fmt: skip
    """The report of the runs (`runs[variant][encounters]`: each run's figures, as experiments.scale_run.run_at
    returns them), with each target's verdict; `signed_share`: the share of the real notes the runs' clinicians
    signed."""
    report = {
        "parameters": {
            "encounters": chosen.encounters,
            "larger": chosen.larger,
            "real_encounters": chosen.real,
            "workload": WORKLOAD,
            "faults": profile,
            "seed": seed,
            "awaiting_share": AWAITING_SHARE,
            "signed_share": signed_share,
            "targets": {
                "most_growth": MOST_GROWTH,
                "longest_sweep_seconds": LONGEST_SWEEP_SECONDS,
                "most_page_requests": MOST_PAGE_REQUESTS,
            },
        },
        "real_seconds": real_seconds,
        "variants": {
            variant: {"smaller": by_scale[chosen.encounters], "larger": by_scale[chosen.larger]}
            for variant, by_scale in runs.items()
        },
    }
    report["targets"] = targets(report)
    report["all_targets_met"] = all(target["met"] for target in report["targets"])
    return report


def per_upload_rows(run: dict) -> dict[str, float]:
    """A run's per-upload figures the targets compare: each counted service's requests, Lambda invocations and
    state transitions."""
    rows = {f"{SERVICES.get(s, s)} requests": v for s, v in run["requests_per_upload"].items()}
    rows["Lambda invocations"] = run["lambda_invocations_per_upload"]
    rows["state transitions"] = run["state_transitions_per_upload"]
    return rows


def growth(smaller: float, larger: float) -> float | None:
    """The larger scale's figure against the smaller's, as a share (None: from nothing to something)."""
    if smaller == 0:
        return 0.0 if larger == 0 else None
    return larger / smaller - 1


def targets(report: dict) -> list[dict]:
    """Each target, per variant, with the figures it was judged on and whether it was met."""
    p = report["parameters"]
    limits = p["targets"]
    verdicts = []
    for variant, runs in report["variants"].items():
        smaller, larger = per_upload_rows(runs["smaller"]), per_upload_rows(runs["larger"])
        for name in sorted(set(smaller) | set(larger), key=_row_order):
            a, b = smaller.get(name, 0.0), larger.get(name, 0.0)
            change = growth(a, b)
            verdicts.append({
                "variant": variant,
                "target": f"{name} per upload at {p['larger']} within {limits['most_growth']:.0%} of {p['encounters']}",
                "smaller": round(a, 4), "larger": round(b, 4),
                "growth": None if change is None else round(change, 4),
                "met": change is not None and round(abs(change), 9) <= limits["most_growth"],
            })  # fmt: skip
        longest = (runs["larger"]["sweeps"]["longest"] or {}).get("seconds", 0.0)
        verdicts.append({
            "variant": variant,
            "target": f"longest {SWEEP_NAMES[variant]} at {p['larger']} under {limits['longest_sweep_seconds']:g} s simulated",
            "smaller": (runs["smaller"]["sweeps"]["longest"] or {}).get("seconds", 0.0), "larger": longest,
            "growth": None, "met": longest < limits["longest_sweep_seconds"],
        })  # fmt: skip
        pages = {scale: max(w["most_requests_per_page"] for w in runs[scale]["worklist"]) for scale in runs}
        verdicts.append({
            "variant": variant,
            "target": f"the worklist under {limits['most_page_requests']} requests per page at any scale",
            "smaller": pages["smaller"], "larger": pages["larger"], "growth": None,
            "met": max(pages.values()) < limits["most_page_requests"],
        })  # fmt: skip
    return verdicts


def _row_order(name: str) -> tuple[int, str]:
    order = [f"{label} requests" for label in SERVICES.values()] + ["Lambda invocations", "state transitions"]
    return (order.index(name), name) if name in order else (len(order), name)


def missed_targets(report: dict) -> list[str]:
    return [
        f"{t['variant']}: {t['target']}: {_figure(t['smaller'])} -> {_figure(t['larger'])}"
        + ("" if t["growth"] is None else f" ({_change(t['growth'])})")
        for t in report["targets"]
        if not t["met"]
    ]


def lost_encounters(report: dict) -> list[str]:
    """Runs that left a real encounter without its outcome (their figures are a broken run's)."""
    return [
        f"{variant} at {run['encounters']}: {run['outcomes']['unsettled']} encounter(s) without a note or a record, "
        f"{run['outcomes']['invalid_uploads_unrecorded']} invalid upload(s) without a record"
        for variant, runs in report["variants"].items()
        for run in runs.values()
        if run["outcomes"]["unsettled"] or run["outcomes"]["invalid_uploads_unrecorded"]
    ]


def _figure(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.4f}"
    return str(value)


def _change(value: float | None) -> str:
    return "new" if value is None else f"{value:+.0%}"


def _requests(counts: dict) -> str:
    return ", ".join(f"{SERVICES.get(s, s)} {n}" for s, n in counts.items()) or "none"


def _operations(counts: dict) -> str:
    named = ((key.partition(":"), n) for key, n in counts.items())
    return (
        ", ".join(f"{SERVICES.get(service, service)} {operation} {n}" for (service, _, operation), n in named) or "none"
    )


def method_text(report: dict) -> str:
    p = report["parameters"]
    n, big, real = p["encounters"], p["larger"], p["real_encounters"]
    seeded_small, seeded_big = n - real, big - real
    awaiting_big = round(seeded_big * p["awaiting_share"])
    runs = "\n".join(
        f"- {variant} at {run['encounters']}: {duration(run['real_seconds'])} real, "
        f"{duration(run['simulated_hours'] * 3600)} simulated, {count(run['sweeps']['count'])} sweeps"
        + (f"; history seeded {duration(run['seeded']['signed_at_simulated_hours'] * 3600)} into the run "
           f"({run['seeded']['sweeps_before_the_history']} sweeps before it)" if run["seeded"]["signed"] else "")
        + (" (real: " + ", ".join(f"{phase} {duration(seconds)}" for phase, seconds in run["real_seconds_by_phase"].items())
           + ")" if run.get("real_seconds_by_phase") else "")
        for variant, runs_ in report["variants"].items() for run in runs_.values()
    )  # fmt: skip
    return (
        f"Each variant ran twice, each run its own local cloud: at {n} and at {big} encounters. In both runs the "
        f"same {real} encounters (workload `{p['workload']}`, seed {p['seed']}, faults `{p['faults']}`) went through "
        "the pipeline for real, as `scribe compare` runs them: uploaded one every 2 simulated minutes, settled, "
        f"redriven, then the clinicians signed {p['signed_share']:.0%} of the notes and the other reviews ran to the end "
        "of their 72-hour "
        "windows; so both runs had the same real work, the same simulated hours and the same sweeps. "
        f"The rest of each scale was seeded ({seeded_small} at {n}, {seeded_big} at {big}), written straight into the "
        "deployment's bucket and Transcribe's job list with S3's event notifications held back and the local cloud's "
        "own (uncounted) clients: right after the first real review opened, before the first sweep, "
        f"{seeded_big - awaiting_big} finished encounters at {big}, each a copy of that real one under a new id "
        "(audio/ of a few bytes, the real note under notes/, the real review record SIGNED and settled under "
        "reviews/ with no index objects, and a COMPLETED Transcribe job, dated from 3 days before the run back); "
        f"and {awaiting_big} reviews awaiting a clinician, copied from a real awaiting one with their worklist "
        "entries and (choreography) their deadlines, opened when their reminder falls an hour after the run ends "
        "(so their work is not the run's, and every sweep lists past their deadlines). Not seeded: transcripts/, "
        "signed/, exports/ and orchestration's executions (no sweep lists them) and failure records.\n\n"
        f"Per upload means over the run's {report['variants'][next(iter(report['variants']))]['smaller']['uploads']} "
        "real uploads (their duplicates and contract-breaking uploads included) at both scales: the seeded "
        "encounters made none of their requests during the run, so dividing by them too would only measure the "
        f"seeding (every figure would shrink about {big / real:g}-fold at {big}). A figure that holds per real upload from "
        f"{n} to {big} does not grow with what the deployment keeps.\n\n{runs}\n{_real_time(report)}"
    )


def _real_time(report: dict) -> str:
    """Where the real time went: at the larger scale, mostly the emulator reading the sweeps' listings."""
    p = report["parameters"]
    larger = {variant: runs["larger"] for variant, runs in report["variants"].items()}
    variant, slowest = max(larger.items(), key=lambda item: item[1]["real_seconds"])
    phases = slowest.get("real_seconds_by_phase") or {}
    reviewing = next((seconds for name, seconds in phases.items() if name.startswith("reviewing")), None)
    own = [
        runs["smaller"].get("real_seconds_by_phase", {}).get("uploading and settling")
        for runs in report["variants"].values()
    ]
    if reviewing is None or None in own:
        return ""
    return (
        f"\nThe whole experiment took {duration(report['real_seconds'])} real. Most of a larger run's is the emulator "
        f"reading the sweeps' listings of what is kept (the slowest, {variant} at {p['larger']}: "
        f"{duration(reviewing)} of its {duration(slowest['real_seconds'])} in the review windows' simulated hours, every "
        f"key of every listing parsed); the {p['real_encounters']} real encounters' own uploading and settling took "
        f"{duration(max(own))} at {p['encounters']}, so running fewer of them would not make the larger runs "
        "much shorter.\n"
    )


def markdown(report: dict) -> str:
    p = report["parameters"]
    n, big = p["encounters"], p["larger"]
    lines = [method_text(report)]
    for variant, runs in report["variants"].items():
        small, large = runs["smaller"], runs["larger"]
        lines.append(f"\n### {variant}\n\n| per upload | {n} | {big} | change |\n|---|---|---|---|\n")
        rows_small, rows_large = per_upload_rows(small), per_upload_rows(large)
        left_out, few = [], []
        for name in sorted(set(rows_small) | set(rows_large), key=_row_order):
            a, b = rows_small.get(name, 0.0), rows_large.get(name, 0.0)
            if a == b == 0:
                left_out.append(name)  # the variant never does it (state transitions: it has no state machine)
                continue
            lines.append(f"| {name} | {_figure(a)} | {_figure(b)} | {_change(growth(a, b))} |\n")
            if 0 < min(a, b) < 0.01:
                few.append((name, a, b))
        for service in SERVICES:
            a = small["requests_in_sweeps_per_upload"].get(service, 0.0)
            b = large["requests_in_sweeps_per_upload"].get(service, 0.0)
            if a or b:
                lines.append(f"| of which the {SWEEP_NAMES[variant]}'s {SERVICES[service]} requests | {_figure(a)} "
                             f"| {_figure(b)} | {_change(growth(a, b))} |\n")  # fmt: skip
        for label, key in (("simulated durations", "simulated"), ("`scribe cost`'s stated durations", "stated")):
            a, b = small["lambda_gb_seconds_per_upload"][key], large["lambda_gb_seconds_per_upload"][key]
            lines.append(f"| Lambda GB-s ({label}) | {a:.4f} | {b:.4f} | {_change(growth(a, b))} |\n")
        lines.append("\n" + notes(_per_upload_notes(small, large, left_out, few)))
        lines.append(f"\n| {SWEEP_NAMES[variant]} | {n} | {big} |\n|---|---|---|\n")
        sweeps = (small["sweeps"], large["sweeps"])
        lines.append(f"| sweeps | {count(sweeps[0]['count'])} | {count(sweeps[1]['count'])} |\n")
        longest = [
            s["longest"] or {"seconds": 0, "at_simulated_hours": 0, "requests": {}, "total_requests": 0} for s in sweeps
        ]
        lines.append(
            "| longest (simulated) | "
            + " | ".join(
                f"{s['seconds']:.2f} s, {duration(s['at_simulated_hours'] * 3600)} into the run" for s in longest
            )
            + " |\n"
        )
        lines.append(f"| its requests | {longest[0]['total_requests']}: {_requests(longest[0]['requests'])} "
                     f"| {longest[1]['total_requests']}: {_requests(longest[1]['requests'])} |\n")  # fmt: skip
        lines.append(f"| by operation | {_operations(longest[0].get('operations', {}))} "
                     f"| {_operations(longest[1].get('operations', {}))} |\n")  # fmt: skip
        lines.append(f"| most / mean requests of a sweep | {sweeps[0]['most_requests']} / {sweeps[0]['mean_requests']:.2f} "
                     f"| {sweeps[1]['most_requests']} / {sweeps[1]['mean_requests']:.2f} |\n")  # fmt: skip
        lines.append(f"\n| worklist | {n} | {big} |\n|---|---|---|\n")
        for index, when in enumerate(w["when"] for w in small["worklist"]):
            cells = []
            for run in (small, large):
                w = run["worklist"][index] if index < len(run["worklist"]) else None
                cells.append("-" if w is None else f"{w['entries']} entries, {w['pages']} pages, "
                             f"at most {w['most_requests_per_page']} request(s) a page")  # fmt: skip
            lines.append(f"| {when} | {cells[0]} | {cells[1]} |\n")
        outcomes = [r["outcomes"] for r in (small, large)]
        lines.append(
            "| real encounters settled / reviews | "
            + " | ".join(
                f"{o['settled']} / " + ", ".join(f"{k} {v}" for k, v in o["reviews"].items()) for o in outcomes
            )
            + " |\n"
        )
    lines.append("\n| target | variant | met |\n|---|---|---|\n")
    for t in report["targets"]:
        if t["smaller"] == t["larger"] == 0 and t["growth"] == 0:
            continue  # a figure the variant never has (left out of its table too)
        shown = f"{_figure(t['smaller'])} -> {_figure(t['larger'])}" + (
            "" if t["growth"] is None else f" ({_change(t['growth'])})"
        )
        lines.append(f"| {t['target']}: {shown} | {t['variant']} | {'yes' if t['met'] else '**no**'} |\n")
    return "".join(lines)


def _per_upload_notes(small: dict, large: dict, left_out: list[str], few: list[tuple[str, float, float]]) -> list[str]:
    """What the per-upload table leaves out, and what a figure far below one per upload is in requests."""
    found = []
    if left_out:
        found.append(
            "Not shown, none at either scale: "
            + ", ".join(left_out)
            + (" (no state machine)" if "state transitions" in left_out else "")
            + "."
        )
    for name, a, b in few:
        made = sorted({round(a * small["uploads"]), round(b * large["uploads"])})
        found.append(
            f"{name}: {' and '.join(count(n) for n in made)} in the whole run over its {count(small['uploads'])} "
            f"uploads ({_figure(a)} per upload): the operator's `scribe redrive` looking up the deployment, "
            "not the encounters' work."
        )
    return found


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2) + "\n"


def report_text(report: dict) -> str:
    """report.md."""
    return (
        f"# Scale: {report['parameters']['encounters']} and {report['parameters']['larger']} encounters\n\n"
        + markdown(report)
    )


def write_report(report: dict, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(report_json(report))
    (directory / "report.md").write_text(report_text(report))


def command_of(report: dict) -> str:
    p = report["parameters"]
    return (
        f"scribe scale --encounters {p['encounters']} --larger {p['larger']} --real {p['real_encounters']} "
        f"--faults {p['faults']} --seed {p['seed']}"
    )


def results_section(report: dict) -> str:
    """The experiment's section of docs/results.md."""
    p = report["parameters"]
    return (
        f"## Scale: {p['encounters']} and {p['larger']} encounters\n\n`{command_of(report)}` "
        f"(`make scale`); {duration(report['real_seconds'])} real.\n\n" + markdown(report).replace("\n### ", "\n#### ")
    )


def update_results(path: Path, report: dict) -> None:
    """Write the report's section into the results page (docs/results.md), between its own markers; then the page's
    summary again."""
    results.write_results_section(path, "scale", results_section(report))
    results.refresh_summary(path)

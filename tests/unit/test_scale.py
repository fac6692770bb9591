"""`scribe scale`'s figures, targets and report (experiments/scale.py), from counts and traces made up here: the
report's shape, figures that follow the counts they come from, targets that fail when a figure grows, the worklist
counted page by page, and options it cannot run with refused in one line. The runs themselves (the local cloud,
the seeded history) are experiments/scale_run.py's, measured by `make scale`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.metadata import EntryPoint

import click
import pytest
from click.testing import CliRunner

from clinical import review_index
from experiments import PROJECT, scale
from scribe import cli
from tests.unit.conftest import BUCKET

START = datetime(2026, 1, 5, 8, tzinfo=UTC).timestamp()
OPERATIONS = {"s3": "ListObjectsV2", "transcribe": "ListMedicalTranscriptionJobs", "states": "DescribeExecution",
              "bedrock-runtime": "Converse"}  # fmt: skip
SCALE = EntryPoint(name="scale", value="experiments.cli:scale", group=cli.COMMANDS_ENTRY_POINTS)


def traced(trace_id: str, started: float, seconds: float, calls: list[str], handler: str = "handler") -> list[dict]:
    """The X-Ray documents one invocation streams: an `aws` subsegment per call (named by the service's endpoint
    prefix), then the handler's own."""
    documents = [
        {"trace_id": trace_id, "name": name, "namespace": "aws", "start_time": started + 0.03 * i,
         "end_time": started + 0.03 * (i + 1), "aws": {"operation": OPERATIONS[name]}}
        for i, name in enumerate(calls)
    ]  # fmt: skip
    return [*documents, {"trace_id": trace_id, "name": f"## {handler}", "start_time": started,
                         "end_time": started + seconds}]  # fmt: skip


def a_run(encounters: int, *, s3: int = 2100, sweep_s3: int = 3, sweep_seconds: float = 0.3, page: int = 1,
          unsettled: int = 0) -> dict:  # fmt: skip
    """A run's figures as experiments.scale_run makes them: 210 real uploads, 4 sweeps of `sweep_s3` listings."""
    sweeps = []
    for n in range(4):
        calls = ["s3"] * sweep_s3 + ["transcribe", "states"]
        sweeps += traced(f"1-sweep-{n}", START + 900 * (n + 1), sweep_seconds if n == 2 else 0.1, calls)
    found = scale.invocations_of(sweeps, "choreography.watchdog.handler", START, {"states": "stepfunctions"})
    worklist = {"when": "the backlog at its peak", "entries": 193, "pages": 4, "most_requests_per_page": page,
                "requests": 4 * page, "operations": {"ListObjectsV2": 4 * page}}  # fmt: skip
    return scale.run_figures(
        encounters=encounters, real=200, valid=193, uploads=210,
        seeded={"signed": encounters - 200, "awaiting": 0, "signed_at_simulated_hours": 0.1,
                "awaiting_at_simulated_hours": None, "sweeps_before_the_history": 0},
        outcomes={"settled": 193 - unsettled, "unsettled": unsettled, "invalid_uploads_unrecorded": 0,
                  "reviews": {"REVIEW_EXPIRED": 58, "SIGNED": 135}},
        counted={"s3": s3, "transcribe": 630, "bedrock-runtime": 193},
        per_upload={"lambda_invocations": 3.5, "state_transitions": 0.0},
        sweeps=found, start=START, gb_seconds=210 * 1.5, stated_gb_seconds_per_upload=2.25, worklists=[worklist],
        simulated_hours=80.0, real_seconds=12.0,
    )  # fmt: skip


def a_report(larger_run: dict | None = None) -> dict:
    chosen = scale.scales(20, 200, 20)
    runs = {
        variant: {20: a_run(20), 200: larger_run if larger_run is not None else a_run(200)}
        for variant in ("choreography", "orchestration")
    }
    return scale.report_of(chosen, "none", 7, runs, 30.0, signed_share=0.7)


def test_each_invocation_is_read_from_its_trace_its_simulated_duration_and_its_requests_by_service():
    documents = [
        *traced("1-a", START - 10, 5.0, ["s3"]),  # before the run: not counted
        *traced("1-b", START + 900, 0.25, ["s3", "s3", "transcribe", "states"]),
        *traced("1-c", START + 1800, 1.5, ["s3"] * 12),
    ]
    sweeps = scale.invocations_of(documents, "choreography.watchdog.handler", START, {"states": "stepfunctions"})
    assert [(s["seconds"], s["requests"]) for s in sweeps] == [
        (0.25, {"s3": 2, "stepfunctions": 1, "transcribe": 1}),
        (1.5, {"s3": 12}),
    ]
    figures = scale.sweep_figures(sweeps, START)
    assert figures["count"] == 2 and figures["most_requests"] == 12 and figures["mean_requests"] == 8.0
    assert figures["longest"] == {
        "seconds": 1.5,
        "at_simulated_hours": 0.5,
        "requests": {"s3": 12},
        "operations": {"s3:ListObjectsV2": 12},
        "total_requests": 12,
    }
    functions = {
        "watchdog": ("choreography.watchdog.handler", 512),
        "writer": ("choreography.write_note.handler", 1024),
    }
    traces = {"watchdog": documents, "writer": traced("1-d", START + 60, 2.0, ["bedrock-runtime"])}
    assert scale.simulated_gb_seconds(traces, functions, START) == pytest.approx((0.25 + 1.5) * 0.5 + 2.0 * 1.0)


def test_the_x_ray_names_of_the_services_are_the_operation_counters_names():
    assert scale.service_of_prefixes({"s3", "stepfunctions", "bedrock-runtime"}) == {
        "s3": "s3",
        "states": "stepfunctions",
        "bedrock-runtime": "bedrock-runtime",
    }


def test_the_report_shows_each_figure_per_variant_and_scale_and_meets_its_targets_when_nothing_grows():
    report = a_report()
    assert report["all_targets_met"], scale.missed_targets(report)
    run = report["variants"]["choreography"]["larger"]
    assert run["requests_per_upload"] == {"bedrock-runtime": 193 / 210, "s3": 10.0, "transcribe": 3.0}
    assert run["requests_in_sweeps_per_upload"] == {"s3": 12 / 210, "stepfunctions": 4 / 210, "transcribe": 4 / 210}
    assert run["lambda_gb_seconds_per_upload"] == {"simulated": 1.5, "stated": 2.25}
    assert run["sweeps"]["longest"]["seconds"] == pytest.approx(0.3)
    text = scale.markdown(report)
    for row in (
        "### choreography",
        "### orchestration",
        "| per upload | 20 | 200 | change |",
        "| S3 requests | 10.00 | 10.00 | +0% |",
        "| Transcribe requests | 3.00 | 3.00 | +0% |",
        "| Bedrock requests | 0.92 | 0.92 | +0% |",
        "| Lambda invocations | 3.50 | 3.50 | +0% |",
        "| of which the watchdog's S3 requests | 0.06 | 0.06 | +0% |",
        "| Lambda GB-s (simulated durations) | 1.5000 | 1.5000 | +0% |",
        "| sweeps | 4 | 4 |",
        "| longest (simulated) | 0.30 s, 45 min into the run | 0.30 s, 45 min into the run |",
        "| its requests | 5: S3 3, Step Functions 1, Transcribe 1 |",
        "| by operation | S3 ListObjectsV2 3, Step Functions DescribeExecution 1, Transcribe ListMedicalTranscriptionJobs 1 |",
        "| the backlog at its peak | 193 entries, 4 pages, at most 1 request(s) a page |",
        "| S3 requests per upload at 200 within 10% of 20: 10.00 -> 10.00 (+0%) | choreography | yes |",
    ):
        assert row in text, row
    assert json.loads(scale.report_json(report)) == report


def test_a_figure_a_variant_never_has_is_left_out_and_said_so_and_durations_read_in_units():
    """No state transitions at either scale (no state machine): no row of zeros, no target met by 0 -> 0; the run's
    real and simulated times in minutes and hours, not decimal seconds and hours."""
    report = a_report()
    text = scale.markdown(report)
    assert "| state transitions |" not in text
    assert "state transitions per upload at 200" not in text
    assert text.count("- Not shown, none at either scale: state transitions (no state machine).") == 2
    assert any(t["target"].startswith("state transitions") for t in report["targets"]), "kept in report.json"
    assert "- choreography at 20: 12 s real, 80 h simulated, 4 sweeps" in text
    assert "; 30 s real." in scale.results_section(report)
    with_cloudformation = a_report()
    for variant in with_cloudformation["variants"].values():
        for run in variant.values():
            run["requests_per_upload"]["cloudformation"] = 1 / 210
    assert "- CloudFormation requests: 1 in the whole run over its 210 uploads (0.0048 per upload)" in scale.markdown(
        with_cloudformation
    )


def test_a_figure_that_grows_with_what_is_kept_misses_its_target_and_says_which():
    grown = a_report(a_run(200, s3=2100 + 231))  # 11% more S3 requests per upload
    assert not grown["all_targets_met"]
    assert scale.missed_targets(grown) == [
        f"{variant}: S3 requests per upload at 200 within 10% of 20: 10.00 -> 11.10 (+11%)"
        for variant in ("choreography", "orchestration")
    ]
    assert "| S3 requests | 10.00 | 11.10 | +11% |" in scale.markdown(grown)
    assert a_report(a_run(200, s3=2100 + 210))["all_targets_met"], "10% more is within the target"
    slow = a_report(a_run(200, sweep_seconds=61.0))
    assert [line.split(": ")[1] for line in scale.missed_targets(slow)] == [
        "longest watchdog at 200 under 60 s simulated",
        "longest upload sweep at 200 under 60 s simulated",
    ]
    paged = a_report(a_run(200, page=10))
    assert {line.split(": ")[1] for line in scale.missed_targets(paged)} == {
        "the worklist under 10 requests per page at any scale"
    }
    listed = a_report(a_run(200, sweep_s3=30))
    assert "watchdog's S3 requests | 0.06 | 0.57 | +900% |" in scale.markdown(listed), "the sweeps' share, apart"


def test_a_run_that_lost_an_encounter_is_named():
    assert scale.lost_encounters(a_report()) == []
    assert scale.lost_encounters(a_report(a_run(200, unsettled=2))) == [
        f"{variant} at 200: 2 encounter(s) without a note or a record, 0 invalid upload(s) without a record"
        for variant in ("choreography", "orchestration")
    ]


def test_the_worklist_is_counted_page_by_page(cloud):
    opened = datetime(2026, 3, 1, 8, tzinfo=UTC)
    for n in range(120):
        at = opened + timedelta(minutes=n)
        review_index.mark_awaiting(
            cloud.s3, BUCKET, review_index.Entry(f"visit-{n:04}", at, at + timedelta(hours=72), 1, 0)
        )
    counted = scale.worklist_requests(cloud.s3, BUCKET, "choreography", "now")
    assert counted == {"when": "now", "entries": 120, "pages": 3, "most_requests_per_page": 1, "requests": 3,
                       "operations": {"ListObjectsV2": 3}}  # fmt: skip
    assert scale.worklist_requests(cloud.s3, BUCKET, "orchestration", "empty")["entries"] == 120
    cloud.s3.list_objects_v2(Bucket=BUCKET, Prefix="reviews/")
    assert scale.worklist_requests(cloud.s3, BUCKET, "choreography", "again")["requests"] == 3, "its own calls only"


def test_the_committed_results_section_is_the_committed_reports():
    report = json.loads((PROJECT / "reports" / "scale" / "report.json").read_text())
    page = (PROJECT / "docs" / "results.md").read_text()
    begin, end = "<!-- results:scale:begin -->", "<!-- results:scale:end -->"
    assert page[page.index(begin) + len(begin) : page.index(end)] == "\n" + scale.results_section(report)
    assert (PROJECT / "reports" / "scale" / "report.md").read_text().endswith(scale.markdown(report))
    assert report["parameters"]["encounters"] == 200 and report["parameters"]["larger"] == 2000


def invoke(*args: str):
    group = click.Group("scribe")
    cli.add_commands(group, [SCALE])
    return CliRunner().invoke(group, ["scale", *args])


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--encounters", "0"], "--encounters must be at least 1 (got 0)"),
        (["--encounters", "-3"], "--encounters must be at least 1 (got -3)"),
        (["--encounters", "50", "--larger", "50"], "--larger must be more than --encounters (50 is not more than 50)"),
        (["--encounters", "50", "--larger", "20"], "--larger must be more than --encounters (20 is not more than 50)"),
        (["--encounters", "50", "--real", "0"], "--real must be from 1 to --encounters (50), got 0"),
        (["--encounters", "50", "--real", "51"], "--real must be from 1 to --encounters (50), got 51"),
        (["--faults", "hurricane"], "unknown fault profile 'hurricane'; profiles: default, hostile, none, storm"),
        (["--workers", "9"], "--workers must be from 1 to 4, got 9"),
        (["--cdk-out", "nowhere"], "nowhere holds no synthesized app: run `make synth` first"),
    ],
)
def test_options_it_cannot_run_with_are_refused_in_one_line(args, line):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [f"Error: {line}"]
    assert "Traceback" not in result.output

"""The comparison run and its invariant checker: they pass on a real run, and fail when the guarantee is broken."""

from __future__ import annotations

import dataclasses
import json

import pytest

from experiments import PROJECT, compare, results
from experiments.hostile import CASES
from experiments.invariants import check
from experiments.pairing import MECHANISMS
from experiments.workloads import plan, workload_named, workloads
from localcloud.service_model import LATENCIES_FILE, ModelError


@pytest.fixture(scope="module")
def report(cdk_out):
    return compare.compare(cdk_out, encounters=20, profile="default", seed=7)


def test_a_small_compare_under_default_faults_passes_every_invariant_in_both_variants(report):
    assert report["all_invariants_pass"], compare.report_json(report)
    for variant, figures in compare.variants_of(report).items():
        assert [i["status"] for i in figures["invariants"]] == ["PASS"] * 6, variant
        outcomes = figures["outcomes"]
        assert outcomes["notes"] + outcomes["failure_records"] >= outcomes["valid_encounters"]
        assert sum(outcomes["faults_injected"].values()) > 0, "the run met faults"
    orchestration = compare.variants_of(report)["orchestration"]["operations_per_upload"]
    assert orchestration["state_transitions"] > 3, "4 per encounter with an execution (invalid uploads have none)"
    markdown = results.markdown(report)
    assert "| no silent loss | PASS" in markdown


def test_the_clinicians_sign_their_share_and_every_other_review_expires_the_same_in_both_variants(report):
    """Every note's review ends signed (the share the run's clinicians sign, chosen by encounter id) or
    REVIEW_EXPIRED (each variant keeping the deadline its own way): none is left open."""
    for variant, figures in compare.variants_of(report).items():
        counts = figures["outcomes"]["reviews"]
        assert set(counts) == {"SIGNED", "REVIEW_EXPIRED"} and min(counts.values()) > 0, (variant, counts)
        assert sum(counts.values()) == figures["outcomes"]["notes"], (variant, counts)
    assert "| reviews signed / expired (70% signed, the rest left) |" in results.markdown(report)


def test_the_report_is_json_markdown_and_charts(report, tmp_path):
    charts = compare.write_report(report, tmp_path)
    assert charts == results.chart_files(report), "the results page links the charts by these names"
    assert (tmp_path / "report.json").read_text() == compare.report_json(report)
    assert "![outcomes](outcomes.png)" in (tmp_path / "report.md").read_text()
    for chart in ("outcomes.png", "operations.png", "latency.png", "encounters-over-time-default.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart
    page = tmp_path / "docs" / "results.md"
    results.update_results(page, report, tmp_path)
    assert "![Outcomes (default quotas)](../outcomes.png)" in page.read_text()


def test_the_results_page_reads_the_latency_model_the_local_cloud_loads():
    assert results.LATENCIES == LATENCIES_FILE


def test_an_unknown_profile_is_a_clear_error(cdk_out):
    with pytest.raises(ValueError, match="unknown fault profile 'hurricane'; profiles: default, hostile, none, storm"):
        compare.compare(cdk_out, encounters=1, profile="hurricane", seed=1, reviews=False)


def tampered_run(cdk_out, tamper):
    workload = plan(workload_named("steady"), 3, 6)
    return compare.run_variant(
        cdk_out, "choreography", workload, {}, 3, lambda _line: None, tamper=tamper, reviews=False
    )


def bucket_of(cloud, stack):
    return cloud.outputs[stack]["EncounterBucketName"]


def test_the_checker_fails_when_a_note_is_deleted_or_duplicated_behind_the_pipelines_back(cdk_out):
    tampered = {}

    def delete_one_note_and_rewrite_another(cloud, stack):
        s3 = cloud.client("s3")
        first, second = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket_of(cloud, stack))["Contents"]
                               if o["Key"].startswith("notes/"))[:2]  # fmt: skip
        s3.delete_object(Bucket=bucket_of(cloud, stack), Key=first)
        s3.put_object(Bucket=bucket_of(cloud, stack), Key=second, Body=b'{"status": "draft"}')
        tampered.update(deleted=first, rewritten=second)

    verdicts = {v.name: v for v in tampered_run(cdk_out, delete_one_note_and_rewrite_another).invariants}
    deleted_id = tampered["deleted"].removeprefix("notes/").removesuffix(".json")
    assert not verdicts["no silent loss"].passed and deleted_id in verdicts["no silent loss"].detail
    assert not verdicts["exactly one terminal record per valid encounter"].passed
    assert not verdicts["no second note for an encounter"].passed
    assert tampered["rewritten"] in verdicts["no second note for an encounter"].detail
    assert verdicts["every invalid upload has a failure record"].passed


HOSTILE_INVARIANTS = (
    "each hostile input ends in exactly its records",
    "every upload ends in exactly one terminal record, and nothing else has one",
)


def test_a_small_compare_with_the_hostile_table_mixed_in_passes_every_invariant_in_both_variants(cdk_out):
    report = compare.compare(cdk_out, encounters=8, profile="hostile", seed=7, reviews=False)
    assert report["all_invariants_pass"], compare.report_json(report)
    assert report["parameters"]["hostile_cases"] == len(CASES)
    for variant, figures in compare.variants_of(report).items():
        verdicts = {i["name"]: i for i in figures["invariants"]}
        assert len(verdicts) == 8 and set(HOSTILE_INVARIANTS) <= set(verdicts), variant
        assert verdicts[HOSTILE_INVARIANTS[0]]["detail"] == f"{len(CASES)}/{len(CASES)} cases", variant
        assert figures["outcomes"]["failures_by_stage_and_reason"]["quarantine"] == 5, variant
    assert f"plus the {len(CASES)} cases of the hostile table" in results.markdown(report)


def test_the_hostile_checker_fails_when_a_note_is_replaced_dropped_or_made_for_nobody(cdk_out):
    def tamper(cloud, stack):
        s3, bucket = cloud.client("s3"), bucket_of(cloud, stack)
        s3.put_object(Bucket=bucket, Key="notes/h-again.json", Body=b'{"status": "draft"}')  # a second version
        s3.delete_object(Bucket=bucket, Key="notes/h-wav.json")
        s3.put_object(Bucket=bucket, Key="notes/h-ghost.json", Body=b'{"status": "draft"}')  # nobody uploaded it

    workload = plan(workload_named("steady"), 3, 2)
    run = compare.run_variant(
        cdk_out, "choreography", workload, {}, 3, None, tamper=tamper, hostile=tuple(CASES), reviews=False
    )
    verdicts = {v.name: v for v in run.invariants}
    assert not verdicts["no second note for an encounter"].passed
    assert "notes/h-again.json" in verdicts["no second note for an encounter"].detail
    assert (
        not verdicts[HOSTILE_INVARIANTS[0]].passed and "missing records: wav" in verdicts[HOSTILE_INVARIANTS[0]].detail
    )
    assert (
        not verdicts[HOSTILE_INVARIANTS[1]].passed
        and "nobody's: note:h-ghost" in verdicts[HOSTILE_INVARIANTS[1]].detail
    )
    assert verdicts["no silent loss"].passed, "the workload's own encounters are untouched"


def test_the_checker_fails_on_phi_in_a_log_line_an_unrecorded_invalid_upload_or_an_unalarmed_failure(cdk_out):
    snapshot = tampered_run(cdk_out, None).snapshot
    assert all(v.passed for v in check(snapshot))
    snapshot.logs += '\n{"message": "note drafted", "text": "' + snapshot.phi_texts[0] + '"}'
    snapshot.invalid_keys.append("audio/never recorded.wav")
    snapshot.failure_keys.add("failures/enc-0003.json")
    snapshot.failure_alarm_fired = False
    failed = {v.name for v in check(snapshot) if not v.passed}
    assert {
        "no transcript or note text in logs or execution history",
        "every invalid upload has a failure record",
        "every permanent failure raised an alarm, counted once",
        "exactly one terminal record per valid encounter",
    } <= failed


def test_the_failure_metric_counts_each_failed_upload_once_and_the_checker_fails_on_a_miscount(cdk_out):
    """Under the hostile table the orchestration run's redrive makes h-unknown fail twice (two records
    written, one left) and h-retry's record is superseded by its note: the metric counts each failed
    upload once, not each write."""
    run = compare.run_variant(cdk_out, "orchestration", plan(workload_named("steady"), 3, 2), {}, 3, None,
                              hostile=tuple(CASES), reviews=False)  # fmt: skip
    snapshot, name = run.snapshot, "every permanent failure raised an alarm, counted once"
    records = len([key for key in snapshot.failure_keys if "_quarantine-" not in key])
    assert snapshot.failure_records_written > snapshot.failed_uploads >= records, "no record was written twice"
    assert snapshot.encounter_failures_counted == snapshot.failed_uploads
    assert name not in {v.name for v in check(snapshot) if not v.passed}
    for miscount in (1, -1):
        counted = dataclasses.replace(
            snapshot, encounter_failures_counted=snapshot.encounter_failures_counted + miscount
        )
        assert name in {v.name for v in check(counted) if not v.passed}, miscount


def compare_command(monkeypatch, report: dict):
    """`scribe compare` with the run itself replaced by a canned report."""
    from importlib.metadata import EntryPoint

    import click

    from scribe import cli

    monkeypatch.setattr(compare, "compare", lambda *args, **kwargs: report)

    @click.group()
    def group() -> None:
        pass

    cli.add_commands(group, [EntryPoint("compare", "experiments.cli:compare", cli.COMMANDS_ENTRY_POINTS)])
    return group


def test_compare_exits_1_naming_the_failed_invariant_and_writes_nothing(monkeypatch, tmp_path, cdk_out):
    from click.testing import CliRunner

    report = json.loads((PROJECT / "reports" / "compare-default" / "report.json").read_text())
    # (The committed report keeps no per-run timelines, so this run writes the results page, not the charts.)
    args = ["compare", "--cdk-out", str(cdk_out), "--results", str(tmp_path / "results.md")]
    passed = CliRunner().invoke(compare_command(monkeypatch, report), args)
    assert passed.exit_code == 0, passed.output
    assert "<!-- results:steady:begin -->" in (tmp_path / "results.md").read_text()

    failing = json.loads(json.dumps(report))
    failing["quotas"]["default"]["variants"]["orchestration"]["invariants"][1].update(status="FAIL", detail="1 lost")
    out = tmp_path / "after-failure"
    args = ["compare", "--cdk-out", str(cdk_out), "--report", str(out), "--results", str(out / "results.md")]
    failed = CliRunner().invoke(compare_command(monkeypatch, failing), args)
    assert failed.exit_code == 1
    assert "INVARIANT FAILED: default/orchestration: no silent loss (1 lost)" in failed.stderr
    assert not out.exists(), "nothing is written for a failing run"


def test_compare_exits_1_on_a_difference_no_mechanism_explains(monkeypatch, tmp_path, cdk_out):
    from click.testing import CliRunner

    report = json.loads((PROJECT / "reports" / "compare-default" / "report.json").read_text())
    report["parity"]["default"]["differences"][0]["mechanism"] = "unexplained"
    encounter = report["parity"]["default"]["differences"][0]["encounter"]
    out = tmp_path / "after-failure"
    args = ["compare", "--cdk-out", str(cdk_out), "--report", str(out)]
    failed = CliRunner().invoke(compare_command(monkeypatch, report), args)
    assert failed.exit_code == 1
    assert (
        f"INVARIANT FAILED: default/parity: {encounter} ended 'note: TranscriptNotProcessed' in choreography"
        in failed.stderr
    )
    assert not out.exists()


def test_the_committed_comparison_measures_coordination_not_policy():
    """The default run (200 encounters, default faults, seed 7): every difference names a mechanism, the
    tries per error class are equal wherever both variants met it, and the policy alone (before the
    redrive) left as many InvalidModelOutput records in one variant as in the other."""
    report = json.loads((PROJECT / "reports" / "compare-default" / "report.json").read_text())
    parameters = report["parameters"]
    assert (parameters["encounters"], parameters["faults"], parameters["seed"]) == (200, "default", 7)
    paired = report["parity"]["default"]
    valid = compare.variants_of(report)["choreography"]["outcomes"]["valid_encounters"]
    assert paired["same_outcome"] + paired["different_outcome"] == valid
    assert all(d["mechanism"] in MECHANISMS for d in paired["differences"]), paired["differences"]
    tries = paired["attempts_by_error"]
    both = set(tries["choreography"]) & set(tries["orchestration"])
    assert {"crash in note", "note: ThrottlingException", "note: malformed answer"} <= both
    assert all(tries["choreography"][label] == tries["orchestration"][label] for label in both), tries
    first = {
        variant: figures["outcomes"]["first_failures_by_stage_and_reason"].get("note: InvalidModelOutput", 0)
        for variant, figures in compare.variants_of(report).items()
    }
    assert first["choreography"] == first["orchestration"], first


def without_wall_time(report: dict) -> str:
    return compare.report_json({**report, "real_seconds": None})


def test_the_same_run_twice_gives_the_same_report_apart_from_the_wall_time(cdk_out):
    first = compare.compare(cdk_out, encounters=8, profile="storm", seed=7, reviews=False)
    second = compare.compare(cdk_out, encounters=8, profile="storm", seed=7, reviews=False)
    assert sum(compare.variants_of(first)["orchestration"]["outcomes"]["faults_injected"].values()) > 0
    assert without_wall_time(first) == without_wall_time(second)


def test_a_burst_under_tight_quotas_is_throttled_and_loses_nothing(cdk_out):
    report = compare.compare(
        cdk_out, encounters=60, profile="none", seed=7, workload="clinic-burst", quotas=["tight"], reviews=False
    )
    for variant, figures in compare.variants_of(report, "tight").items():
        drain = figures["drain"]
        assert sum(drain["throttled"].values()) > 0, variant
        assert drain["peak_transcribe_jobs"] <= 25, f"{variant}: the tight setting allows 25 concurrent jobs"
        assert (drain["lost"], drain["duplicates"]) == (0, 0), variant
        assert drain["drain_seconds"] >= drain["lower_bound_seconds"] > 0, variant
        assert figures["outcomes"]["notes"] + figures["outcomes"]["failure_records"] == 60, variant


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encounter": 5}, r"workloads.json.bad.encounter: unknown name"),
        ({"upload_window_seconds": -600}, r"workloads.json.bad.upload_window_seconds: must not be negative"),
        (
            {
                "audio": {
                    "distribution": "lognormal",
                    "median_minutes": -1,
                    "sigma": 1,
                    "min_minutes": 1,
                    "max_minutes": 2,
                }
            },
            r"workloads.json.bad.audio.median_minutes: must not be negative",
        ),
        (
            {"audio": {"distribution": "uniform"}},
            r"workloads.json.bad.audio.distribution: unknown distribution 'uniform'",
        ),
        ({"quotas": ["generous"]}, r"workloads.json.bad.quotas: unknown quota setting 'generous'"),
        ({"duplicate_rate": 2}, r"workloads.json.bad.duplicate_rate: must be at most 1"),
    ],
)
def test_a_bad_workload_fails_before_anything_runs_with_one_line_naming_the_field(tmp_path, change, message):
    arrival = {} if "upload_window_seconds" in change else {"upload_interval_seconds": 60}
    spec = {"encounters": 3, **arrival, **change}
    path = tmp_path / "workloads.json"
    path.write_text(json.dumps({"bad": spec}))
    with pytest.raises(ModelError, match=message) as raised:
        workloads(path)
    assert "\n" not in str(raised.value)


def test_an_unknown_workload_or_quota_setting_is_refused_before_anything_runs(cdk_out):
    with pytest.raises(ModelError, match="unknown workload 'rush-hour'"):
        compare.compare(cdk_out, workload="rush-hour")
    with pytest.raises(ModelError, match="unknown setting 'generous'"):
        compare.compare(cdk_out, quotas=["generous"])


def test_an_invalid_upload_whose_event_was_lost_is_recorded_by_the_sweep_before_the_run_is_checked(cdk_out):
    """Storm, seed 2, 12 encounters: both variants lose the event of `audio/visit 0004.wav`, whose record only a
    sweep can write, after the grace period. Choreography's valid encounters were all settled before any sweep
    came to it, and the run was checked then ("every invalid upload has a failure record: 1/2"): a run is
    settled when every upload has its outcome, the invalid ones too."""
    assert "audio/visit 0004.wav" in plan(workload_named("steady"), 2, 12).invalid_keys
    report = compare.compare(cdk_out, encounters=12, profile="storm", seed=2, reviews=False)
    assert compare.failed_invariants(report) == []
    for variant, figures in compare.variants_of(report).items():
        assert figures["outcomes"]["faults_injected"].get("event_lost", 0) >= 1, variant


def test_a_run_says_how_far_it_is_as_it_goes(cdk_out, monkeypatch):
    monkeypatch.setattr(compare, "PROGRESS_SECONDS", 0.0)
    lines = []
    workload = plan(workload_named("steady"), 3, 3)
    compare.run_variant(cdk_out, "choreography", workload, {}, 3, lines.append, quotas="tight", reviews=False)
    assert lines[0].startswith("tight/choreography") and "uploaded" in lines[0]
    assert "3/3 settled" in lines[-1]


def test_the_longer_runs_are_handed_out_first_and_the_report_keeps_its_order(cdk_out, monkeypatch):
    """Orchestration's runs go to the workers first (two workers: one each, then a choreography run each, not one
    worker left with both long runs); the report's settings and variants keep their order whatever ran first."""
    handed = []

    def each_run(function, jobs, workers):
        for job in jobs:
            handed.append((job[5], job[1]))
            figures = {
                "encounters": {},
                "attempts_by_error": {},
                "tries_by_encounter": {},
                "drain": {},
                "invariants": [],
            }
            yield job[5], job[1], figures

    monkeypatch.setattr(compare, "each_run", each_run)
    report = compare.compare(cdk_out, encounters=4, profile="none", workload="clinic-burst", workers=2)
    assert handed == [
        ("default", "orchestration"),
        ("tight", "orchestration"),
        ("default", "choreography"),
        ("tight", "choreography"),
    ]
    assert list(report["quotas"]) == ["default", "tight"]
    assert [list(setting["variants"]) for setting in report["quotas"].values()] == [
        ["choreography", "orchestration"]
    ] * 2


def test_a_burst_whose_line_outlasts_the_quota_wait_fails_the_rest_alike_and_says_so():
    """A deployment whose quota_wait_minutes (10) is shorter than its line (200 uploads at tight quotas: some 50
    minutes of jobs over 25 slots): the uploads still in line when their wait ends fail with their records in both
    variants, every difference between them has its mechanism (the wait's edge among them), and the report says the
    line outlasts the wait beside the drain."""
    from tests.support.synth_cache import cdk_out as cached_synth

    walled = cached_synth({"quota_wait_minutes": "10"})
    report = compare.compare(walled, 200, "none", workload="clinic-burst", quotas=["tight"], reviews=False)
    assert report["all_invariants_pass"], compare.failed_invariants(report)
    assert report["parameters"]["quota_wait_minutes"] == 10
    for variant, figures in compare.variants_of(report, "tight").items():
        exhausted = figures["outcomes"]["failures_by_stage_and_reason"].get(
            "transcription: TranscriptionQuotaExhausted"
        )
        assert exhausted and exhausted > 50, (variant, figures["outcomes"]["failures_by_stage_and_reason"])
    paired = report["parity"]["tight"]
    assert all(d["mechanism"] in MECHANISMS for d in paired["differences"]), paired["differences"]
    assert "The line outlasts the wait: all the jobs' time over the quota" in results.markdown_for(report, "tight")

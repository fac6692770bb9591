"""The cold path benchmark's logic: which event and answers each handler gets, the asset copy without byte code,
the baseline's calls, the ratio and the exit code. Nothing here asserts a timing; the runs in fresh processes
are checked for what they did, not for how long it took."""

import sys
from dataclasses import replace
from datetime import timedelta

import pytest

from benchmarks import cold_start
from benchmarks.canned import STORED_AT
from benchmarks.cold_start import (
    BASELINE,
    ColdPaths,
    Sample,
    Target,
    byte_code_under,
    fresh_task_root,
    handler_modules,
    lambda_environment,
    main,
    measure,
    render,
    sample_of,
    tabulate,
)
from benchmarks.scenarios import EXECUTION, LINE_EMPTY, scenarios

FAKE_SECONDS = {"choreography.fast": (0.28, 0.20), "orchestration.slow": (0.31, 0.20)}


def fake_runner(seconds=FAKE_SECONDS, calls=None):
    """A runner that answers each target's seconds (handler, baseline) without starting anything."""

    def run(target: Target) -> Sample:
        if calls is not None:
            calls.append(target)
        total = seconds[target.handler][1 if target.baseline else 0]
        return Sample(total=total, imported=total / 2, invoked=total / 4, calls=3)

    return run


def test_every_handler_module_is_discovered_and_no_helper_module():
    modules = handler_modules()
    assert "choreography.start_transcription" in modules
    assert "orchestration.intake" in modules
    assert "orchestration.executions" not in modules  # a helper module: no handler
    assert "edges.fhir_export" in modules and "edges.review_page" in modules
    assert len(modules) == 14


def test_every_handler_has_a_scenario_and_every_scenario_a_handler():
    assert sorted(scenarios()) == sorted(handler_modules())


def test_each_handler_gets_the_event_of_its_trigger():
    events = {module: scenario.event for module, scenario in scenarios().items()}
    sqs = [module for module, event in events.items() if "Records" in event]
    assert sorted(sqs) == [
        "choreography.start_transcription",
        "choreography.write_note",
        "edges.fhir_export",
        "orchestration.intake",
        "orchestration.record_failure",
        "orchestration.transcript_ready",
    ]
    assert events["choreography.watchdog"]["detail-type"] == "Scheduled Event"
    assert events["orchestration.upload_sweep"]["detail-type"] == "Scheduled Event"
    assert events["edges.review_page"]["httpMethod"] == "GET"
    assert events["orchestration.await_transcript"]["task_token"]


def test_the_drafted_encounter_is_what_the_domain_wrote():
    objects = scenarios()["orchestration.review_deadline"].objects
    assert {key for key in objects if not key.startswith("index/")} == {
        "audio/enc-0001.wav",
        "transcripts/enc-0001.json",
        "notes/enc-0001.json",
        "reviews/enc-0001.json",
    }
    assert sorted(key.split("/")[1] for key in objects if key.startswith("index/")) == [
        "awaiting",
        "due",
        "due",
        "settled",
    ]
    assert "signed/enc-0001.json" in scenarios()["edges.fhir_export"].objects


def test_the_environment_is_a_deployed_functions_with_tracing_on_and_no_byte_code_written(tmp_path):
    env = lambda_environment({"PATH": "/bin", "POWERTOOLS_TRACE_DISABLED": "true", "SOMETHING": "else"}, tmp_path)
    assert "POWERTOOLS_TRACE_DISABLED" not in env
    assert "SOMETHING" not in env
    assert env["PATH"] == "/bin"
    assert env["LAMBDA_TASK_ROOT"] == env["PYTHONPATH"] == str(tmp_path)  # the copy is /var/task
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert "PYTHONPYCACHEPREFIX" not in env  # the libraries keep their compiled byte code
    assert env["POWERTOOLS_SERVICE_NAME"] and env["POWERTOOLS_METRICS_NAMESPACE"] and env["ENCOUNTER_BUCKET"]


def test_the_asset_copy_has_the_source_and_no_byte_code(tmp_path, monkeypatch):
    source = tmp_path / "lambdas"
    (source / "clinical" / "__pycache__").mkdir(parents=True)
    (source / "clinical" / "notes.py").write_text("NOTE = 1\n")
    (source / "clinical" / "__pycache__" / "notes.cpython-311.pyc").write_bytes(b"\x00")
    (source / "clinical" / "stray.pyc").write_bytes(b"\x00")
    monkeypatch.setattr(cold_start, "LAMBDA_SOURCE", source)
    work = tmp_path / "work"
    work.mkdir()
    copy = fresh_task_root(work)
    assert (copy / "clinical" / "notes.py").read_text() == "NOTE = 1\n"
    assert byte_code_under(copy) == []
    assert byte_code_under(source)  # the check finds byte code where there is some


@pytest.fixture(scope="module")
def cold_paths(tmp_path_factory):
    return ColdPaths(tmp_path_factory.mktemp("cold-path"))


def test_a_cold_path_imports_the_copy_and_leaves_it_without_byte_code(cold_paths):
    task_root = fresh_task_root(cold_paths.work)
    _spawned, timings = cold_paths.run(Target("orchestration.review_deadline"), task_root)
    assert timings["source"].startswith(str(task_root))  # the copy, not lambdas/ (nor its __pycache__)
    assert byte_code_under(task_root) == []
    assert timings["calls"] == 1  # the review record read
    assert timings["started"] <= timings["imported"] <= timings["loaded"] <= timings["invoked"]


def test_the_baseline_makes_the_calls_the_handler_made(cold_paths):
    handler = cold_paths(Target("orchestration.intake"))
    baseline = cold_paths(Target("orchestration.intake", baseline=True))
    assert handler.calls == baseline.calls == 3  # the upload's HeadObject, the line's Query, StartExecution


def test_the_cold_path_stores_objects_at_the_moment_the_bench_chose_not_at_its_own_clock(tmp_path):
    """The bench reads the clock once; a cold path started after the next hour began must still answer S3 with
    the bench's moment: a LastModified later than the execution's start date makes the upload "written again"."""
    handler = "orchestration.intake"
    cold_paths = ColdPaths(tmp_path)
    earlier = STORED_AT - timedelta(hours=1)  # as if the bench had read its clock an hour before this run
    scenario = cold_paths.scenarios[handler]
    started = {"stepfunctions.StartExecution": [{"executionArn": EXECUTION, "startDate": earlier}], **LINE_EMPTY}
    cold_paths.scenarios[handler] = replace(scenario, responses=started, stored_at=earlier)
    assert cold_paths(Target(handler)).calls == 3  # HeadObject, the line's Query, StartExecution: no failure record


def test_a_call_without_a_canned_answer_fails_the_run_naming_it(tmp_path):
    handler = "orchestration.intake"
    cold_paths = ColdPaths(tmp_path)
    cold_paths.scenarios[handler] = replace(cold_paths.scenarios[handler], responses={})
    with pytest.raises(RuntimeError, match=r"no canned response for dynamodb\.Query"):
        cold_paths(Target(handler))


def test_a_cold_path_is_the_init_then_the_invocation_not_the_set_up_between_nor_the_exit():
    timings = {"started": 10.02, "imported": 10.30, "loaded": 10.35, "invoked": 10.45, "calls": 4}
    sample = sample_of(10.0, timings)
    assert sample.total == pytest.approx(0.30 + 0.10)
    assert sample.imported == pytest.approx(0.28)
    assert sample.invoked == pytest.approx(0.10)
    assert sample.calls == 4


def test_runs_are_interleaved_after_one_untimed_run_each_the_handlers_first():
    calls = []
    samples = measure(["choreography.fast", "orchestration.slow"], fake_runner(calls=calls), rounds=3)
    fast, fast_base = Target("choreography.fast"), Target("choreography.fast", baseline=True)
    slow, slow_base = Target("orchestration.slow"), Target("orchestration.slow", baseline=True)
    assert calls[:4] == [fast, fast_base, slow, slow_base]  # untimed: each handler records its calls first
    assert calls[4:8] == [fast, fast_base, slow, slow_base]
    assert calls[8:12] == [fast_base, slow, slow_base, fast]  # rotated
    assert {target: len(runs) for target, runs in samples.items()} == dict.fromkeys(calls[:4], 3)


def test_ratios_are_medians_over_the_baselines_median():
    def runs(*totals):
        return [Sample(total, total / 2, total / 4) for total in totals]

    samples = {
        Target("a"): runs(0.3, 0.9, 0.2),
        Target("a", baseline=True): runs(0.3, 0.2, 0.1),
        Target("b"): runs(0.45, 0.3, 0.6),
        Target("b", baseline=True): runs(0.2, 0.2, 0.2),
    }
    rows = tabulate(samples, budget=1.5)
    assert [(row.module, row.cold_path, row.baseline, round(row.ratio, 6), row.passed) for row in rows] == [
        ("a", 0.3, 0.2, 1.5, True),  # at the budget passes
        ("b", 0.45, 0.2, 2.25, False),
    ]


def test_the_table_names_each_handler_with_its_ratio_and_result():
    rows = tabulate(measure(["choreography.fast", "orchestration.slow"], fake_runner(), rounds=1))
    table = render(rows, rounds=1)
    assert "choreography.fast       3        280       200   1.40x  PASS" in table
    assert "orchestration.slow      3        310       200   1.55x  FAIL" in table
    assert table.splitlines()[-1] == "1 of 2 handlers over 1.5x: orchestration.slow"


def test_an_over_budget_handler_fails_the_command(capsys):
    assert main(["--rounds", "3", "choreography.fast", "orchestration.slow"], runner=fake_runner()) == 1
    assert "orchestration.slow" in capsys.readouterr().out.splitlines()[-1]


def test_all_within_budget_passes(capsys):
    assert main(["--rounds", "3", "choreography.fast"], runner=fake_runner()) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "all 1 handlers within 1.5x"
    assert main(["--budget", "1.6", "orchestration.slow"], runner=fake_runner()) == 0


def test_a_module_without_a_scenario_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["orchestration.executions"])
    assert exited.value.code == 2
    assert "no scenario for orchestration.executions" in capsys.readouterr().err


def test_the_baseline_is_the_bare_boto3_handler():
    assert BASELINE == "bare_boto3"
    assert Target("orchestration.intake", baseline=True).name == "bare_boto3 (orchestration.intake)"


def test_shipping_byte_code_compiles_the_copy_and_the_table_says_so(tmp_path):
    copy = fresh_task_root(tmp_path, python=sys.executable)
    compiled = byte_code_under(copy)
    assert any(path.name.startswith("review.") and path.suffix == ".pyc" for path in compiled)
    rows = tabulate(measure(["choreography.fast"], fake_runner(), rounds=1))
    assert "with the project's byte code shipped (--byte-code)" in render(rows, rounds=1, byte_code=True)
    assert "without the project's byte code" in render(rows, rounds=1)

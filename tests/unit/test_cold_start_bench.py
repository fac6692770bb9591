"""The cold start benchmark's logic, with a fake runner: nothing here times anything real."""

from benchmarks.cold_start import (
    BASELINE,
    handler_modules,
    import_statement,
    lambda_environment,
    main,
    measure,
    render,
    tabulate,
)

FAKE_SECONDS = {"boto3": 0.2, "choreography.fast": 0.28, "orchestration.slow": 0.31}


def fake_runner(seconds=FAKE_SECONDS, calls=None):
    def run(statement: str) -> float:
        module = statement.removeprefix("import ")
        if calls is not None:
            calls.append(module)
        return seconds[module]

    return run


def test_every_handler_module_is_discovered_and_no_helper_module():
    modules = handler_modules()
    assert "choreography.start_transcription" in modules
    assert "orchestration.intake" in modules
    assert "orchestration.executions" not in modules  # a helper module: no handler
    assert "edges.fhir_export" in modules and "edges.review_page" in modules
    assert len(modules) == 13


def test_the_environment_is_a_deployed_functions_with_tracing_on():
    env = lambda_environment({"PATH": "/bin", "POWERTOOLS_TRACE_DISABLED": "true", "SOMETHING": "else"})
    assert "POWERTOOLS_TRACE_DISABLED" not in env
    assert "SOMETHING" not in env
    assert env["PATH"] == "/bin"
    assert env["LAMBDA_TASK_ROOT"]  # Powertools and the X-Ray SDK take their in-Lambda paths
    assert env["POWERTOOLS_SERVICE_NAME"] and env["POWERTOOLS_METRICS_NAMESPACE"] and env["ENCOUNTER_BUCKET"]


def test_runs_are_interleaved_after_one_untimed_warm_up_each():
    calls = []
    samples = measure(["choreography.fast", "orchestration.slow"], fake_runner(calls=calls), rounds=3)
    assert calls[:3] == ["boto3", "choreography.fast", "orchestration.slow"]  # warm-up
    assert calls[3:6] == ["boto3", "choreography.fast", "orchestration.slow"]
    assert calls[6:9] == ["choreography.fast", "orchestration.slow", "boto3"]  # rotated
    assert {name: len(runs) for name, runs in samples.items()} == {
        "boto3": 3,
        "choreography.fast": 3,
        "orchestration.slow": 3,
    }


def test_ratios_are_medians_over_the_baselines_median():
    baseline, rows = tabulate({BASELINE: [0.3, 0.2, 0.1], "a": [0.3, 0.9, 0.2], "b": [0.45, 0.3, 0.6]}, budget=1.5)
    assert baseline == 0.2
    assert [(row.module, row.seconds, round(row.ratio, 6), row.passed) for row in rows] == [
        ("a", 0.3, 1.5, True),  # at the budget passes
        ("b", 0.45, 2.25, False),
    ]


def test_the_table_names_each_handler_with_its_ratio_and_result():
    baseline, rows = tabulate({BASELINE: [0.2], "choreography.fast": [0.28], "orchestration.slow": [0.31]})
    table = render(baseline, rows, rounds=1)
    assert "import boto3 (baseline)     0.200   1.00x" in table
    assert "choreography.fast           0.280   1.40x  PASS" in table
    assert "orchestration.slow          0.310   1.55x  FAIL" in table
    assert table.splitlines()[-1] == "1 of 2 handlers over 1.5x: orchestration.slow"


def test_an_over_budget_handler_fails_the_command(capsys):
    assert main(["--rounds", "3", "choreography.fast", "orchestration.slow"], runner=fake_runner()) == 1
    assert "orchestration.slow" in capsys.readouterr().out.splitlines()[-1]


def test_all_within_budget_passes(capsys):
    assert main(["--rounds", "3", "choreography.fast"], runner=fake_runner()) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "all 1 handlers within 1.5x"
    assert main(["--budget", "1.6", "orchestration.slow"], runner=fake_runner()) == 0


def test_statements_are_plain_imports():
    assert import_statement("orchestration.intake") == "import orchestration.intake"

"""Simulated time: actors run one at a time in the order of events, the clock jumps over idle time,
a stuck run names what is pending, and the model files refuse bad input naming the field."""

from __future__ import annotations

import json
import os

import pytest

from localcloud import lambda_runtime
from localcloud.service_model import (
    LATENCIES_FILE,
    QUOTAS_FILE,
    ModelError,
    load_latencies,
    quota_settings,
    quotas_named,
)
from localcloud.simulation import HorizonReached, SimEvent, Simulation


def run_story(seed: int = 7) -> list[tuple[float, str]]:
    """Three actors that sleep, wait for an event with a timeout, and wake each other."""
    trace: list[tuple[float, str]] = []
    with Simulation(seed=seed) as simulation:
        ready = SimEvent()

        def clinician() -> None:
            simulation.sleep(90)
            trace.append((simulation.now(), "clinician uploads"))
            ready.set()

        def waiter(name: str, timeout: float) -> None:
            woken = ready.wait(timeout)
            trace.append((simulation.now(), f"{name} {'woken' if woken else 'timed out'}"))

        simulation.spawn(lambda: waiter("patient", 60), "patient")
        simulation.spawn(lambda: waiter("nurse", 900), "nurse")
        simulation.spawn(clinician, "clinician")
        simulation.run_until()
    return trace


def test_time_jumps_to_the_next_event_and_the_order_follows_the_events():
    assert run_story() == [
        (60.0, "patient timed out"),
        (90.0, "clinician uploads"),
        (90.0, "nurse woken"),
    ]


def test_the_same_story_gives_the_same_trace_every_time():
    assert run_story() == run_story() == run_story()


def test_wall_clock_functions_read_the_simulated_clock():
    from datetime import UTC, datetime

    with Simulation() as simulation:
        simulation.run_for(3600)
        assert datetime.now(UTC) == simulation.wall() == simulation.start.replace(hour=9)


def test_pending_work_with_nothing_scheduled_is_an_error_that_names_it():
    with Simulation() as simulation:
        never = SimEvent()
        simulation.spawn(lambda: never.wait(), "an execution waiting for a callback")
        with pytest.raises(HorizonReached, match="an execution waiting for a callback"):
            simulation.run_until()
        never.set()
        simulation.run_until()


def test_reaching_the_horizon_is_an_error_that_lists_what_is_pending():
    with Simulation() as simulation:
        simulation.spawn(lambda: simulation.sleep(7200), "a two-hour job")
        with pytest.raises(HorizonReached, match=r"horizon of 1 h passed.*\n  a two-hour job \(sleep\)"):
            simulation.run_until(horizon=3600)


def test_each_invocation_sees_its_own_environment_while_others_run_between():
    seen: dict[str, list[str]] = {"a": [], "b": []}
    with Simulation() as simulation, lambda_runtime.per_invocation_environment():

        def invocation(name: str) -> None:
            record = {"environ": {**os.environ.copy(), "POWERTOOLS_SERVICE_NAME": name}, "output": None}
            with lambda_runtime._invocation(record):
                for _ in range(3):
                    seen[name].append(os.environ["POWERTOOLS_SERVICE_NAME"])
                    simulation.sleep(1)

        simulation.spawn(lambda: invocation("a"), "a")
        simulation.spawn(lambda: invocation("b"), "b")
        simulation.run_until()
        assert "POWERTOOLS_SERVICE_NAME" not in os.environ or os.environ["POWERTOOLS_SERVICE_NAME"] not in "ab"
    assert seen == {"a": ["a"] * 3, "b": ["b"] * 3}


def test_the_model_files_load_with_a_source_for_every_value():
    latencies = load_latencies()
    assert latencies.transcribe_job(600) == pytest.approx(45 + 0.3 * 600)
    settings = quota_settings()
    assert set(settings) >= {"default", "tight"}
    assert settings["tight"].transcribe_medical_concurrent_jobs < settings["default"].transcribe_medical_concurrent_jobs
    for name, entry in json.loads(LATENCIES_FILE.read_text()).items():
        if not name.startswith("_"):
            assert entry["source"], name
    for name, entry in json.loads(QUOTAS_FILE.read_text())["default"].items():
        assert entry["source"], name


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"default": {"transcribe_medical_concurrent_job": 5}},
            r"quotas.json.default.transcribe_medical_concurrent_job: unknown name",
        ),
        ({"tight": {"lambda_account_concurrency": 5}}, r"quotas.json.default: missing"),
        ({"_": 1, "default": {}}, r"quotas.json.default.bedrock_output_token_burndown: missing"),
    ],
)
def test_a_bad_quota_file_fails_with_one_line_naming_the_field(tmp_path, content, message):
    path = tmp_path / "quotas.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ModelError, match=message):
        quota_settings(path)


def test_a_negative_or_non_numeric_quota_override_is_refused(tmp_path):
    path = tmp_path / "quotas.json"
    default = json.loads(QUOTAS_FILE.read_text())["default"]
    path.write_text(json.dumps({"default": default, "small": {"lambda_account_concurrency": -1}}))
    with pytest.raises(ModelError, match=r"^quotas.json.small.lambda_account_concurrency: must not be negative"):
        quota_settings(path)
    path.write_text(json.dumps({"default": default, "small": {"bedrock_tokens_per_minute": "lots"}}))
    with pytest.raises(ModelError, match=r"^quotas.json.small.bedrock_tokens_per_minute: expected a number"):
        quota_settings(path)
    with pytest.raises(ModelError, match="unknown setting 'huge'"):
        quotas_named("huge")


def test_a_negative_latency_is_refused(tmp_path):
    values = json.loads(LATENCIES_FILE.read_text())
    values["sqs_poll"]["value"] = -0.1
    path = tmp_path / "latencies.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ModelError, match=r"^latencies.json.sqs_poll: must not be negative"):
        load_latencies(path)

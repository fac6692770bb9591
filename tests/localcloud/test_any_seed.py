"""Any seed, same guarantees: workloads, fault profiles and seeds nobody chose, at small sizes, pass every invariant
in both variants (parity included) and give the same report twice. `make soak` runs the same over many more seeds
(experiments/soak.py); this is its bounded, derandomized sample for `make test`."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from experiments import compare
from experiments.soak import PROFILES, comparable, first_difference, summarize
from experiments.workloads import workloads


def test_comparable_leaves_out_only_the_wall_time():
    report = {"real_seconds": 12.5, "parameters": {"seed": 3}, "parity": {"default": {"same_outcome": 4}}}
    assert comparable(report) == {"parameters": {"seed": 3}, "parity": {"default": {"same_outcome": 4}}}
    other = {**report, "real_seconds": 99.0}
    assert first_difference(comparable(report), comparable(other)) is None
    drifted = {**report, "parity": {"default": {"same_outcome": 5}}}
    assert first_difference(comparable(report), comparable(drifted)) == ".parity.default.same_outcome: 4 vs 5"


def test_a_failing_or_drifting_seed_is_printed_with_the_command_that_reproduces_it():
    def run(seed, number, failed=(), digest="a", report=None):
        return {"profile": "storm", "seed": seed, "run": number, "failed": list(failed), "digest": digest,
                "report": report or {"a": 1}, "seconds": 1.0}  # fmt: skip

    results = [run(4, 1, ["default/parity: drift"]), run(5, 1), run(5, 2, digest="b", report={"a": 2}), run(6, 1)]
    tallies, lines = summarize(results, ("storm",), 12)
    assert lines == [
        "FAILED storm seed 4: default/parity: drift\n"
        "  repro: scribe compare --encounters 12 --faults storm --seed 4 --no-reviews",
        "NOT DETERMINISTIC storm seed 5: the two reports differ at .a: 1 vs 2\n"
        "  repro: run `scribe compare --encounters 12 --faults storm --seed 5 --no-reviews --json` twice and compare",
    ]
    storm = tallies["storm"]
    assert (sorted(storm.seeds), sorted(storm.held), sorted(storm.twice), sorted(storm.same)) == (
        [4, 5, 6],
        [5, 6],
        [5],
        [],
    )


@settings(
    max_examples=3,
    derandomize=True,
    database=None,
    deadline=None,
    # No shrinking: each example is two comparisons (10-45 s); a failure names its repro command as drawn.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    workload=st.sampled_from(sorted(workloads())),
    profile=st.sampled_from(PROFILES),
    seed=st.integers(min_value=1, max_value=100_000),
    encounters=st.integers(min_value=2, max_value=6),
)
def test_every_invariant_holds_and_the_same_seed_gives_the_same_report(cdk_out, workload, profile, seed, encounters):
    setting = [workloads()[workload].quotas[0]]
    run = {"workload": workload, "quotas": setting, "reviews": False}
    first = compare.compare(cdk_out, encounters, profile, seed, **run)
    repro = f"scribe compare --workload {workload} --encounters {encounters} --faults {profile} --seed {seed}"
    assert compare.failed_invariants(first) == [], f"{repro} --quotas {setting[0]} --no-reviews"
    second = compare.compare(cdk_out, encounters, profile, seed, **run)
    assert first_difference(comparable(first), comparable(second)) is None, repro


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_of_the_sweep_is_a_profile_of_the_comparison(profile):
    assert profile in compare.profiles()

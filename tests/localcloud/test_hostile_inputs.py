"""Hostile and careless inputs (the table in experiments/hostile.py), each through both variants, each
with the one outcome it must have (issue 13, item 9). One local cloud runs every case, in two rounds:
the uploads, then what comes after a note exists (re-uploads, forged transcripts)."""

from __future__ import annotations

import pytest

from experiments.hostile import CASES, TRANSCRIPTS, records
from localcloud.cloud import LocalCloud
from tests.localcloud.conftest import STACKS, deploy_both


@pytest.fixture(scope="module")
def hostile_run(cdk_out):
    with LocalCloud(cdk_out) as cloud:
        deploy_both(cloud)
        for audio, transcript in TRANSCRIPTS.items():
            cloud.transcribe.register(audio, transcript)
        s3 = cloud.client("s3")
        for round_ in ("first", "then"):
            for case in CASES:
                for key, body in getattr(case, round_):
                    for stack in STACKS:
                        s3.put_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key, Body=body)
            cloud.run_until_quiet()
            cloud.run_for(3 * 3600)  # the sweeps and the watchdog have their say
            cloud.run_until_quiet()
        yield {stack: records(s3, cloud.outputs[stack]["EncounterBucketName"]) for stack in STACKS}


def test_the_table_has_at_least_forty_cases():
    assert len(CASES) >= 40 and len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_input_ends_in_exactly_its_records(hostile_run, stack, case):
    expected = set(case.expected_records)
    found = set(hostile_run[stack])
    assert expected <= found, f"missing: {sorted(expected - found)}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_record_beyond_what_the_cases_expect(hostile_run, stack):
    """Exactly one terminal record per expectation: nothing for an id nobody uploaded, nothing twice."""
    expected = sorted(record for case in CASES for record in case.expected_records)
    assert hostile_run[stack] == expected

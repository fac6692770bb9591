"""Fifty uploads at once end in fifty notes in both variants (issue 13: once all fifty orchestration
encounters ended TranscriptionStalled)."""

from dataclasses import replace

import pytest

from localcloud.cloud import LocalCloud
from localcloud.service_model import quotas_named
from tests.localcloud.conftest import DICTATION, STACKS, keys, upload

AUDIO = b"RIFF....WAVEfmt one of fifty"


@pytest.mark.parametrize("stack", STACKS)
def test_fifty_uploads_at_once_end_in_fifty_notes(local_cloud, stack):
    local_cloud.transcribe.register(AUDIO, DICTATION)
    for number in range(50):
        upload(local_cloud, stack, f"audio/burst-{number:02d}.wav", AUDIO)
    local_cloud.run_until_quiet()
    assert keys(local_cloud, stack, "notes/") == [f"notes/burst-{number:02d}.json" for number in range(50)]
    assert keys(local_cloud, stack, "failures/") == []


# Declared lengths (x-amz-meta-recording-seconds) of eight visits uploaded at once, two Transcribe slots.
LENGTHS = (60, 300, 1200, 600, 120, 900, 30, 1800)


@pytest.mark.parametrize("stack", STACKS)
def test_at_a_full_quota_uploads_wait_in_line_ask_about_twice_and_start_by_when_their_visit_began(cdk_out, stack):
    """Two slots, eight visits uploaded at once: the first two start; the others wait in line (a refused start,
    then every upload that finds someone waiting) and start as slots free, the visit that began first (the
    longest, uploaded at the same moment) first. Nobody is refused twice; the line ends empty."""
    quotas = replace(quotas_named("default"), transcribe_medical_concurrent_jobs=2)
    with LocalCloud(cdk_out, quotas=quotas) as cloud:
        cloud.deploy(stack)
        for number, seconds in enumerate(LENGTHS):
            audio = AUDIO + f" visit {number}".encode()
            cloud.transcribe.register(audio, DICTATION, seconds=seconds)
            upload(cloud, stack, f"audio/visit-{number}.wav", audio, **{"recording-seconds": str(seconds)})
        cloud.run_until_quiet()
        assert keys(cloud, stack, "notes/") == [f"notes/visit-{number}.json" for number in range(len(LENGTHS))]
        assert keys(cloud, stack, "failures/") == []
        refused = cloud.operations.counts[("transcribe", "StartMedicalTranscriptionJob")] - len(LENGTHS)
        assert 1 <= refused <= len(LENGTHS) - 2, f"{refused} refused starts: one at most per upload that waited"
        jobs = cloud.client("transcribe").list_medical_transcription_jobs(MaxResults=100)
        started = [j["MedicalTranscriptionJobName"].rpartition("-")[2] for j in
                   sorted(jobs["MedicalTranscriptionJobSummaries"], key=lambda j: j["CreationTime"])]  # fmt: skip
        first_two = {int(n) for n in started[:2]}
        waited = [str(n) for n in sorted(set(range(len(LENGTHS))) - first_two, key=lambda n: -LENGTHS[n])]
        assert started[2:] == waited, "after the two that found a slot, the visits that began first (the longest)"
        table = cloud.outputs[stack]["TranscriptionLineTableName"]
        line = cloud.client("dynamodb").query(
            TableName=table, KeyConditionExpression="line = :l", ExpressionAttributeValues={":l": {"S": "waiting"}}
        )
        assert line["Items"] == [], "nobody left waiting"

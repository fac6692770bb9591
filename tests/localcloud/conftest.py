"""Both synthesized stacks deployed into the in-process local cloud."""

from __future__ import annotations

import json

import pytest

from localcloud.cloud import LocalCloud
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

STACKS = (CHOREOGRAPHY_STACK, ORCHESTRATION_STACK)
DICTATION = (
    "Patient is a 54 year old man who reports three days of productive cough and fever. "
    "Temperature is 38.4 and lungs have crackles at the right base on exam. "
    "Assessment is community acquired pneumonia. "
    "Plan is amoxicillin 1 gram three times daily for 5 days and a chest x-ray."
)


@pytest.fixture
def local_cloud(cdk_out):
    with LocalCloud(cdk_out) as cloud:
        yield deploy_both(cloud)


def deploy_both(cloud: LocalCloud, audio: bytes | None = None) -> LocalCloud:
    """Both stacks deployed; `audio`, if given, is what Transcribe's stand-in hears as DICTATION."""
    for stack in STACKS:
        cloud.deploy(stack)
    if audio is not None:
        cloud.transcribe.register(audio, DICTATION)
    return cloud


def upload(cloud: LocalCloud, stack: str, key: str, body: bytes, **metadata: str) -> None:
    cloud.client("s3").put_object(
        Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key, Body=body, Metadata=metadata
    )


def upload_to_both(cloud: LocalCloud, key: str, body: bytes) -> None:
    for stack in STACKS:
        upload(cloud, stack, key, body)


def keys(cloud: LocalCloud, stack: str, prefix: str = "") -> list[str]:
    listing = cloud.client("s3").list_objects_v2(Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def read_json(cloud: LocalCloud, stack: str, key: str) -> dict:
    body = cloud.client("s3").get_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key)["Body"]
    return json.loads(body.read())

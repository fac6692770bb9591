"""Both synthesized stacks deployed into the in-process local cloud."""

from __future__ import annotations

import json

import pytest
import yaml

from localcloud.cloud import LocalCloud
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK

STACKS = (CHOREOGRAPHY_STACK, ORCHESTRATION_STACK)
DICTATION = (
    "Patient is a 54 year old man who reports three days of productive cough and fever. "
    "Temperature is 38.4 and lungs have crackles at the right base on exam. "
    "Assessment is community acquired pneumonia. "
    "Plan is amoxicillin 1 gram three times daily for 5 days and a chest x-ray."
)


class JsonFirstYaml:
    """PyYAML, except that `load` reads a JSON document as JSON (the same dict, some 50 times faster)."""

    def __getattr__(self, name):
        return getattr(yaml, name)

    @staticmethod
    def load(stream, Loader):
        if isinstance(stream, str) and stream.lstrip().startswith("{"):
            try:
                return json.loads(stream)
            except ValueError:
                pass
        return yaml.load(stream, Loader=Loader)  # noqa: S506 (what moto asks for)


@pytest.fixture(scope="session", autouse=True)
def templates_read_as_json():
    """moto's CloudFormation reads every template with the pure-Python YAML loader, trying JSON only when
    that fails: a quarter of a local-cloud test's time went on parsing the synthesized (JSON) templates."""
    import moto.cloudformation.models
    import moto.cloudformation.responses

    with pytest.MonkeyPatch.context() as patch:
        for module in (moto.cloudformation.models, moto.cloudformation.responses):
            patch.setattr(module, "yaml", JsonFirstYaml())
        yield


@pytest.fixture
def local_cloud(cdk_out):
    with LocalCloud(cdk_out) as cloud:
        for stack in STACKS:
            cloud.deploy(stack)
        yield cloud


def upload(cloud: LocalCloud, stack: str, key: str, body: bytes) -> None:
    cloud.client("s3").put_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key, Body=body)


def keys(cloud: LocalCloud, stack: str, prefix: str = "") -> list[str]:
    listing = cloud.client("s3").list_objects_v2(Bucket=cloud.outputs[stack]["EncounterBucketName"], Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def read_json(cloud: LocalCloud, stack: str, key: str) -> dict:
    import json

    body = cloud.client("s3").get_object(Bucket=cloud.outputs[stack]["EncounterBucketName"], Key=key)["Body"]
    return json.loads(body.read())

"""`make destroy` leaves behind what the templates retain, and docs/reference.md says what that is: the
table there names exactly the resource types the stacks retain, in every configuration that adds one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks.app_factory import ORCHESTRATION_STACK
from tests.infra.conftest import synthesized

REFERENCE = Path(__file__).parents[2] / "docs" / "reference.md"


def retained_types(template) -> set[str]:
    return {
        resource["Type"]
        for resource in template.to_json()["Resources"].values()
        if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    }


def documented_types() -> set[str]:
    """The CloudFormation types in the table of the 'Tearing down' section."""
    section = REFERENCE.read_text().split("## Tearing down: `make destroy`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`AWS::" in line]
    return {re.search(r"`(AWS::[A-Za-z0-9:]+)`", row).group(1) for row in rows}


@pytest.fixture(scope="module")
def fully_configured(tmp_path_factory):
    """The configuration that retains the most: the review page (user pool, access logs) in a VPC (flow logs)."""
    return synthesized(tmp_path_factory, {"review_page": True, "deploy_in_vpc": True}, stack=ORCHESTRATION_STACK)


def test_the_documented_retained_types_are_the_ones_the_templates_retain(variant, fully_configured):
    assert retained_types(variant) | retained_types(fully_configured) == documented_types()


def test_every_retained_data_store_is_encrypted_with_the_retained_key_or_s3s_own(variant):
    """What is retained stays readable only with what is retained too: no log group uses another key."""
    resources = variant.to_json()["Resources"]
    (key,) = [name for name, r in resources.items() if r["Type"] == "AWS::KMS::Key"]
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert resource["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}, name

"""Every configuration of the matrix (tests/support/configurations.py) synthesized with the cdk-nag packs (cached
by content) and both its stacks deployed on the local cloud, one configuration after another in this process.

moto's CloudFormation skips, with a warning, the resource types it cannot create. The local cloud applies some of
them itself (APPLIED_AFTER_CREATION); any other type a configuration brings must be one named here, with what it
leaves out locally, so a configuration that adds a resource the local cloud silently drops fails here."""

from __future__ import annotations

import json
import re
import warnings

import pytest

from localcloud.cloud import LocalCloud
from localcloud.cloudformation_shims import APPLIED_AFTER_CREATION
from tests.localcloud.conftest import STACKS
from tests.support.configurations import MATRIX, REVIEW_PAGE_OUTPUTS, Configuration

# The review page's API stage is not created by the local cloud (its function is invoked as API Gateway would,
# LocalCloud.review_page_request; its Cognito pool, client, domain and group are created); only the review_page
# configurations bring it. An alarm_email subscription is checked on the template instead
# (tests/infra/test_read_against_aws.py).
NOT_CREATED_LOCALLY = {"AWS::SNS::Subscription", "AWS::ApiGateway::Stage"}
SKIPPED = re.compile(r"Tried to parse (\S+) but it's not supported by moto's CloudFormation")


def referenced(value) -> set[str]:
    """The logical ids an output's value refers to (Ref, Fn::GetAtt), however deeply nested."""
    if isinstance(value, dict):
        found = set()
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            else:
                found |= referenced(inner)
        return found
    if isinstance(value, list):
        return set().union(*map(referenced, value)) if value else set()
    return set()


@pytest.mark.parametrize("configuration", MATRIX, ids=lambda configuration: configuration.name)
def test_each_configuration_synthesizes_and_deploys_both_stacks_with_their_outputs(configuration: Configuration):
    cdk_out = configuration.cdk_out()  # raises on any unacknowledged cdk-nag finding
    if configuration.context:  # its keys reach the templates
        default = MATRIX[0].cdk_out()
        assert any(
            (cdk_out / f"{stack}.template.json").read_text() != (default / f"{stack}.template.json").read_text()
            for stack in STACKS
        )
    with LocalCloud(cdk_out) as cloud:
        cloudformation = cloud.client("cloudformation")
        assert cloudformation.describe_stacks()["Stacks"] == [], "each configuration starts on an empty cloud"
        for stack in STACKS:
            template = json.loads((cdk_out / f"{stack}.template.json").read_text())
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outputs = cloud.deploy(stack)
            skipped = {m.group(1) for w in caught if (m := SKIPPED.search(str(w.message)))}
            assert skipped - set(APPLIED_AFTER_CREATION) <= NOT_CREATED_LOCALLY
            [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
            assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
            # Every output the template declares, but one whose resource the local cloud does not create.
            types = {logical_id: r["Type"] for logical_id, r in template["Resources"].items()}
            declared = template.get("Outputs", {})
            assert set(outputs) <= set(declared)
            for name in set(declared) - set(outputs):
                assert {types.get(i) for i in referenced(declared[name]["Value"])} & NOT_CREATED_LOCALLY, name
            assert set(configuration.outputs) <= set(declared)
            if configuration.context.get("review_page"):  # the function starts with its user pool's ids
                assert set(REVIEW_PAGE_OUTPUTS) <= set(outputs)
            else:
                assert not set(REVIEW_PAGE_OUTPUTS) & set(outputs)
                assert not skipped & (NOT_CREATED_LOCALLY - {"AWS::SNS::Subscription"})

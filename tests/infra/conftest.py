"""The templates of the session's one synth (the `cdk_out` fixture, tests/support/synth_cache.py), with the
cdk-nag packs attached exactly as app.py attaches them.

That synth raises if any nag finding is unacknowledged, so every infra test also proves the stacks are
compliant; `synthesized` does the same for the tests that need another context.
"""

import json

import pytest
from aws_cdk.assertions import Template

from stacks.app_factory import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK, build_app
from tests.support.templates import ref_id  # noqa: F401 (the tests import it from here)


def synthesized(tmp_path_factory, context: dict | None = None, stack: str = CHOREOGRAPHY_STACK) -> Template:
    app = build_app(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return Template.from_stack(app.node.find_child(stack))


def from_cdk_out(cdk_out, stack: str) -> Template:
    return Template.from_json(json.loads((cdk_out / f"{stack}.template.json").read_text()))


@pytest.fixture(scope="session")
def choreography(cdk_out) -> Template:
    return from_cdk_out(cdk_out, CHOREOGRAPHY_STACK)


@pytest.fixture(scope="session")
def orchestration(cdk_out) -> Template:
    return from_cdk_out(cdk_out, ORCHESTRATION_STACK)


@pytest.fixture(scope="session", params=[CHOREOGRAPHY_STACK, ORCHESTRATION_STACK])
def variant(request, choreography, orchestration) -> Template:
    """Each variant's template in turn, for what both must guarantee."""
    return {CHOREOGRAPHY_STACK: choreography, ORCHESTRATION_STACK: orchestration}[request.param]


def resources(template: Template, type_: str) -> dict[str, dict]:
    return template.find_resources(type_)

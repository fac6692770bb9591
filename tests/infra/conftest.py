"""One synth per session, with the cdk-nag packs attached exactly as app.py attaches them.

Template.from_stack raises if any nag finding is unacknowledged, so every infra test also proves
the stack is compliant.
"""

import pytest
from aws_cdk.assertions import Template

from stacks.app_factory import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK, build_app
from tests.support.templates import ref_id  # noqa: F401 (the tests import it from here)


def synthesized(tmp_path_factory, context: dict | None = None, stack: str = CHOREOGRAPHY_STACK) -> Template:
    app = build_app(context=context, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return Template.from_stack(app.node.find_child(stack))


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    return build_app(outdir=str(tmp_path_factory.mktemp("cdk.out")))


@pytest.fixture(scope="session")
def choreography(app) -> Template:
    return Template.from_stack(app.node.find_child(CHOREOGRAPHY_STACK))


@pytest.fixture(scope="session")
def orchestration(app) -> Template:
    return Template.from_stack(app.node.find_child(ORCHESTRATION_STACK))


@pytest.fixture(scope="session", params=[CHOREOGRAPHY_STACK, ORCHESTRATION_STACK])
def variant(request, app) -> Template:
    """Each variant's template in turn, for what both must guarantee."""
    return Template.from_stack(app.node.find_child(request.param))


def resources(template: Template, type_: str) -> dict[str, dict]:
    return template.find_resources(type_)

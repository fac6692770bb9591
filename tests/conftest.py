"""Every test runs offline: fake credentials, one region, Powertools without X-Ray."""

import os
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "ClinicalScribeTest",
        "POWERTOOLS_METRICS_NAMESPACE": "ClinicalScribe",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
)


@pytest.fixture(scope="session", autouse=True)
def one_botocore_loader():
    """Every botocore session of the process shares one loader of the service models. moto starts each
    test with a new default session, whose own loader would parse the models' JSON again (most of a
    handler test's time); what a client does does not change."""
    loader = botocore.loaders.create_loader()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", lambda search_path_string=None: loader)
        yield


@pytest.fixture(scope="session")
def cdk_out() -> Path:
    """Both stacks synthesized with the default context, once for every test process and `make scan`
    (tests/support/synth_cache.py). Read-only: a test that changes the assembly changes a copy."""
    from tests.support.synth_cache import cdk_out

    return cdk_out()

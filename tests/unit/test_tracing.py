"""On AWS (in-Lambda environment, tracing on) the Tracer is enabled and traces boto3 calls: botocore is
patched, and only botocore (patching every supported library cost the cold start for nothing)."""

import subprocess
import sys

from benchmarks.cold_start import lambda_environment

PROBE = """
from botocore.client import BaseClient
from aws_xray_sdk.core import patcher
from clinical.observability import tracer
print(tracer.disabled, sorted(patcher._PATCHED_MODULES), type(vars(BaseClient)["_make_api_call"]).__name__)
"""


def test_in_lambda_the_tracer_is_on_and_patches_botocore_only():
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE], env=lambda_environment(), capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[0] == "False ['botocore'] FunctionWrapper"

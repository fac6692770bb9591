"""The handler tests that run on the local cloud's machinery (its SQS event source, its simulated time and
in-process Lambda runtime): the unit tier's fixtures (moto, a stubbed Bedrock), which load no local cloud."""

from tests.unit.conftest import (  # noqa: F401 (fixtures)
    cloud,
    cloud_key_arn,
    fresh_metrics,
    lambda_context,
    moto_aws,
    pipeline_env,
    structured_logs,
)

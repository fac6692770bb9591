"""Builds the CDK app exactly as `cdk synth` does, for app.py and the infrastructure tests."""

from __future__ import annotations

import os

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, ServerlessChecks

from stacks.choreography_stack import ChoreographyStack
from stacks.config import PipelineConfig
from stacks.names import CHOREOGRAPHY_STACK, ORCHESTRATION_STACK
from stacks.orchestration_stack import OrchestrationStack

__all__ = ["CHOREOGRAPHY_STACK", "ORCHESTRATION_STACK", "build_app"]


# Feature flags this app relies on, whether or not the CDK CLI (and so cdk.json) is in play.
FEATURE_FLAGS = {
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    # Without it every replicating bucket's role is named CDKReplicationRole: IAM names are per account, so the
    # second stack with replication_destination_bucket_arn would fail to create.
    "@aws-cdk/aws-s3:setUniqueReplicationRoleName": True,
}


def build_app(context: dict | None = None, outdir: str | None = None) -> App:
    # The CDK CLI passes CDK_OUTDIR; `python app.py` on its own writes where `make scan` looks.
    outdir = outdir or os.environ.get("CDK_OUTDIR") or "cdk.out"
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    config = PipelineConfig.from_context(app.node)
    ChoreographyStack(app, CHOREOGRAPHY_STACK, config=config, description="Clinical scribe pipeline: choreography")
    OrchestrationStack(app, ORCHESTRATION_STACK, config=config, description="Clinical scribe pipeline: orchestration")
    Validations.of(app).add_plugins(HIPAASecurityChecks(app), AwsSolutionsChecks(app), ServerlessChecks(app))
    return app

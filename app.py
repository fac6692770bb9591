#!/usr/bin/env python3
"""The CDK app: both pipeline variants, with the HIPAA Security, AwsSolutions and Serverless packs."""

import sys

from stacks.app_factory import build_app
from stacks.config import ConfigError

try:
    app = build_app()
except ConfigError as error:  # a bad cdk.json / -c value: one line, no traceback, nothing synthesized
    sys.exit(f"cdk.json context: {error}")
app.synth()

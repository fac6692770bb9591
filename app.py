#!/usr/bin/env python3
"""The CDK app: both pipeline variants, with the HIPAA Security, AwsSolutions and Serverless packs."""

from stacks.app_factory import build_app

build_app().synth()

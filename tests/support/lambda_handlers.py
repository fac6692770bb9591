"""Tiny handlers for testing the local cloud's Lambda runtime itself."""

import os

import boto3

from clinical.observability import tracer
from localcloud.simulation import active


def report_environment(event, context):
    return {"greeting": os.environ.get("GREETING"), "function": context.function_name, "event": event}


class DeliberateFailure(Exception):
    pass


def fail(event, context):
    raise DeliberateFailure("failed on purpose")


@tracer.capture_lambda_handler(capture_response=False)
def traced_wait(event, context):
    """Waits `seconds` of simulated time in a traced method, then makes one AWS call; says how it was traced."""
    wait(event["seconds"])
    boto3.client("s3").list_buckets()
    return {"trace_header": os.environ["_X_AMZN_TRACE_ID"], "tracer_disabled": tracer.disabled}


@tracer.capture_method(capture_response=False)
def wait(seconds: float) -> None:
    active().sleep(seconds)

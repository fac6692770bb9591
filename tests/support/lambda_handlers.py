"""Tiny handlers for testing the local cloud's Lambda runtime itself."""

import os


def report_environment(event, context):
    return {"greeting": os.environ.get("GREETING"), "function": context.function_name, "event": event}


class DeliberateFailure(Exception):
    pass


def fail(event, context):
    raise DeliberateFailure("failed on purpose")

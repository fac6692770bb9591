"""The cold path's baseline: a bare-boto3 handler that makes the calls a handler made for the same event.

`CALLS` (service, operation, parameters), as the handler made them, is set by the bench before the invocation:
the same clients, created the same way, and the same calls, answered by the same canned responses.
"""

from contextlib import suppress

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError

CALLS: list[tuple[str, str, dict]] = []


def handler(event, context):
    clients = {}
    for service, operation, parameters in CALLS:
        if service not in clients:
            clients[service] = boto3.client(service)
        with suppress(ClientError):  # the handler's answer was this error too, and the handler went on
            getattr(clients[service], xform_name(operation))(**parameters)
    return {"calls": len(CALLS)}

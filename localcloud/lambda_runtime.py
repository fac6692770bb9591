"""Run moto's Lambda functions in this process instead of in Docker.

Every invocation path of moto (Invoke, Step Functions tasks, event source mappings) goes through
`LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)`. The patch imports the
function's handler from the project's Lambda source and calls it with the function's own
environment, returning what Lambda returns: the JSON result, or an error payload whose errorType
is the exception's class name (which Step Functions uses as the error name).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from moto.awslambda.models import LambdaFunction

from localcloud.sqs_event_source import LambdaContext

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"
# Environment variables are process-wide: one invocation at a time sees its function's environment.
_ENVIRONMENT_LOCK = threading.RLock()


def resolve_handler(handler: str):
    module_name, _, function_name = handler.rpartition(".")
    if str(LAMBDA_SOURCE) not in sys.path:
        sys.path.insert(0, str(LAMBDA_SOURCE))
    return getattr(importlib.import_module(module_name), function_name)


def error_payload(error: BaseException) -> dict:
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


@contextlib.contextmanager
def function_environment(variables: dict[str, str]) -> Iterator[None]:
    with _ENVIRONMENT_LOCK:
        saved = dict(os.environ)
        os.environ.update(variables)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def invoke_in_process(function: LambdaFunction, event: Any, extra_environment: dict[str, str]) -> tuple[str, bool, str]:
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    context = LambdaContext(
        function_name=function.function_name,
        memory_limit_in_mb=int(function.memory_size or 128),
        invoked_function_arn=function.function_arn,
    )
    with function_environment({**extra_environment, **(function.environment_vars or {})}):
        try:
            result = resolve_handler(function.handler)(event, context)
        except Exception as error:
            return json.dumps(error_payload(error)), True, ""
    return json.dumps(result), False, ""


@contextlib.contextmanager
def in_process_lambdas(extra_environment: dict[str, str] | None = None) -> Iterator[None]:
    """Within this block every moto Lambda function runs its handler in this process."""
    extra = dict(extra_environment or {})

    def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return invoke_in_process(self, event, extra)

    with mock.patch.object(LambdaFunction, "_invoke_lambda", _invoke_lambda):
        yield

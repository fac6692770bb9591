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
import io
import json
import os
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from moto.awslambda.models import LambdaFunction

from localcloud.sqs_event_source import LambdaContext

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"
# Environment variables are process-wide: one invocation at a time sees its function's environment.
_ENVIRONMENT_LOCK = threading.RLock()


class InvocationRecord:
    """What CloudWatch would have learned from the invocations: errors per function, and the
    embedded-metric-format (EMF) lines the handlers printed."""

    def __init__(self) -> None:
        self.errors: Counter = Counter()
        self.invocations: Counter = Counter()
        self.emf: list[dict] = []
        self.lock = threading.Lock()

    def add(self, function_name: str, errored: bool, printed: str) -> None:
        with self.lock:
            self.invocations[function_name] += 1
            if errored:
                self.errors[function_name] += 1
            for line in printed.splitlines():
                if line.startswith('{"_aws"'):
                    with contextlib.suppress(ValueError):
                        self.emf.append(json.loads(line))


INVOCATIONS = InvocationRecord()


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
        saved = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            # Put back only what this invocation set (no clear(): other threads may read os.environ meanwhile).
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


# Powertools prints its EMF metric documents; the modules whose `print` the runtime takes over.
EMF_PRINTING_MODULES = (
    "aws_lambda_powertools.metrics.base",
    "aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",
)


class _HandlerOutput(threading.local):
    """What a handler prints goes to its own invocation's buffer, per thread: another thread (an
    operator command run in-process while a state machine invokes a handler) keeps its stdout."""

    buffer: io.StringIO | None = None
    stream = None  # shared by all threads (a class attribute)


_OUTPUT = _HandlerOutput()


def send_handler_output_to(stream) -> None:
    """Where invocations' printed output (EMF metric lines) goes afterwards; INVOCATIONS keeps it anyway."""
    _HandlerOutput.stream = stream


def _handler_print(*args, **kwargs) -> None:
    if _OUTPUT.buffer is not None and "file" not in kwargs:
        kwargs["file"] = _OUTPUT.buffer
    print(*args, **kwargs)


class InjectedCrash(RuntimeError):
    """A LOCAL fault: the function's runtime died before the handler returned."""


def invoke_in_process(
    function: LambdaFunction,
    event: Any,
    extra_environment: dict[str, str],
    crash: Callable[[str], bool] = lambda _: False,
    clock_for_handlers: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> tuple[str, bool, str]:
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    context = LambdaContext(
        function_name=function.function_name,
        memory_limit_in_mb=int(function.memory_size or 128),
        invoked_function_arn=function.function_arn,
    )
    printed = io.StringIO()
    region = function.function_arn.split(":")[3]
    # What the Lambda service sets in every function's environment.
    reserved = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size or 128),
    }
    with function_environment({**extra_environment, **(function.environment_vars or {}), **reserved}):
        _powertools_follow_environment()
        try:
            _OUTPUT.buffer = printed
            with clock_for_handlers():
                if crash(function.function_name):
                    raise InjectedCrash("Runtime exited unexpectedly (local fault)")
                result = resolve_handler(function.handler)(event, context)
        except Exception as error:
            outcome = json.dumps(error_payload(error)), True, ""
        else:
            outcome = json.dumps(result), False, ""
        finally:
            _OUTPUT.buffer = None
            (_OUTPUT.stream or sys.stdout).write(printed.getvalue())
    INVOCATIONS.add(function.function_name, outcome[1], printed.getvalue())
    return outcome


def _forget_handler_clients() -> None:
    """The handlers cache their AWS clients per process, as on Lambda; a new local cloud (another
    endpoint, or moto's in-process mock) must not inherit the previous one's."""
    clients = sys.modules.get("clinical.clients")
    if clients is not None:
        clients.reset()


def _powertools_follow_environment() -> None:
    """On AWS each function has its own process, so Powertools reads its service name and namespace
    once. Here every function shares this process: point the shared Logger and Metrics at the
    invoked function's settings before its handler runs."""
    observability = sys.modules.get("clinical.observability")
    if observability is None:
        return
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
    observability.logger.append_keys(service=service)
    observability.metrics.service = service
    observability.metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")


@contextlib.contextmanager
def in_process_lambdas(
    extra_environment: dict[str, str] | None = None,
    crash: Callable[[str], bool] = lambda _: False,
    clock_for_handlers: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Iterator[None]:
    """Within this block every moto Lambda function runs its handler in this process.

    `crash(function_name)` is asked before each invocation; True makes it fail as a crashed runtime.
    """
    extra = dict(extra_environment or {})

    def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return invoke_in_process(self, event, extra, crash, clock_for_handlers)

    _forget_handler_clients()
    _HandlerOutput.stream = sys.stdout  # where invocations' output goes afterwards, as CloudWatch Logs would
    try:
        with contextlib.ExitStack() as patches:
            patches.enter_context(mock.patch.object(LambdaFunction, "_invoke_lambda", _invoke_lambda))
            for name in EMF_PRINTING_MODULES:
                module = importlib.import_module(name)
                patches.enter_context(mock.patch.object(module, "print", _handler_print, create=True))
            yield
    finally:
        _HandlerOutput.stream = None
        _forget_handler_clients()

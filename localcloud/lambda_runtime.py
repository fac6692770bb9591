"""Run moto's Lambda functions in this process instead of in Docker.

Every invocation path of moto (Invoke, Step Functions tasks, event source mappings) goes through
`LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)`. The patch imports the
function's handler from the project's Lambda source and calls it with the function's own
environment, returning what Lambda returns: the JSON result, or an error payload whose errorType
is the exception's class name (which Step Functions uses as the error name).

On Lambda each execution environment is its own process; here all share one. So each invocation
gets its own `os.environ` (a copy with its function's variables, and the trace header Lambda sets)
and its own output buffer, and under a simulation the shared Powertools Logger, Metrics and Tracer
state is swapped with the actor. What the invocations trace is kept by localcloud.xray_traces.
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
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from unittest import mock

from aws_lambda_powertools.shared import constants as powertools_constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_xray_sdk.core.models.traceid import TraceId
from moto.awslambda.models import LambdaFunction

from localcloud import moto_patches
from localcloud import simulation as simulation_module
from localcloud.sqs_event_source import LambdaContext

LAMBDA_SOURCE = Path(__file__).resolve().parent.parent / "lambdas"


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


def emf_metrics(documents: Iterable[dict]) -> Iterator[tuple[str, str, tuple[tuple[str, str], ...], float]]:
    """Each metric of these EMF documents as CloudWatch keeps it: (namespace, name, dimensions, the sum of its
    values), once for each dimension set the document declares. The same count under another dimension set is
    another metric (EncounterFailures by service, and again by error_type and service)."""
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = tuple(sorted((key, document.get(key)) for key in dimension_set))
                for metric in directive["Metrics"]:
                    values = document.get(metric["Name"], [])
                    yield (
                        directive["Namespace"],
                        metric["Name"],
                        dimensions,
                        sum(values) if isinstance(values, list) else values,
                    )


def resolve_handler(handler: str):
    module_name, _, function_name = handler.rpartition(".")
    if str(LAMBDA_SOURCE) not in sys.path:
        sys.path.insert(0, str(LAMBDA_SOURCE))
    return getattr(importlib.import_module(module_name), function_name)


def error_payload(error: BaseException) -> dict:
    return {
        "errorMessage": str(error),
        "errorType": getattr(error, "error_type", None) or type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


class _ThreadInvocation(threading.local):
    invocation: dict | None = None


_THREAD = _ThreadInvocation()


def current_invocation() -> dict | None:
    """The in-process invocation this thread works for: the simulation's current actor's, else this thread's."""
    simulation = simulation_module.ACTIVE
    actor = simulation.current_actor() if simulation is not None else None
    if actor is not None:
        return actor.context.get("invocation")
    return _THREAD.invocation


@contextlib.contextmanager
def _invocation(record: dict) -> Iterator[None]:
    simulation = simulation_module.ACTIVE
    actor = simulation.current_actor() if simulation is not None else None
    holder = actor.context if actor is not None else None
    previous = holder.get("invocation") if holder is not None else _THREAD.invocation
    if holder is not None:
        holder["invocation"] = record
    else:
        _THREAD.invocation = record
    try:
        yield
    finally:
        if holder is not None:
            holder["invocation"] = previous
        else:
            _THREAD.invocation = previous


class InvocationEnvironment(MutableMapping):
    """`os.environ` as each in-process invocation sees it: its own copy (the process environment plus its
    function's variables), as on Lambda where every function has its own process. Outside an invocation,
    the process environment itself. Nothing is shared between concurrent invocations."""

    def __init__(self, process: MutableMapping) -> None:
        self.process = process

    def _target(self) -> MutableMapping:
        invocation = current_invocation()
        return invocation["environ"] if invocation is not None else self.process

    def __getitem__(self, name: str) -> str:
        return self._target()[name]

    def __setitem__(self, name: str, value: str) -> None:
        self._target()[name] = value

    def __delitem__(self, name: str) -> None:
        del self._target()[name]

    def __iter__(self):
        return iter(list(self._target()))

    def __len__(self) -> int:
        return len(self._target())

    def copy(self) -> dict[str, str]:
        return dict(self._target())


@contextlib.contextmanager
def per_invocation_environment() -> Iterator[None]:
    if isinstance(os.environ, InvocationEnvironment):
        yield
        return
    with mock.patch.object(os, "environ", InvocationEnvironment(os.environ)):
        yield


# Powertools prints its EMF metric documents; the modules whose `print` the runtime takes over.
EMF_PRINTING_MODULES = (
    "aws_lambda_powertools.metrics.base",
    "aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",
)


class _HandlerOutput:
    stream = None  # where invocations' output goes afterwards (shared by all invocations)


def send_handler_output_to(stream) -> None:
    """Where invocations' printed output (EMF metric lines) goes afterwards; INVOCATIONS keeps it anyway."""
    _HandlerOutput.stream = stream


def _handler_print(*args, **kwargs) -> None:
    """What a handler prints goes to its own invocation's buffer: another thread (an operator command run
    in-process while a state machine invokes a handler) keeps its stdout."""
    invocation = current_invocation()
    if invocation is not None and "file" not in kwargs:
        kwargs["file"] = invocation["output"]
    print(*args, **kwargs)


def trace_header() -> str:
    """The `_X_AMZN_TRACE_ID` Lambda gives an invocation of a function with active tracing (every function of
    the stacks; moto's CloudFormation keeps no TracingConfig): a new trace, sampled, under Lambda's segment."""
    return f"Root={TraceId().to_id()};Parent={os.urandom(8).hex()};Sampled=1"


def tracer_on(environ: dict[str, str]) -> bool:
    """Whether Powertools' Tracer is on in a Lambda function with this environment: unless its
    POWERTOOLS_TRACE_DISABLED says no (Powertools' other test, LAMBDA_TASK_ROOT, always passes in Lambda)."""
    switch = environ.get(powertools_constants.TRACER_DISABLED_ENV, "false")
    return not resolve_truthy_env_var_choice(env=switch)


class FunctionTimedOut(BaseException):
    """Lambda stopped the invocation at the function's timeout ("Task timed out after N seconds"). A
    BaseException: the handler cannot catch it (`except Exception`), as it cannot on Lambda."""

    error_type = "Sandbox.Timedout"


class InjectedCrash(RuntimeError):
    """A LOCAL fault: the function's runtime died before the handler returned. Lambda reports it as an
    unhandled error of type Runtime.ExitError (Step Functions: Lambda.Unknown)."""

    error_type = "Runtime.ExitError"


def invoke_in_process(
    function: LambdaFunction,
    event: Any,
    extra_environment: dict[str, str],
    crash: Callable[[LambdaFunction, Any], bool] = lambda _function, _event: False,
    around: Callable[[str], contextlib.AbstractContextManager] = lambda _name: contextlib.nullcontext(),
) -> tuple[str, bool, str]:
    """One invocation: `around(function_name)` admits it (or raises a throttle) and models its start;
    the handler then runs with its function's own environment."""
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    context = LambdaContext(
        function_name=function.function_name,
        memory_limit_in_mb=int(function.memory_size or 128),
        invoked_function_arn=function.function_arn,
    )
    region = function.function_arn.split(":")[3]
    # What the Lambda service sets in every function's environment.
    reserved = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size or 128),
        "_X_AMZN_TRACE_ID": trace_header(),
    }
    process = os.environ.process if isinstance(os.environ, InvocationEnvironment) else os.environ
    # This process's tracing switch is not the function's (the tests turn X-Ray off for handlers they call).
    host = {name: value for name, value in process.items() if name != powertools_constants.TRACER_DISABLED_ENV}
    environ = {**host, **extra_environment, **(function.environment_vars or {}), **reserved}
    record = {
        "environ": environ,
        "output": io.StringIO(),
        # Its calls are made as the function's execution role (localcloud.access).
        "role": function.role,
        "function": function.function_name,
        "traced": tracer_on(environ),
        "timeout": float(function.timeout or 3),
        "vpc": function.vpc_config,  # localcloud.networking: where its requests can go
    }
    with around(function.function_name), _invocation(record):
        simulation = simulation_module.ACTIVE
        record["started"] = simulation.epoch() if simulation is not None else None
        try:
            handler = resolve_handler(function.handler)  # loaded first, as in Lambda's init phase
            _powertools_follow_environment(record["traced"])
            if crash(function, event):
                raise InjectedCrash("Runtime exited unexpectedly (local fault)")
            result = handler(event, context)
        except (Exception, FunctionTimedOut) as error:
            payload = error_payload(error)
            # Lambda's runtime logs an unhandled error to the function's log (JSON log format) as well.
            print(json.dumps({"level": "ERROR", **payload}), file=record["output"])
            outcome = json.dumps(payload), True, ""
        else:
            outcome = json.dumps(result), False, ""
        finally:
            (_HandlerOutput.stream or sys.stdout).write(record["output"].getvalue())
    INVOCATIONS.add(function.function_name, outcome[1], record["output"].getvalue())
    return outcome


def _forget_handler_clients() -> None:
    """The handlers cache their AWS clients per process, as on Lambda; a new local cloud (another
    endpoint, or moto's in-process mock) must not inherit the previous one's."""
    clients = sys.modules.get("clinical.clients")
    if clients is not None:
        clients.reset()


def _powertools_follow_environment(traced: bool) -> None:
    """On AWS each function has its own process, so Powertools reads its service name, namespace and
    tracing switch once. Here every function shares this process: point the shared Logger, Metrics and
    Tracer at the invoked function's settings before its handler runs."""
    observability = sys.modules.get("clinical.observability")
    if observability is None:
        return
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
    observability.logger.append_keys(service=service)
    observability.metrics.service = service
    observability.metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    # The Tracer was made once, outside Lambda (so off): in the function's own process it is as traced says.
    observability.tracer.service, observability.tracer.disabled = service, not traced


def _save_powertools(actor) -> None:
    """Switching away from an invocation: keep its Powertools state (pending metrics, log keys) with it
    and leave the shared Logger and Metrics clean for whoever runs next."""
    invocation = actor.context.get("invocation")
    observability = sys.modules.get("clinical.observability")
    if invocation is None or observability is None:
        return
    metrics, formatter, tracer = observability.metrics, observability.logger.registered_formatter, observability.tracer
    invocation["powertools"] = {
        "metrics": dict(metrics.metric_set),
        "dimensions": dict(metrics.dimension_set),
        "metadata": dict(metrics.metadata_set),
        "service": metrics.service,
        "namespace": metrics.namespace,
        "log_format": dict(formatter.log_format),
        "tracer": (tracer.service, tracer.disabled),
    }
    metrics.metric_set.clear()
    metrics.dimension_set.clear()
    metrics.metadata_set.clear()


def _restore_powertools(actor) -> None:
    invocation = actor.context.get("invocation")
    observability = sys.modules.get("clinical.observability")
    if invocation is None or observability is None or "powertools" not in invocation:
        return
    saved, metrics = invocation.pop("powertools"), observability.metrics
    for name, current in (("metrics", metrics.metric_set), ("dimensions", metrics.dimension_set),
                          ("metadata", metrics.metadata_set)):  # fmt: skip
        current.clear()
        current.update(saved[name])
    metrics.service, metrics.namespace = saved["service"], saved["namespace"]
    observability.logger.registered_formatter.log_format = saved["log_format"]
    observability.tracer.service, observability.tracer.disabled = saved["tracer"]


@contextlib.contextmanager
def in_process_lambdas(
    extra_environment: dict[str, str] | None = None,
    crash: Callable[[LambdaFunction, Any], bool] = lambda _function, _event: False,
    around: Callable[[str], contextlib.AbstractContextManager] = lambda _name: contextlib.nullcontext(),
) -> Iterator[None]:
    """Within this block every moto Lambda function runs its handler in this process.

    `crash(function, event)` is asked before each invocation; True makes it fail as a crashed runtime.
    `around(function_name)` wraps each invocation (the local cloud's concurrency and start latency).
    """
    extra = dict(extra_environment or {})

    def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return invoke_in_process(self, event, extra, crash, around)

    _forget_handler_clients()
    _HandlerOutput.stream = sys.stdout  # where invocations' output goes afterwards, as CloudWatch Logs would
    try:
        with contextlib.ExitStack() as patches:
            patches.enter_context(
                moto_patches.replace("moto.awslambda.models.LambdaFunction._invoke_lambda", _invoke_lambda)
            )
            patches.enter_context(per_invocation_environment())
            if simulation_module.ACTIVE is not None:
                hooks = simulation_module.ACTIVE.switch_hooks
                hooks.append((_restore_powertools, _save_powertools))
                patches.callback(hooks.remove, (_restore_powertools, _save_powertools))
            for name in EMF_PRINTING_MODULES:
                module = importlib.import_module(name)
                # A module-level `print` shadows the builtin for that module only; removed on exit.
                patches.enter_context(mock.patch.dict(vars(module), {"print": _handler_print}))
            yield
    finally:
        _HandlerOutput.stream = None
        _forget_handler_clients()

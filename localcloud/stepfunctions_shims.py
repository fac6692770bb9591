"""Make moto's Step Functions interpreter behave like AWS where this project depends on it."""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
from collections.abc import Iterator

from moto.core.responses import ActionResult
from moto.events.models import events_backends
from moto.stepfunctions.exceptions import AWSError
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.eval.evaluation_details import (
    EvaluationDetails,
    ExecutionDetails,
    StateMachineDetails,
)
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from localcloud import moto_patches
from localcloud.moto_patches import SFN_PARSER as PARSER
from localcloud.moto_patches import SFN_SERVICE_TASKS as SERVICE_TASKS
from localcloud.moto_patches import replace
from localcloud.simulation import SimEvent, SimThread, SimulatedTime, Work, active

# AWS names aws-sdk integration errors "<Service>.<Error>" in PascalCase (Transcribe.ConflictException);
# moto knows only dynamodb and sfn and otherwise falls back to the lowercase API name.
AWS_SDK_SERVICE_ERROR_NAMES = {"transcribe": "Transcribe", "s3": "S3", "dynamodb": "DynamoDb", "sfn": "Sfn"}


# Lambda's errorType for an invocation whose runtime died before the handler returned (exited, out of
# memory, timed out); Step Functions reports such unhandled errors as Lambda.Unknown (Step Functions
# developer guide, "Handle Lambda service exceptions"), while a handler's own exception keeps its type.
UNHANDLED_LAMBDA_ERROR_TYPES = ("Runtime.", "Sandbox.")


@contextlib.contextmanager
def aws_error_names() -> Iterator[None]:
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_lambda

    real_from_error = state_task_service_lambda.StateTaskServiceLambda._from_error

    def from_error(self, env, ex):
        failure = real_from_error(self, env, ex)
        details = failure.event_details and failure.event_details.get("taskFailedEventDetails")
        if details and str(details.get("error", "")).startswith(UNHANDLED_LAMBDA_ERROR_TYPES):
            details["error"] = "Lambda.Unknown"
            failure.error_name = CustomErrorName("Lambda.Unknown")
        return failure

    with (
        moto_patches.update(
            f"{SERVICE_TASKS}.service.state_task_service_aws_sdk._SERVICE_ERROR_NAMES", AWS_SDK_SERVICE_ERROR_NAMES
        ),
        replace(f"{SERVICE_TASKS}.service.state_task_service_lambda.StateTaskServiceLambda._from_error", from_error),
    ):
        yield


@contextlib.contextmanager
def catches_may_lead_back_to_their_state() -> Iterator[None]:
    """On AWS a Catch may name its own state as Next (a wait that timed out waits again). moto 5.2.5 takes a
    next state equal to the current one for "no Catch chose" and follows the state's Next instead: the
    state machine's AwaitSlot, timed out, asked Transcribe again out of turn. A Catch that chose its own
    state is now followed."""
    from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    real_handle_catch, real_set_next = ExecutionState._handle_catch, CommonStateField._set_next
    chose_itself = "_local_catch_chose_its_state"  # set on the state's environment by its Catch

    def _handle_catch(self, env, failure_event):
        real_handle_catch(self, env, failure_event)
        caught = env.stack[-1] == CatchOutcome.Caught
        setattr(env, chose_itself, caught and env.next_state_name == self.name)

    def _set_next(self, env):
        if getattr(env, chose_itself, False):
            setattr(env, chose_itself, False)
            if env.next_state_name == self.name:
                return
        real_set_next(self, env)

    with (
        replace(f"{PARSER}.asl.component.state.exec.execute_state.ExecutionState._handle_catch", _handle_catch),
        replace(f"{PARSER}.asl.component.state.state.CommonStateField._set_next", _set_next),
    ):
        yield


# A callback task whose Comment starts so waits for a person (a clinician's review), not for a machine: while
# it waits, its execution is not pending work (the run is quiet; its timeout still fires when it is due).
PERSON_WAIT_COMMENT = "Waits for a person"


class ExecutionThread(SimThread):
    """An execution's first thread: its actors (this one and every thread it starts) share one Work."""

    def start(self) -> None:
        super().start()
        self.actor.context["work"] = Work(self.name)


@contextlib.contextmanager
def person_waits_are_quiet() -> Iterator[None]:
    """A waitForTaskToken task whose Comment starts with PERSON_WAIT_COMMENT marks its execution's Work as
    waiting for a person while it waits (localcloud.simulation.Simulation.pending leaves it out)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

    real = state_task_service_callback.StateTaskServiceCallback._eval_wait_for_task_token

    def eval_wait_for_task_token(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint):
        comment = self.comment.comment if self.comment is not None else ""
        actor = active().current_actor()
        work = actor.context.get("work") if actor is not None else None
        if work is None or not comment.startswith(PERSON_WAIT_COMMENT):
            return real(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint)
        work.waiting_for_person = self.name
        try:
            return real(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint)
        finally:
            work.waiting_for_person = ""

    with replace(
        f"{SERVICE_TASKS}.service.state_task_service_callback.StateTaskServiceCallback._eval_wait_for_task_token",
        eval_wait_for_task_token,
    ):
        yield


@contextlib.contextmanager
def on_simulated_time(transition_seconds: float = 0.0) -> Iterator[None]:
    """The interpreter's threads become actors of the installed simulation (localcloud.simulation):
    executions, task timeouts, callback waits, Wait states, Retry backoff (with its jitter drawn from the
    simulation's seeded random) and the SDK's own retry backoff all run in simulated time. Every state
    entered costs `transition_seconds` (the modelled Step Functions transition latency)."""
    import types

    from moto.stepfunctions.parser.asl.component.state import state as state_module

    simulation = active()
    simulated_threading = types.SimpleNamespace(
        Thread=SimThread, Event=SimEvent, Lock=threading.Lock, RLock=threading.RLock
    )
    real_state_eval = state_module.CommonStateField.eval

    def wait_interval(self, env, wait_seconds):
        if wait_seconds > 0:
            simulation.sleep(wait_seconds)

    def state_eval(self, env):
        simulation.sleep(transition_seconds)
        return real_state_eval(self, env)

    with (
        replace(f"{PARSER}.backend.execution_worker.Thread", ExecutionThread),
        replace(f"{PARSER}.asl.component.program.program.threading", simulated_threading),
        replace(f"{PARSER}.asl.component.state.exec.execute_state.threading", simulated_threading),
        replace(f"{PARSER}.asl.component.state.exec.execute_state.Thread", SimThread),
        replace(f"{PARSER}.asl.eval.callback.callback.Event", SimEvent),
        replace(f"{SERVICE_TASKS}.service.state_task_service_callback.threading", simulated_threading),
        replace(f"{SERVICE_TASKS}.service.state_task_service_callback.time", SimulatedTime()),
        replace(f"{PARSER}.asl.component.common.retry.retrier_decl.time", SimulatedTime()),
        replace(f"{PARSER}.asl.component.common.retry.jitter_strategy_decl.random", simulation.random),
        replace(
            f"{PARSER}.asl.component.state.wait.wait_function.wait_function.WaitFunction._wait_interval", wait_interval
        ),  # fmt: skip
        replace(f"{PARSER}.asl.component.state.state.CommonStateField.eval", state_eval),
        # The SDK's own retry backoff (botocore sleeps between attempts) runs on the same clock.
        replace("botocore.endpoint.time", SimulatedTime()),
        person_waits_are_quiet(),
    ):
        yield


@contextlib.contextmanager
def interpreter_caches() -> Iterator[None]:
    """moto's interpreter builds a new boto3 client for every SDK and Lambda task, parses every JSONPath anew,
    and lexes and parses the whole definition again for every execution (ANTLR: most of an orchestration run's
    time on a burst). Reuse clients (they are thread-safe and carry no state of the call), parsed paths, and
    each definition's parse tree (read-only once parsed); every execution still builds its own program from the
    tree, so no state of one execution reaches another. Nothing an execution sees changes."""
    import functools

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.asl.utils import boto_client, json_path

    trees = {}

    def evaluation_entrypoint(worker):
        definition = worker._evaluation_details.state_machine_details.definition
        if definition not in trees:
            trees[definition] = AmazonStateLanguageParser.parse(definition)[1]
        return Preprocessor().visit(trees[definition])

    real = boto_client.boto_client_for
    clients = {}

    def boto_client_for(region: str, service: str, state_credentials=None):
        key = (region, service, boto_client.botocore_stubber.enabled)
        if key not in clients:
            clients[key] = real(region, service, state_credentials)
        return clients[key]

    with (
        replace(f"{SERVICE_TASKS}.lambda_eval_utils.boto_client_for", boto_client_for),
        replace(f"{SERVICE_TASKS}.service.state_task_service_aws_sdk.boto_client_for", boto_client_for),
        replace(f"{PARSER}.asl.utils.json_path.parse", functools.lru_cache(maxsize=1024)(json_path.parse)),
        replace(f"{PARSER}.backend.execution_worker.ExecutionWorker._get_evaluation_entrypoint", evaluation_entrypoint),
    ):
        yield


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _status_change_event(execution) -> dict:
    """The "Step Functions Execution Status Change" event AWS puts on the default bus."""
    to_millis = lambda moment: int(moment.timestamp() * 1000) if moment else None  # noqa: E731
    return {
        "Source": "aws.states",
        "DetailType": "Step Functions Execution Status Change",
        "Resources": [execution.exec_arn],
        "Detail": json.dumps(
            {
                "executionArn": execution.exec_arn,
                "stateMachineArn": execution.state_machine.arn,
                "name": execution.name,
                "status": execution.status,
                "startDate": to_millis(execution.start_date),
                "stopDate": to_millis(execution.stop_date),
            }
        ),
        "EventBusName": "default",
    }


@contextlib.contextmanager
def execution_status_events() -> Iterator[None]:
    """moto never emits Step Functions' execution status change events; emit them when an execution ends."""
    real_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self) -> None:
        real_terminated(self)
        execution = self.execution
        if execution.status in TERMINAL_STATUSES:
            events_backends[execution.account_id][execution.region_name].put_events([_status_change_event(execution)])

    with replace(f"{PARSER}.backend.execution.BaseExecutionWorkerCommunication.terminated", terminated):
        yield


def _redrive(execution: Execution) -> None:
    """Continue an unsuccessful execution at the state it ended in, with that state's input, keeping its
    history and ARN (AWS's RedriveExecution); a redrive that fails again can be redriven again."""
    if execution.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
        raise ExecutionNotRedrivable(f"Execution {execution.exec_arn} has status {execution.status}")
    history = execution.to_history_output()["events"]
    entered = [event for event in history if "stateEnteredEventDetails" in event]
    if not entered:
        raise ExecutionNotRedrivable(f"Execution {execution.exec_arn} never entered a state")
    failed = entered[-1]["stateEnteredEventDetails"]
    definition = json.loads(execution.state_machine.definition)
    definition["StartAt"] = failed["name"]
    execution._prior_history = history
    execution.redrive_count = getattr(execution, "redrive_count", 0) + 1
    execution.redrive_date = datetime.datetime.now(tz=datetime.UTC)
    details = EvaluationDetails(
        aws_execution_details=execution._get_start_aws_execution_details(),
        execution_details=ExecutionDetails(
            arn=execution.exec_arn,
            name=execution.name,
            role_arn=execution.role_arn,
            inpt=json.loads(failed.get("input") or "{}"),
            start_time=execution.start_date,
        ),
        state_machine_details=StateMachineDetails(
            arn=execution.state_machine.arn,
            name=execution.state_machine.name,
            typ=execution.state_machine.sm_type,
            definition=json.dumps(definition),
        ),
    )
    execution.exec_worker = ExecutionWorker(
        evaluation_details=details,
        exec_comm=execution._get_start_execution_worker_comm(),
        cloud_watch_logging_session=execution._cloud_watch_logging_session,
        activity_store=execution._activity_store,
    )
    execution.stop_date, execution.error, execution.cause = None, None, None
    execution.exec_status = ExecutionStatus.RUNNING
    execution.exec_worker.start()


def _history_across_redrives(execution: Execution) -> dict:
    """The history of every attempt, event ids continuing, each redrive marked by ExecutionRedriven."""
    prior = getattr(execution, "_prior_history", None)
    current = _real_history_output(execution)
    if not prior:
        return current
    events = list(prior)
    for event in current["events"]:
        event = dict(event)
        if event["type"] == "ExecutionStarted":
            event = {
                "type": "ExecutionRedriven",
                "timestamp": event["timestamp"],
                "executionRedrivenEventDetails": {"redriveCount": execution.redrive_count},
            }
        event["id"] = len(events) + 1
        event["previousEventId"] = len(events)
        events.append(event)
    return {"events": events}


_real_history_output = Execution.to_history_output


@contextlib.contextmanager
def redrive_execution() -> Iterator[None]:
    """moto 5.2.5 has no RedriveExecution: add it to the backend and the API, with AWS's semantics."""

    def backend_redrive(backend, execution_arn: str) -> Execution:
        execution = backend.describe_execution(execution_arn=execution_arn)
        _redrive(execution)
        return execution

    def response_redrive(self):
        execution = self.stepfunction_backend.redrive_execution(self._get_param("executionArn"))
        return ActionResult({"redriveDate": execution.redrive_date})

    real_describe = StepFunctionResponse.describe_execution

    def describe_with_redrives(self):
        result = real_describe(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        if getattr(execution, "redrive_count", 0):
            result.result.update(redriveCount=execution.redrive_count, redriveDate=execution.redrive_date)
        return result

    with (
        moto_patches.add(f"{PARSER}.models.StepFunctionsParserBackend.redrive_execution", backend_redrive),
        moto_patches.add("moto.stepfunctions.responses.StepFunctionResponse.redrive_execution", response_redrive),
        replace("moto.stepfunctions.responses.StepFunctionResponse.describe_execution", describe_with_redrives),
        replace(f"{PARSER}.backend.execution.Execution.to_history_output", _history_across_redrives),
    ):
        yield


@contextlib.contextmanager
def callbacks_skip_unstarted_executions() -> Iterator[None]:
    """moto marks an execution RUNNING before its worker thread has built its environment; a
    SendTaskSuccess/Failure/Heartbeat made meanwhile (by another execution's callback) scans it and
    fails with AttributeError. Skip executions whose environment does not exist yet: they hold no tokens."""
    real = StepFunctionsParserBackend._get_executions

    def _get_executions(self, execution_status=None):
        executions = real(self, execution_status)
        if execution_status == ExecutionStatus.RUNNING:
            executions = [e for e in executions if e.exec_worker is not None and e.exec_worker.env is not None]
        return executions

    with replace(f"{PARSER}.models.StepFunctionsParserBackend._get_executions", _get_executions):
        yield

"""Every patch the local cloud makes to a library's internals, in one table, by service: moto above
all, the botocore, werkzeug and standard-library pieces moto runs on, and the X-Ray SDK's recorder
the handlers trace with.

A shim patches only through `replace`, `add` and `update` below, and only a target PATCHES declares
(anything else raises UndeclaredPatch), so this table is the whole list. The canary tests
(tests/localcloud/test_moto_canaries.py, no CDK, well under a second) check that each target is
still what its shim expects:
- `replace`: the attribute exists and, when it is moto's, botocore's or the X-Ray SDK's own code, its
  source is the one the shim was written against (its fingerprint in moto_fingerprints.json);
- `add`: moto does not have it (the shim adds an API moto lacks; once moto has its own, the shim
  would hide it);
- `update`: the attribute is still a dict.
After an upgrade of moto or botocore, a failing canary names the shim to review. Once reviewed,
`python -m localcloud.moto_patches --record` writes the new fingerprints.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from unittest import mock

FINGERPRINTS = Path(__file__).with_name("moto_fingerprints.json")
SFN_PARSER = "moto.stepfunctions.parser"
SFN_SERVICE_TASKS = f"{SFN_PARSER}.asl.component.state.exec.state_task"


@dataclass(frozen=True)
class Patch:
    service: str
    shim: str  # the function of localcloud that makes it
    target: str  # dotted: a module, then attributes
    how: Literal["replace", "add", "update"]


PATCHES: tuple[Patch, ...] = (
    # The SDK, under every client: access checks, operation counts, model latency, simulated time.
    Patch("sdk", "access.AccessControl.enforced", "botocore.client.BaseClient._make_api_call", "replace"),
    Patch("sdk", "operations.OperationCounter.counting", "botocore.client.BaseClient._make_api_call", "replace"),
    Patch("sdk", "cloud.LocalCloud._api_latency", "botocore.client.BaseClient._make_api_call", "replace"),
    Patch("sdk", "xray_traces.traced_in_process", "botocore.client.BaseClient._make_api_call", "replace"),
    Patch("sdk", "networking.requests_follow_routes", "botocore.client.BaseClient._make_api_call", "replace"),
    Patch("sdk", "networking.requests_follow_routes", "botocore.httpsession.URLLib3Session.send", "replace"),
    Patch("sdk", "cloud.LocalCloud.__enter__", "botocore.config.Config.OPTION_DEFAULTS", "replace"),
    Patch("sdk", "cloud.LocalCloud.__enter__", "botocore.retryhandler.random", "replace"),
    Patch(
        "sdk",
        "cloud.LocalCloud.__enter__",
        "botocore.retries.standard.ExponentialBackoff.__init__.__defaults__",
        "replace",
    ),
    Patch("sdk", "simulation.actors_follow_requests", "botocore.endpoint.Endpoint.create_request", "replace"),
    Patch("sdk", "stepfunctions_shims.on_simulated_time", "botocore.endpoint.time", "replace"),
    # moto's response serializer.
    Patch(
        "server",
        "serializer_shims.member_names_worked_out_once",
        "moto.core.serialize.ResponseSerializer.get_value",
        "replace",
    ),
    # The moto server and its HTTP transport.
    Patch(
        "server",
        "simulation.actors_follow_requests",
        "moto.moto_server.werkzeug_app.DomainDispatcherApplication.__call__",
        "replace",
    ),
    Patch(
        "server",
        "endpoint_access.people_are_checked_at_the_endpoint",
        "moto.moto_server.werkzeug_app.DomainDispatcherApplication.__call__",
        "replace",
    ),
    Patch(
        "server", "simulation.http_dates_on_real_time", "http.server.BaseHTTPRequestHandler.date_time_string", "replace"
    ),
    Patch("server", "cloud.LocalCloud.__enter__", "moto.core.config.default_user_config", "update"),
    # X-Ray: the SDK in its Lambda mode while an invocation runs, its documents kept, not sent.
    Patch("xray", "xray_traces.traced_in_process", "aws_xray_sdk.sdk_config.SDKConfig.sdk_enabled", "replace"),
    Patch("xray", "xray_traces.traced_in_process", "aws_xray_sdk.core.xray_recorder._context", "replace"),
    Patch("xray", "xray_traces.traced_in_process", "aws_xray_sdk.core.xray_recorder._streaming", "replace"),
    Patch("xray", "xray_traces.traced_in_process", "aws_xray_sdk.core.xray_recorder._emitter", "replace"),
    # S3
    Patch("s3", "access.no_moto_bucket_policy_check", "moto.s3.models.FakeBucket.get_permission", "replace"),
    Patch(
        "s3",
        "s3_shims.version_listings_copy_only_their_prefix",
        "moto.s3.models.S3Backend.list_object_versions",
        "replace",
    ),
    Patch("s3", "s3_shims.url_table_read_once", "moto.s3.models.S3Backend._url_module", "replace"),
    # DynamoDB
    Patch(
        "dynamodb", "dynamodb_shims.queries_read_their_partition", "moto.dynamodb.models.table.Table.query", "replace"
    ),
    # SQS
    Patch("sqs", "sqs_shims.dlq_redrive", "moto.sqs.responses.SQSResponse.start_message_move_task", "add"),
    Patch("sqs", "sqs_shims.dlq_redrive", "moto.sqs.responses.SQSResponse.list_message_move_tasks", "add"),
    # EventBridge
    Patch("events", "events_shims.scheduled_rules_ignore_events", "moto.events.models.Rule.send_to_targets", "replace"),
    Patch("events", "events_shims.deliveries_as_eventbridge", "moto.events.models.Rule._send_to_sqs_queue", "replace"),
    # CloudWatch
    Patch(
        "cloudwatch",
        "alarms.alarm_history_served",
        "moto.cloudwatch.responses.CloudWatchResponse.describe_alarm_history",
        "add",
    ),
    # Bedrock Runtime, and Bedrock's model availability
    Patch(
        "bedrock",
        "bedrock_converse.local_converse",
        "moto.bedrockruntime.responses.BedrockRuntimeResponse.converse",
        "add",
    ),
    Patch(
        "bedrock",
        "doctor_shims.bedrock_model_availability",
        "moto.bedrock.responses.BedrockResponse.get_foundation_model_availability",
        "add",
    ),
    # Lambda
    Patch(
        "lambda", "lambda_runtime.in_process_lambdas", "moto.awslambda.models.LambdaFunction._invoke_lambda", "replace"
    ),
    Patch("lambda", "doctor_shims.lambda_account_settings", "moto.awslambda.urls.url_paths", "update"),
    Patch(
        "lambda",
        "doctor_shims.lambda_account_settings",
        "moto.awslambda.responses.LambdaResponse.get_account_settings",
        "add",
    ),
    # Transcribe
    Patch(
        "transcribe",
        "transcribe_shims.failure_reason_in_get",
        "moto.transcribe.models.FakeMedicalTranscriptionJob.response_object",
        "replace",
    ),
    Patch(
        "transcribe",
        "transcribe_shims.jobs_listed_newest_first",
        "moto.transcribe.models.TranscribeBackend.list_medical_transcription_jobs",
        "replace",
    ),
    Patch(
        "transcribe",
        "transcribe_medical.LocalTranscribeMedical.installed",
        "moto.transcribe.models.TranscribeBackend.start_medical_transcription_job",
        "replace",
    ),
    Patch(
        "transcribe",
        "transcribe_medical.LocalTranscribeMedical.installed",
        "moto.transcribe.responses.TranscribeResponse.start_medical_transcription_job",
        "replace",
    ),
    # CloudFormation
    Patch(
        "cloudformation", "cloudformation_shims.templates_read_as_json", "moto.cloudformation.models.yaml", "replace"
    ),
    Patch(
        "cloudformation", "cloudformation_shims.templates_read_as_json", "moto.cloudformation.responses.yaml", "replace"
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.state_machines_in_the_interpreter",
        "moto.stepfunctions.models.StateMachine.create_from_cloudformation_json",
        "replace",
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.outputs_after_change_sets",
        "moto.cloudformation.models.CloudFormationBackend.execute_change_set",
        "replace",
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.event_buses_referenced_by_name",
        "moto.events.models.EventBus.physical_resource_id",
        "add",
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.change_sets_create_in_dependency_order",
        "moto.cloudformation.parsing.ResourceMap.build_resource_diff",
        "replace",
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.cognito_user_pools",
        "moto.cloudformation.parsing.get_model_map",
        "replace",
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.subnets_on_their_route_tables",
        "moto.ec2.models.subnets.SubnetRouteTableAssociation.create_from_cloudformation_json",
        "replace",
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.names_from_logical_ids",
        "moto.cloudformation.parsing.generate_resource_name",
        "replace",
    ),
    Patch(
        "cloudformation",
        "cloudformation_shims.names_from_logical_ids",
        "moto.cloudformation.parsing.random_suffix",
        "replace",
    ),
    # Step Functions
    Patch(
        "stepfunctions",
        "access.executions_run_as_their_role",
        f"{SFN_PARSER}.backend.execution_worker.ExecutionWorker._execution_logic",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "cloud.LocalCloud._start_execution_quota",
        f"{SFN_PARSER}.models.StepFunctionsParserBackend.start_execution",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.catches_may_lead_back_to_their_state",
        f"{SFN_PARSER}.asl.component.state.exec.execute_state.ExecutionState._handle_catch",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.catches_may_lead_back_to_their_state",
        f"{SFN_PARSER}.asl.component.state.state.CommonStateField._set_next",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.aws_error_names",
        f"{SFN_SERVICE_TASKS}.service.state_task_service_aws_sdk._SERVICE_ERROR_NAMES",
        "update",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.aws_error_names",
        f"{SFN_SERVICE_TASKS}.service.state_task_service_lambda.StateTaskServiceLambda._from_error",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.backend.execution_worker.Thread",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.component.program.program.threading",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.component.state.exec.execute_state.threading",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.component.state.exec.execute_state.Thread",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.eval.callback.callback.Event",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_SERVICE_TASKS}.service.state_task_service_callback.threading",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_SERVICE_TASKS}.service.state_task_service_callback.time",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.component.common.retry.retrier_decl.time",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.component.common.retry.jitter_strategy_decl.random",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.component.state.wait.wait_function.wait_function.WaitFunction._wait_interval",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.on_simulated_time",
        f"{SFN_PARSER}.asl.component.state.state.CommonStateField.eval",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.person_waits_are_quiet",
        f"{SFN_SERVICE_TASKS}.service.state_task_service_callback.StateTaskServiceCallback._eval_wait_for_task_token",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.interpreter_caches",
        f"{SFN_SERVICE_TASKS}.lambda_eval_utils.boto_client_for",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.interpreter_caches",
        f"{SFN_SERVICE_TASKS}.service.state_task_service_aws_sdk.boto_client_for",
        "replace",
    ),
    Patch(
        "stepfunctions", "stepfunctions_shims.interpreter_caches", f"{SFN_PARSER}.asl.utils.json_path.parse", "replace"
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.interpreter_caches",
        f"{SFN_PARSER}.backend.execution_worker.ExecutionWorker._get_evaluation_entrypoint",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.execution_status_events",
        f"{SFN_PARSER}.backend.execution.BaseExecutionWorkerCommunication.terminated",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.redrive_execution",
        f"{SFN_PARSER}.models.StepFunctionsParserBackend.redrive_execution",
        "add",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.redrive_execution",
        "moto.stepfunctions.responses.StepFunctionResponse.redrive_execution",
        "add",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.redrive_execution",
        "moto.stepfunctions.responses.StepFunctionResponse.describe_execution",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.redrive_execution",
        f"{SFN_PARSER}.backend.execution.Execution.to_history_output",
        "replace",
    ),
    Patch(
        "stepfunctions",
        "stepfunctions_shims.callbacks_skip_unstarted_executions",
        f"{SFN_PARSER}.models.StepFunctionsParserBackend._get_executions",
        "replace",
    ),
)
DECLARED = {(patch.target, patch.how) for patch in PATCHES}
# APIs `add` has added and not yet removed: (id of the owner, name) -> how many adds are open.
_ADDED: dict[tuple[int, str], int] = {}


class UndeclaredPatch(RuntimeError):
    """A shim patched something PATCHES does not list."""


class MotoChanged(RuntimeError):
    """A patch target is not what its shim expects: review the shim against the installed version."""


def resolve(target: str) -> tuple[Any, str]:
    """The object that holds a dotted target's last attribute, and that attribute's name."""
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1]
    raise MotoChanged(f"{target}: no module of it can be imported")


def _declared(target: str, how: str) -> tuple[Any, str]:
    if (target, how) not in DECLARED:
        raise UndeclaredPatch(f"{how} {target} is not declared in localcloud.moto_patches.PATCHES")
    return resolve(target)


def _shim_of(target: str) -> str:
    return ", ".join(sorted({patch.shim for patch in PATCHES if patch.target == target}))


def replace(target: str, new: Any):
    """Replace an attribute the library has (a context manager)."""
    owner, name = _declared(target, "replace")
    if not hasattr(owner, name):
        raise MotoChanged(f"{_shim_of(target)}: {target} no longer exists")
    return mock.patch.object(owner, name, new)


@contextlib.contextmanager
def add(target: str, new: Any) -> Iterator[None]:
    """Add an API the library lacks, for as long as the context lasts (nested adds of the same API stack:
    the inner one wins until it exits)."""
    owner, name = _declared(target, "add")
    ours = _ADDED.get((id(owner), name), 0)
    if name in vars(owner) and not ours:
        raise MotoChanged(f"{_shim_of(target)}: {target} exists now: moto implements it, remove the shim's own")
    previous = vars(owner).get(name)
    setattr(owner, name, new)
    _ADDED[(id(owner), name)] = ours + 1
    try:
        yield
    finally:
        _ADDED[(id(owner), name)] = ours
        if ours:
            setattr(owner, name, previous)
        else:
            delattr(owner, name)
            del _ADDED[(id(owner), name)]


def update(target: str, values: dict, key: str | None = None):
    """Update a dict of the library (or the dict under `key` in it) for as long as the context lasts."""
    owner, name = _declared(target, "update")
    found = getattr(owner, name, None)
    if not isinstance(found, dict) or (key is not None and not isinstance(found.get(key), dict)):
        raise MotoChanged(f"{_shim_of(target)}: {target} is no longer a dict")
    return mock.patch.dict(found if key is None else found[key], values)


def fingerprint(target: str) -> str | None:
    """A hash of the replaced code's source, for a function or method of moto, botocore or the X-Ray SDK;
    None for the rest (a module such as `threading`, a class of the standard library, a dict, the
    recorder's parts), whose presence is what matters."""
    owner, name = resolve(target)
    original = inspect.getattr_static(owner, name, None)
    original = getattr(original, "__func__", original)
    original = original.fget if isinstance(original, property) else original
    module = getattr(original, "__module__", "") or ""
    if not (inspect.isfunction(original) and module.startswith(("moto.", "botocore.", "aws_xray_sdk."))):
        return None
    return hashlib.sha256(inspect.getsource(original).encode()).hexdigest()[:16]


def recorded() -> dict[str, str]:
    return json.loads(FINGERPRINTS.read_text())


def record() -> dict[str, str]:
    prints = {
        patch.target: value
        for patch in PATCHES
        if patch.how == "replace" and (value := fingerprint(patch.target)) is not None
    }
    FINGERPRINTS.write_text(json.dumps(dict(sorted(prints.items())), indent=2) + "\n")
    return prints


def problems(patch: Patch) -> list[str]:
    """What is wrong with one declared patch against the installed libraries (empty when nothing is)."""
    try:
        owner, name = resolve(patch.target)
    except (MotoChanged, AttributeError) as error:
        return [f"{patch.shim}: {patch.target} cannot be found ({error})"]
    if patch.how == "add":
        return [f"{patch.shim}: moto has {patch.target} now: remove the shim's own"] if name in vars(owner) else []
    if not hasattr(owner, name):
        return [f"{patch.shim}: {patch.target} no longer exists"]
    if patch.how == "update":
        return [] if isinstance(getattr(owner, name), dict) else [f"{patch.shim}: {patch.target} is not a dict"]
    expected = recorded().get(patch.target)
    if expected is not None and fingerprint(patch.target) != expected:
        return [f"{patch.shim}: {patch.target} changed in this version: review the shim, then --record"]
    return []


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        print(f"{len(record())} fingerprints written to {FINGERPRINTS}")
    else:
        found = [problem for patch in PATCHES for problem in problems(patch)]
        print("\n".join(found) or f"all {len(PATCHES)} patches match the installed libraries")
        sys.exit(1 if found else 0)

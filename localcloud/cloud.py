"""The local cloud: moto plus the shims that make it run this project's stacks like AWS.

    with LocalCloud(Path("cdk.out")) as cloud:
        outputs = cloud.deploy("ClinicalScribeChoreography")
        ...
        cloud.run_until_quiet()

Deploys the unmodified synthesized templates through moto's CloudFormation (after publishing
their file assets), runs the Lambda handlers in-process, delivers SQS messages to functions with
Lambda's event source semantics, and stands in for Transcribe Medical and Bedrock Converse.

Time is simulated (localcloud.simulation): every step costs its modelled latency
(localcloud/model/latencies.json), AWS quotas are enforced (localcloud/model/quotas.json), and the
clock jumps over idle time, so a run's results never depend on how fast this machine is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections import Counter
from pathlib import Path
from unittest import mock

import boto3
import botocore.config
import botocore.retries.standard
import botocore.retryhandler
from botocore.client import BaseClient
from moto import mock_aws
from moto.awslambda.models import lambda_backends
from moto.core.base_backend import BackendDict
from moto.core.exceptions import JsonRESTError
from moto.core.model_instances import reset_model_data
from moto.moto_api._internal import mock_random
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from localcloud import assets, moto_patches
from localcloud.access import AccessControl
from localcloud.alarms import AlarmEvaluator, alarm_history_served
from localcloud.bedrock_converse import local_converse
from localcloud.cloudformation_shims import (
    applied_types_unannounced,
    apply_resource_policies,
    change_sets_create_in_dependency_order,
    cognito_user_pools,
    complete_stack,
    event_buses_referenced_by_name,
    names_from_logical_ids,
    outputs_after_change_sets,
    saved_queries,
    state_machines_in_the_interpreter,
    subnets_on_their_route_tables,
    templates_read_as_json,
)
from localcloud.doctor_shims import bedrock_model_availability, lambda_account_settings
from localcloud.dynamodb_shims import queries_read_their_partition
from localcloud.endpoint_access import people_are_checked_at_the_endpoint
from localcloud.event_sources import Periodic, QueuePoller, ScheduledRule
from localcloud.events_shims import deliveries_as_eventbridge, scheduled_rules_ignore_events
from localcloud.faults import NO_FAULTS, FaultPlan
from localcloud.lambda_runtime import in_process_lambdas, resolve_handler
from localcloud.networking import Network, requests_follow_routes
from localcloud.operations import HARNESS, OperationCounter, mark_harness
from localcloud.s3_shims import url_table_read_once, version_listings_copy_only_their_prefix
from localcloud.serializer_shims import member_names_worked_out_once
from localcloud.service_model import (
    Latencies,
    QuotaLedger,
    Quotas,
    SlidingMinute,
    TokenBucket,
    load_latencies,
    quotas_named,
)
from localcloud.simulation import Simulation, actors_follow_requests, http_dates_on_real_time
from localcloud.sqs_event_source import SqsEventSource
from localcloud.sqs_shims import dlq_redrive
from localcloud.stepfunctions_shims import (
    aws_error_names,
    callbacks_skip_unstarted_executions,
    catches_may_lead_back_to_their_state,
    execution_status_events,
    interpreter_caches,
    on_simulated_time,
    redrive_execution,
)
from localcloud.transcribe_medical import LocalTranscribeMedical
from localcloud.transcribe_shims import failure_reason_in_get, jobs_listed_newest_first
from localcloud.xray_traces import SegmentDocuments, traced_in_process

ACCOUNT = "123456789012"
REGION = "us-east-1"
# moto accepts any credentials; these name the local cloud so they are never mistaken for real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local-cloud",
    "AWS_SECRET_ACCESS_KEY": "local-cloud",
    "AWS_SESSION_TOKEN": "local-cloud",
}
CLIENT_CREDENTIALS = {
    "aws_access_key_id": "local-cloud",
    "aws_secret_access_key": "local-cloud",
    "aws_session_token": "local-cloud",
}


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of an EventBridge rate() schedule, or None for anything else."""
    found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if not found:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
    return int(found.group(1)) * unit


def event_subject(event: dict | str) -> str:
    """What an event is about, the same in both variants: the S3 object key it names; for another event its
    kind and what it names (`Step Functions Execution Status Change/enc-1`). A message body is read as JSON."""
    if isinstance(event, str):
        body = event
        try:
            event = json.loads(body)
        except ValueError:
            return body
    else:
        body = None  # the event's own text, written only if it is the answer
    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict):
        return body if body is not None else json.dumps(event, sort_keys=True, default=str)
    if isinstance(detail.get("object"), dict) and "key" in detail["object"]:
        return detail["object"]["key"]
    return f"{event.get('detail-type', 'event')}/{detail.get('name', '')}"


class FunctionError(Exception):
    """The invoked function raised (Lambda reports FunctionError)."""


class TooManyRequestsException(JsonRESTError):
    """Lambda's throttle (429): the function's or the account's concurrency is used up."""

    code = 429

    def __init__(self, reason: str) -> None:
        super().__init__("TooManyRequestsException", f"Rate Exceeded. ({reason})")


class StepFunctionsThrottlingException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ThrottlingException", "Rate exceeded")


ALARM_EVALUATION_SECONDS = 60  # CloudWatch evaluates these stacks' alarms once a period (60 s)


def forget_moto_state() -> None:
    """Every moto backend emptied, as mock_aws does when it stops."""
    BackendDict.reset()
    reset_model_data()


class LocalCloud:
    """The local cloud, in-process (tests: boto3 is patched by moto) or, with `port`, as a moto
    server on loopback that the CDK CLI and any AWS client can use through AWS_ENDPOINT_URL.

    `time_mode` "skip" (tests, demo, comparisons) jumps over idle time; "wall" (a cloud a person drives)
    keeps wall-clock time and skips only when asked (`advance`)."""

    def __init__(
        self,
        cdk_out: Path,
        *,
        faults: FaultPlan = NO_FAULTS,
        port: int | None = None,
        time_mode: str = "skip",
        seed: int = 7,
        quotas: Quotas | str = "default",
        latencies: Latencies | None = None,
    ) -> None:
        self.cdk_out = Path(cdk_out)
        self.port = port
        self.endpoint_url = f"http://localhost:{port}" if port else None
        self.seed = seed
        self.simulation = Simulation(mode=time_mode, seed=seed)
        self.clock = self.simulation
        self.faults = faults
        self.quotas = quotas_named(quotas) if isinstance(quotas, str) else quotas
        self.latencies = latencies or load_latencies()
        self.quota_ledger = QuotaLedger()
        self.access = AccessControl(ACCOUNT, REGION)
        self.transcribe = LocalTranscribeMedical(
            self.simulation.epoch,
            job_seconds=self.latencies.transcribe_job,
            fault=lambda *args: self.faults.draw(*args),
            client=self.client,
            wall=self.simulation.wall,
            concurrent_jobs=self.quotas.transcribe_medical_concurrent_jobs,
            starts=TokenBucket(
                self.quotas.transcribe_medical_starts_per_second,
                self.quotas.transcribe_medical_starts_per_second,
                self.simulation.start.timestamp(),
            ),
            ledger=self.quota_ledger,
            access=self.access,
        )
        self.alarms = AlarmEvaluator(self.client, self.simulation.now, self.access, self.simulation.wall)
        self.xray = SegmentDocuments()
        # The stacks' saved Logs Insights queries, by name (localcloud.cloudformation_shims.saved_queries).
        self.saved_queries: dict[str, dict] = {}
        self.network = Network(lambda: self.client("ec2"), REGION)
        self.outputs: dict[str, dict[str, str]] = {}
        self.operations = OperationCounter()
        self.event_sources: list[QueuePoller] = []
        self.schedules: list[ScheduledRule] = []
        self._lambda_in_flight: Counter[str] = Counter()
        self._lambda_idle: dict[str, list[float]] = {}
        self.lambda_starts: Counter[str] = Counter()
        self._bedrock_tokens = SlidingMinute(self.quotas.bedrock_tokens_per_minute)
        self._bedrock_requests = SlidingMinute(self.quotas.bedrock_requests_per_minute)
        self._start_executions = TokenBucket(
            self.quotas.sfn_start_execution_bucket,
            self.quotas.sfn_start_execution_per_second,
            self.simulation.start.timestamp(),
        )
        self._clients: dict[str, object] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> LocalCloud:
        enter = self._stack.enter_context
        enter(self.simulation)
        self.simulation.sources += [
            self.transcribe,
            Periodic(self.simulation, "alarm evaluation", ALARM_EVALUATION_SECONDS, self.alarms.evaluate),
        ]
        function_environment = {}
        if self.port:
            enter(
                moto_patches.update(
                    "moto.core.config.default_user_config", {"execute_state_machine": True}, key="stepfunctions"
                )
            )
            # The Step Functions interpreter's own AWS calls go to the server on this port.
            enter(mock.patch.dict(os.environ, {"MOTO_PORT": str(self.port)}))
            function_environment = {"AWS_ENDPOINT_URL": self.endpoint_url, **LOCAL_CREDENTIALS}
            # An actor's call may be answered only after other actors ran (the server thread works as the
            # actor and waits its turn): no SDK read timeout may cut it short and retry it.
            enter(
                moto_patches.replace(
                    "botocore.config.Config.OPTION_DEFAULTS",
                    {**botocore.config.Config.OPTION_DEFAULTS, "read_timeout": 3600},
                )
            )
        else:
            enter(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        enter(
            in_process_lambdas(
                function_environment,
                # Drawn per work item the event carries (FaultPlan.work), else per function: its name
                # without the random suffix CloudFormation gives it, so a seed replays the same crashes
                # in every deployment. Each deployment counts its own tries.
                crash=lambda function, event: self.faults.crash(
                    function.function_name.rsplit("-", 1)[0],
                    function.handler,
                    event,
                    function.function_name.partition("-")[0],
                ),
                around=self._lambda_invocation,
            )
        )
        enter(actors_follow_requests())
        # The SDK's retry jitter (standard and legacy modes) from the run's seeded random too.
        enter(moto_patches.replace("botocore.retryhandler.random", self.simulation.random))
        enter(
            moto_patches.replace(
                "botocore.retries.standard.ExponentialBackoff.__init__.__defaults__",
                (20, self.simulation.random.random, None, None),
            )
        )
        enter(aws_error_names())
        enter(catches_may_lead_back_to_their_state())
        enter(on_simulated_time(self.latencies.sfn_transition))
        enter(interpreter_caches())
        enter(failure_reason_in_get())
        enter(jobs_listed_newest_first())
        enter(state_machines_in_the_interpreter())
        enter(templates_read_as_json())
        applied_types_unannounced()
        enter(scheduled_rules_ignore_events())
        enter(version_listings_copy_only_their_prefix())
        enter(url_table_read_once())
        enter(member_names_worked_out_once())
        enter(queries_read_their_partition())
        enter(lambda_account_settings(lambda: self.quotas.lambda_account_concurrency))
        enter(bedrock_model_availability())
        enter(local_converse(lambda subject, scope: self.faults.bedrock(subject, scope), self._admit_bedrock))
        enter(self.transcribe.installed())
        enter(outputs_after_change_sets())
        enter(names_from_logical_ids())
        enter(subnets_on_their_route_tables())
        enter(cognito_user_pools())
        enter(change_sets_create_in_dependency_order())
        enter(event_buses_referenced_by_name())
        enter(self.operations.counting())
        enter(self.access.enforced())
        # A lost event is drawn once per event and queue, as EventBridge hands it over (never per receive: a
        # message put back for a retry was delivered, and cannot be lost again). Each deployment counts its own.
        enter(
            deliveries_as_eventbridge(
                self.access,
                lost=lambda queue, event: (
                    self.faults.draw("event_lost", event_subject(event), queue.partition("-")[0]) is not None
                ),
            )
        )
        enter(alarm_history_served(self.alarms))
        enter(self._api_latency())
        enter(requests_follow_routes(self.network))
        enter(traced_in_process(self.xray))
        enter(self._start_execution_quota())
        enter(execution_status_events())
        enter(redrive_execution())
        enter(callbacks_skip_unstarted_executions())
        enter(dlq_redrive())
        if self.port:
            # moto's server keeps its state in the process's backends, which only mock_aws resets: each served
            # cloud starts empty and leaves nothing to the next one in the process (a test's after another's).
            forget_moto_state()
            self._stack.callback(forget_moto_state)  # after the server stops (callbacks run last-in first)
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
            enter(http_dates_on_real_time())
            enter(people_are_checked_at_the_endpoint(self.access))
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            server.start()
            self._stack.callback(server.stop)
        else:
            assets.bootstrap(self.client("s3"), self.client("ssm"), ACCOUNT, REGION)
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self._stop_running_executions()
        self._stack.close()

    # ---- the modelled service behaviour ------------------------------------------------------
    @contextlib.contextmanager
    def _lambda_invocation(self, function_name: str):
        """One invocation as Lambda runs it: admitted within the account's concurrency (else a throttle),
        then a cold or warm start (an idle environment of the function is reused while it is warm)."""
        if self.lambda_capacity() <= 0:
            self.quota_ledger.throttle("lambda_account_concurrency")
            raise TooManyRequestsException("ConcurrentInvocationLimitExceeded")
        self._lambda_in_flight[function_name] += 1
        now = self.simulation.epoch()
        idle = [t for t in self._lambda_idle.get(function_name, []) if now - t <= self.latencies.lambda_idle_expiry]
        warm = bool(idle)
        if warm:
            idle.pop()
        self._lambda_idle[function_name] = idle
        self.lambda_starts["warm" if warm else "cold"] += 1
        try:
            self.simulation.sleep(self.latencies.lambda_warm_start if warm else self.latencies.lambda_cold_start)
            yield
        finally:
            self._lambda_in_flight[function_name] -= 1
            self._lambda_idle[function_name].append(self.simulation.epoch())

    def lambda_capacity(self) -> int:
        return int(self.quotas.lambda_account_concurrency) - sum(self._lambda_in_flight.values())

    def _admit_bedrock(self, input_tokens: int, output_tokens: int) -> bool:
        now = self.simulation.epoch()
        charged = input_tokens + output_tokens * self.quotas.bedrock_output_token_burndown
        if not self._bedrock_requests.fits(now, 1):
            self.quota_ledger.throttle("bedrock_requests_per_minute")
            return False
        if not self._bedrock_tokens.fits(now, charged):
            self.quota_ledger.throttle("bedrock_tokens_per_minute")
            return False
        self._bedrock_requests.add(now, 1)
        self._bedrock_tokens.add(now, charged)
        return True

    @contextlib.contextmanager
    def _api_latency(self):
        """Every AWS call of the pipeline (handlers, the state machine's SDK tasks) takes its modelled time;
        a Converse call as long as its tokens take. The local cloud's own clients take none."""
        real = BaseClient._make_api_call
        simulation, latencies = self.simulation, self.latencies

        def _make_api_call(client, operation_name, api_params):
            if getattr(client, HARNESS, False) or simulation.current_actor() is None:
                return real(client, operation_name, api_params)
            seconds = latencies.aws_api_call
            try:
                response = real(client, operation_name, api_params)
                if operation_name == "Converse":
                    usage = response.get("usage", {})
                    seconds = latencies.bedrock(usage.get("inputTokens", 0), usage.get("outputTokens", 0))
                return response
            finally:
                simulation.sleep(seconds)

        with moto_patches.replace("botocore.client.BaseClient._make_api_call", _make_api_call):
            yield

    @contextlib.contextmanager
    def _start_execution_quota(self):
        real = StepFunctionsParserBackend.start_execution
        cloud = self

        def start_execution(backend, *args, **kwargs):
            if not cloud._start_executions.take(cloud.simulation.epoch()):
                cloud.quota_ledger.throttle("sfn_start_execution")
                raise StepFunctionsThrottlingException()
            return real(backend, *args, **kwargs)

        with moto_patches.replace(
            f"{moto_patches.SFN_PARSER}.models.StepFunctionsParserBackend.start_execution", start_execution
        ):
            yield

    # ---- clients and deployment ---------------------------------------------------------------
    def client(self, service: str):
        """A client of the local cloud itself (its pollers, evaluators, tests): not counted as pipeline work."""
        if service not in self._clients:
            self._clients[service] = self._new_client(service)
        return self._clients[service]

    def _new_client(self, service: str):
        if self.endpoint_url:
            client = boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url, **CLIENT_CREDENTIALS)
        else:
            client = boto3.client(service, region_name=REGION)
        return mark_harness(client)

    def cli_environment(self) -> dict[str, str]:
        """What a process needs to use this local cloud as its AWS (the CDK CLI, the AWS CLI, boto3)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **LOCAL_CREDENTIALS,
        }

    def deploy(self, stack_name: str) -> dict[str, str]:
        """Deploy a synthesized stack as `cdk deploy` would; returns its outputs."""
        template_text = (self.cdk_out / f"{stack_name}.template.json").read_text()
        assets.publish_file_assets(self.client("s3"), self.cdk_out, stack_name, ACCOUNT, REGION)
        cloudformation = self.client("cloudformation")
        cloudformation.create_stack(
            StackName=stack_name, TemplateBody=template_text, Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
        )
        return self.adopt(stack_name)

    def adopt(self, stack_name: str) -> dict[str, str]:
        """Finish a stack that CloudFormation created (by `deploy` or by the CDK CLI): apply what moto
        skipped, take over its event sources and schedules, load its handlers; returns its outputs."""
        cloudformation = self.client("cloudformation")
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise RuntimeError(f"{stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
        template = json.loads((self.cdk_out / f"{stack_name}.template.json").read_text())
        complete_stack(cloudformation, self.client("s3"), self.client("cloudwatch"), stack_name, template)
        apply_resource_policies(self.client, stack_name, template, ACCOUNT, REGION)
        self.saved_queries |= saved_queries(cloudformation, self.client("logs"), stack_name, template)
        summaries = cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
        self.access.check_log_group_keys(stack_name, template, physical)
        self.network.forget()  # a stack may bring a VPC, endpoints or routes
        self._take_over_event_source_mappings()
        self._schedule_rules(stack_name)
        self._load_handlers(stack_name)
        self._subscribe_alarm_inbox(stack.get("Outputs", []))
        # From here on moto's generated ids (message ids, task tokens) follow the run's seed: how many
        # the deployment drew depends on the CDK CLI's polling, which depends on real time.
        mock_random.seed(f"{self.seed}:{stack_name}")
        self.outputs[stack_name] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return self.outputs[stack_name]

    def review_page_request(self, stack_name: str, path: str = "/", headers: dict[str, str] | None = None) -> dict:
        """A GET of the stack's review page as API Gateway's Lambda proxy integration hands it to the page's
        function (moto's API Gateway does not invoke it); returns the function's answer: the proxy response,
        or Lambda's error payload (errorType, errorMessage) when the invocation failed."""
        stage = self.outputs[stack_name]["ReviewPageUrl"].rstrip("/").rsplit("/", 1)[-1]
        resource = "/" if path == "/" else "/{proxy+}"
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": "GET",
            "headers": headers or {},
            "multiValueHeaders": {name: [value] for name, value in (headers or {}).items()},
            "queryStringParameters": None,
            "pathParameters": None if path == "/" else {"proxy": path.lstrip("/")},
            "body": None,
            "isBase64Encoded": False,
            "requestContext": {"stage": stage, "resourcePath": resource, "httpMethod": "GET", "path": path},
        }
        answer = self.client("lambda").invoke(
            FunctionName=self.review_page_function(stack_name), Payload=json.dumps(event).encode()
        )
        return json.loads(answer["Payload"].read())

    def review_page_function(self, stack_name: str) -> str:
        """The name of the function that serves the stack's review page."""
        resources = self.client("cloudformation").list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        for resource in resources:
            if resource["ResourceType"] == "AWS::Lambda::Function" and resource["LogicalResourceId"].startswith(
                "ReviewPageFunction"
            ):
                return resource["PhysicalResourceId"]
        raise ValueError(f"{stack_name} serves no review page (deploy it with review_page)")

    def _take_over_event_source_mappings(self) -> None:
        """moto invokes mapped functions inside SendMessage, one record at a time, with no retries;
        detach that and poll each mapped queue with Lambda's semantics instead."""
        for queue in sqs_backends[ACCOUNT][REGION].queues.values():
            queue.lambda_event_source_mappings.clear()
        known = {source.queue_arn for source in self.event_sources}
        sqs, lambda_ = self.client("sqs"), self.client("lambda")
        for mapping in lambda_.list_event_source_mappings()["EventSourceMappings"]:
            queue_arn = mapping["EventSourceArn"]
            if queue_arn in known:
                continue
            queue_url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
            function_name = mapping["FunctionArn"].rsplit(":", 1)[-1]
            self._check_mapping_role(function_name, queue_arn)
            queue = SqsEventSource(
                sqs,
                queue_url,
                lambda event, _context: event,  # the poller below invokes the function itself
                batch_size=mapping.get("BatchSize", 10),
                report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
                function_name=function_name,
            )
            poller = QueuePoller(
                self.simulation,
                queue,
                self._invoker(function_name),
                account=ACCOUNT,
                region=REGION,
                capacity=self._capacity_of(function_name),
                delivery_seconds=self.latencies.event_delivery,
                initial_concurrency=self.quotas.lambda_sqs_initial_concurrency,
                scale_up_per_minute=self.quotas.lambda_sqs_scale_up_per_minute,
            )
            self.event_sources.append(poller)
            self.simulation.sources.append(poller)

    def _check_mapping_role(self, function_name: str, queue_arn: str) -> None:
        """Lambda polls a queue with the function's execution role and refuses to create a mapping whose role
        may not (CreateEventSourceMapping: InvalidParameterValueException, "The provided execution role does
        not have permissions to call ReceiveMessage on SQS"): a deployment that would fail on AWS fails here."""
        from localcloud.access import AccessDenied
        from localcloud.iam_policy import Principal

        role = lambda_backends[ACCOUNT][REGION].get_function(function_name).role
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            try:
                self.access.require(Principal(role, ACCOUNT, session=function_name), action, queue_arn)
            except AccessDenied:
                raise RuntimeError(
                    f"InvalidParameterValueException: The provided execution role does not have permissions to "
                    f"call {action.split(':')[1]} on SQS (function {function_name}, queue {queue_arn})"
                ) from None

    def _capacity_of(self, function_name: str):
        """How many more invocations the function may start now: the account's headroom, within the
        function's reserved concurrency (read once: a deployment does not change it)."""
        reserved = lambda_backends[ACCOUNT][REGION].get_function(function_name).reserved_concurrency

        def capacity() -> int:
            if not reserved:
                return self.lambda_capacity()
            return min(self.lambda_capacity(), int(reserved) - self._lambda_in_flight[function_name])

        return capacity

    def _load_handlers(self, stack_name: str) -> None:
        """Import each function's handler now, as Lambda's init phase would, so a first invocation
        does not spend (compressed, so magnified) time importing code."""
        for function in self.client("lambda").list_functions()["Functions"]:
            if function["FunctionName"].startswith(f"{stack_name}-"):
                resolve_handler(function["Handler"])

    ALARM_INBOX = "local-alarm-inbox"

    def _subscribe_alarm_inbox(self, outputs: list[dict]) -> None:
        """A queue subscribed to every alarm topic: where the local cloud's alarm notifications land."""
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=self.ALARM_INBOX)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for output in outputs:
            if output["OutputKey"] == "AlarmTopicArn":
                self.client("sns").subscribe(TopicArn=output["OutputValue"], Protocol="sqs", Endpoint=arn)

    def alarm_notifications(self) -> list[dict]:
        """The alarm messages SNS delivered (drains the inbox)."""
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=self.ALARM_INBOX)["QueueUrl"]
        delivered = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                delivered.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return delivered

    def traces(self) -> dict[str, list[dict]]:
        """The X-Ray documents the functions' invocations sent (each subsegment as it ended), by function."""
        return self.xray.by_function()

    def _schedule_rules(self, stack_name: str) -> None:
        """moto creates scheduled rules but never fires them: the local cloud does, on the simulated clock."""
        events = self.client("events")
        for rule in events.list_rules(NamePrefix=stack_name)["Rules"]:
            period = rate_seconds(rule.get("ScheduleExpression", ""))
            if period is None:
                continue
            for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                function_name = target["Arn"].rsplit(":", 1)[-1]
                schedule = ScheduledRule(self.simulation, rule["Name"], period, self._invoker(function_name))
                self.schedules.append(schedule)
                self.simulation.sources.append(schedule)

    def _invoker(self, function_name: str):
        """Invokes the function as Lambda's own pollers and EventBridge do: in the calling actor, no API call."""

        def invoke(event: dict) -> dict:
            function = lambda_backends[ACCOUNT][REGION].get_function(function_name)
            payload_text, errored, _logs = function._invoke_lambda(json.dumps(event))
            payload = json.loads(payload_text or "null")
            if errored:
                raise FunctionError(payload.get("errorType") if isinstance(payload, dict) else payload)
            return payload

        return invoke

    def running_executions(self) -> int:
        sfn = self.client("stepfunctions")
        running = 0
        for machine in sfn.list_state_machines()["stateMachines"]:
            running += len(
                sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")["executions"]
            )
        return running

    def run_until_quiet(self, *, horizon: float = 7 * 24 * 3600, progress=None) -> float:
        """Run until nothing is pending (no message, job, execution or invocation; the periodic sweeps and
        alarm evaluations do not count); returns the simulated seconds it took. Pending work past
        `horizon` simulated seconds is an error that lists it."""
        simulated = self.simulation.run_until(horizon=horizon, progress=progress)
        self.alarms.evaluate()
        return simulated

    def run_until(self, done, *, horizon: float = 7 * 24 * 3600, progress=None) -> float:
        """Run until `done()` holds (the sweeps keep running meanwhile); returns the simulated seconds."""
        return self.simulation.run_until(done, horizon=horizon, quiet_ends=False, progress=progress)

    def run_for(self, seconds: float) -> float:
        """Let `seconds` of simulated time pass with everything that is due meanwhile."""
        return self.simulation.run_for(seconds)

    def _stop_running_executions(self) -> None:
        sfn = self.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")[
                "executions"
            ]:
                sfn.stop_execution(executionArn=execution["executionArn"])

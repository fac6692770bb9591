"""The local cloud: moto plus the shims that make it run this project's stacks like AWS.

    with LocalCloud(Path("cdk.out")) as cloud:
        outputs = cloud.deploy("ClinicalScribeChoreography")
        ...
        cloud.run_until_quiet()

Deploys the unmodified synthesized templates through moto's CloudFormation (after publishing
their file assets), runs the Lambda handlers in-process, delivers SQS messages to functions with
Lambda's event source semantics, and stands in for Transcribe Medical and Bedrock Converse.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import boto3
from moto import mock_aws
from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.sqs.models import sqs_backends

from localcloud import assets
from localcloud.alarms import AlarmEvaluator
from localcloud.bedrock_converse import local_converse
from localcloud.clock import SimulatedClock
from localcloud.cloudformation_shims import (
    complete_stack,
    outputs_after_change_sets,
    state_machines_in_the_interpreter,
)
from localcloud.events_shims import scheduled_rules_ignore_events
from localcloud.faults import NO_FAULTS, FaultPlan
from localcloud.lambda_runtime import in_process_lambdas, resolve_handler
from localcloud.operations import OperationCounter, mark_harness
from localcloud.sqs_event_source import SqsEventSource
from localcloud.sqs_shims import dlq_redrive
from localcloud.stepfunctions_shims import (
    aws_error_names,
    callbacks_skip_unstarted_executions,
    compressed_time,
    execution_status_events,
    redrive_execution,
)
from localcloud.transcribe_medical import LocalTranscribeMedical
from localcloud.transcribe_shims import failure_reason_in_get

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


def event_subject(body: str) -> str:
    """What a message is about, the same in both variants: the S3 object key of the event it carries."""
    try:
        return json.loads(body)["detail"]["object"]["key"]
    except (ValueError, KeyError, TypeError):
        return body


@dataclass
class Schedule:
    rule_name: str
    function_name: str
    period: float
    next_at: float


class FunctionError(Exception):
    """The invoked function raised (Lambda reports FunctionError)."""


class LocalCloud:
    """The local cloud, in-process (tests: boto3 is patched by moto) or, with `port`, as a moto
    server on loopback that the CDK CLI and any AWS client can use through AWS_ENDPOINT_URL."""

    def __init__(
        self, cdk_out: Path, *, time_factor: float = 0.001, faults: FaultPlan = NO_FAULTS, port: int | None = None
    ) -> None:
        self.cdk_out = Path(cdk_out)
        self.port = port
        self.endpoint_url = f"http://localhost:{port}" if port else None
        self.clock = SimulatedClock(time_factor)
        self.faults = faults
        self.transcribe = LocalTranscribeMedical(
            self.clock.now, fault=lambda *args: self.faults.draw(*args), client=self.client, wall=self.clock.wall
        )
        self.alarms = AlarmEvaluator(self.client, self.clock.now)
        self._pumps = 0
        self.outputs: dict[str, dict[str, str]] = {}
        self.operations = OperationCounter()
        self.event_sources: list[SqsEventSource] = []
        self.schedules: list[Schedule] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> LocalCloud:
        enter = self._stack.enter_context
        function_environment = {}
        if self.port:
            enter(mock.patch.dict(default_user_config["stepfunctions"], {"execute_state_machine": True}))
            # The Step Functions interpreter's own AWS calls go to the server on this port.
            enter(mock.patch.dict(os.environ, {"MOTO_PORT": str(self.port)}))
            function_environment = {"AWS_ENDPOINT_URL": self.endpoint_url, **LOCAL_CREDENTIALS}
        else:
            enter(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        enter(
            in_process_lambdas(
                function_environment,
                # The subject is the function's name without the random suffix CloudFormation gives it,
                # so a seed replays the same crashes in every deployment.
                crash=lambda name: self.faults.draw("lambda_crash", name.rsplit("-", 1)[0]) is not None,
                clock_for_handlers=self.clock.seen_by_handlers,
            )
        )
        enter(aws_error_names())
        enter(compressed_time(self.clock.factor))
        enter(failure_reason_in_get())
        enter(state_machines_in_the_interpreter())
        enter(scheduled_rules_ignore_events())
        enter(local_converse(lambda digest, scope: self.faults.bedrock(digest, scope)))
        enter(self.transcribe.installed())
        enter(outputs_after_change_sets())
        enter(self.clock.stamping_s3_objects())
        enter(self.operations.counting())
        enter(self.clock.stamping_executions())
        enter(execution_status_events())
        enter(redrive_execution())
        enter(callbacks_skip_unstarted_executions())
        enter(dlq_redrive())
        if self.port:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
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

    def client(self, service: str):
        """A client of the local cloud itself (its pollers, evaluators, tests): not counted as pipeline work."""
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
        self._take_over_event_source_mappings()
        self._schedule_rules(stack_name)
        self._load_handlers(stack_name)
        self._subscribe_alarm_inbox(stack.get("Outputs", []))
        self.outputs[stack_name] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return self.outputs[stack_name]

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
            self.event_sources.append(
                SqsEventSource(
                    sqs,
                    queue_url,
                    self._invoker(function_name),
                    batch_size=mapping.get("BatchSize", 10),
                    report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
                    function_name=function_name,
                    retry_immediately=True,
                )
            )

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

    def _schedule_rules(self, stack_name: str) -> None:
        """moto creates scheduled rules but never fires them: the local cloud does, on the simulated clock."""
        events = self.client("events")
        for rule in events.list_rules(NamePrefix=stack_name)["Rules"]:
            period = rate_seconds(rule.get("ScheduleExpression", ""))
            if period is None:
                continue
            for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                function_name = target["Arn"].rsplit(":", 1)[-1]
                self.schedules.append(Schedule(rule["Name"], function_name, period, self.clock.now() + period))

    def _run_due_schedules(self) -> int:
        ran = 0
        lambda_ = self.client("lambda")
        for schedule in self.schedules:
            while schedule.next_at <= self.clock.now():
                lambda_.invoke(
                    FunctionName=schedule.function_name,
                    Payload=json.dumps(
                        {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
                    ).encode(),
                )
                schedule.next_at += schedule.period
                ran += 1
        return ran

    def _invoker(self, function_name: str):
        lambda_ = self.client("lambda")

        def invoke(event: dict, _context) -> dict:
            deployment = function_name.partition("-")[0]
            kept = [
                r
                for r in event["Records"]
                if self.faults.draw("event_lost", event_subject(r["body"]), deployment) is None
            ]
            if not kept:
                return {"batchItemFailures": []}
            event = {**event, "Records": kept}
            response = lambda_.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
            payload = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                raise FunctionError(payload.get("errorType") if isinstance(payload, dict) else payload)
            return payload

        return invoke

    def pump(self) -> int:
        """One round of everything the cloud does by itself; returns how much happened."""
        activity = self.transcribe.advance() + self._run_due_schedules()
        for source in self.event_sources:
            received = source.poll_once().received
            if received:
                # What Lambda's poller asks of SQS for a batch (billed on AWS): a receive and a delete.
                self.operations.add("sqs", "ReceiveMessage")
                self.operations.add("sqs", "DeleteMessageBatch")
            activity += received
        self._pumps += 1
        if self._pumps % 25 == 0:
            self.alarms.evaluate()
        return activity

    def running_executions(self) -> int:
        sfn = self.client("stepfunctions")
        running = 0
        for machine in sfn.list_state_machines()["stateMachines"]:
            running += len(
                sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")["executions"]
            )
        return running

    def run_until_quiet(self, timeout: float = 60.0, quiet_rounds: int = 5, progress=None) -> float:
        """Pump until nothing happens and nothing is pending; returns the simulated seconds it took.

        `progress()` is called about five times a real second, for a display.
        """
        started, quiet = self.clock.now(), 0
        deadline = time.monotonic() + timeout
        next_progress = time.monotonic()
        while quiet < quiet_rounds:
            if time.monotonic() > deadline:
                raise TimeoutError("the local cloud did not become quiet")
            if progress and time.monotonic() >= next_progress:
                progress()
                next_progress = time.monotonic() + 0.2
            busy = self.pump() or self.transcribe.pending or self.running_executions()
            quiet = 0 if busy else quiet + 1
            if not busy:
                time.sleep(0.005)
        self.alarms.evaluate()
        return self.clock.now() - started

    def _stop_running_executions(self) -> None:
        sfn = self.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")[
                "executions"
            ]:
                sfn.stop_execution(executionArn=execution["executionArn"])

"""Evaluates the stacks' CloudWatch alarms, which moto stores but never evaluates.

Each evaluation reads the metrics these stacks alarm on from where the local cloud can see them:
SQS queue depth (the queue itself), Lambda errors (the in-process runtime), Step Functions
executions (their status), and the handlers' own metrics (the EMF lines they print). A breach
puts the alarm into ALARM and publishes its action to the SNS topic, as CloudWatch would.
Count metrics are evaluated over what happened since the previous evaluation.

CloudWatch publishes to the topic as cloudwatch.amazonaws.com with the alarm as aws:SourceArn; with
an access check (localcloud.access) the topic policy and the topic key's policy must allow it, and a
denied action is recorded in the alarm's history as CloudWatch records it ("Failed to execute
action ..."), served by DescribeAlarmHistory.
"""

from __future__ import annotations

import contextlib
import json
import operator
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from moto.sqs.models import sqs_backends

from localcloud import moto_patches
from localcloud.lambda_runtime import INVOCATIONS, emf_metrics

COMPARISONS = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
EXECUTION_METRICS = {"ExecutionsFailed": "FAILED", "ExecutionsTimedOut": "TIMED_OUT", "ExecutionsAborted": "ABORTED"}


@dataclass(frozen=True)
class AlarmFired:
    alarm_name: str
    metric: str
    value: float
    simulated_at: float
    description: str


class AlarmEvaluator:
    def __init__(self, client_factory, now, access=None, wall=None) -> None:
        self.client = client_factory
        self.now = now
        self.access = access
        self.wall = wall
        self.fired: list[AlarmFired] = []
        self.history: list[dict] = []  # CloudWatch's alarm history items, newest last
        # What happened before this evaluator existed (another local cloud in this process) is not news.
        self._seen_errors: Counter = Counter(INVOCATIONS.errors)
        self._seen_emf = len(INVOCATIONS.emf)
        self._seen_executions: set[str] = set()
        self.unevaluated: set[str] = set()

    def reset(self) -> None:
        """Put every alarm back to OK (an operator acknowledging them), so the next breach fires again."""
        cloudwatch = self.client("cloudwatch")
        for alarm in cloudwatch.describe_alarms(StateValue="ALARM")["MetricAlarms"]:
            cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="reset")
        self.fired.clear()

    def _count_deltas(self) -> dict[tuple, float]:
        """Count-metric datapoints since the previous evaluation, keyed by (namespace, metric, dimension value)."""
        deltas: Counter = Counter()
        for function, errors in list(INVOCATIONS.errors.items()):
            deltas[("AWS/Lambda", "Errors", function)] += errors - self._seen_errors[function]
            self._seen_errors[function] = errors
        new_emf = INVOCATIONS.emf[self._seen_emf :]
        self._seen_emf += len(new_emf)
        for namespace, name, dimensions, total in emf_metrics(new_emf):
            # These alarms watch the one-dimension (service) metrics, not the same count published again with a
            # dimension more (EncounterFailures by error_type).
            if len(dimensions) == 1:
                deltas[(namespace, name, dimensions[0][1])] += total
        sfn = self.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
                if execution["executionArn"] in self._seen_executions or execution["status"] == "RUNNING":
                    continue
                self._seen_executions.add(execution["executionArn"])
                for metric, status in EXECUTION_METRICS.items():
                    if execution["status"] == status:
                        deltas[("AWS/States", metric, machine["stateMachineArn"])] += 1
        return deltas

    @staticmethod
    def _queue_depth(alarm_arn: str, queue_name: str) -> float:
        """SQS hands CloudWatch its queue metrics itself: read the queue, not through its API (two calls per
        queue alarm per evaluation, each a round trip to the local cloud's server in the long idle runs)."""
        region, account = alarm_arn.split(":")[3:5]
        return float(sqs_backends[account][region].get_queue(queue_name).approximate_number_of_messages)

    def evaluate(self) -> list[AlarmFired]:
        cloudwatch, sns = self.client("cloudwatch"), self.client("sns")
        deltas = self._count_deltas()
        fired = []
        for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
            dimension = alarm["Dimensions"][0]["Value"] if alarm.get("Dimensions") else None
            metric = alarm["MetricName"]
            if metric == "ApproximateNumberOfMessagesVisible":
                value = self._queue_depth(alarm["AlarmArn"], dimension)
            elif metric == "ApproximateAgeOfOldestMessage":
                # moto keeps no per-message age metric; this alarm is created but never evaluated here.
                self.unevaluated.add(metric)
                continue
            else:
                value = deltas.get((alarm["Namespace"], metric, dimension), 0.0)
            breaching = COMPARISONS[alarm["ComparisonOperator"]](value, alarm["Threshold"])
            if breaching and alarm["StateValue"] != "ALARM":
                reason = f"{metric} = {value:g} (threshold {alarm['Threshold']:g}), evaluated by the local cloud"
                cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="ALARM", StateReason=reason)
                self._record(alarm, "StateUpdate", f"Alarm updated from {alarm['StateValue']} to ALARM")
                for topic in alarm.get("AlarmActions", []):
                    if denied := self._publish_denied(alarm, topic):
                        self._record(alarm, "Action", f'Failed to execute action {topic}. Received error: "{denied}"')
                        continue
                    self._record(alarm, "Action", f"Successfully executed action {topic}")
                    sns.publish(
                        TopicArn=topic,
                        Subject=f"ALARM: {alarm['AlarmName']}"[:100],
                        Message=json.dumps(
                            {"AlarmName": alarm["AlarmName"], "NewStateValue": "ALARM", "NewStateReason": reason}
                        ),
                    )
                event = AlarmFired(alarm["AlarmName"], metric, value, self.now(), alarm.get("AlarmDescription", ""))
                fired.append(event)
                self.fired.append(event)
            elif not breaching and alarm["StateValue"] == "ALARM" and metric == "ApproximateNumberOfMessagesVisible":
                cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="queue drained")
        return fired

    def _publish_denied(self, alarm: dict, topic: str) -> str | None:
        """Why CloudWatch may not publish this alarm to the topic (None: it may)."""
        if self.access is None:
            return None
        from localcloud.access import AccessDenied
        from localcloud.iam_policy import Principal

        cloudwatch = Principal("cloudwatch.amazonaws.com", self.access.account, source_arn=alarm["AlarmArn"])
        try:
            self.access.require_delivery(
                cloudwatch, "sns:Publish", topic, code="AuthorizationError", key_code="KMSAccessDenied"
            )
        except AccessDenied as denied:
            service, _, action = denied.action.partition(":")
            return f"CloudWatch Alarms is not authorized to perform: {service.upper()}:{action} on resource:{denied.resource}"
        return None

    def _record(self, alarm: dict, kind: str, summary: str) -> None:
        self.history.append(
            {
                "AlarmName": alarm["AlarmName"],
                "AlarmType": "MetricAlarm",
                "Timestamp": self.wall() if self.wall else None,
                "HistoryItemType": kind,
                "HistorySummary": summary,
                "HistoryData": json.dumps({"summary": summary}),
            }
        )

    def failed_actions(self) -> list[dict]:
        return [item for item in self.history if item["HistorySummary"].startswith("Failed to execute action")]


@contextlib.contextmanager
def alarm_history_served(evaluator: AlarmEvaluator) -> Iterator[None]:
    """moto 5.2.5 has no DescribeAlarmHistory: answer it from the evaluator's history (AlarmName,
    HistoryItemType filters)."""
    from moto.core.responses import ActionResult

    def describe_alarm_history(self) -> ActionResult:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        items = [
            item
            for item in reversed(evaluator.history)
            if (name is None or item["AlarmName"] == name) and (kind is None or item["HistoryItemType"] == kind)
        ]
        return ActionResult({"AlarmHistoryItems": items})

    with moto_patches.add(
        "moto.cloudwatch.responses.CloudWatchResponse.describe_alarm_history", describe_alarm_history
    ):
        yield

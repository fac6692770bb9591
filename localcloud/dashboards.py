"""What a CloudWatch dashboard shows, against what the local cloud saw emitted.

A dashboard's graph names each metric by namespace, name and dimensions (or by a SEARCH expression over a
namespace, a dimension schema and a metric name). In the local cloud the handlers' own metrics are the EMF lines
they printed (localcloud.lambda_runtime keeps them); the services' metrics are those AWS publishes for every
resource of theirs: SQS for each queue, Step Functions for each state machine. moto publishes neither, so a
service metric counts as emitted when its resource exists and AWS publishes a metric of that name for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from localcloud.lambda_runtime import emf_metrics

# AWS/SQS: the metrics SQS sends CloudWatch for every queue (SQS Developer Guide, "Available CloudWatch metrics").
SQS_METRICS = frozenset(
    {
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesVisible",
        "NumberOfEmptyReceives",
        "NumberOfMessagesDeleted",
        "NumberOfMessagesReceived",
        "NumberOfMessagesSent",
        "SentMessageSize",
    }
)
# AWS/States: the execution metrics Step Functions sends for every state machine (dimension StateMachineArn).
STATES_METRICS = frozenset(
    {
        "ExecutionTime",
        "ExecutionThrottled",
        "ExecutionsAborted",
        "ExecutionsFailed",
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsTimedOut",
        "ExecutionsRedriven",
        "RedrivenExecutionsSucceeded",
        "RedrivenExecutionsFailed",
        "RedrivenExecutionsAborted",
        "RedrivenExecutionsTimedOut",
    }
)
SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)'")
TERM = re.compile(r'(?P<key>[A-Za-z_]+)="(?P<value>[^"]*)"')


@dataclass(frozen=True)
class Shown:
    """One metric a graph shows: exact dimensions, or (a SEARCH) a dimension schema with some values fixed."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    schema: tuple[str, ...] | None = None

    def __str__(self) -> str:
        dimensions = ", ".join(f"{key}={value}" for key, value in self.dimensions)
        schema = f" (search over {', '.join(self.schema)})" if self.schema is not None else ""
        return f"{self.namespace} {self.name} [{dimensions}]{schema}"


def shown_metrics(body: str | dict) -> list[Shown]:
    """Every metric the dashboard's graphs show, as CDK writes them (one array per metric, or an expression)."""
    widgets = (json.loads(body) if isinstance(body, str) else body)["widgets"]
    shown = []
    for widget in widgets:
        if widget["type"] != "metric":
            continue
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):
                shown.append(_searched(line[0]["expression"]))
                continue
            namespace, name, *rest = [part for part in line if not isinstance(part, dict)]
            shown.append(Shown(namespace, name, tuple(sorted(zip(rest[::2], rest[1::2], strict=True)))))
    return shown


def _searched(expression: str) -> Shown:
    match = SEARCH.match(expression)
    if match is None:
        raise ValueError(f"an expression this check cannot read (only SEARCH over one schema): {expression}")
    namespace, *schema = [part.strip() for part in match["schema"].split(",")]
    terms = {m["key"]: m["value"] for m in TERM.finditer(match["terms"])}
    name = terms.pop("MetricName")
    return Shown(namespace, name, tuple(sorted(terms.items())), tuple(sorted(schema)))


def emitted_by_handlers(emf_documents: Iterable[dict]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, name, dimensions) of every metric in the EMF lines the handlers printed."""
    return {(namespace, name, dimensions) for namespace, name, dimensions, _total in emf_metrics(emf_documents)}


def not_emitted(shown: Iterable[Shown], emf_documents: Iterable[dict], client: Callable) -> list[str]:
    """Each shown metric nothing emitted in this run, in words (none: every graph line has data behind it)."""
    emitted = emitted_by_handlers(emf_documents)
    queues = {url.rsplit("/", 1)[-1] for url in client("sqs").list_queues().get("QueueUrls", [])}
    machines = {m["stateMachineArn"] for m in client("stepfunctions").list_state_machines()["stateMachines"]}
    missing = []
    for metric in shown:
        dimensions = dict(metric.dimensions)
        if metric.namespace == "AWS/SQS":
            found = (
                metric.name in SQS_METRICS and set(dimensions) == {"QueueName"} and dimensions["QueueName"] in queues
            )
        elif metric.namespace == "AWS/States":
            found = (
                metric.name in STATES_METRICS
                and set(dimensions) == {"StateMachineArn"}
                and dimensions["StateMachineArn"] in machines
            )
        elif metric.schema is not None:
            found = any(
                (namespace, name) == (metric.namespace, metric.name)
                and tuple(sorted(key for key, _value in emitted_dimensions)) == metric.schema
                and set(metric.dimensions) <= set(emitted_dimensions)
                for namespace, name, emitted_dimensions in emitted
            )
        else:
            found = (metric.namespace, metric.name, metric.dimensions) in emitted
        if not found:
            missing.append(str(metric))
    return missing

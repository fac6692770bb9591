"""What an operator opens in the console for a stack: its dashboard and its saved query of one encounter's logs.

The dashboard's graphs are built from the metrics the stack's alarms watch (the same Metric objects or the
same functions that make them), plus the domain's counts the handlers publish (EMF, namespace ClinicalScribe,
dimension `service` = the stack): every metric it shows is one the pipeline emits, which the local cloud
checks (tests/localcloud/test_console.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from clinical.encounter_logs import ENCOUNTER_ID_PLACEHOLDER, SHOWN_FIELDS, encounter_filter
from stacks.constructs.pipeline_function import METRICS_NAMESPACE
from stacks.constructs.work_queue import dlq_depth, oldest_message_age

GRAPH_PERIOD = Duration.minutes(5)
GAUGE_PERIOD = Duration.minutes(15)  # the sweeps' default interval (watchdog_interval_minutes)


def domain_metric(scope: Construct, name: str, period: Duration = GRAPH_PERIOD) -> cloudwatch.Metric:
    """A count the handlers publish (EMF), summed: namespace ClinicalScribe, dimension service = the stack."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": Stack.of(scope).stack_name},
        statistic="Sum",
        period=period,
    )


def domain_gauge(scope: Construct, name: str) -> cloudwatch.Metric:
    """A level a sweep publishes on each run (ReviewsAwaiting, TranscriptionJobsInFlight): its highest reading
    in each sweep interval's worth of time (a sum would add the readings up)."""
    return domain_metric(scope, name, period=GAUGE_PERIOD).with_(statistic="Maximum")


def failures_by_reason(scope: Construct) -> cloudwatch.MathExpression:
    """EncounterFailures with its error_type dimension (clinical.failures): one line per reason that occurred."""
    service = Stack.of(scope).stack_name
    return cloudwatch.MathExpression(
        expression=(
            f'SEARCH(\'{{{METRICS_NAMESPACE},error_type,service}} MetricName="EncounterFailures" '
            f"service=\"{service}\"', 'Sum', {int(GRAPH_PERIOD.to_seconds())})"
        ),
        using_metrics={},
        # CloudWatch's dynamic label: each line is named by its error type.
        label="${PROP('Dim.error_type')}",
        period=GRAPH_PERIOD,
    )


def graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    """A dashboard graph, a third of its width."""
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)


def queue_label(queue: sqs.Queue) -> str:
    """A work queue's or DLQ's name as the stack composes it: its WorkQueue's id, or its own."""
    own = queue.node.id
    return f"{queue.node.scope.node.id} {own}" if own in ("Queue", "Dlq") else own


class Console(Construct):
    """The stack's dashboard (output DashboardName) and its saved Logs Insights query of one encounter."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        started: Sequence[cloudwatch.IMetric],
        transcription: cloudwatch.IWidget,
        review_backlog: cloudwatch.IWidget,
        extra_rows: Sequence[cloudwatch.IWidget] = (),
        log_groups: Sequence[logs.ILogGroup],
    ) -> None:
        """`started`: the variant's count of encounters taken in; `transcription`: its Transcribe starts, jobs in
        flight and throttles; `review_backlog`: where the reviews awaiting a clinician are seen; `extra_rows`: the variant's own widgets (orchestration: its executions); `log_groups`: where
        the saved query looks."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        queues = [node for node in stack.node.find_all() if isinstance(node, sqs.Queue)]
        work = [queue for queue in queues if queue.dead_letter_queue is not None]
        dead_letters = [queue for queue in queues if queue.dead_letter_queue is None]

        def metric(name: str) -> cloudwatch.Metric:
            return domain_metric(self, name)

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{stack.stack_name}-encounters",
            default_interval=Duration.hours(24),
            widgets=[
                [
                    graph("Uploads taken in", started),
                    graph("Notes", [metric("NotesWritten"), metric("NotesNeedingReview")]),
                    graph("Failures by reason", [metric("EncounterFailures"), failures_by_reason(self)]),
                ],
                [
                    graph(
                        "Reviews: reminded before the deadline, expired",
                        [metric("ReviewReminders"), metric("ReviewsExpired")],
                    ),
                    transcription,
                    review_backlog,
                ],
                [
                    graph(
                        "Dead-letter queues: messages",
                        [dlq_depth(queue).with_(label=queue_label(queue)) for queue in dead_letters],
                    ),
                    graph(
                        "Work queues: age of the oldest message (s)",
                        [oldest_message_age(queue).with_(label=queue_label(queue)) for queue in work],
                    ),
                    *extra_rows,
                ],
            ],
        )
        self.query_log_groups = [group.log_group_name for group in log_groups]
        self.query = logs.QueryDefinition(
            self,
            "EncounterLogs",
            query_definition_name=f"{stack.stack_name}/encounter-logs",
            query_string=logs.QueryString(
                fields=list(SHOWN_FIELDS),
                filter_statements=[encounter_filter(ENCOUNTER_ID_PLACEHOLDER)],
                sort="@timestamp asc",
            ),
            log_groups=list(log_groups),
        )

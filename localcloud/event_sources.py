"""What the local cloud runs by itself on the simulated clock: SQS event source mappings, scheduled
rules and periodic alarm evaluation. Each is a `Source` of the simulation (localcloud.simulation):
it says when its next event is due, does what is due, and says what it still has pending.
"""

from __future__ import annotations

from collections.abc import Callable

from moto.sqs.models import sqs_backends

from localcloud.simulation import Simulation
from localcloud.sqs_event_source import SqsEventSource


class QueuePoller:
    """Lambda's SQS event source mapping: polls when messages are visible and the function has capacity,
    invokes each batch as an actor of its own (after the event's delivery latency), then deletes what
    succeeded; the rest reappears after the queue's visibility timeout, as on AWS. Concurrency starts at
    `initial_concurrency` batches and grows by `scale_up_per_minute` while a backlog waits."""

    def __init__(
        self,
        simulation: Simulation,
        queue: SqsEventSource,
        invoke: Callable[[dict], dict],
        *,
        account: str,
        region: str,
        capacity: Callable[[], int],
        delivery_seconds: float,
        initial_concurrency: float,
        scale_up_per_minute: float,
    ) -> None:
        self.simulation = simulation
        self.queue = queue
        self.invoke = invoke
        self.name = queue.queue_arn.rsplit(":", 1)[-1]
        self._backend_queue = sqs_backends[account][region].queues[self.name]
        self.capacity = capacity
        self.delivery_seconds = delivery_seconds
        self.initial_concurrency = initial_concurrency
        self.scale_up_per_minute = scale_up_per_minute
        self.concurrency = initial_concurrency
        self._scaled_at: float | None = None
        self.in_flight = 0
        self.received = 0

    @property
    def queue_arn(self) -> str:
        return self.queue.queue_arn

    def _allowed(self) -> int:
        return max(0, min(int(self.concurrency) - self.in_flight, self.capacity()))

    def _ready_at(self) -> list[float]:
        """When each message of the queue is (or becomes) receivable, in epoch milliseconds."""
        return [max(m.visible_at, m.delayed_until) for m in self._backend_queue._messages]

    def next_due(self) -> float | None:
        ready_at = self._ready_at()
        if not ready_at:
            return None
        now_ms = self.simulation.epoch() * 1000
        if any(at < now_ms for at in ready_at):
            # Visible now: due at once if there is capacity, else when an invocation ends (an actor runs).
            return self.simulation.epoch() if self._allowed() > 0 else None
        return min(ready_at) / 1000 + 0.001

    def _scale(self, now: float, backlog: bool) -> None:
        if not backlog:
            self.concurrency, self._scaled_at = self.initial_concurrency, None
            return
        if self._scaled_at is not None:
            self.concurrency += (now - self._scaled_at) * self.scale_up_per_minute / 60
        self._scaled_at = now

    def run_due(self, now: float) -> int:
        started = 0
        while (allowed := self._allowed()) > 0:
            messages = self.queue.receive(limit=None)
            if not messages:
                break
            self.received += len(messages)
            self.in_flight += 1
            self.simulation.spawn(lambda batch=messages: self._deliver(batch), f"{self.name} batch")
            started += 1
            if allowed == 1:
                break
        self._scale(now, backlog=bool(self.queue_visible()))
        return started

    def queue_visible(self) -> int:
        now_ms = self.simulation.epoch() * 1000
        return sum(1 for at in self._ready_at() if at < now_ms)

    def _deliver(self, messages: list[dict]) -> None:
        try:
            self.simulation.sleep(self.delivery_seconds)
            try:
                response = self.invoke(self.queue.event(messages))
            except Exception:
                self.queue.settle(messages, None, crashed=True)
            else:
                self.queue.settle(messages, response)
        finally:
            self.in_flight -= 1

    def pending_work(self) -> list[str]:
        count = len(self._backend_queue._messages)
        return [f"{count} message(s) in queue {self.name}"] if count else []


SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


class ScheduledRule:
    """An EventBridge rate() rule with a Lambda target: moto never fires it; this does, on simulated time."""

    def __init__(self, simulation: Simulation, rule_name: str, period: float, invoke: Callable[[dict], dict]) -> None:
        self.simulation = simulation
        self.name = rule_name
        self.period = period
        self.invoke = invoke
        self.next_at = simulation.epoch() + period
        self.failed_runs = 0
        self.work_left = False

    def next_due(self) -> float:
        return self.next_at

    def run_due(self, now: float) -> int:
        ran = 0
        while self.next_at <= now:
            self.simulation.spawn(self._run, f"{self.name} run")
            self.next_at += self.period
            ran += 1
        return ran

    def _run(self) -> None:
        try:
            result = self.invoke(dict(SCHEDULED_EVENT))
            # A run that reports work left ({"waiting": true}: uploads in line for a Transcribe slot, which a
            # sweep may be the one to move on) keeps the cloud from being quiet, as a delayed message does.
            self.work_left = isinstance(result, dict) and bool(result.get("waiting"))
        except Exception:
            # The runtime counted the error (the function's Errors metric and alarm); the next run tries
            # again. EventBridge's own two retries of an asynchronous invocation are not modelled.
            self.failed_runs += 1

    def pending_work(self) -> list[str]:
        # Periodic: never keeps a run from being quiet, unless its last run said work is left for the next.
        return [f"{self.name}: work left for its next run"] if self.work_left else []


class Periodic:
    """Something the cloud does every `period` simulated seconds while the simulation has activity
    (CloudWatch evaluating alarms): skipped when no actor ran since the last time."""

    def __init__(self, simulation: Simulation, name: str, period: float, action: Callable[[], object]) -> None:
        self.simulation = simulation
        self.name = name
        self.period = period
        self.action = action
        self.next_at = simulation.epoch() + period
        self._seen_runs = -1

    def next_due(self) -> float:
        return self.next_at

    def run_due(self, now: float) -> int:
        while self.next_at <= now:
            self.next_at += self.period
        if self.simulation.actor_runs == self._seen_runs:
            return 0
        self._seen_runs = self.simulation.actor_runs
        self.action()
        return 0  # evaluating is not activity: it must not keep the simulation from moving on

    def pending_work(self) -> list[str]:
        return []

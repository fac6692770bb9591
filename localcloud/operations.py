"""Counting what the pipeline asks of AWS, per service and operation, on the local cloud.

Every AWS call of the handlers and of the Step Functions interpreter goes through botocore's
`BaseClient._make_api_call`; the local cloud's own clients (its pollers, alarm evaluator and the
measuring harness) are marked and not counted. The Lambda service's own SQS calls (receiving and
deleting the messages it delivers) are added by the local cloud's poller, since on AWS they are
billed to the queue's owner.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from botocore.client import BaseClient

from localcloud import moto_patches

HARNESS = "_localcloud_harness"


def mark_harness(client):
    setattr(client, HARNESS, True)
    return client


class OperationCounter:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, service: str, operation: str, count: int = 1) -> None:
        with self._lock:
            self.counts[(service, operation)] += count

    @contextlib.contextmanager
    def counting(self) -> Iterator[OperationCounter]:
        real = BaseClient._make_api_call
        counter = self

        def _make_api_call(client, operation_name, api_params):
            if not getattr(client, HARNESS, False):
                counter.add(client.meta.service_model.service_name, operation_name)
            return real(client, operation_name, api_params)

        with moto_patches.replace("botocore.client.BaseClient._make_api_call", _make_api_call):
            yield self

    def by_service(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for (service, _operation), count in self.counts.items():
            totals[service] += count
        return dict(totals)

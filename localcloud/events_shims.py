"""Make moto's EventBridge deliver events like AWS where this project depends on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

from moto.events.models import Rule


@contextlib.contextmanager
def scheduled_rules_ignore_events() -> Iterator[None]:
    """On AWS a rule with a schedule matches no events. moto 5.2.5 offers every S3 event to it too,
    and its Lambda target raises NotImplementedError, which moto's S3 swallows, skipping every rule
    after it (another stack's rules go deaf)."""
    real_send = Rule.send_to_targets

    def send_to_targets(self, event, transform_input=True):
        if self.scheduled_expression:
            return None
        return real_send(self, event, transform_input=transform_input)

    with mock.patch.object(Rule, "send_to_targets", send_to_targets):
        yield

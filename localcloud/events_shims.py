"""Make moto's EventBridge deliver events like AWS where this project depends on it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

from moto.events.models import Rule

from localcloud import moto_patches


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

    with moto_patches.replace("moto.events.models.Rule.send_to_targets", send_to_targets):
        yield


@contextlib.contextmanager
def deliveries_as_eventbridge(
    access, lost: Callable[[str, dict], bool] = lambda _queue, _event: False
) -> Iterator[None]:
    """EventBridge delivers to an SQS target as events.amazonaws.com with the rule as aws:SourceArn: the
    queue policy must allow sqs:SendMessage and, for an encrypted queue, the key policy kms:GenerateDataKey
    and kms:Decrypt (EventBridge User Guide, "Permissions for Amazon SQS" and "Amazon SQS queues
    encrypted with KMS"). A denied delivery is not retried (a permissions error is not transient) and goes
    to the target's dead-letter queue when that one accepts it (EventBridge User Guide, "Using dead-letter
    queues to process undelivered events"); otherwise the event is dropped, as on AWS.

    `lost(queue_name, event)` is asked once per event and target, as the event leaves for the queue: True drops
    it there (the `event_lost` fault: the event never reaches its queue, so no receive of it ever happens)."""
    from localcloud.access import AccessDenied
    from localcloud.iam_policy import Principal

    real_send = Rule._send_to_sqs_queue

    def allowed(rule: Rule, queue_name: str) -> AccessDenied | None:
        events = Principal("events.amazonaws.com", access.account, source_arn=rule.arn)
        queue_arn = f"arn:aws:sqs:{rule.region_name}:{rule.account_id}:{queue_name}"
        try:
            # EventBridge's KMS requests are reported to carry neither aws:SourceAccount nor aws:SourceArn: a key
            # statement conditioned on them does not match (see docs/access.md).
            access.require_delivery(
                events, "sqs:SendMessage", queue_arn, code="AccessDenied", key_code="KMS.AccessDeniedException",
                key_sourced=False,
            )  # fmt: skip
        except AccessDenied as denied:
            return denied
        return None

    def _send_to_sqs_queue(self: Rule, resource_id: str, event: dict, group_id: str | None = None) -> None:
        if lost(resource_id, event):
            return None
        denied = allowed(self, resource_id)
        if denied is None:
            return real_send(self, resource_id, event, group_id)
        target = next((t for t in self.targets if t["Arn"].rsplit(":", 1)[-1] == resource_id), {})
        dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
        if dead_letter and allowed(self, dead_letter.rsplit(":", 1)[-1]) is None:
            from moto.sqs.models import sqs_backends

            sqs_backends[self.account_id][self.region_name].send_message(
                queue_name=dead_letter.rsplit(":", 1)[-1],
                message_body=json.dumps(event, default=str),
                message_attributes={
                    "ERROR_CODE": {"DataType": "String", "StringValue": denied.code},
                    "ERROR_MESSAGE": {"DataType": "String", "StringValue": str(denied)[:256]},
                    "RULE_ARN": {"DataType": "String", "StringValue": self.arn},
                    "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
                },
            )
        return None

    with moto_patches.replace("moto.events.models.Rule._send_to_sqs_queue", _send_to_sqs_queue):
        yield

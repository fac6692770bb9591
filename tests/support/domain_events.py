"""The domain events' contract: each event's detail validated against its JSON schema
(lambdas/clinical/event_schemas/<DetailType>.schema.json), and a queue subscribed to a bus to read them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parents[2] / "lambdas" / "clinical" / "event_schemas"


@cache
def validator(detail_type: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{detail_type}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def contract_errors(event: dict) -> list[str]:
    """What is wrong with one EventBridge event of the domain bus: its source, or its detail against the schema
    of its detail type (an unknown detail type has no schema: that is an error too)."""
    if event.get("source") != "clinical-scribe":
        return [f"source {event.get('source')!r} is not clinical-scribe"]
    detail_type = event.get("detail-type", "")
    if not (SCHEMAS / f"{detail_type}.schema.json").exists():
        return [f"no schema for detail type {detail_type!r}"]
    return [f"{detail_type}: {error.message}" for error in validator(detail_type).iter_errors(event.get("detail"))]


def subscribe(events, sqs, bus: str, name: str = "domain-events-contract") -> str:
    """A queue that receives every event of the bus (the test acts as the account's administrator)."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["clinical-scribe"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    # As on AWS, EventBridge may send to the queue only if its policy lets this rule do so.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule["RuleArn"]}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url


def received(sqs, url: str) -> list[dict]:
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += [json.loads(message["Body"]) for message in messages]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        )
    return found

"""Repairing what failed, the way each variant allows.

Choreography: a transient failure that used up its deliveries left its message in a DLQ; moving the
message back to its source queue replays that hop. Orchestration: RedriveExecution continues the
failed execution at the step that failed, keeping its history. In both, the failure record is
removed first (versioning keeps it), since the encounter is being retried; a new failure writes a
new one. A permanent failure in choreography has no message to replay: upload again under a new id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from clinical.executions import UNSUCCESSFUL, execution_arn
from clinical.layout import failure_key
from scribe.encounters import dlq_messages, encounter_of_message
from scribe.target import Deployment


class NothingToRedrive(Exception):
    pass


@dataclass
class Redriven:
    variant: str
    encounters: list[str] = field(default_factory=list)
    messages_moved: int = 0
    executions: list[str] = field(default_factory=list)


def _source_queue_url(deployment: Deployment, dlq_output: str) -> str | None:
    """TranscriptionRequestsDlqUrl -> TranscriptionRequestsQueueUrl (EventDeliveryDlq has no source queue)."""
    return deployment.outputs.get(dlq_output.removesuffix("DlqUrl") + "QueueUrl")


def _clear_failure_record(deployment: Deployment, encounter_id: str) -> None:
    deployment.client("s3").delete_object(Bucket=deployment.bucket, Key=failure_key(encounter_id))


def redrive_choreography(deployment: Deployment, encounter_id: str | None) -> Redriven:
    sqs, result = deployment.client("sqs"), Redriven("choreography")
    if encounter_id is None:
        for name, url in sorted(deployment.outputs.items()):
            if not name.endswith("DlqUrl") or _source_queue_url(deployment, name) is None:
                continue
            messages = [m for n, _u, m in dlq_messages(deployment) if n == name]
            if not messages:
                continue
            for message in messages:
                if (eid := encounter_of_message(message)) is not None:
                    _clear_failure_record(deployment, eid)
                    result.encounters.append(eid)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sqs.start_message_move_task(SourceArn=arn)  # back to the queue whose DLQ this is
            result.messages_moved += len(messages)
        return result
    for name, url, message in dlq_messages(deployment):
        source = _source_queue_url(deployment, name)
        if source is None or encounter_of_message(message) != encounter_id:
            continue
        if not result.messages_moved:
            _clear_failure_record(deployment, encounter_id)
        sqs.send_message(QueueUrl=source, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        result.messages_moved += 1
    if not result.messages_moved:
        raise NothingToRedrive(
            f"encounter {encounter_id} has no message in a {deployment.stack_name} DLQ: if it failed, the failure "
            "was permanent (see `scribe status`); upload the audio again under a new encounter id"
        )
    result.encounters.append(encounter_id)
    return result


def redrive_orchestration(deployment: Deployment, encounter_id: str | None) -> Redriven:
    sfn, result = deployment.client("stepfunctions"), Redriven("orchestration")
    machine = deployment.outputs["StateMachineArn"]
    if encounter_id is None:
        targets = [
            e["name"]
            for status in UNSUCCESSFUL
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter=status)
            for e in page["executions"]
        ]
    else:
        targets = [encounter_id]
    for name in targets:
        arn = execution_arn(machine, name)
        try:
            status = sfn.describe_execution(executionArn=arn)["status"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                raise NothingToRedrive(
                    f"encounter {name} has no execution in {deployment.stack_name} (rejected at intake, or not "
                    "taken in yet): see `scribe status`"
                ) from None
            raise
        if status not in UNSUCCESSFUL:
            raise NothingToRedrive(
                f"execution {name} is {status}: only a failed, timed-out or aborted one can be redriven"
            )
        _clear_failure_record(deployment, name)
        try:
            sfn.redrive_execution(executionArn=arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionNotRedrivable":
                message = error.response["Error"]["Message"]
                raise NothingToRedrive(f"execution {name} cannot be redriven: {message}") from None
            raise
        result.executions.append(arn)
        result.encounters.append(name)
    return result


def redrive(deployment: Deployment, encounter_id: str | None) -> Redriven:
    if deployment.variant == "orchestration":
        return redrive_orchestration(deployment, encounter_id)
    return redrive_choreography(deployment, encounter_id)

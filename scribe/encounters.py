"""Where an encounter is, in each variant, and how the answer was put together.

Orchestration answers from one place: the execution named by the encounter id and its history.
Choreography has no such place: the answer is pieced together from S3 (audio, transcript, note,
failure record), Transcribe's job and the DLQs' messages. Each status says which services it asked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from clinical.dead_letters import encounter_of_body
from clinical.executions import STAGE_OF_STATE, UNSUCCESSFUL, execution_arn, execution_history
from clinical.layout import (
    AUDIO_PREFIX,
    FAILURES_PREFIX,
    NOTES_PREFIX,
    TRANSCRIPTS_PREFIX,
    claimed_encounter_id,
    failure_key,
    note_key,
    transcript_key,
    transcription_job_name,
    validate_encounter_id,
)
from clinical.objects import is_not_found
from clinical.review import read_review
from scribe.target import Deployment

STAGES = ("received", "transcribing", "transcribed", "note written", "failed")
TASK_FAILURES = ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut")


class EncounterNotFound(Exception):
    pass


@dataclass
class Moment:
    at: datetime | None
    what: str


@dataclass
class EncounterStatus:
    encounter_id: str
    variant: str
    stack: str
    stage: str
    timeline: list[Moment] = field(default_factory=list)
    retries: int = 0
    failure: dict | None = None
    evidence: list[str] = field(default_factory=list)
    services_asked: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    # The note's review (clinical.review): status, deadline, version and who acted; None before a note.
    review: dict | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["timeline"] = [{"at": m.at.isoformat() if m.at else None, "what": m.what} for m in self.timeline]
        return data


def _parse_time(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def read_json(deployment: Deployment, key: str) -> dict | None:
    try:
        body = deployment.client("s3").get_object(Bucket=deployment.bucket, Key=key)["Body"].read()
    except ClientError as error:
        if is_not_found(error):
            return None
        raise
    return json.loads(body)


def _head(deployment: Deployment, key: str) -> dict | None:
    try:
        return deployment.client("s3").head_object(Bucket=deployment.bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            return None
        raise


def _audio(deployment: Deployment, encounter_id: str) -> dict | None:
    listing = deployment.client("s3").list_objects_v2(Bucket=deployment.bucket, Prefix=f"{AUDIO_PREFIX}{encounter_id}.")
    matches = [o for o in listing.get("Contents", []) if claimed_encounter_id(o["Key"]) == encounter_id]
    return matches[0] if matches else None


def _record_failure_moments(status: EncounterStatus, deployment: Deployment, record: dict) -> None:
    status.failure = {k: record.get(k) for k in ("stage", "error_type", "message", "attempts", "retryable")}
    status.timeline.append(
        Moment(_parse_time(record["recorded_at"]), f"failure recorded: {record['error_type']} at {record['stage']}")
    )
    status.evidence.append(f"failure record s3://{deployment.bucket}/{failure_key(status.encounter_id)}")
    if link := deployment.object_link(failure_key(status.encounter_id)):
        status.links["failure record"] = link


def _note_moment(status: EncounterStatus, deployment: Deployment, note: dict) -> None:
    status.timeline.append(Moment(_parse_time(note["provenance"]["created_at"]), "note written (draft)"))
    status.evidence.append(f"note s3://{deployment.bucket}/{note_key(status.encounter_id)}")
    if link := deployment.object_link(note_key(status.encounter_id)):
        status.links["note"] = link


def dlq_messages(deployment: Deployment) -> list[tuple[str, str, dict]]:
    """(DLQ output name, queue url, message) for every message in the deployment's work-queue DLQs.

    Messages are received with a zero visibility timeout, so they stay where they are.
    """
    sqs, found = deployment.client("sqs"), []
    for name, url in sorted(deployment.outputs.items()):
        if not name.endswith("DlqUrl"):
            continue
        seen: set[str] = set()
        for _ in range(5):
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                found.append((name, url, message))
    return found


def encounter_of_message(message: dict) -> str | None:
    """The encounter a work message is about (an S3 event for audio/ or transcripts/), if any."""
    return encounter_of_body(message.get("Body", ""))


def choreography_status(deployment: Deployment, encounter_id: str) -> EncounterStatus:
    status = EncounterStatus(encounter_id, "choreography", deployment.stack_name, stage="received")
    status.services_asked = ["s3"]
    audio = _audio(deployment, encounter_id)
    transcript = _head(deployment, transcript_key(encounter_id))
    note = read_json(deployment, note_key(encounter_id))
    record = read_json(deployment, failure_key(encounter_id))
    status.services_asked.append("transcribe")
    job_name = transcription_job_name(deployment.stack_name, encounter_id)
    try:
        job = deployment.client("transcribe").get_medical_transcription_job(MedicalTranscriptionJobName=job_name)[
            "MedicalTranscriptionJob"
        ]
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BadRequestException", "NotFoundException"):
            raise
        job = None
    status.services_asked.append("sqs")
    in_dlq = [(name, url, m) for name, url, m in dlq_messages(deployment) if encounter_of_message(m) == encounter_id]
    if not any((audio, transcript, note, record, job, in_dlq)):
        raise EncounterNotFound(f"no trace of encounter {encounter_id} in {deployment.stack_name}")

    if audio:
        status.timeline.append(Moment(_parse_time(audio["LastModified"]), f"audio uploaded ({audio['Key']})"))
    if job:
        status.stage = "transcribing"
        status.evidence.append(f"Transcribe job {job_name}: {job['TranscriptionJobStatus']}")
        for field_name, what in (("CreationTime", "job created"), ("StartTime", "job started")):
            if job.get(field_name):
                status.timeline.append(Moment(_parse_time(job[field_name]), what))
        if job.get("CompletionTime"):
            status.timeline.append(
                Moment(_parse_time(job["CompletionTime"]), f"job {job['TranscriptionJobStatus'].lower()}")
            )
    if transcript:
        status.stage = "transcribed"
        status.timeline.append(Moment(_parse_time(transcript["LastModified"]), "transcript written"))
    for name, url, _message in in_dlq:
        # Neither its receive count (every look at a DLQ, this one included, adds to it) nor its sent time
        # (the local cloud's SQS keeps real time) is reported.
        status.evidence.append(f"DLQ message in {name.removesuffix('Url')} (redrive it with `scribe redrive`)")
        if link := deployment.queue_link(url):
            status.links[name.removesuffix("Url")] = link
    if record:
        status.stage = "failed"
        status.retries = max(status.retries, int(record.get("attempts", 1)) - 1)
        _record_failure_moments(status, deployment, record)
        function = deployment.outputs.get(
            "WriteNoteFunctionName" if record.get("stage") == "note" else "StartTranscriptionFunctionName"
        )
        if function and (link := deployment.function_logs_link(function)):
            status.links["function logs"] = link
    if note:
        status.stage = "note written"
        _note_moment(status, deployment, note)
    status.timeline.sort(key=lambda m: m.at or datetime.max.replace(tzinfo=UTC))
    return status


def _cause_message(cause: str | None) -> str | None:
    if not cause:
        return None
    try:
        return json.loads(cause).get("errorMessage") or cause
    except (ValueError, AttributeError):
        return cause


def orchestration_status(deployment: Deployment, encounter_id: str) -> EncounterStatus:
    status = EncounterStatus(encounter_id, "orchestration", deployment.stack_name, stage="received")
    status.services_asked = ["stepfunctions"]
    sfn = deployment.client("stepfunctions")
    arn = execution_arn(deployment.outputs["StateMachineArn"], encounter_id)
    try:
        execution = sfn.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        return _before_any_execution(deployment, status)
    history = execution_history(sfn, arn)
    status.evidence.append(f"execution {arn}: {execution['status']}")
    if link := deployment.execution_link(arn):
        status.links["execution"] = link
    if (group := deployment.outputs.get("ExecutionLogGroupName")) and (link := deployment.log_group_link(group)):
        status.links["execution logs"] = link
    state, failed_task = None, False
    for event in history:
        at, kind = _parse_time(event["timestamp"]), event["type"]
        if "stateEnteredEventDetails" in event:
            state, failed_task = event["stateEnteredEventDetails"]["name"], False
            status.timeline.append(Moment(at, f"entered {state}"))
        elif kind in TASK_FAILURES:
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            failed_task = True
            status.timeline.append(Moment(at, f"{state} failed: {details.get('error', kind)}"))
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled") and failed_task:
            status.retries += 1  # the same state scheduled its task again: a Retry
            failed_task = False
        elif kind in ("ExecutionStarted", "ExecutionRedriven", "ExecutionSucceeded"):
            status.timeline.append(Moment(at, kind.removeprefix("Execution").lower().replace("redriven", "redriven")))
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            status.timeline.append(Moment(at, f"execution {kind.removeprefix('Execution').lower()}"))
            status.evidence.append(f"history event #{event['id']} {kind} at {state}")
    if execution["status"] == "SUCCEEDED" or STAGE_OF_STATE.get(state or "") == "review":
        status.stage = "note written"  # and then reviewed, or awaiting review (its record says which)
    elif execution["status"] in UNSUCCESSFUL:
        status.stage = "failed"
        status.failure = {
            "stage": STAGE_OF_STATE.get(state or "", "transcription"),
            "error_type": execution.get("error") or execution["status"],
            "message": _cause_message(execution.get("cause")),
            "failed_step": state,
        }
    else:
        status.stage = "transcribed" if state in ("GenerateNote",) else "transcribing"
    return status


def _before_any_execution(deployment: Deployment, status: EncounterStatus) -> EncounterStatus:
    """No execution: rejected at intake (a failure record), or not taken in yet (audio only)."""
    status.services_asked.append("s3")
    record = read_json(deployment, failure_key(status.encounter_id))
    audio = _audio(deployment, status.encounter_id)
    if not record and not audio:
        raise EncounterNotFound(f"no trace of encounter {status.encounter_id} in {deployment.stack_name}")
    if audio:
        status.timeline.append(Moment(_parse_time(audio["LastModified"]), f"audio uploaded ({audio['Key']})"))
        status.evidence.append("no execution yet: the intake queue or the upload sweep will start it")
    if record:
        status.stage = "failed"
        _record_failure_moments(status, deployment, record)
    return status


def status_of(deployment: Deployment, encounter_id: str) -> EncounterStatus:
    validate_encounter_id(encounter_id)
    if deployment.variant == "orchestration":
        status = orchestration_status(deployment, encounter_id)
    else:
        status = choreography_status(deployment, encounter_id)
    if status.stage == "note written" and (
        found := read_review(deployment.client("s3"), deployment.bucket, encounter_id)
    ):
        record = found[0]
        status.review = {
            "status": record.status,
            "due_at": record.due_at.isoformat(),
            "version": record.versions[-1].version,
            "by": record.signed_by or record.sent_back_by,
            "reason": record.reason,
        }
    return status


@dataclass
class Listed:
    encounter_id: str
    variant: str
    stage: str
    uploaded_at: datetime | None


def list_encounters(deployment: Deployment, limit: int = 50) -> list[Listed]:
    """The most recent uploads and their stage, from listings (no per-encounter calls for finished ones)."""
    s3 = deployment.client("s3")
    objects: dict[str, dict] = {}
    for prefix in (AUDIO_PREFIX, TRANSCRIPTS_PREFIX, NOTES_PREFIX, FAILURES_PREFIX):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=deployment.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                objects[item["Key"]] = item
    uploads = sorted(
        ((claimed_encounter_id(k), o) for k, o in objects.items() if k.startswith(AUDIO_PREFIX)),
        key=lambda pair: pair[1]["LastModified"],
        reverse=True,
    )[:limit]
    listed = []
    for encounter_id, audio in uploads:
        if encounter_id is None:
            listed.append(Listed(audio["Key"], deployment.variant, "failed", _parse_time(audio["LastModified"])))
            continue
        if note_key(encounter_id) in objects:
            stage = "note written"
        elif failure_key(encounter_id) in objects:
            stage = "failed"
        elif deployment.variant == "orchestration":
            stage = _running_stage(deployment, encounter_id)
        else:
            stage = "transcribed" if transcript_key(encounter_id) in objects else "transcribing"
        listed.append(Listed(encounter_id, deployment.variant, stage, _parse_time(audio["LastModified"])))
    return listed


def _running_stage(deployment: Deployment, encounter_id: str) -> str:
    try:
        return orchestration_status(deployment, encounter_id).stage
    except EncounterNotFound:
        return "received"


def failed_alarm_actions(deployment) -> list[str]:
    """Alarm actions of this deployment that CloudWatch could not execute (its alarm history says
    "Failed to execute action ..."): an alarm that went off and told nobody."""
    cloudwatch = deployment.client("cloudwatch")
    failed = []
    for page in cloudwatch.get_paginator("describe_alarm_history").paginate(HistoryItemType="Action"):
        for item in page["AlarmHistoryItems"]:
            if item["AlarmName"].startswith(f"{deployment.stack_name}-") and item["HistorySummary"].startswith(
                "Failed to execute action"
            ):
                failed.append(
                    f"{item['AlarmName'].removeprefix(deployment.stack_name + '-')}: {item['HistorySummary']}"
                )
    return failed

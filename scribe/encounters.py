"""Where an encounter is, in each variant, and how the answer was put together.

Every view takes the encounter's stage from one function, clinical.stages.stage_of; this module gathers its
inputs. Orchestration answers from one place: the execution named by the encounter id and its history (and,
once a note was drafted, the review record, which decides the review's state). Choreography has no such place:
the answer is pieced together from S3 (audio, transcript, note, failure record, review record), Transcribe's job
and the DLQs' messages. Each status says which services it asked.
"""

from __future__ import annotations

import difflib
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
    REVIEWS_PREFIX,
    TRANSCRIPTS_PREFIX,
    claimed_encounter_id,
    failure_key,
    note_key,
    review_key,
    transcript_key,
    transcription_job_name,
    validate_encounter_id,
)
from clinical.objects import is_not_found, keys_under
from clinical.review import ReviewRecord, read_review
from clinical.stages import (
    EncounterStage,
    Failure,
    KeptByChoreography,
    KeptByOrchestration,
    Stage,
    stage_of,
)
from clinical.transcription import job_failure
from scribe.target import Deployment

STAGES = tuple(stage.value for stage in Stage)
TASK_FAILURES = ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut")
MISSING_JOB_CODES = ("BadRequestException", "NotFoundException")  # how Transcribe answers a job it does not have


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
    # How the answer was put together, in words (the variants' difference the status shows).
    answered_by: str = ""
    links: dict[str, str] = field(default_factory=dict)
    # The note's review (clinical.review): status, deadline, version and who acted; None before a note.
    review: dict | None = None
    settled: bool = False

    def to_json(self) -> dict:
        data = asdict(self)
        data["timeline"] = [{"at": m.at.isoformat() if m.at else None, "what": m.what} for m in self.timeline]
        return data

    def _take(self, where: EncounterStage, record: dict | None = None) -> None:
        """The stage, and for FAILED its failure (with the failure record's tries, when it gave the failure)."""
        self.stage, self.settled = str(where.stage), where.settled
        if where.failure is not None:
            self.failure = {
                "stage": where.failure.stage,
                "error_type": where.failure.error_type,
                "message": where.failure.message,
                "failed_step": where.failure.step,
                "reason": where.failure.reason,
            } | ({k: record.get(k) for k in ("attempts", "retryable")} if record else {})


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


def _job(deployment: Deployment, encounter_id: str) -> dict | None:
    """The encounter's Transcribe job in this deployment, if it has one."""
    name = transcription_job_name(deployment.stack_name, encounter_id)
    try:
        return deployment.client("transcribe").get_medical_transcription_job(MedicalTranscriptionJobName=name)[
            "MedicalTranscriptionJob"
        ]
    except ClientError as error:
        if error.response["Error"]["Code"] not in MISSING_JOB_CODES:
            raise
        return None


def _job_failure(deployment: Deployment, encounter_id: str) -> Failure:
    """A FAILED job's reason, as the failure record gives it (about the media or settings, never its content)."""
    error = job_failure(deployment.client("transcribe"), transcription_job_name(deployment.stack_name, encounter_id))
    return Failure("transcription", type(error).__name__, error.message)


def _record_failure(record: dict) -> Failure:
    return Failure(record["stage"], record["error_type"], record.get("message"))


def _review(deployment: Deployment, encounter_id: str) -> ReviewRecord | None:
    found = read_review(deployment.client("s3"), deployment.bucket, encounter_id)
    return found[0] if found else None


def _record_failure_moments(status: EncounterStatus, deployment: Deployment, record: dict) -> None:
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


def _review_moments(status: EncounterStatus, deployment: Deployment, record: ReviewRecord) -> None:
    """The review's moves, as its record keeps them (the last send-back's; every version's)."""
    for version in record.versions:
        if version.version == record.versions[0].version:
            what = f"review opened (version {version.version})"
        elif version.feedback is not None:
            what = f"drafted again after a send-back (version {version.version})"
        else:
            continue  # a clinician's version: written as they signed
        status.timeline.append(Moment(_parse_time(version.at), what))
    for at, what in (
        (record.sent_back_at, "sent back"),
        (record.reminded_at, "reminder sent"),
        (record.signed_at, f"signed (version {record.version})"),
        (record.expired_at, "review expired: nobody signed it within its window"),
    ):
        if at is not None:
            status.timeline.append(Moment(_parse_time(at), what))
    status.review = {
        "status": record.status,
        "due_at": record.due_at.isoformat(),
        "version": record.version,
        "by": record.signed_by or record.sent_back_by,
        "reason": record.reason,
    }
    status.evidence.append(f"review record s3://{deployment.bucket}/{review_key(status.encounter_id)}")


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
    status = EncounterStatus(encounter_id, "choreography", deployment.stack_name, stage="")
    status.services_asked = ["s3", "transcribe", "sqs"]
    status.answered_by = "pieced together from several services (nobody is in charge)"
    audio = _audio(deployment, encounter_id)
    transcript = _head(deployment, transcript_key(encounter_id))
    note = read_json(deployment, note_key(encounter_id))
    record = read_json(deployment, failure_key(encounter_id))
    review = _review(deployment, encounter_id)
    job = _job(deployment, encounter_id)
    in_dlq = [(name, url, m) for name, url, m in dlq_messages(deployment) if encounter_of_message(m) == encounter_id]

    if audio:
        status.timeline.append(Moment(_parse_time(audio["LastModified"]), f"audio uploaded ({audio['Key']})"))
    if job:
        job_name = transcription_job_name(deployment.stack_name, encounter_id)
        status.evidence.append(f"Transcribe job {job_name}: {job['TranscriptionJobStatus']}")
        for field_name, what in (("CreationTime", "job created"), ("StartTime", "job started")):
            if job.get(field_name):
                status.timeline.append(Moment(_parse_time(job[field_name]), what))
        if job.get("CompletionTime"):
            status.timeline.append(
                Moment(_parse_time(job["CompletionTime"]), f"job {job['TranscriptionJobStatus'].lower()}")
            )
    if transcript:
        status.timeline.append(Moment(_parse_time(transcript["LastModified"]), "transcript written"))
    for name, url, _message in in_dlq:
        # Neither its receive count (every look at a DLQ, this one included, adds to it) nor its sent time
        # (the local cloud's SQS keeps real time) is reported.
        status.evidence.append(f"DLQ message in {name.removesuffix('Url')} (redrive it with `scribe redrive`)")
        if link := deployment.queue_link(url):
            status.links[name.removesuffix("Url")] = link
    failure = None
    if record:
        failure = _record_failure(record)
        status.retries = max(status.retries, int(record.get("attempts", 1)) - 1)
        _record_failure_moments(status, deployment, record)
        function = deployment.outputs.get(
            "WriteNoteFunctionName" if record.get("stage") == "note" else "StartTranscriptionFunctionName"
        )
        if function and (link := deployment.function_logs_link(function)):
            status.links["function logs"] = link
    elif job and job["TranscriptionJobStatus"] == "FAILED":
        failure = _job_failure(deployment, encounter_id)  # before the watchdog's sweep records it
    if note:
        _note_moment(status, deployment, note)
    if review:
        _review_moments(status, deployment, review)
    where = stage_of(
        KeptByChoreography(
            audio=bool(audio or in_dlq),
            job=job is not None,
            transcript=transcript is not None,
            note=note is not None,
            failure=failure,
            review=review.status if review else None,
        )
    )
    if where is None:
        raise EncounterNotFound(f"no trace of encounter {encounter_id} in {deployment.stack_name}")
    status._take(where, record)
    status.timeline.sort(key=lambda m: m.at or datetime.max.replace(tzinfo=UTC))
    return status


def _cause_message(cause: str | None) -> str | None:
    if not cause:
        return None
    try:
        return json.loads(cause).get("errorMessage") or cause
    except (ValueError, AttributeError):
        return cause


def _caught_errors(deployment: Deployment, execution: dict) -> dict[str, set[str]]:
    """Per state, the errors its Catch takes (a wait woken by its timeout or a decision): not failures."""
    definition = json.loads(
        deployment.client("stepfunctions").describe_state_machine(stateMachineArn=execution["stateMachineArn"])[
            "definition"
        ]
    )
    return {
        name: {error for catch in state.get("Catch", []) for error in catch["ErrorEquals"]}
        for name, state in definition["States"].items()
    }


def _execution_failure(deployment: Deployment, encounter_id: str, execution: dict, state: str | None) -> Failure:
    """Why the execution ended unsuccessfully, from the execution itself: its error, the step it failed at, and
    the message its cause gives; for a failed Transcribe job, the job's own reason (as choreography's record)."""
    error = execution.get("error") or execution["status"]
    message = _cause_message(execution.get("cause"))
    if error == "TranscriptionJobFailed":
        if _job(deployment, encounter_id) is not None:
            message = _job_failure(deployment, encounter_id).message
        elif record := read_json(deployment, failure_key(encounter_id)):
            message = record.get("message")
    return Failure(STAGE_OF_STATE.get(state or "", "transcription"), error, message, state)


def _last_state(history: list[dict]) -> str | None:
    entered = [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]
    return entered[-1] if entered else None


def _drafting_begun(history: list[dict]) -> bool:
    """The execution began its draft, which opens the review: from then on the review record may decide."""
    return any(event.get("stateEnteredEventDetails", {}).get("name") == "GenerateNote" for event in history)


def orchestration_status(deployment: Deployment, encounter_id: str) -> EncounterStatus:
    status = EncounterStatus(encounter_id, "orchestration", deployment.stack_name, stage="")
    status.services_asked = ["stepfunctions"]
    status.answered_by = "one execution history"
    sfn = deployment.client("stepfunctions")
    arn = execution_arn(deployment.outputs["StateMachineArn"], encounter_id)
    try:
        execution = sfn.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        return _before_any_execution(deployment, status)
    history = execution_history(sfn, arn)
    caught = _caught_errors(deployment, execution)
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
            error = details.get("error", "States.Timeout" if kind.endswith("TimedOut") else kind)
            if error in caught.get(state or "", ()):
                status.timeline.append(
                    Moment(at, f"{state} woken by {'its timeout' if error == 'States.Timeout' else error}")
                )
                continue
            failed_task = True
            status.timeline.append(Moment(at, f"{state} failed: {error}"))
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled") and failed_task:
            status.retries += 1  # the same state scheduled its task again: a Retry
            failed_task = False
        elif kind in ("ExecutionStarted", "ExecutionRedriven", "ExecutionSucceeded"):
            status.timeline.append(Moment(at, kind.removeprefix("Execution").lower()))
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            status.timeline.append(Moment(at, f"execution {kind.removeprefix('Execution').lower()}"))
            status.evidence.append(f"history event #{event['id']} {kind} at {state}")
    failure = None
    if execution["status"] in UNSUCCESSFUL:
        failure = _execution_failure(deployment, encounter_id, execution, state)
        if failure.error_type == "TranscriptionJobFailed":
            status.services_asked.append("transcribe")
            status.answered_by += ", and the failed job's reason"
    review = None
    # A failure in the draft itself leaves no review that could have ended: the execution says it all.
    if _drafting_begun(history) and not (failure is not None and state == "GenerateNote"):
        review = _review(deployment, encounter_id)
        status.services_asked.append("s3")
        status.answered_by += ", and the review record"
        if review:
            _review_moments(status, deployment, review)
            status.timeline.sort(key=lambda m: m.at or datetime.max.replace(tzinfo=UTC))
    where = stage_of(
        KeptByOrchestration(started=True, state=state, failure=failure, review=review.status if review else None)
    )
    status._take(where)
    return status


def _before_any_execution(deployment: Deployment, status: EncounterStatus) -> EncounterStatus:
    """No execution: rejected at intake (a failure record), or not taken in yet (audio only)."""
    status.services_asked.append("s3")
    status.answered_by = "no execution, so S3 was asked too"
    record = read_json(deployment, failure_key(status.encounter_id))
    audio = _audio(deployment, status.encounter_id)
    if audio:
        status.timeline.append(Moment(_parse_time(audio["LastModified"]), f"audio uploaded ({audio['Key']})"))
        status.evidence.append("no execution yet: the intake queue or the upload sweep will start it")
    if record:
        _record_failure_moments(status, deployment, record)
    where = stage_of(KeptByOrchestration(audio=audio is not None, failure=_record_failure(record) if record else None))
    if where is None:
        raise EncounterNotFound(f"no trace of encounter {status.encounter_id} in {deployment.stack_name}")
    status._take(where, record)
    return status


def status_of(deployment: Deployment, encounter_id: str) -> EncounterStatus:
    validate_encounter_id(encounter_id)
    if deployment.variant == "orchestration":
        return orchestration_status(deployment, encounter_id)
    return choreography_status(deployment, encounter_id)


def known_ids(deployment: Deployment) -> set[str]:
    """Every encounter id the deployment has audio for: one listing."""
    return {
        encounter_id
        for key in keys_under(deployment.client("s3"), deployment.bucket, AUDIO_PREFIX)
        if (encounter_id := claimed_encounter_id(key))
    }


def closest_id(encounter_id: str, deployments: list[Deployment]) -> str | None:
    """The id the deployments know that an id they do not know was most likely meant to be, if one is close;
    None for an id they know."""
    known = set().union(*(known_ids(deployment) for deployment in deployments))
    if encounter_id in known:
        return None
    matches = difflib.get_close_matches(encounter_id, sorted(known), n=1)
    return matches[0] if matches else None


@dataclass
class Listed:
    encounter_id: str
    variant: str
    stage: str
    uploaded_at: datetime | None
    # For FAILED: the error and the pipeline's stage it failed at.
    failure: str | None = None


def list_encounters(deployment: Deployment, limit: int = 50) -> list[Listed]:
    """The most recent uploads and their stage, from listings, with a call per encounter only where the listings
    cannot say (a review record, a failure record, a job or an execution in flight)."""
    s3 = deployment.client("s3")
    objects: dict[str, dict] = {}
    for prefix in (AUDIO_PREFIX, TRANSCRIPTS_PREFIX, NOTES_PREFIX, FAILURES_PREFIX, REVIEWS_PREFIX):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=deployment.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                objects[item["Key"]] = item
    uploads = sorted(
        ((claimed_encounter_id(k), o) for k, o in objects.items() if k.startswith(AUDIO_PREFIX)),
        key=lambda pair: pair[1]["LastModified"],
        reverse=True,
    )[:limit]
    executions = _executions(deployment) if deployment.variant == "orchestration" else {}
    listed = []
    for encounter_id, audio in uploads:
        uploaded_at = _parse_time(audio["LastModified"])
        if encounter_id is None:
            listed.append(Listed(audio["Key"], deployment.variant, str(Stage.FAILED), uploaded_at))
            continue
        review = _review(deployment, encounter_id) if review_key(encounter_id) in objects else None
        record = read_json(deployment, failure_key(encounter_id)) if failure_key(encounter_id) in objects else None
        if deployment.variant == "orchestration":
            kept = _kept_by_orchestration(deployment, encounter_id, executions.get(encounter_id), review, record)
        else:
            kept = _kept_by_choreography(deployment, encounter_id, objects, review, record)
        where = stage_of(kept)
        listed.append(
            Listed(
                encounter_id, deployment.variant, str(where.stage), uploaded_at, str(where) if where.failure else None
            )
        )
    return listed


def _executions(deployment: Deployment) -> dict[str, str]:
    """Every execution of the deployment's state machine, by name (the encounter id), with its status: one listing."""
    sfn, found = deployment.client("stepfunctions"), {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=deployment.outputs["StateMachineArn"]):
        for execution in page["executions"]:
            found.setdefault(execution["name"], execution["status"])  # newest first
    return found


def _kept_by_choreography(deployment: Deployment, encounter_id: str, objects: dict, review: ReviewRecord | None,
                          record: dict | None) -> KeptByChoreography:  # fmt: skip
    transcript, note = transcript_key(encounter_id) in objects, note_key(encounter_id) in objects
    job, failure = None, _record_failure(record) if record else None
    if not (transcript or note or record or review):
        job = _job(deployment, encounter_id)  # in flight: only the job says whether it started or failed
        if job is not None and job["TranscriptionJobStatus"] == "FAILED":
            failure = _job_failure(deployment, encounter_id)
    return KeptByChoreography(
        audio=True,
        job=job is not None,
        transcript=transcript,
        note=note,
        failure=failure,
        review=review.status if review else None,
    )


def _kept_by_orchestration(deployment: Deployment, encounter_id: str, execution_status: str | None,
                           review: ReviewRecord | None, record: dict | None) -> KeptByOrchestration:  # fmt: skip
    if execution_status is None:
        return KeptByOrchestration(audio=True, failure=_record_failure(record) if record else None)
    decided_by_review = review is not None and execution_status not in UNSUCCESSFUL
    if decided_by_review:
        return KeptByOrchestration(started=True, review=review.status)
    sfn = deployment.client("stepfunctions")
    arn = execution_arn(deployment.outputs["StateMachineArn"], encounter_id)
    state = _last_state(execution_history(sfn, arn))
    failure = None
    if execution_status in UNSUCCESSFUL:
        failure = _execution_failure(deployment, encounter_id, sfn.describe_execution(executionArn=arn), state)
    return KeptByOrchestration(started=True, state=state, failure=failure, review=review.status if review else None)


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

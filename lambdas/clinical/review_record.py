"""The review record, reviews/<encounter_id>.json: where a note's review is, every version of it, and what its last
transition still owes (clinical.review moves it through its transitions); and orchestration's wait on it, whose
task token the record keeps until a transition's settling redeems it (`resume_wait`).

Orchestration's AwaitReview stores its token and ends a wait that began after the review was decided, and needs
nothing else of the review: it imports this module alone, not the transitions' (a cold start compiles every
module it imports: docs/performance.md).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError, model_validator

from clinical import clients
from clinical.errors import ReviewRecordConflict, StoredReviewInvalid
from clinical.layout import review_key, signed_key
from clinical.objects import get_if_present, lost_the_race
from clinical.observability import logger
from clinical.review_index import Keeper, keeper_of

Status = Literal["AWAITING_REVIEW", "SIGNED", "SENT_BACK", "REVIEW_EXPIRED"]
# What moved the record last; `settle` does what it owes.
Transition = Literal["opened", "reminded", "signed", "sent_back", "expired", "redrafted"]
# The errors a waiting execution's task token fails with (the state machine catches them by name, then reads
# the record).
SENT_BACK_ERROR = "NoteSentBack"
EXPIRED_ERROR = "ReviewExpired"
# SendTask* errors of a token whose wait has ended (timed out, or its execution stopped).
ENDED_WAIT_CODES = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


class NoteVersion(BaseModel):
    version: int
    by: str
    at: datetime
    # Where the version is (None in a record of schema 1: notes/<id>.json for version 1, reviews/<id>/v<n>.json),
    # and for the draft at notes/<id>.json, which a later transcript's draft replaces, the S3 version it was.
    key: str | None = None
    object_version: str | None = None
    # A clinician's version: the version they reviewed and changed.
    based_on: int | None = None
    # The statements the clinician changed, by id (schema 1: by `section.index`). Written as [], not
    # default_factory=list: pydantic copies a mutable default for each instance, and a builtin default_factory
    # costs an inspect.signature (which loads a tokenizer) at cold start (docs/performance.md).
    edited: list[str] = []
    removed: list[str] = []
    added: list[str] = []
    accepted: list[str] = []
    # A redraft: the reason the clinician sent the version before it back, as the model was given it.
    feedback: str | None = None
    # How many of its statements the unsupported-claim check flagged (the worklist shows it; None: not recorded).
    flagged: int | None = None


class ReviewRecord(BaseModel):
    """reviews/<encounter_id>.json: where the note's review is, every version of it, and what its last
    transition still owes."""

    schema_version: Literal["2"] = "2"
    encounter_id: str
    variant: str
    status: Status = "AWAITING_REVIEW"
    transcript_sha256: str
    opened_at: datetime
    due_at: datetime
    versions: list[NoteVersion]
    signed_by: str | None = None
    signed_at: datetime | None = None
    # The patient's FHIR reference (Patient/123) the signer gave, which the signed note carries.
    patient: str | None = None
    sent_back_by: str | None = None
    sent_back_at: datetime | None = None
    reason: str | None = None
    remind_at: datetime | None = None
    reminded_at: datetime | None = None
    expired_at: datetime | None = None
    # How many times the note was drafted again after a send-back (at most clinical.policy.MAX_REDRAFTS).
    redrafts: int = 0
    last_transition: Transition = "opened"
    # When what the last transition owes was all done; None while it is owed.
    settled_at: datetime | None = None
    # Orchestration: the task token of the execution's current wait for this review (never shown).
    task_token: str | None = Field(default=None, repr=False)
    kept_by: Keeper = "sweep"

    @model_validator(mode="before")
    @classmethod
    def _from_schema_1(cls, data: Any) -> Any:
        """A record of schema 1 (no transitions recorded) as settled at its last decision: its follow-ups were
        done by the code that wrote it, in the same call."""
        if isinstance(data, dict) and data.get("schema_version") == "1":
            status = data.get("status", "AWAITING_REVIEW")
            versions = data.get("versions") or [{}]
            last = {
                "SIGNED": "signed",
                "SENT_BACK": "sent_back",
                "REVIEW_EXPIRED": "expired",
            }.get(status) or ("redrafted" if (versions[-1] or {}).get("feedback") else "opened")
            decided = (
                data.get("signed_at") or data.get("sent_back_at") or data.get("expired_at") or data.get("opened_at")
            )
            data = {**data, "schema_version": "2", "last_transition": last, "settled_at": decided}
        if isinstance(data, dict) and "kept_by" not in data:
            # Written before the reviews' index: orchestration's executions kept their own time then too.
            data = {**data, "kept_by": keeper_of(data.get("variant", ""))}
        return data

    def expired(self, now: datetime) -> bool:
        return self.status == "AWAITING_REVIEW" and now >= self.due_at

    def reminder_due(self, now: datetime) -> bool:
        return (
            self.status == "AWAITING_REVIEW"
            and self.reminded_at is None
            and self.remind_at is not None
            and now >= self.remind_at
        )

    def next_deadline(self) -> datetime:
        """When the review's time next comes: its reminder, unless it was sent, else the end of its window."""
        if self.reminded_at is None and self.remind_at is not None and self.remind_at < self.due_at:
            return self.remind_at
        return self.due_at

    @property
    def version(self) -> int:
        return self.versions[-1].version

    def shown(self) -> dict:
        """The record as the CLI and the page show it: without the task token."""
        return self.model_dump(mode="json", exclude={"task_token"})


def read_review(s3, bucket: str, encounter_id: str) -> tuple[ReviewRecord, str] | None:
    found = get_if_present(s3, bucket, review_key(encounter_id))
    if found is None:
        return None
    try:
        return ReviewRecord.model_validate_json(found["Body"].read()), found["ETag"]
    except ValidationError:
        # pydantic's message would quote the record, which may hold a reason or anything someone wrote there.
        raise StoredReviewInvalid(f"{review_key(encounter_id)} is not a review record") from None


def wait_for(s3, bucket: str, encounter_id: str, token: str) -> Status:
    """Orchestration's way: store the execution's task token in the awaiting review, for the transition that
    decides it to redeem. Returns the review's status: a review decided before the wait began is not waited for
    (the caller ends the wait at once, and the execution reads the record)."""
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        raise ReviewRecordConflict(f"encounter {encounter_id} has no review record yet")
    record, etag = found
    if record.status != "AWAITING_REVIEW":
        return record.status
    record.task_token = token
    try:
        s3.put_object(Bucket=bucket, Key=review_key(encounter_id), Body=record.model_dump_json(indent=2).encode(),
                      ContentType="application/json", IfMatch=etag)  # fmt: skip
    except ClientError as error:
        if lost_the_race(error):
            raise ReviewRecordConflict(f"the review of {encounter_id} changed meanwhile") from None
        raise
    return record.status


def end_wait(stepfunctions, token: str, encounter_id: str, status: Status) -> None:
    """End a wait that began after the review was decided: the execution then reads the record."""
    if status == "SIGNED":
        resume_wait(stepfunctions, token, encounter_id, output={"signed_key": signed_key(encounter_id)})
    else:
        resume_wait(
            stepfunctions, token, encounter_id, error=SENT_BACK_ERROR if status == "SENT_BACK" else EXPIRED_ERROR
        )


def resume_wait(stepfunctions, token: str, encounter_id: str, *, output: dict | None = None, error: str = "") -> bool:
    """Wake the execution's wait: success with `output`, else the failure `error` (its cause names the record,
    never its text). Either way the execution reads the record next. A wait that already ended is not an error.
    Returns whether the token was taken."""
    stepfunctions = stepfunctions or clients.stepfunctions()
    try:
        if output is not None:
            stepfunctions.send_task_success(taskToken=token, output=json.dumps(output))
        else:
            stepfunctions.send_task_failure(
                taskToken=token, error=error, cause=f"the review is decided in {review_key(encounter_id)}"
            )
    except ClientError as failure:
        code = failure.response["Error"]["Code"]
        if code not in ENDED_WAIT_CODES:
            raise
        logger.info("review wait already ended", extra={"encounter_id": encounter_id, "error_code": code})
        return False
    return True

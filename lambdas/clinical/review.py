"""A clinician's review of a draft note: open for review, edit and sign, or send back with a reason.

The draft step opens the review (reviews/<id>.json, AWAITING_REVIEW, due after the review window). Signing
applies the clinician's edits as a new version (reviews/<id>/v<n>.json; version 1 is notes/<id>.json, kept),
checks every edited statement against the segments it cites (the unsupported-claim check) and writes the
signed note to signed/<id>.json once: the write is conditional (If-None-Match), so a second signature is
refused by S3 itself, and the bucket's versioning keeps every write. Each action records who, when and what
changed, and puts NoteSigned on the domain bus. Nothing is changed by a refused action.

The review's deadline is kept by each variant in its own style, with the same functions: `remind` some
hours before it (ReviewReminder), `expire` at it (REVIEW_EXPIRED, ReviewExpired, an alarm). Choreography's
scheduled sweep calls `sweep_deadlines`; orchestration's execution waits on a task token (`wait_for` stores
it in the record) whose timeouts call them. The record is the truth and the token only the wake-up call:
sign and send back decide in the record first, then redeem the token; a wait that starts after the decision
(the token changes hands at the reminder) finds it in the record and ends at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError

from clinical import clients
from clinical.claims import Statement, check_cited
from clinical.domain_events import (
    NOTE_REDRAFTED,
    NOTE_SENT_BACK,
    NOTE_SIGNED,
    REVIEW_EXPIRED,
    REVIEW_REMINDER,
    detail,
    publish,
)
from clinical.errors import PipelineError, ReviewRecordConflict
from clinical.failures import failure_record_exists
from clinical.layout import note_key, note_version_key, review_key, signed_key, transcript_key
from clinical.notes import Note, stored_note
from clinical.objects import get_if_present, lost_the_race
from clinical.observability import logger
from clinical.patients import is_patient_reference
from clinical.policy import MAX_REDRAFTS
from clinical.prefixes import REVIEWS_PREFIX
from clinical.roles import needs_review
from clinical.transcription import read_transcript

DEFAULT_REVIEW_WINDOW_HOURS = 72
# The reminder goes this many hours before the review window ends.
DEFAULT_REMINDER_HOURS = 12
Status = Literal["AWAITING_REVIEW", "SIGNED", "SENT_BACK", "REVIEW_EXPIRED"]
# The error a sent-back note's task token fails with (the state machine catches it by this name).
SENT_BACK_ERROR = "NoteSentBack"
# A send-back's reason is read by people and by the model as feedback: a few sentences, not a document.
MAX_REASON_CHARS = 1000
# A note sent back and not drafted again after this long (the note step's tries are long over) has its
# NoteSentBack put again by choreography's sweep.
REDRAFT_OVERDUE = timedelta(hours=1)
# SendTask* errors of a token whose wait has ended (timed out, or its execution stopped).
ENDED_WAIT_CODES = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


class ReviewRefused(PipelineError):
    """A review action that cannot be taken as asked; nothing was changed."""


class NoteVersion(BaseModel):
    version: int
    by: str
    at: datetime
    edited: list[str] = Field(default_factory=list)  # "plan.1": the statements changed
    # A redraft: the reason the clinician sent the version before it back, as the model was given it.
    feedback: str | None = None


class ReviewRecord(BaseModel):
    """reviews/<encounter_id>.json: where the note's review is, and every version of it."""

    schema_version: Literal["1"] = "1"
    encounter_id: str
    variant: str
    status: Status = "AWAITING_REVIEW"
    transcript_sha256: str
    opened_at: datetime
    due_at: datetime
    versions: list[NoteVersion]
    signed_by: str | None = None
    signed_at: datetime | None = None
    sent_back_by: str | None = None
    sent_back_at: datetime | None = None
    reason: str | None = None
    remind_at: datetime | None = None
    reminded_at: datetime | None = None
    expired_at: datetime | None = None
    # How many times the note was drafted again after a send-back (at most clinical.policy.MAX_REDRAFTS).
    redrafts: int = 0
    # Orchestration: the task token of the execution's current wait for this review (never shown).
    task_token: str | None = Field(default=None, repr=False)

    def expired(self, now: datetime) -> bool:
        return self.status == "AWAITING_REVIEW" and now >= self.due_at

    def reminder_due(self, now: datetime) -> bool:
        return (
            self.status == "AWAITING_REVIEW"
            and self.reminded_at is None
            and self.remind_at is not None
            and now >= self.remind_at
        )

    def shown(self) -> dict:
        """The record as the CLI and the page show it: without the task token."""
        return self.model_dump(mode="json", exclude={"task_token"})


class SignedNote(BaseModel):
    """signed/<encounter_id>.json, written once: the note as signed, and by whom."""

    schema_version: Literal["1"] = "1"
    encounter_id: str
    version: int
    signed_by: str
    signed_at: datetime
    note: Note
    # The patient's FHIR reference (Patient/123) if the signer gave it: the pipeline knows only encounters.
    patient: str | None = None


class Edit(BaseModel):
    """A statement's new text ("" removes the statement), named as `section.index` (plan.0 is the first)."""

    section: str
    index: int
    text: str


def read_review(s3, bucket: str, encounter_id: str) -> tuple[ReviewRecord, str] | None:
    found = get_if_present(s3, bucket, review_key(encounter_id))
    if found is None:
        return None
    return ReviewRecord.model_validate_json(found["Body"].read()), found["ETag"]


def open_review(s3, bucket: str, note: Note, *, window_hours: int = DEFAULT_REVIEW_WINDOW_HOURS,
                reminder_hours: int = DEFAULT_REMINDER_HOURS, now: datetime | None = None) -> bool:  # fmt: skip
    """Open the note's review (once per transcript; a redraft from a new transcript opens it again unless
    it was signed). Returns whether it opened one."""
    now = now or datetime.now(UTC)
    encounter_id = note.provenance.encounter_id
    existing = read_review(s3, bucket, encounter_id)
    if existing and (
        existing[0].status == "SIGNED" or existing[0].transcript_sha256 == note.provenance.transcript_sha256
    ):
        return False
    record = ReviewRecord(
        encounter_id=encounter_id,
        variant=note.provenance.variant,
        transcript_sha256=note.provenance.transcript_sha256,
        opened_at=now,
        due_at=now,
        versions=[NoteVersion(version=1, by=f"model {note.provenance.model_id}", at=note.provenance.created_at)],
    )
    _open_window(record, now, window_hours, reminder_hours)
    condition = {"IfMatch": existing[1]} if existing else {"IfNoneMatch": "*"}
    try:
        _write(s3, bucket, review_key(encounter_id), record, condition)
    except ClientError as error:
        if lost_the_race(error):
            return False  # another delivery opened it
        raise
    return True


def _write(s3, bucket: str, key: str, document: BaseModel, condition: dict) -> str:
    body = document.model_dump_json(indent=2).encode()
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition)["ETag"]


def _rewrite(s3, bucket: str, record: ReviewRecord, etag: str) -> None:
    """Write the record over exactly the one read (IfMatch): ReviewRecordConflict (transient) when someone
    acted meanwhile, so the next try reads their decision."""
    try:
        _write(s3, bucket, review_key(record.encounter_id), record, {"IfMatch": etag})
    except ClientError as error:
        if lost_the_race(error):
            raise ReviewRecordConflict(f"the review of {record.encounter_id} changed meanwhile") from None
        raise


def _awaiting(s3, bucket: str, encounter_id: str, now: datetime) -> tuple[ReviewRecord, str]:
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        raise ReviewRefused(f"encounter {encounter_id} has no note awaiting review")
    record, etag = found
    if record.status != "AWAITING_REVIEW":
        raise ReviewRefused(f"encounter {encounter_id} is {record.status}, not awaiting review")
    if record.expired(now):
        raise ReviewRefused(f"the review of encounter {encounter_id} expired at {record.due_at:%Y-%m-%d %H:%M} UTC")
    return record, etag


def current_note(s3, bucket: str, record: ReviewRecord) -> Note:
    """The latest version of the note under review."""
    last = record.versions[-1].version
    if last == 1:
        note = stored_note(s3, bucket, record.encounter_id)
    else:
        body = s3.get_object(Bucket=bucket, Key=note_version_key(record.encounter_id, last))["Body"].read()
        note = Note.model_validate_json(body)
    if note is None:
        raise ReviewRefused(f"encounter {record.encounter_id}'s note is not at {note_key(record.encounter_id)}")
    return note


def edited(note: Note, edits: list[Edit]) -> tuple[Note, list[str]]:
    """The note with the edits applied, and the statements they changed. ReviewRefused for a statement the
    note does not have, or an edit that would empty a section that had statements."""
    sections = {section.name: section.model_copy(deep=True) for section in note.sections}
    changed = []
    for edit in edits:
        section = sections.get(edit.section)
        if section is None or not 0 <= edit.index < len(section.statements):
            raise ReviewRefused(f"the note has no statement {edit.section}.{edit.index}")
        section.statements[edit.index].text = edit.text.strip()
        changed.append(f"{edit.section}.{edit.index}")
    for section in sections.values():
        kept = [statement for statement in section.statements if statement.text]
        if section.statements and not kept:
            raise ReviewRefused(f"an edit may not empty the section {section.name}: send the note back instead")
        section.statements = kept
    return note.model_copy(update={"sections": [sections[s.name] for s in note.sections]}), changed


def sign(s3, bucket: str, encounter_id: str, *, clinician: str, edits: list[Edit] | None = None,
         now: datetime | None = None, bus: str | None = None, stepfunctions=None, events=None,
         patient: str | None = None) -> SignedNote:  # fmt: skip
    """Sign the note under review, with the clinician's edits, once. Refused (nothing changed) when it is not
    awaiting review, its review expired, an edit names no statement or empties a section, or an edited
    statement says what its cited segments do not. An execution waiting for the review (orchestration) is
    then told, with its task token. `stepfunctions` and `events` are the caller's clients (an operator's,
    from the CLI or the page), else the function's own."""
    now = now or datetime.now(UTC)
    if not clinician.strip():
        raise ReviewRefused("a signature needs the clinician's identity")
    if patient is not None and not is_patient_reference(patient):
        raise ReviewRefused(f"--patient {patient[:40]!r}: write it as a FHIR reference, e.g. Patient/123")
    record, etag = _awaiting(s3, bucket, encounter_id, now)
    note, changed = edited(current_note(s3, bucket, record), edits or [])
    if changed:
        segments = read_transcript(s3, bucket, transcript_key(encounter_id)).segments
        named = {f"{s.name}.{i}": (s.name, t) for s in note.sections for i, t in enumerate(s.statements)}
        for label in changed:
            if label in named:
                section, statement = named[label]
                verdict = check_cited(Statement(section, statement.text, tuple(statement.evidence)), segments)
                if not verdict.supported:
                    raise ReviewRefused(
                        f"the edited statement {label} is not supported by the segments it cites: {verdict.reason}"
                    )
    version = record.versions[-1].version + (1 if changed else 0)
    if changed:
        try:
            _write(s3, bucket, note_version_key(encounter_id, version), note, {"IfNoneMatch": "*"})
        except ClientError as error:
            if lost_the_race(error):
                raise ReviewRefused(
                    f"version {version} of encounter {encounter_id}'s note exists already: list it and retry"
                ) from None
            raise
        record.versions.append(NoteVersion(version=version, by=clinician, at=now, edited=changed))
    signed = SignedNote(
        encounter_id=encounter_id, version=version, signed_by=clinician, signed_at=now, note=note, patient=patient
    )
    try:
        _write(s3, bucket, signed_key(encounter_id), signed, {"IfNoneMatch": "*"})
    except ClientError as error:
        if lost_the_race(error):
            raise ReviewRefused(f"encounter {encounter_id}'s note is already signed") from None
        raise
    token = record.task_token
    record.status, record.signed_by, record.signed_at, record.task_token = "SIGNED", clinician, now, None
    _write(s3, bucket, review_key(encounter_id), record, {"IfMatch": etag})
    publish([_signed_event(signed, record, len(changed))], bus=bus, client=events)
    if token:
        _resume(stepfunctions, token, encounter_id, output={"signed_key": signed_key(encounter_id), "version": version})
    return signed


def _resume(stepfunctions, token: str, encounter_id: str, *, output: dict | None = None,
            error: str = SENT_BACK_ERROR,
            cause: str = "the clinician sent the note back; the reason is in") -> bool:  # fmt: skip
    """End the execution's wait for the review: success with `output` (signed), else the failure `error` the
    state machine routes by its name (its cause names the record, never its text). A wait that already ended
    is not an error: the decision is in the record, where the execution's next wait (after the reminder) or
    its deadline step reads it. Returns whether the token was taken."""
    stepfunctions = stepfunctions or clients.stepfunctions()
    try:
        if output is not None:
            stepfunctions.send_task_success(taskToken=token, output=json.dumps(output))
        else:
            stepfunctions.send_task_failure(taskToken=token, error=error, cause=f"{cause} {review_key(encounter_id)}")
    except ClientError as failure:
        code = failure.response["Error"]["Code"]
        if code not in ENDED_WAIT_CODES:
            raise
        logger.info("review wait already ended", extra={"encounter_id": encounter_id, "error_code": code})
        return False
    return True


def _signed_event(signed: SignedNote, record: ReviewRecord, edited_statements: int) -> tuple[str, dict]:
    return (
        NOTE_SIGNED,
        detail(
            NOTE_SIGNED,
            encounter_id=signed.encounter_id,
            variant=record.variant,
            facts=(signed.encounter_id, record.transcript_sha256),
            signed_key=signed_key(signed.encounter_id),
            note_version=signed.version,
            edited_statements=edited_statements,
            statements=signed.note.statement_count,
            template=signed.note.template,
            transcript_sha256=record.transcript_sha256,
        ),
    )


def send_back(s3, bucket: str, encounter_id: str, *, clinician: str, reason: str, now: datetime | None = None,
              bus: str | None = None, stepfunctions=None, events=None) -> ReviewRecord:  # fmt: skip
    """Send the note back to be drafted again, with the reason (the model is given it as feedback). Refused
    without the clinician's identity or a reason, with a reason over MAX_REASON_CHARS, when the note is not
    awaiting review, or when it was drafted again MAX_REDRAFTS times already (it is then the clinician's to
    edit and sign). An execution waiting for the review fails its wait with NoteSentBack, and redrafts from
    there (orchestration); NoteSentBack goes on the bus, where choreography's note writer takes it."""
    now = now or datetime.now(UTC)
    reason = reason.strip()
    if not clinician.strip():
        raise ReviewRefused("sending a note back needs the clinician's identity")
    if not reason:
        raise ReviewRefused("sending a note back needs a reason")
    if len(reason) > MAX_REASON_CHARS:
        raise ReviewRefused(
            f"a reason is at most {MAX_REASON_CHARS} characters ({len(reason)} given): say what to change"
        )
    record, etag = _awaiting(s3, bucket, encounter_id, now)
    if record.redrafts >= MAX_REDRAFTS:
        raise ReviewRefused(
            f"encounter {encounter_id}'s note was drafted again {record.redrafts} times, the most it is: edit and sign it"
        )
    token = record.task_token
    record.status, record.sent_back_by, record.sent_back_at, record.reason = "SENT_BACK", clinician, now, reason
    record.task_token = None
    _write(s3, bucket, review_key(encounter_id), record, {"IfMatch": etag})
    if token:
        _resume(stepfunctions, token, encounter_id)
    publish([_sent_back_event(record)], bus=bus, client=events)
    return record


def _sent_back_event(record: ReviewRecord) -> tuple[str, dict]:
    sent_back_at = (record.sent_back_at or record.opened_at).isoformat()
    return (
        NOTE_SENT_BACK,
        detail(
            NOTE_SENT_BACK,
            encounter_id=record.encounter_id,
            variant=record.variant,
            facts=(record.encounter_id, record.transcript_sha256, sent_back_at),
            review_key=review_key(record.encounter_id),
            note_version=record.versions[-1].version,
            transcript_sha256=record.transcript_sha256,
            sent_back_at=sent_back_at,
            redrafts=record.redrafts,
        ),
    )


def _redrafted_event(record: ReviewRecord, note: Note) -> tuple[str, dict]:
    version = record.versions[-1].version
    return (
        NOTE_REDRAFTED,
        detail(
            NOTE_REDRAFTED,
            encounter_id=record.encounter_id,
            variant=record.variant,
            facts=(record.encounter_id, record.transcript_sha256, str(version)),
            review_key=review_key(record.encounter_id),
            note_key=note_version_key(record.encounter_id, version),
            note_version=version,
            redrafts=record.redrafts,
            template=note.template,
            prompt_version=note.provenance.prompt_version,
            transcript_sha256=record.transcript_sha256,
            status=note.status,
            statements=note.statement_count,
            flagged_statements=len(note.flagged),
            uncertain_speakers=needs_review(note.speakers),
            due_at=record.due_at.isoformat(),
        ),
    )


def redraft(s3, bucket: str, encounter_id: str, draft: Callable[[ReviewRecord], Note | None], *,
            window_hours: int = DEFAULT_REVIEW_WINDOW_HOURS, reminder_hours: int = DEFAULT_REMINDER_HOURS,
            now: datetime | None = None, bus: str | None = None) -> Kept:  # fmt: skip
    """Draft a sent-back note again and open its review again. `draft(record)` is the model's new draft, given
    the clinician's reason (None: the record's transcript is no longer the encounter's, and the new one's
    draft opens its own review; the record is left SENT_BACK). It is written once, as the next version (reviews/<id>/v<n>.json: a try after that
    write keeps what it wrote); then the record, over exactly the one read, awaits review again with a new
    window, and NoteRedrafted goes on the bus. A review that is not SENT_BACK is left as it is: a delivery
    after the redraft only puts its event again (the try that reopened it may have failed before)."""
    now = now or datetime.now(UTC)
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        return Kept(changed=False, status=None)
    record, etag = found
    if record.status != "SENT_BACK":
        if record.status == "AWAITING_REVIEW" and record.versions[-1].feedback is not None:
            publish([_redrafted_event(record, current_note(s3, bucket, record))], bus=bus)
        return Kept(changed=False, status=record.status)
    version = record.versions[-1].version + 1
    key = note_version_key(encounter_id, version)
    if (written := get_if_present(s3, bucket, key)) is not None:
        note = Note.model_validate_json(written["Body"].read())
    else:
        note = draft(record)
        if note is None:
            return Kept(changed=False, status=record.status)
        try:
            _write(s3, bucket, key, note, {"IfNoneMatch": "*"})
        except ClientError as error:
            if not lost_the_race(error):
                raise
            raise ReviewRecordConflict(f"version {version} of {encounter_id}'s note was written meanwhile") from None
    record.versions.append(
        NoteVersion(
            version=version,
            by=f"model {note.provenance.model_id}",
            at=note.provenance.created_at,
            feedback=record.reason,
        )
    )
    record.status, record.redrafts, record.task_token = "AWAITING_REVIEW", record.redrafts + 1, None
    _open_window(record, now, window_hours, reminder_hours)
    _rewrite(s3, bucket, record, etag)
    publish([_redrafted_event(record, note)], bus=bus)
    return Kept(changed=True, status=record.status)


def _open_window(record: ReviewRecord, now: datetime, window_hours: int, reminder_hours: int) -> None:
    record.opened_at, record.due_at = now, now + timedelta(hours=window_hours)
    record.remind_at, record.reminded_at = now + timedelta(hours=window_hours - reminder_hours), None


def reviews(s3, bucket: str) -> list[ReviewRecord]:
    """Every review record, oldest first."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=REVIEWS_PREFIX):
        for item in page.get("Contents", []):
            if item["Key"].count("/") == 1:  # reviews/<id>.json, not a version
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                try:
                    found.append(ReviewRecord.model_validate_json(body))
                except ValidationError:
                    raise ReviewRefused(f"{item['Key']} is not a review record") from None
    return sorted(found, key=lambda record: record.opened_at)


# ---- the deadline: a reminder before it, the expiry at it ---------------------------------------------
@dataclass(frozen=True)
class Deadlines:
    reminded: list[str]
    expired: list[str]
    sent_back_again: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Kept:
    """What an action on an awaiting review did: whether it changed the record, and the review's status after
    (None: there is no review record)."""

    changed: bool
    status: Status | None


def _review_event(detail_type: str, record: ReviewRecord) -> tuple[str, dict]:
    return (
        detail_type,
        detail(
            detail_type,
            encounter_id=record.encounter_id,
            variant=record.variant,
            facts=(record.encounter_id, record.transcript_sha256, record.opened_at.isoformat()),
            review_key=review_key(record.encounter_id),
            opened_at=record.opened_at.isoformat(),
            due_at=record.due_at.isoformat(),
            note_version=record.versions[-1].version,
            transcript_sha256=record.transcript_sha256,
        ),
    )


def _keep(s3, bucket: str, encounter_id: str, change, *, announce: str | None = None, bus: str | None = None) -> Kept:
    """Apply `change(record)` to an awaiting review (it returns False to leave it), written over exactly the
    record read, then put the `announce` event. ReviewRecordConflict (transient) when someone acted
    meanwhile: the next try reads their decision."""
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        return Kept(changed=False, status=None)
    record, etag = found
    if record.status != "AWAITING_REVIEW" or not change(record):
        return Kept(changed=False, status=record.status)
    _rewrite(s3, bucket, record, etag)
    if announce:
        publish([_review_event(announce, record)], bus=bus)
    return Kept(changed=True, status=record.status)


def remind(s3, bucket: str, encounter_id: str, *, now: datetime | None = None, bus: str | None = None) -> Kept:
    """Remind the clinician once (ReviewReminder) that the review still waits."""
    now = now or datetime.now(UTC)

    def reminded(record: ReviewRecord) -> bool:
        if record.reminded_at is not None:
            return False
        record.reminded_at = now
        return True

    return _keep(s3, bucket, encounter_id, reminded, announce=REVIEW_REMINDER, bus=bus)


def expire(s3, bucket: str, encounter_id: str, *, now: datetime | None = None, bus: str | None = None) -> Kept:
    """End an awaiting review whose window passed: REVIEW_EXPIRED, and ReviewExpired (nothing changes when it
    was signed or sent back meanwhile, or its window has not passed)."""
    now = now or datetime.now(UTC)

    def expired(record: ReviewRecord) -> bool:
        if not record.expired(now):
            return False
        record.status, record.expired_at, record.task_token = "REVIEW_EXPIRED", now, None
        return True

    return _keep(s3, bucket, encounter_id, expired, announce=REVIEW_EXPIRED, bus=bus)


def sweep_deadlines(s3, bucket: str, *, now: datetime | None = None, bus: str | None = None) -> Deadlines:
    """Choreography's way: every awaiting review past its window expires, and every one past its reminder
    time is reminded (the scheduled sweep's interval is how late either can be). A note sent back and not
    drafted again within REDRAFT_OVERDUE, with no failure recorded for it, has its NoteSentBack put again
    (same event id): the send-back's own put may have failed after the record was written."""
    now = now or datetime.now(UTC)
    reminded, expired, sent_back_again = [], [], []
    for record in reviews(s3, bucket):
        if record.expired(now) and expire(s3, bucket, record.encounter_id, now=now, bus=bus).changed:
            expired.append(record.encounter_id)
        elif record.reminder_due(now) and remind(s3, bucket, record.encounter_id, now=now, bus=bus).changed:
            reminded.append(record.encounter_id)
        elif (
            record.status == "SENT_BACK"
            and now - (record.sent_back_at or now) >= REDRAFT_OVERDUE
            and not failure_record_exists(s3, bucket, record.encounter_id)
        ):
            publish([_sent_back_event(record)], bus=bus)
            sent_back_again.append(record.encounter_id)
    return Deadlines(reminded=reminded, expired=expired, sent_back_again=sent_back_again)


def wait_for(s3, bucket: str, encounter_id: str, token: str) -> Status:
    """Orchestration's way: store the execution's task token in the awaiting review, for sign and send back
    to redeem. Returns the review's status: a review decided before the wait began is not waited for (the
    caller ends the wait at once)."""

    def waited(record: ReviewRecord) -> bool:
        record.task_token = token
        return True

    kept = _keep(s3, bucket, encounter_id, waited)
    if kept.status is None:
        raise ReviewRecordConflict(f"encounter {encounter_id} has no review record yet")
    return kept.status


def end_wait(stepfunctions, token: str, encounter_id: str, status: Status) -> None:
    """End a wait that began after the review was decided: signed is a success, anything else the failure
    the state machine routes by its name."""
    if status == "SIGNED":
        _resume(stepfunctions, token, encounter_id, output={"signed_key": signed_key(encounter_id)})
    elif status == "SENT_BACK":
        _resume(stepfunctions, token, encounter_id)
    else:
        _resume(stepfunctions, token, encounter_id, error="ReviewExpired", cause=f"the review ended {status}; see")

"""A clinician's review of a draft note: open for review, edit and sign, or send back with a reason.

The draft step opens the review (reviews/<id>.json, AWAITING_REVIEW, due after the review window). Signing
applies the clinician's edits as a new version (reviews/<id>/v<n>.json; version 1 is notes/<id>.json, kept),
checks every edited statement against the segments it cites (the unsupported-claim check) and writes the
signed note to signed/<id>.json once: the write is conditional (If-None-Match), so a second signature is
refused by S3 itself, and the bucket's versioning keeps every write. Each action records who, when and what
changed, and puts NoteSigned on the domain bus. Nothing is changed by a refused action.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError

from clinical.claims import Statement, check_cited
from clinical.domain_events import NOTE_SIGNED, detail, publish
from clinical.errors import PipelineError
from clinical.layout import note_key, note_version_key, review_key, signed_key, transcript_key
from clinical.notes import Note, stored_note
from clinical.objects import get_if_present, lost_the_race
from clinical.prefixes import REVIEWS_PREFIX
from clinical.transcription import read_transcript

DEFAULT_REVIEW_WINDOW_HOURS = 72
Status = Literal["AWAITING_REVIEW", "SIGNED", "SENT_BACK"]


class ReviewRefused(PipelineError):
    """A review action that cannot be taken as asked; nothing was changed."""


class NoteVersion(BaseModel):
    version: int
    by: str
    at: datetime
    edited: list[str] = Field(default_factory=list)  # "plan.1": the statements changed


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

    def expired(self, now: datetime) -> bool:
        return self.status == "AWAITING_REVIEW" and now > self.due_at


class SignedNote(BaseModel):
    """signed/<encounter_id>.json, written once: the note as signed, and by whom."""

    schema_version: Literal["1"] = "1"
    encounter_id: str
    version: int
    signed_by: str
    signed_at: datetime
    note: Note


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
                now: datetime | None = None) -> bool:  # fmt: skip
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
        due_at=now + timedelta(hours=window_hours),
        versions=[NoteVersion(version=1, by=f"model {note.provenance.model_id}", at=note.provenance.created_at)],
    )
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
         now: datetime | None = None, bus: str | None = None) -> SignedNote:  # fmt: skip
    """Sign the note under review, with the clinician's edits, once. Refused (nothing changed) when it is not
    awaiting review, its review expired, an edit names no statement or empties a section, or an edited
    statement says what its cited segments do not."""
    now = now or datetime.now(UTC)
    if not clinician.strip():
        raise ReviewRefused("a signature needs the clinician's identity")
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
    signed = SignedNote(encounter_id=encounter_id, version=version, signed_by=clinician, signed_at=now, note=note)
    try:
        _write(s3, bucket, signed_key(encounter_id), signed, {"IfNoneMatch": "*"})
    except ClientError as error:
        if lost_the_race(error):
            raise ReviewRefused(f"encounter {encounter_id}'s note is already signed") from None
        raise
    record.status, record.signed_by, record.signed_at = "SIGNED", clinician, now
    _write(s3, bucket, review_key(encounter_id), record, {"IfMatch": etag})
    publish([_signed_event(signed, record, len(changed))], bus=bus)
    return signed


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


def send_back(s3, bucket: str, encounter_id: str, *, clinician: str, reason: str,
              now: datetime | None = None) -> ReviewRecord:  # fmt: skip
    """Send the note back for a redraft, with the reason. Refused without a reason, or when the note is not
    awaiting review."""
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise ReviewRefused("sending a note back needs a reason")
    record, etag = _awaiting(s3, bucket, encounter_id, now)
    record.status, record.sent_back_by, record.sent_back_at, record.reason = "SENT_BACK", clinician, now, reason.strip()
    _write(s3, bucket, review_key(encounter_id), record, {"IfMatch": etag})
    return record


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

"""Notes: the schema of notes/<encounter_id>.json, composed from the model's draft, written once per transcript."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clinical.domain_events import NOTE_DRAFTED, NOTE_NEEDS_REVIEW, detail
from clinical.drafting import Draft, ModelCall
from clinical.errors import NoteWriteConflict, StoredNoteInvalid
from clinical.layout import note_key
from clinical.objects import get_if_present, lost_the_race
from clinical.observability import logger
from clinical.roles import needs_review
from clinical.templates import CitedStatement, ClinicalOrder, Template

SCHEMA_VERSION = "2"
REVIEW_NOTICE = "AI-generated draft. A clinician must review and sign it before clinical use."


class NoteSection(BaseModel):
    name: str
    title: str
    statements: list[CitedStatement]


class Provenance(BaseModel):
    encounter_id: str
    model_id: str
    template: str
    prompt_version: str
    transcript_sha256: str
    transcription_job_name: str
    variant: str
    created_at: datetime
    input_tokens: int | None = None
    output_tokens: int | None = None
    model_calls: list[ModelCall] = Field(default_factory=list)


class Speaker(BaseModel):
    """Who a speaker label is (clinical.roles), as the note records it."""

    speaker_label: str
    role: Literal["CLINICIAN", "PATIENT", "OTHER"]
    confidence: float


class FlaggedStatement(BaseModel):
    """A statement of the note its cited segments do not support (clinical.claims)."""

    section: str
    text: str
    reason: str
    evidence: list[int] = Field(default_factory=list)


class Note(BaseModel):
    """notes/<encounter_id>.json, identical in shape for both variants: the template's sections of statements,
    each citing the transcript segments it comes from, and the orders. A note is a draft for a clinician to
    review; `needs_review` says why it needs a closer look: statements its evidence does not support
    (`flagged`), or speakers whose roles are uncertain."""

    schema_version: Literal["2"] = SCHEMA_VERSION
    status: Literal["draft", "needs_review"] = "draft"
    review_notice: str = REVIEW_NOTICE
    template: str
    sections: list[NoteSection]
    medications_and_orders: list[ClinicalOrder]
    provenance: Provenance
    speakers: list[Speaker] = Field(default_factory=list)
    flagged: list[FlaggedStatement] = Field(default_factory=list)

    @property
    def statement_count(self) -> int:
        return sum(len(section.statements) for section in self.sections)


class StoredNote(BaseModel):
    """What the writer reads of a stored note, of any schema version: whose transcript it was drafted from."""

    model_config = ConfigDict(extra="ignore")

    class Origin(BaseModel):
        model_config = ConfigDict(extra="ignore")
        transcript_sha256: str

    provenance: Origin


def transcript_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_note(s3, bucket: str, encounter_id: str) -> tuple[StoredNote, str] | None:
    """The stored note's origin (any schema version: a note of an earlier schema is replaced like any other)
    and its ETag, or None."""
    response = get_if_present(s3, bucket, note_key(encounter_id))
    if response is None:
        return None
    try:
        note = StoredNote.model_validate_json(response["Body"].read())
    except ValidationError:
        # pydantic's message quotes the note's text.
        raise StoredNoteInvalid("the encounter's stored note does not match the note schema") from None
    return note, response["ETag"]


def stored_note(s3, bucket: str, encounter_id: str) -> Note | None:
    """The encounter's stored note in this schema (None: no note, or one of an earlier schema)."""
    response = get_if_present(s3, bucket, note_key(encounter_id))
    if response is None:
        return None
    try:
        return Note.model_validate_json(response["Body"].read())
    except ValidationError:
        return None


def note_events(note: Note) -> list[tuple[str, dict]]:
    """The domain events of a written note: NoteDrafted, and NoteNeedsReview when it needs one."""
    provenance = note.provenance
    fields = {
        "note_key": note_key(provenance.encounter_id),
        "template": note.template,
        "prompt_version": provenance.prompt_version,
        "transcript_sha256": provenance.transcript_sha256,
        "status": note.status,
        "statements": note.statement_count,
        "flagged_statements": len(note.flagged),
        "uncertain_speakers": needs_review(note.speakers),
    }
    kinds = [NOTE_DRAFTED] + ([NOTE_NEEDS_REVIEW] if note.status == "needs_review" else [])
    return [
        (
            kind,
            detail(
                kind,
                encounter_id=provenance.encounter_id,
                variant=provenance.variant,
                facts=(provenance.encounter_id, provenance.transcript_sha256),
                **fields,
            ),
        )
        for kind in kinds
    ]


def existing_note_for(s3, bucket: str, encounter_id: str, transcript_hash: str) -> bool:
    """Whether a note was already written from this very transcript (a duplicate delivery)."""
    stored = read_note(s3, bucket, encounter_id)
    return bool(stored and stored[0].provenance.transcript_sha256 == transcript_hash)


def save_note(s3, bucket: str, note: Note) -> bool:
    """Write the note once per transcript. Returns False when an equal-provenance note won the race.

    The write is conditional: it creates the key only if absent, or replaces exactly the note it
    read (a note from an earlier transcript of the same encounter). Two concurrent deliveries of
    the same transcript therefore cannot leave two different notes.
    """
    encounter_id = note.provenance.encounter_id
    stored = read_note(s3, bucket, encounter_id)
    condition = {"IfNoneMatch": "*"} if stored is None else {"IfMatch": stored[1]}
    if stored and stored[0].provenance.transcript_sha256 == note.provenance.transcript_sha256:
        return False
    try:
        s3.put_object(
            Bucket=bucket,
            Key=note_key(encounter_id),
            Body=note.model_dump_json(indent=2).encode(),
            ContentType="application/json",
            **condition,
        )
    except ClientError as error:
        if not lost_the_race(error):
            raise
        if existing_note_for(s3, bucket, encounter_id, note.provenance.transcript_sha256):
            return False
        raise NoteWriteConflict("another note for this encounter was written concurrently") from None
    logger.info("note written", extra={"encounter_id": encounter_id, "prompt_version": note.provenance.prompt_version})
    return True


def compose_note(
    *,
    encounter_id: str,
    template: Template,
    draft: Draft,
    model_id: str,
    transcript_hash: str,
    job_name: str,
    variant: str,
) -> Note:
    calls = draft.calls

    def total(tokens: list[int | None]) -> int | None:
        return None if any(count is None for count in tokens) else sum(tokens)  # type: ignore[arg-type]

    return Note(
        template=template.name,
        sections=[
            NoteSection(name=section.name, title=section.title, statements=draft.sections[section.name])
            for section in template.sections
        ],
        medications_and_orders=draft.orders,
        provenance=Provenance(
            encounter_id=encounter_id,
            model_id=model_id,
            template=template.name,
            prompt_version=template.version,
            transcript_sha256=transcript_hash,
            transcription_job_name=job_name,
            variant=variant,
            created_at=datetime.now(UTC),
            input_tokens=total([call.input_tokens for call in calls]),
            output_tokens=total([call.output_tokens for call in calls]),
            model_calls=calls,
        ),
    )

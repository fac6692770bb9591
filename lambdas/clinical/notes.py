"""Notes: the schema of notes/<encounter_id>.json, composed from the model's draft, written once per transcript.

The schema does not import the draft step's modules (the drafting, the speakers' roles), which only composing a
note and its events use: a function that reads notes (the FHIR export, the review page) loads the schema alone at
a cold start (docs/performance.md)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from clinical.domain_events import NOTE_DRAFTED, NOTE_NEEDS_REVIEW, detail
from clinical.errors import NoteWriteConflict, StoredNoteInvalid
from clinical.layout import note_key
from clinical.objects import get_if_present, lost_the_race
from clinical.observability import logger
from clinical.settlements import mark_settled
from clinical.templates import ORDERS, OrderCategory, Template

if TYPE_CHECKING:
    from clinical.drafting import Draft

SCHEMA_VERSION = "3"
REVIEW_NOTICE = "AI-generated draft. A clinician must review and sign it before clinical use."
# Who wrote a statement: the model (citing the transcript segments that say it) or the clinician.
Author = Literal["model", "clinician"]
# A statement's id: s<n> for the model's statements, o<n> for its orders, c<n> for the clinician's; ASCII
# digits only. Ids never change within a review: a removed statement's id is not given to another.
STATEMENT_ID = re.compile(r"[soc][0-9]{1,4}")
# The models' empty lists are written as [] (pydantic copies a mutable default for each instance), not as
# default_factory=list, which costs an inspect.signature, and so a tokenizer, at cold start (docs/performance.md).


class NoteStatement(BaseModel):
    """One statement of a section: its id, its text, the transcript segments that say it, and its author. A
    clinician's statement cites segments only when its text was checked against them; one the clinician
    signs as their own (an exam finding, a chart fact) cites none and is never shown as the transcript's."""

    id: str = Field(pattern=STATEMENT_ID.pattern)
    text: str = Field(min_length=1)
    evidence: list[int] = []
    author: Author = "model"
    # A model statement its evidence does not support, which the signing clinician accepted as it is.
    accepted: bool = False


class NoteOrder(BaseModel):
    """One medication or order, with the same identity and authorship as a statement."""

    id: str = Field(pattern=STATEMENT_ID.pattern)
    category: OrderCategory
    description: str = Field(min_length=1)
    evidence: list[int] = []
    author: Author = "model"
    accepted: bool = False

    @property
    def text(self) -> str:
        return self.description


class NoteSection(BaseModel):
    name: str
    title: str
    statements: list[NoteStatement]


class ModelCall(BaseModel):
    """One Converse call of a draft (clinical.drafting): the segments it carried and its tokens."""

    first_segment: int
    last_segment: int
    input_tokens: int | None
    output_tokens: int | None


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
    model_calls: list[ModelCall] = []


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
    evidence: list[int] = []
    statement: str | None = None  # its id (None only in a note of schema 2 whose text no statement has)


class Note(BaseModel):
    """notes/<encounter_id>.json, identical in shape for both variants: the template's sections of statements,
    each citing the transcript segments it comes from, and the orders. A note is a draft for a clinician to
    review; `needs_review` says why it needs a closer look: statements its evidence does not support
    (`flagged`), or speakers whose roles are uncertain."""

    schema_version: Literal["2", "3"] = SCHEMA_VERSION
    status: Literal["draft", "needs_review"] = "draft"
    review_notice: str = REVIEW_NOTICE
    template: str
    sections: list[NoteSection]
    medications_and_orders: list[NoteOrder]
    provenance: Provenance
    speakers: list[Speaker] = []
    flagged: list[FlaggedStatement] = []

    @model_validator(mode="before")
    @classmethod
    def _identified(cls, data: Any) -> Any:
        """A note of schema 2 (statements without ids) gets the ids its draft would have had today."""
        if isinstance(data, dict) and data.get("schema_version") == "2":
            data = {**data, "schema_version": SCHEMA_VERSION}
            sections = [dict(section) for section in data.get("sections") or [] if isinstance(section, dict)]
            data["sections"] = sections
            for section in sections:
                section["statements"] = [dict(item) for item in section.get("statements") or []]
            orders = [dict(item) for item in data.get("medications_and_orders") or [] if isinstance(item, dict)]
            data["medications_and_orders"] = orders
            numbered(
                statement for section in sections for statement in section["statements"] if isinstance(statement, dict)
            )
            numbered(orders, prefix="o")
            ids = {(section.get("name"), item.get("text")): item["id"] for section in sections
                   for item in section["statements"] if isinstance(item, dict)}  # fmt: skip
            ids |= {(ORDERS, item.get("description")): item["id"] for item in orders}
            data["flagged"] = [
                {**flag, "statement": ids.get((flag.get("section"), flag.get("text")))}
                if isinstance(flag, dict)
                else flag
                for flag in data.get("flagged") or []
            ]
        return data

    @model_validator(mode="after")
    def _ids_are_unique(self) -> Note:
        ids = [item.id for _section, item in self.items()]
        if len(ids) != len(set(ids)):
            raise ValueError("two statements of the note share an id")
        return self

    def items(self) -> Iterator[tuple[str, NoteStatement | NoteOrder]]:
        """Every statement and order with the name of its section (ORDERS for an order), in the note's order."""
        for section in self.sections:
            for statement in section.statements:
                yield section.name, statement
        for order in self.medications_and_orders:
            yield ORDERS, order

    def flag_of(self, statement_id: str) -> FlaggedStatement | None:
        return next((flag for flag in self.flagged if flag.statement == statement_id), None)

    @property
    def statement_count(self) -> int:
        return sum(len(section.statements) for section in self.sections)


class SignedNote(BaseModel):
    """signed/<encounter_id>.json, written once when a review is signed (clinical.review): the note as signed, and
    by whom."""

    # Its validator is built when a signed note is first written or read (pydantic's defer_build): the functions
    # that draft notes never do, and would build it at every cold start (docs/performance.md).
    model_config = ConfigDict(defer_build=True)

    schema_version: Literal["1"] = "1"
    encounter_id: str
    version: int
    signed_by: str
    signed_at: datetime
    note: Note
    # The patient's FHIR reference (Patient/123) if the signer gave it: the pipeline knows only encounters.
    patient: str | None = None


def numbered(items, prefix: str = "s") -> None:
    """Give each item (a dict) without an id the next id of its kind: s1, s2, ... (o1, ... for orders)."""
    for number, item in enumerate(items, start=1):
        item.setdefault("id", f"{prefix}{number}")


class StoredNote(BaseModel):
    """What the writer reads of a stored note, of any schema version: whose transcript it was drafted from. Built
    when first read (defer_build): a function that only reads signed notes never does."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    class Origin(BaseModel):
        model_config = ConfigDict(extra="ignore", defer_build=True)
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
    from clinical.roles import needs_review

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
    mark_settled(
        s3, bucket, note_key(encounter_id)
    )  # after the note: a crash between leaves no marker, never one too many
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

    written = [(section, draft.sections[section.name]) for section in template.sections]
    numbers = iter(range(1, 1 + sum(len(statements) for _section, statements in written)))
    return Note(
        template=template.name,
        sections=[
            NoteSection(
                name=section.name,
                title=section.title,
                statements=[
                    NoteStatement(id=f"s{next(numbers)}", text=item.text, evidence=item.evidence) for item in statements
                ],
            )
            for section, statements in written
        ],
        medications_and_orders=[
            NoteOrder(id=f"o{number}", category=order.category, description=order.description, evidence=order.evidence)
            for number, order in enumerate(draft.orders, start=1)
        ],
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

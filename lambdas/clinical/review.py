"""A clinician's review of a draft note: opened by the draft step, reminded, signed with the clinician's
changes, sent back to be drafted again, expired.

The draft step opens the review (reviews/<id>.json, AWAITING_REVIEW, due after the review window). A clinician
signs the version they reviewed with their changes (clinical.revisions: statements named by id), or sends it
back with a reason, which the model is given as feedback for a redraft (at most MAX_REDRAFTS). A refused action
changes nothing.

One commit point per transition (decision 0012). Every transition of a review (opened, reminded, signed,
sent back, expired, redrafted, and a new transcript opening it again) is one conditional write of its record over
exactly the record read (If-Match): that write decides, and a concurrent action that lost is refused (a
person's) or tried again (a function's). A version a transition introduces is written before it, under a key no
other writer uses (reviews/<id>/v<n>-<author>-<digest>.json), and named in the record: a version no record names
was never part of the review. What follows from a transition (the signed note, its domain event, the waiting
execution's task token) is `settle`'s: done after the write, idempotently, and the record then says so
(`settled_at`). A crash in between leaves a record that says what is still owed, and whoever reads it next and
may act finishes it: the acting caller on a retry, the variant's sweep, orchestration's CheckReview.

The record decides, the token only wakes: orchestration's execution stores a task token in the record while it
waits; settling a transition redeems it, and the execution then reads the record (CheckReview), whatever the
token was redeemed with.

The record itself, its reading and orchestration's wait on it (storing and redeeming the task token) are
clinical.review_record's, which AwaitReview imports alone. Keeping a review's time reads and writes the record only,
so the note's modules (the note, its revisions, the transcript, the speakers' roles) and the quarantine's are
imported by the functions that use them: a function's cold start compiles and runs every module it imports
(docs/performance.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from clinical.domain_events import (
    NOTE_REDRAFTED,
    NOTE_SENT_BACK,
    NOTE_SIGNED,
    REVIEW_EXPIRED,
    REVIEW_REMINDER,
    detail,
    publish,
)
from clinical.errors import (
    DecidedNotSettled,
    PipelineError,
    ReviewRecordConflict,
    ReviewRefused,
    StoredNoteInvalid,
    StoredReviewInvalid,
)
from clinical.layout import (
    encounter_id_from_key,
    legacy_note_version_key,
    note_key,
    note_version_key,
    review_key,
    signed_key,
    transcript_key,
)
from clinical.objects import get_if_present, lost_the_race
from clinical.observability import logger
from clinical.patients import is_patient_reference
from clinical.prefixes import REVIEWS_PREFIX
from clinical.review_index import (
    Deadline,
    Entry,
    Keeper,
    count_awaiting,
    due,
    mark_awaiting,
    mark_due,
    unmark,
    unmark_opening,
)
from clinical.review_record import (
    EXPIRED_ERROR,
    SENT_BACK_ERROR,
    NoteVersion,
    ReviewRecord,
    Status,
    Transition,
    read_review,
    resume_wait,
)

if TYPE_CHECKING:
    from clinical.notes import Note, SignedNote
    from clinical.revisions import Changes

DEFAULT_REVIEW_WINDOW_HOURS = 72
# The reminder goes this many hours before the review window ends.
DEFAULT_REMINDER_HOURS = 12
# A send-back's reason is read by people and by the model as feedback: a few sentences, not a document.
MAX_REASON_CHARS = 1000
# A note sent back and not drafted again after this long (the note step's tries are long over) has its
# NoteSentBack put again by choreography's sweep.
REDRAFT_OVERDUE = timedelta(hours=1)
# A decided record's settle that meets another writer reads it again, this many times in all.
SETTLE_TRIES = 3
# A transition's follow-ups become the sweep's this long after its deadline was written, before the record's
# write: by then the function deciding it has written the record or stopped (a Lambda function runs for 15 minutes
# at most; the page's request for 29 seconds). Sooner, the sweep could read the record before that write, find
# nothing owed and delete the deadline the write was counting on.
SWEEP_AFTER = timedelta(minutes=15)


# ---- reading ------------------------------------------------------------------------------------------
def version_key(encounter_id: str, version: NoteVersion) -> str:
    if version.key is not None:
        return version.key
    return note_key(encounter_id) if version.version == 1 else legacy_note_version_key(encounter_id, version.version)


def note_of(s3, bucket: str, record: ReviewRecord, version: NoteVersion | None = None) -> Note:
    """A version of the note under review (the latest by default). ReviewRefused when it is not there, or when
    a newer transcript's note replaced the draft (that note opens its own review)."""
    from clinical.notes import Note

    version = version or record.versions[-1]
    key = version_key(record.encounter_id, version)
    found = get_if_present(s3, bucket, key, version.object_version)
    if found is None:
        raise ReviewRefused(f"version {version.version} of encounter {record.encounter_id}'s note is not at {key}")
    try:
        note = Note.model_validate_json(found["Body"].read())
    except ValidationError:
        raise StoredNoteInvalid(f"{key} does not match the note schema") from None
    if note.provenance.transcript_sha256 != record.transcript_sha256:
        raise ReviewRefused(
            f"a new transcript of encounter {record.encounter_id} replaced the note under review; "
            "its own draft opens a new review"
        )
    return note


def reviews(s3, bucket: str, *, variant: str = "") -> list[ReviewRecord]:
    """Every review record, oldest first. An object under reviews/ that is not one (a stray write, a record under
    another encounter's key) is quarantined, with its record and alarm, and the listing goes on."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=REVIEWS_PREFIX):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.count("/") != 1:
                continue  # a version under reviews/<id>/, read through its record
            if (record := _listed_record(s3, bucket, key, variant)) is not None:
                found.append(record)
    return sorted(found, key=lambda record: record.opened_at)


def _listed_record(s3, bucket: str, key: str, variant: str) -> ReviewRecord | None:
    """The record at a listed key of reviews/, or None when it is not one (a stray write, a record under another
    encounter's key): that object is quarantined, with its record and alarm."""
    response = s3.get_object(Bucket=bucket, Key=key)
    try:
        record = ReviewRecord.model_validate_json(response["Body"].read())
    except ValidationError:
        record = None
    if record is None or record.encounter_id != encounter_id_from_key(key, REVIEWS_PREFIX, ".json"):
        _quarantine_record(s3, bucket, key, variant, response.get("VersionId"))
        return None
    return record


@dataclass(frozen=True)
class RecordPage:
    """A page of review records, each with its key, and where the next page starts (None: the last)."""

    records: list[tuple[ReviewRecord, str]]
    after: str | None


def review_page(s3, bucket: str, *, size: int, after: str | None = None, variant: str = "") -> RecordPage:
    """A page of review records by encounter id: one listing of at most `size` keys after `after` (a record's
    later versions, under reviews/<id>/, count as one key), and a read of each record on it. A record that is
    not one is quarantined, as `reviews` does."""
    if after is not None and not after.startswith(REVIEWS_PREFIX):
        raise ValueError("a page of reviews starts after a key of reviews/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=REVIEWS_PREFIX, Delimiter="/", MaxKeys=size,
                                **({"StartAfter": after} if after else {}))  # fmt: skip
    keys = [item["Key"] for item in listed.get("Contents", [])]
    records = [(record, key) for key in keys if (record := _listed_record(s3, bucket, key, variant)) is not None]
    last = max(keys + [item["Prefix"] for item in listed.get("CommonPrefixes", [])], default=None)
    return RecordPage(records, last if listed.get("IsTruncated") else None)


def _quarantine_record(s3, bucket: str, key: str, variant: str, version_id: str | None = None) -> None:
    from clinical.quarantine import quarantine

    quarantine(s3, bucket, source_key=key, version_id=version_id, variant=variant or "unknown",
               reason="not a review record of this layout (reviews/<encounter id>.json)")  # fmt: skip


# ---- writing: stage a version, decide, settle ---------------------------------------------------------
def _write(s3, bucket: str, key: str, document: BaseModel, condition: dict) -> str:
    body = document.model_dump_json(indent=2).encode()
    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition)["ETag"]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def _stage(s3, bucket: str, key: str, note: Note) -> None:
    """Write a version before the decision that names it, once: its key is its own (a digest), so an object
    already there is this very version, written by an earlier try."""
    try:
        _write(s3, bucket, key, note, {"IfNoneMatch": "*"})
    except ClientError as error:
        if not lost_the_race(error):
            raise


def _decide(s3, bucket: str, record: ReviewRecord, etag: str, transition: Transition, now: datetime) -> None:
    """The commit point: the record, moved by `transition`, over exactly the one read. ReviewRecordConflict
    (transient) when someone wrote it meanwhile. A swept review's deadline comes first (now): what the transition
    owes is settled by the sweep if nobody else has (SWEEP_AFTER)."""
    record.last_transition, record.settled_at = transition, None
    if record.kept_by == "sweep":
        mark_due(s3, bucket, Deadline(now + SWEEP_AFTER, record.encounter_id, record.opened_at))
    try:
        _write(s3, bucket, review_key(record.encounter_id), record, {"IfMatch": etag})
    except ClientError as error:
        if lost_the_race(error):
            raise ReviewRecordConflict(f"the review of {record.encounter_id} changed meanwhile") from None
        raise


@dataclass(frozen=True)
class Settled:
    """What `settle` found and did: the review's status, and the transition it finished (None: nothing owed)."""

    status: Status | None
    transition: Transition | None = None


def settle(s3, bucket: str, encounter_id: str, *, now: datetime | None = None, bus: str | None = None,
           stepfunctions=None, events=None) -> Settled:  # fmt: skip
    """Do what the record's last transition owes, if anything: signed, the signed note written once, NoteSigned
    put and the waiting execution told; sent back, NoteSentBack put and the wait failed with NoteSentBack;
    expired, ReviewExpired put (and a wait failed with ReviewExpired); reminded, ReviewReminder put; redrafted,
    NoteRedrafted put. Each is idempotent (events keep their ids; an ended wait is no error), so settling twice
    does it twice at worst; then the record says it is done. `stepfunctions` and `events` are the caller's
    clients, else the function's own."""
    now = now or datetime.now(UTC)
    for _ in range(SETTLE_TRIES):
        found = read_review(s3, bucket, encounter_id)
        if found is None:
            return Settled(None)
        record, etag = found
        if record.settled_at is not None:
            return Settled(record.status)
        transition = record.last_transition
        _follow_up(s3, bucket, record, bus=bus, stepfunctions=stepfunctions, events=events)
        record.settled_at = now
        if transition in ("signed", "sent_back", "expired"):
            record.task_token = None  # redeemed: the execution's wait is over
        try:
            _write(s3, bucket, review_key(encounter_id), record, {"IfMatch": etag})
        except ClientError as error:
            if not lost_the_race(error):
                raise
            continue  # someone wrote it meanwhile: settle what it says now
        logger.info("review settled", extra={"encounter_id": encounter_id, "transition": transition})
        return Settled(record.status, transition)
    raise ReviewRecordConflict(f"the review of {encounter_id} kept changing while it was settled")


def _follow_up(s3, bucket: str, record: ReviewRecord, *, bus: str | None, stepfunctions, events) -> None:
    transition, token, encounter_id = record.last_transition, record.task_token, record.encounter_id
    if transition in ("signed", "sent_back", "expired"):
        unmark_opening(s3, bucket, encounter_id, record.opened_at)  # off the worklist
    if transition == "signed":
        signed = _write_signed(s3, bucket, record)
        publish([_signed_event(signed, record)], bus=bus, client=events)
        if token:
            resume_wait(stepfunctions, token, encounter_id, output={"signed_key": signed_key(encounter_id)})
    elif transition == "sent_back":
        if token:
            resume_wait(stepfunctions, token, encounter_id, error=SENT_BACK_ERROR)
        publish([_sent_back_event(record)], bus=bus, client=events)
    elif transition == "expired":
        if token:
            resume_wait(stepfunctions, token, encounter_id, error=EXPIRED_ERROR)
        publish([_review_event(REVIEW_EXPIRED, record)], bus=bus, client=events)
    elif transition == "reminded":
        publish([_review_event(REVIEW_REMINDER, record)], bus=bus, client=events)
    elif transition == "redrafted":
        publish([_redrafted_event(record, note_of(s3, bucket, record))], bus=bus, client=events)


def _settle_after_decision(s3, bucket: str, encounter_id: str, **clients_and_bus) -> Settled:
    """Settle what a person's action just decided; a failure is DecidedNotSettled, which says the decision stands."""
    try:
        return settle(s3, bucket, encounter_id, **clients_and_bus)
    except (ClientError, PipelineError) as error:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else error.error_type
        logger.warning("review decided, not settled", extra={"encounter_id": encounter_id, "error_type": code})
        raise DecidedNotSettled(
            f"the review of {encounter_id} was decided, but what follows did not all finish ({code}); "
            "the sweep finishes it, or act again"
        ) from None


def signed_note(record: ReviewRecord, note: Note) -> SignedNote:
    """The signed note a SIGNED record stands for: the latest version, by its signer, when they signed."""
    from clinical.notes import SignedNote

    return SignedNote(
        encounter_id=record.encounter_id,
        version=record.version,
        signed_by=record.signed_by or "",
        signed_at=record.signed_at or record.opened_at,
        note=note,
        patient=record.patient,
    )


def _write_signed(s3, bucket: str, record: ReviewRecord) -> SignedNote:
    """signed/<id>.json as the record decided, written once. One already there that says otherwise (left by a
    signature whose decision lost, before decisions were made in the record) is replaced: the record decides,
    and the bucket's versioning keeps what it replaces."""
    from clinical.notes import SignedNote

    signed = signed_note(record, note_of(s3, bucket, record))
    key = signed_key(record.encounter_id)
    try:
        _write(s3, bucket, key, signed, {"IfNoneMatch": "*"})
        return signed
    except ClientError as error:
        if not lost_the_race(error):
            raise
    found = s3.get_object(Bucket=bucket, Key=key)
    try:
        there = SignedNote.model_validate_json(found["Body"].read())
    except ValidationError:
        there = None
    if there != signed:
        _write(s3, bucket, key, signed, {"IfMatch": found["ETag"]})
        logger.warning("signed note replaced by the record's decision", extra={"encounter_id": record.encounter_id})
    return signed


# ---- events ---------------------------------------------------------------------------------------------
def _signed_event(signed: SignedNote, record: ReviewRecord) -> tuple[str, dict]:
    latest = record.versions[-1]
    clinician_version = latest.by == record.signed_by and latest.based_on is not None
    return (
        NOTE_SIGNED,
        detail(
            NOTE_SIGNED,
            encounter_id=signed.encounter_id,
            variant=record.variant,
            facts=(signed.encounter_id, record.transcript_sha256),
            signed_key=signed_key(signed.encounter_id),
            note_version=signed.version,
            edited_statements=len(latest.edited) if clinician_version else 0,
            removed_statements=len(latest.removed) if clinician_version else 0,
            added_statements=len(latest.added) if clinician_version else 0,
            accepted_statements=len(latest.accepted) if clinician_version else 0,
            statements=signed.note.statement_count,
            template=signed.note.template,
            transcript_sha256=record.transcript_sha256,
        ),
    )


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
            note_version=record.version,
            transcript_sha256=record.transcript_sha256,
            sent_back_at=sent_back_at,
            redrafts=record.redrafts,
        ),
    )


def _redrafted_event(record: ReviewRecord, note: Note) -> tuple[str, dict]:
    from clinical.roles import needs_review

    latest = record.versions[-1]
    return (
        NOTE_REDRAFTED,
        detail(
            NOTE_REDRAFTED,
            encounter_id=record.encounter_id,
            variant=record.variant,
            facts=(record.encounter_id, record.transcript_sha256, str(latest.version)),
            review_key=review_key(record.encounter_id),
            note_key=version_key(record.encounter_id, latest),
            note_version=latest.version,
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
            note_version=record.version,
            transcript_sha256=record.transcript_sha256,
        ),
    )


# ---- the transitions ------------------------------------------------------------------------------------
def open_review(s3, bucket: str, note: Note, *, window_hours: int = DEFAULT_REVIEW_WINDOW_HOURS,
                reminder_hours: int = DEFAULT_REMINDER_HOURS, kept_by: Keeper = "sweep",
                now: datetime | None = None) -> bool:  # fmt: skip
    """Open the note's review (once per transcript; a note from a new transcript opens it again, unless it was
    signed: what a clinician signed stands), kept by `kept_by`. Returns whether it opened one."""
    now = now or datetime.now(UTC)
    encounter_id = note.provenance.encounter_id
    existing = read_review(s3, bucket, encounter_id)
    if existing and (
        existing[0].status == "SIGNED" or existing[0].transcript_sha256 == note.provenance.transcript_sha256
    ):
        return False
    # The draft as stored, pinned by its S3 version: a later transcript's draft replaces notes/<id>.json, never
    # the version a review was opened on (nor, once signed, what was signed).
    stored = get_if_present(s3, bucket, note_key(encounter_id))
    if stored is None or _origin(stored) != note.provenance.transcript_sha256:
        return False  # a newer transcript's draft is there already: its own delivery opens its review
    record = ReviewRecord(
        encounter_id=encounter_id,
        variant=note.provenance.variant,
        transcript_sha256=note.provenance.transcript_sha256,
        opened_at=now,
        due_at=now,
        versions=[
            NoteVersion(
                # A new transcript's draft goes on counting: a clinician who reviewed version 1 never signs this one.
                version=existing[0].version + 1 if existing else 1,
                by=f"model {note.provenance.model_id}",
                at=note.provenance.created_at,
                key=note_key(encounter_id),
                object_version=stored.get("VersionId"),
                flagged=len(note.flagged),
            )
        ],
        settled_at=now,  # opening owes nothing: the note's own events are the draft step's
        # A waiting execution keeps waiting, now for this review (it reads the record when it wakes).
        task_token=existing[0].task_token if existing else None,
        kept_by=existing[0].kept_by if existing else kept_by,
    )
    _open_window(record, now, window_hours, reminder_hours)
    _index_opening(s3, bucket, record)
    condition = {"IfMatch": existing[1]} if existing else {"IfNoneMatch": "*"}
    try:
        _write(s3, bucket, review_key(encounter_id), record, condition)
    except ClientError as error:
        if lost_the_race(error):
            return False  # another delivery opened it, or someone acted on the one read: the next delivery sees
        raise
    if existing and existing[0].status == "AWAITING_REVIEW":  # the opening this one replaced
        unmark_opening(s3, bucket, encounter_id, existing[0].opened_at, keep=entry_of(record).key)
    return True


def _origin(stored: dict) -> str | None:
    """The transcript a stored note was drafted from, or None for a body that is no note."""
    from clinical.notes import Note

    try:
        return Note.model_validate_json(stored["Body"].read()).provenance.transcript_sha256
    except ValidationError:
        return None


def _open_window(record: ReviewRecord, now: datetime, window_hours: int, reminder_hours: int) -> None:
    record.opened_at, record.due_at = now, now + timedelta(hours=window_hours)
    record.remind_at, record.reminded_at = now + timedelta(hours=window_hours - reminder_hours), None


def entry_of(record: ReviewRecord) -> Entry:
    """The worklist entry of an awaiting review."""
    latest = record.versions[-1]
    return Entry(record.encounter_id, record.opened_at, record.due_at, latest.version, latest.flagged)


def _index_opening(s3, bucket: str, record: ReviewRecord) -> None:
    """Index an opening before the write that opens it: its worklist entry, and for a swept review the deadlines
    of its reminder and of its window's end."""
    mark_awaiting(s3, bucket, entry_of(record))
    if record.kept_by == "sweep":
        for at in sorted({record.next_deadline(), record.due_at}):
            mark_due(s3, bucket, Deadline(at, record.encounter_id, record.opened_at))


def _awaiting(s3, bucket: str, encounter_id: str, now: datetime, clients_and_bus: dict) -> tuple[ReviewRecord, str]:
    """The awaiting review a person acts on, else ReviewRefused. A decided review whose follow-ups are still owed
    is settled first: acting on it again is how a person finishes what a stopped action left."""
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        raise ReviewRefused(f"encounter {encounter_id} has no note awaiting review")
    record, etag = found
    if record.status != "AWAITING_REVIEW":
        if record.settled_at is None:
            _settle_after_decision(s3, bucket, encounter_id, **clients_and_bus)
        raise ReviewRefused(f"encounter {encounter_id} is {record.status}, not awaiting review")
    if record.expired(now):
        raise ReviewRefused(f"the review of encounter {encounter_id} expired at {record.due_at:%Y-%m-%d %H:%M} UTC")
    return record, etag


def _reviewed(record: ReviewRecord, version: int | None) -> int:
    """The version the person acts on: the one they reviewed, which must still be the latest."""
    if version is not None and version != record.version:
        raise ReviewRefused(
            f"encounter {record.encounter_id}'s note is at version {record.version} now, not the version {version} "
            "you reviewed: open it again"
        )
    return record.version


def _decided_by_person(s3, bucket: str, record: ReviewRecord, etag: str, transition: Transition, acted: str,
                       now: datetime) -> None:  # fmt: skip
    """A person's decision: lost to a concurrent one, it is refused, saying what the review is now."""
    try:
        _decide(s3, bucket, record, etag, transition, now)
    except ReviewRecordConflict:
        now_found = read_review(s3, bucket, record.encounter_id)
        status = now_found[0].status if now_found else "gone"
        raise ReviewRefused(
            f"the review of encounter {record.encounter_id} changed while you acted (it is {status} now): "
            f"nothing was {acted}; open it again"
        ) from None


def sign(s3, bucket: str, encounter_id: str, *, clinician: str, changes: Changes | None = None,
         version: int | None = None, patient: str | None = None, now: datetime | None = None,
         bus: str | None = None, stepfunctions=None, events=None) -> SignedNote:  # fmt: skip
    """Sign the version the clinician reviewed (`version`, the latest by default) with their changes, once.
    Refused (nothing changed) when it is not awaiting review or its review expired, when it is no longer the
    version reviewed, or when a change is refused (clinical.revisions.revise). A changed note is written first as
    the clinician's version, then the record decides: SIGNED. Then it is settled (the signed note, NoteSigned,
    the waiting execution); a failure there is DecidedNotSettled, and the signature stands. `stepfunctions` and
    `events` are the caller's clients (an operator's, from the CLI or the page), else the function's own."""
    from clinical.revisions import Changes, revise
    from clinical.transcripts import read_transcript

    now = now or datetime.now(UTC)
    acting = {"bus": bus, "stepfunctions": stepfunctions, "events": events}
    if not clinician.strip():
        raise ReviewRefused("a signature needs the clinician's identity")
    if patient is not None and not is_patient_reference(patient):
        raise ReviewRefused("--patient: write it as a FHIR reference, e.g. Patient/123")
    record, etag = _awaiting(s3, bucket, encounter_id, now, acting)
    reviewed = _reviewed(record, version)
    draft = note_of(s3, bucket, record)
    revision = revise(
        draft, changes or Changes(), lambda: read_transcript(s3, bucket, transcript_key(encounter_id)).segments
    )
    if revision.changed:
        key = note_version_key(encounter_id, reviewed + 1, f"clinician-{_digest(revision.note.model_dump_json())}")
        _stage(s3, bucket, key, revision.note)
        record.versions.append(
            NoteVersion(
                version=reviewed + 1,
                by=clinician,
                at=now,
                key=key,
                based_on=reviewed,
                edited=revision.edited,
                removed=revision.removed,
                added=revision.added,
                accepted=revision.accepted,
                flagged=len(revision.note.flagged),
            )
        )
    record.status, record.signed_by, record.signed_at, record.patient = "SIGNED", clinician, now, patient
    _decided_by_person(s3, bucket, record, etag, "signed", "signed", now)
    _settle_after_decision(s3, bucket, encounter_id, now=now, **acting)
    return signed_note(record, revision.note)


def send_back(s3, bucket: str, encounter_id: str, *, clinician: str, reason: str, version: int | None = None,
              now: datetime | None = None, bus: str | None = None, stepfunctions=None,
              events=None) -> ReviewRecord:  # fmt: skip
    """Send the version the clinician reviewed back to be drafted again, with the reason (the model is given it
    as feedback). Refused without the clinician's identity or a reason, with a reason over MAX_REASON_CHARS,
    when the note is not awaiting review or no longer the version reviewed, or when it was drafted again
    MAX_REDRAFTS times already (it is then the clinician's to edit and sign). The record decides: SENT_BACK; then
    it is settled: a waiting execution's wait fails with NoteSentBack (it redrafts), and NoteSentBack goes on the
    bus (choreography's note writer takes it)."""
    now = now or datetime.now(UTC)
    acting = {"bus": bus, "stepfunctions": stepfunctions, "events": events}
    reason = reason.strip()
    if not clinician.strip():
        raise ReviewRefused("sending a note back needs the clinician's identity")
    if not reason:
        raise ReviewRefused("sending a note back needs a reason")
    if len(reason) > MAX_REASON_CHARS:
        raise ReviewRefused(
            f"a reason is at most {MAX_REASON_CHARS} characters ({len(reason)} given): say what to change"
        )
    record, etag = _awaiting(s3, bucket, encounter_id, now, acting)
    _reviewed(record, version)
    from clinical.policy import MAX_REDRAFTS

    if record.redrafts >= MAX_REDRAFTS:
        raise ReviewRefused(
            f"encounter {encounter_id}'s note was drafted again {record.redrafts} times, the most it is: edit and sign it"
        )
    record.status, record.sent_back_by, record.sent_back_at, record.reason = "SENT_BACK", clinician, now, reason
    _decided_by_person(s3, bucket, record, etag, "sent_back", "sent back", now)
    _settle_after_decision(s3, bucket, encounter_id, now=now, **acting)
    return record


def redraft(s3, bucket: str, encounter_id: str, draft: Callable[[ReviewRecord], Note | None], *,
            window_hours: int = DEFAULT_REVIEW_WINDOW_HOURS, reminder_hours: int = DEFAULT_REMINDER_HOURS,
            now: datetime | None = None, bus: str | None = None) -> Kept:  # fmt: skip
    """Draft a sent-back note again and open its review again. `draft(record)` is the model's new draft, given
    the clinician's reason (None: the record's transcript is no longer the encounter's, and the new one's draft
    opens its own review; the record is left SENT_BACK). It is staged under the key of this very redraft (the
    transcript, the send-back and the version: a try after that write keeps what it wrote, and nothing else is
    ever found there), then the record decides: AWAITING_REVIEW again, with a new window; then NoteRedrafted. A
    review that is not SENT_BACK is left as it is, but what its last transition owes is settled (the try that
    redrafted it may have stopped before its event)."""
    from clinical.notes import Note

    now = now or datetime.now(UTC)
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        return Kept(changed=False, status=None)
    record, etag = found
    if record.status != "SENT_BACK":
        settled = settle(s3, bucket, encounter_id, now=now, bus=bus) if record.settled_at is None else None
        return Kept(changed=False, status=record.status, settled=_settled(settled))
    version = record.version + 1
    tag = f"model-{_digest(record.transcript_sha256, (record.sent_back_at or now).isoformat(), str(version))}"
    key = note_version_key(encounter_id, version, tag)
    if (written := get_if_present(s3, bucket, key)) is not None:
        note = Note.model_validate_json(written["Body"].read())
    else:
        note = draft(record)
        if note is None:
            return Kept(changed=False, status=record.status)
        _stage(s3, bucket, key, note)
    record.versions.append(
        NoteVersion(
            version=version,
            by=f"model {note.provenance.model_id}",
            at=note.provenance.created_at,
            key=key,
            feedback=record.reason,
            flagged=len(note.flagged),
        )
    )
    record.status, record.redrafts, record.task_token = "AWAITING_REVIEW", record.redrafts + 1, None
    # The window opens once the redraft exists: the model's call took time since this try began.
    _open_window(record, max(now, note.provenance.created_at), window_hours, reminder_hours)
    _index_opening(s3, bucket, record)
    _decide(s3, bucket, record, etag, "redrafted", now)
    return Kept(
        changed=True, status=record.status, settled=_settled(settle(s3, bucket, encounter_id, now=now, bus=bus))
    )


def reindex(s3, bucket: str, *, now: datetime | None = None, variant: str = "") -> list[str]:
    """Put the reviews written before the reviews' index into it (decision 0016), reading every record once: an
    awaiting review gets its worklist entry and, when a sweep keeps it, its deadlines; a swept review that owes
    follow-ups or was sent back gets a deadline now. Writing an index object again changes nothing, so it may run
    any number of times. Returns the encounters indexed."""
    now = now or datetime.now(UTC)
    indexed = []
    for record in reviews(s3, bucket, variant=variant):
        if record.status == "AWAITING_REVIEW":
            _index_opening(s3, bucket, record)
        if record.kept_by == "sweep" and (record.settled_at is None or record.status == "SENT_BACK"):
            mark_due(s3, bucket, Deadline(now, record.encounter_id, record.opened_at))
        elif record.status != "AWAITING_REVIEW":
            continue
        indexed.append(record.encounter_id)
    return indexed


# ---- the deadline: a reminder before it, the expiry at it -------------------------------------------------
@dataclass(frozen=True)
class Kept:
    """What an action on a review did: whether it moved the record, the review's status after (None: there is no
    review record), the transitions whose follow-ups it finished, and, for an awaiting review, the seconds until
    its time next comes."""

    changed: bool
    status: Status | None
    settled: tuple[Transition, ...] = ()
    wait_seconds: int = 0


def _settled(settled: Settled | None) -> tuple[Transition, ...]:
    return (settled.transition,) if settled is not None and settled.transition is not None else ()


def _keep(s3, bucket: str, encounter_id: str, change: Callable[[ReviewRecord], Transition | None], *,
          now: datetime, bus: str | None) -> Kept:  # fmt: skip
    """Apply `change(record)` to an awaiting review: it moves the record and names the transition, or returns
    None to leave it. The record decides (over exactly the one read), then the transition is settled."""
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        return Kept(changed=False, status=None)
    record, etag = found
    if record.status != "AWAITING_REVIEW" or (transition := change(record)) is None:
        return Kept(changed=False, status=record.status)
    _decide(s3, bucket, record, etag, transition, now)
    return Kept(
        changed=True, status=record.status, settled=_settled(settle(s3, bucket, encounter_id, now=now, bus=bus))
    )


def remind(s3, bucket: str, encounter_id: str, *, now: datetime | None = None, bus: str | None = None) -> Kept:
    """Remind the clinician once (ReviewReminder) that the review still waits."""
    now = now or datetime.now(UTC)

    def reminded(record: ReviewRecord) -> Transition | None:
        if record.reminded_at is not None:
            return None
        record.reminded_at = now
        return "reminded"

    return _keep(s3, bucket, encounter_id, reminded, now=now, bus=bus)


def expire(s3, bucket: str, encounter_id: str, *, now: datetime | None = None, bus: str | None = None) -> Kept:
    """End an awaiting review whose window passed: REVIEW_EXPIRED, and ReviewExpired (nothing changes when it was
    signed or sent back meanwhile, or its window has not passed)."""
    now = now or datetime.now(UTC)

    def expired(record: ReviewRecord) -> Transition | None:
        if not record.expired(now):
            return None
        record.status, record.expired_at = "REVIEW_EXPIRED", now
        return "expired"

    return _keep(s3, bucket, encounter_id, expired, now=now, bus=bus)


def keep_time(s3, bucket: str, encounter_id: str, *, now: datetime | None = None, bus: str | None = None) -> Kept:
    """A review whose time may have come, as both variants keep it (choreography's sweep for every record,
    orchestration's CheckReview for its own): what the last transition owes is settled; an awaiting review past
    its window expires, one past its reminder time is reminded; and an awaiting review says how long until its
    time next comes."""
    now = now or datetime.now(UTC)
    found = read_review(s3, bucket, encounter_id)
    if found is None:
        return Kept(changed=False, status=None)
    record = found[0]
    settled: tuple[Transition, ...] = ()
    if record.settled_at is None:
        settled = _settled(settle(s3, bucket, encounter_id, now=now, bus=bus))
    kept = Kept(changed=False, status=record.status)
    if record.expired(now):
        kept = expire(s3, bucket, encounter_id, now=now, bus=bus)
    elif record.reminder_due(now):
        kept = remind(s3, bucket, encounter_id, now=now, bus=bus)
    status, wait_seconds = kept.status, 0
    if status == "AWAITING_REVIEW":
        latest = read_review(s3, bucket, encounter_id) if kept.changed else found
        if latest is not None:
            status = latest[0].status
            wait_seconds = max(1, ceil((latest[0].next_deadline() - now).total_seconds()))
    return Kept(changed=kept.changed, status=status, settled=settled + kept.settled, wait_seconds=wait_seconds)


@dataclass(frozen=True)
class Deadlines:
    reminded: list[str]
    expired: list[str]
    sent_back_again: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    awaiting: int = 0  # reviews AWAITING_REVIEW once the sweep kept their time: the backlog


def sweep_deadlines(s3, bucket: str, *, now: datetime | None = None, bus: str | None = None,
                    variant: str = "") -> Deadlines:  # fmt: skip
    """Choreography's way: the time of every review with a deadline up to now is kept (`keep_time`), so a
    transition whose follow-ups a stopped action left owing is settled within one sweep; the sweep reads the
    index's deadlines that are due, not every record (clinical.review_index). A note sent back and not drafted
    again within REDRAFT_OVERDUE, with no failure recorded for it, has its NoteSentBack put again (same event id),
    then every REDRAFT_OVERDUE: the event may have been put and lost before it reached the note writer's queue.
    A record that is not one is quarantined, with its record and alarm, and the sweep goes on."""
    now = now or datetime.now(UTC)
    reminded, expired, sent_back_again, settled = [], [], [], []
    for key, deadline in due(s3, bucket, now):
        if deadline is not None:
            try:
                kept, put_again = _keep_deadline(s3, bucket, deadline, now=now, bus=bus)
            except StoredReviewInvalid:
                _quarantine_record(s3, bucket, review_key(deadline.encounter_id), variant)
                kept, put_again = Kept(changed=False, status=None), False
            reminded += [deadline.encounter_id] * kept.settled.count("reminded")
            expired += [deadline.encounter_id] * kept.settled.count("expired")
            settled += [deadline.encounter_id] * len([t for t in kept.settled if t not in ("reminded", "expired")])
            if put_again:
                sent_back_again.append(deadline.encounter_id)
        unmark(s3, bucket, key)  # kept, or a key that names no deadline
    return Deadlines(
        reminded=reminded,
        expired=expired,
        sent_back_again=sent_back_again,
        settled=settled,
        awaiting=count_awaiting(s3, bucket),
    )


def _keep_deadline(s3, bucket: str, deadline: Deadline, *, now: datetime, bus: str | None) -> tuple[Kept, bool]:
    """What a due deadline asks of its review, and whether its NoteSentBack was put again."""
    from clinical.failures import failure_record_exists

    found = read_review(s3, bucket, deadline.encounter_id)
    record = found[0] if found else None
    if record is None or record.opened_at != deadline.opened_at:
        # An opening that never was (a crash before its record's write), or one a later opening replaced.
        unmark_opening(s3, bucket, deadline.encounter_id, deadline.opened_at)
    if record is None:
        return Kept(changed=False, status=None), False
    kept, put_again = Kept(changed=False, status=record.status), False
    if record.settled_at is None or record.expired(now) or record.reminder_due(now):
        kept = keep_time(s3, bucket, record.encounter_id, now=now, bus=bus)
    if record.status == "SENT_BACK":
        # Its redraft is overdue from REDRAFT_OVERDUE after the send-back, and every REDRAFT_OVERDUE after that.
        overdue_at = (record.sent_back_at or now) + REDRAFT_OVERDUE
        if now >= overdue_at:
            if failure_record_exists(s3, bucket, record.encounter_id):
                return kept, False  # its note step gave up and said so: nothing more is owed
            if "sent_back" not in kept.settled:  # settled just now: its NoteSentBack was put
                publish([_sent_back_event(record)], bus=bus)
                put_again = True
            overdue_at = now + REDRAFT_OVERDUE
        mark_due(s3, bucket, Deadline(overdue_at, record.encounter_id, record.opened_at))
    return kept, put_again

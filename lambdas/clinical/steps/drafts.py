"""The note: drafted from the encounter's transcript once per transcript, or drafted again with the clinician's
reason after a send-back; then its review is opened and its events put."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from clinical.claims import Statement, check_cited
from clinical.conversation import Segment
from clinical.domain_events import publish
from clinical.drafting import request_note
from clinical.errors import content_free_errors
from clinical.failures import clear_failure
from clinical.layout import note_key, transcript_key, transcription_job_name
from clinical.notes import (
    FlaggedStatement,
    Note,
    Speaker,
    compose_note,
    existing_note_for,
    note_events,
    save_note,
    stored_note,
    transcript_sha256,
)
from clinical.observability import MetricUnit, logger, metrics, tracer
from clinical.review import ReviewRecord, open_review, redraft
from clinical.review_index import keeper_of
from clinical.roles import SpeakerRole, assign_roles, needs_review
from clinical.settings import PipelineSettings
from clinical.steps.uploads import set_aside_unless_from_job
from clinical.templates import Template
from clinical.transcription import upload_template
from clinical.transcripts import Transcript, read_transcript


@dataclass(frozen=True)
class DraftedNote:
    key: str
    written: bool
    transcript_sha256: str


@tracer.capture_method(capture_response=False)
@content_free_errors
def draft_note(s3, bedrock, transcribe, *, bucket: str, encounter_id: str, settings: PipelineSettings) -> DraftedNote:
    """Turn the encounter's transcript into a stored draft note, at most once per transcript, and open its
    review. Only the output of the encounter's own job is read: anything else there is quarantined
    (TranscriptNotFromJob)."""
    audio_key = set_aside_unless_from_job(s3, transcribe, bucket=bucket, encounter_id=encounter_id, settings=settings)
    transcript = read_transcript(s3, bucket, transcript_key(encounter_id))
    digest = transcript_sha256(transcript.text)
    if existing_note_for(s3, bucket, encounter_id, digest):
        logger.info("note already written for this transcript", extra={"encounter_id": encounter_id})
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        # Put its events again (same event ids): the delivery that wrote it may have failed before they were put.
        if (stored := stored_note(s3, bucket, encounter_id)) is not None:
            announce(s3, bucket, stored, settings)
        return DraftedNote(key=note_key(encounter_id), written=False, transcript_sha256=digest)
    note = encounter_note(s3, bedrock, bucket, audio_key, transcript, encounter_id, settings)
    written = save_note(s3, bucket, note)
    if written:
        metrics.add_metric(name="NotesWritten", unit=MetricUnit.Count, value=1)
        if note.status == "needs_review":
            metrics.add_metric(name="NotesNeedingReview", unit=MetricUnit.Count, value=1)
            # Counts only: the flagged statements are note text.
            logger.warning(
                "note needs review",
                extra={
                    "encounter_id": encounter_id,
                    "flagged_statements": len(note.flagged),
                    "uncertain_speakers": needs_review(note.speakers),
                },
            )
        clear_failure(s3, bucket, encounter_id)
    announce(s3, bucket, note if written else stored_note(s3, bucket, encounter_id) or note, settings)
    return DraftedNote(key=note_key(encounter_id), written=written, transcript_sha256=digest)


@dataclass(frozen=True)
class Redraft:
    """What a redraft did: whether it drafted the note again, and the review's status after."""

    redrafted: bool
    review_status: str | None


@tracer.capture_method(capture_response=False)
@content_free_errors
def redraft_note(s3, bedrock, transcribe, *, bucket: str, encounter_id: str, settings: PipelineSettings) -> Redraft:
    """A note the clinician sent back, drafted again from the encounter's transcript with their reason as the
    model's feedback, as the next version of the note under review, whose review opens again
    (clinical.review.redraft). Only the output of the encounter's own job is read, as for the first draft."""

    def draft(record: ReviewRecord) -> Note | None:
        audio_key = set_aside_unless_from_job(
            s3, transcribe, bucket=bucket, encounter_id=encounter_id, settings=settings
        )
        transcript = read_transcript(s3, bucket, transcript_key(encounter_id))
        if transcript_sha256(transcript.text) != record.transcript_sha256:
            return None  # a new transcript replaced the one reviewed: its own draft opens a new review
        return encounter_note(
            s3, bedrock, bucket, audio_key, transcript, encounter_id, settings, feedback=record.reason
        )

    kept = redraft(
        s3,
        bucket,
        encounter_id,
        draft,
        window_hours=settings.review_window_hours,
        reminder_hours=settings.review_reminder_hours,
    )
    if kept.changed:
        metrics.add_metric(name="NotesRedrafted", unit=MetricUnit.Count, value=1)
    logger.info("note redrafted" if kept.changed else "no redraft to make",
                extra={"encounter_id": encounter_id, "review_status": kept.status})  # fmt: skip
    return Redraft(redrafted=kept.changed, review_status=kept.status)


def announce(s3, bucket: str, note: Note, settings: PipelineSettings) -> None:
    """What follows a stored note, again on every delivery (both are idempotent): its review is opened, and
    its domain events put."""
    open_review(s3, bucket, note, window_hours=settings.review_window_hours,
                reminder_hours=settings.review_reminder_hours, kept_by=keeper_of(settings.variant))  # fmt: skip
    publish(note_events(note))


def encounter_note(s3, bedrock, bucket: str, audio_key: str, transcript: Transcript, encounter_id: str,
                   settings: PipelineSettings, feedback: str | None = None) -> Note:  # fmt: skip
    """The deployment's note of the encounter's transcript, in the template its upload names (a redraft: with
    the clinician's feedback)."""
    return note_from_transcript(
        bedrock,
        transcript,
        upload_template(s3, bucket, audio_key),
        model_id=settings.model_id,
        encounter_id=encounter_id,
        variant=settings.variant,
        job_name=transcript.job_name or transcription_job_name(settings.job_name_prefix, encounter_id),
        feedback=feedback,
    )


def note_from_transcript(bedrock, transcript: Transcript, template: Template, *, model_id: str, encounter_id: str,
                         variant: str, job_name: str, feedback: str | None = None) -> Note:  # fmt: skip
    """The reviewed note of a template for a transcript: speakers' roles, the model's draft (in chunks for a
    long transcript; a redraft given the clinician's feedback), and the check of every statement against the
    segments it cites."""
    roles = assign_roles(transcript.segments)
    draft = request_note(
        bedrock, model_id, template, transcript.segments, roles, encounter_id=encounter_id, feedback=feedback
    )
    note = compose_note(
        encounter_id=encounter_id,
        template=template,
        draft=draft,
        model_id=model_id,
        transcript_hash=transcript_sha256(transcript.text),
        job_name=job_name,
        variant=variant,
    )
    return reviewed(note, transcript.segments, roles)


def reviewed(note: Note, segments: Sequence[Segment], roles: Sequence[SpeakerRole]) -> Note:
    """The note with its review: every statement checked against the segments it cites (clinical.claims),
    and its speakers' roles (clinical.roles). A statement its evidence does not support, or a speaker whose
    role is uncertain, makes it `needs_review`; it is written all the same, never dropped."""
    flagged = [
        FlaggedStatement(
            section=section, text=item.text, reason=verdict.reason or "", evidence=item.evidence, statement=item.id
        )
        for section, item in note.items()
        if not (verdict := check_cited(Statement(section, item.text, tuple(item.evidence)), segments)).supported
    ]
    speakers = [Speaker(**asdict(role)) for role in roles]
    status = "needs_review" if flagged or needs_review(speakers) else "draft"
    return note.model_copy(update={"status": status, "flagged": flagged, "speakers": speakers})

"""`scribe draft TRANSCRIPT.json`: a note from a Transcribe Medical output file, by the pipeline's own path
(speaker roles, the template's prompt, chunks for a long transcript, the check of every statement against the
segments it cites), without a deployment. Nothing is written: the note is returned (and the command prints it).

The model is any bedrock-runtime client: Bedrock itself, or the local note model (`--engine local`).
"""

from __future__ import annotations

import json
from pathlib import Path

from clinical.errors import EmptyTranscript, PipelineError, TranscriptMalformed
from clinical.notes import Note
from clinical.steps.drafts import note_from_transcript
from clinical.templates import template_named
from clinical.transcripts import Transcript, transcript_of_document


class DraftInputError(ValueError):
    """A transcript or template that cannot be drafted; the message says which and why in one line."""


def read_transcript_file(path: Path, *, dictation: bool = False, max_speakers: int = 2) -> Transcript:
    """The transcript of a Transcribe Medical output file. A conversation has two speakers or more, and no
    more than the deployment labels (Transcribe's MaxSpeakerLabels); a dictation has one."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise DraftInputError(f"{path}: no such transcript") from None
    except OSError as error:
        raise DraftInputError(f"{path}: cannot read the transcript ({type(error).__name__})") from None
    except ValueError:  # UnicodeDecodeError too
        raise DraftInputError(f"{path}: not JSON, so not a Transcribe Medical output document") from None
    try:
        transcript = transcript_of_document(document)
    except (TranscriptMalformed, EmptyTranscript) as error:
        raise DraftInputError(f"{path}: {error.message}") from None
    speakers = sorted({segment.speaker for segment in transcript.segments})
    if len(speakers) == 1 and not dictation:
        raise DraftInputError(
            f"{path}: the transcript has one speaker ({speakers[0]}); a conversation needs the clinician and the "
            "patient (for a clinician's dictation, pass --dictation)"
        )
    if len(speakers) > max_speakers:
        raise DraftInputError(
            f"{path}: the transcript has {len(speakers)} speakers; the deployment labels at most {max_speakers} "
            "(max_speaker_labels in cdk.json)"
        )
    return transcript


def draft(bedrock, path: Path, *, template: str | None = None, model_id: str, dictation: bool = False,
          max_speakers: int = 2) -> Note:  # fmt: skip
    """The reviewed note for the transcript file; DraftInputError for input that cannot be drafted, a
    PipelineError (its message content-free) when the model's answer is not a note."""
    try:
        chosen = template_named(template)
    except PipelineError as error:
        raise DraftInputError(error.message) from None
    transcript = read_transcript_file(path, dictation=dictation, max_speakers=max_speakers)
    return note_from_transcript(
        bedrock,
        transcript,
        chosen,
        model_id=model_id,
        encounter_id=path.stem,
        variant="draft",
        job_name=transcript.job_name or "",
    )


def calls_text(note: Note) -> str:
    """One line per model call: the segments it carried and its tokens."""
    return "\n".join(
        f"model call {n}: segments {call.first_segment}-{call.last_segment}, "
        f"{call.input_tokens} input tokens, {call.output_tokens} output tokens"
        for n, call in enumerate(note.provenance.model_calls, 1)
    )

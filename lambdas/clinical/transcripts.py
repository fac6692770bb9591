"""A Transcribe Medical output document read: its full text and its numbered segments (clinical.conversation).
The functions that draft notes, and the review page's note view, read transcripts; the others only start jobs or
check a transcript's origin (clinical.transcription) and do not load this module at cold start
(docs/performance.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from clinical.conversation import Segment, segments_of, segments_of_text
from clinical.errors import EmptyTranscript, TranscriptMalformed


@dataclass(frozen=True)
class Transcript:
    job_name: str | None
    text: str
    # Numbered segments with speakers (clinical.conversation).
    segments: tuple[Segment, ...] = ()


def read_transcript(s3, bucket: str, key: str) -> Transcript:
    """Read a Transcribe Medical output document: its full text and its numbered segments."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        document = json.loads(body)
    except ValueError:
        raise TranscriptMalformed("transcript is not a Transcribe Medical output document") from None
    return transcript_of_document(document)


def transcript_of_document(document) -> Transcript:
    """The transcript a Transcribe Medical output document holds. TranscriptMalformed for another document,
    EmptyTranscript when no speech was recognized. A document without word items (no timings) is one
    speaker's, a segment per sentence of its text."""
    try:
        text = document["results"]["transcripts"][0]["transcript"]
    except (KeyError, IndexError, TypeError):
        raise TranscriptMalformed("transcript is not a Transcribe Medical output document") from None
    if not isinstance(text, str):
        raise TranscriptMalformed("transcript text is not a string")
    if not text.strip():
        raise EmptyTranscript("the transcript is empty: no speech was recognized")
    job_name = document.get("jobName")
    try:
        segments = tuple(segments_of(document))
    except (TranscriptMalformed, EmptyTranscript):
        segments = tuple(segments_of_text(text))
    return Transcript(job_name=job_name if isinstance(job_name, str) else None, text=text, segments=segments)

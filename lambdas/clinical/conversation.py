"""A transcript as numbered segments: who spoke, when, and what, from a Transcribe Medical output document.

A CONVERSATION job with speaker labels (`ShowSpeakerLabels`) tags each word with `spk_N`; one with channel
identification tags it with `ch_N`; a DICTATION job has one speaker. A segment is one sentence of one
speaker's turn, so a note's statement can cite the words it came from. Segments are numbered from 1 in the
order spoken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from clinical.errors import EmptyTranscript, TranscriptMalformed

# How a job tells the speakers apart: Transcribe's speaker labels (one recording of everyone), its channel
# identification (a two-channel recording, one person on each), or not at all.
SPEAKER_IDENTIFICATION = ("labels", "channels", "none")
MAX_SPEAKER_LABELS = (2, 30)  # the range StartMedicalTranscriptionJob accepts


def job_settings(speaker_identification: str, max_speaker_labels: int = 2) -> dict:
    """StartMedicalTranscriptionJob's Settings. Speaker labels or channel identification, never both: the
    API answers a request with both with BadRequestException; MaxSpeakerLabels goes with ShowSpeakerLabels."""
    if speaker_identification == "labels":
        return {"ShowSpeakerLabels": True, "MaxSpeakerLabels": max_speaker_labels}
    if speaker_identification == "channels":
        return {"ChannelIdentification": True}
    return {}


SOLE_SPEAKER = "spk_0"  # a transcript without labels: one speaker
SENTENCE_ENDS = frozenset(".?!")


@dataclass(frozen=True)
class Segment:
    number: int
    speaker: str  # spk_N or ch_N, as Transcribe labels it
    start: float | None  # seconds from the start of the audio
    end: float | None
    text: str


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _labels_by_time(results: dict) -> dict[str, str]:
    """start_time -> label, from speaker_labels' segments or channel_labels' channels (older documents put
    the label there rather than on each item)."""
    found: dict[str, str] = {}
    for segment in (results.get("speaker_labels") or {}).get("segments") or []:
        for item in segment.get("items") or []:
            if isinstance(item, dict) and "start_time" in item:
                found[str(item["start_time"])] = str(item.get("speaker_label") or segment.get("speaker_label"))
    for channel in (results.get("channel_labels") or {}).get("channels") or []:
        for item in channel.get("items") or []:
            if isinstance(item, dict) and "start_time" in item:
                found[str(item["start_time"])] = str(channel.get("channel_label"))
    return found


def _items(document: Any) -> tuple[list[dict], dict[str, str]]:
    try:
        results = document["results"]
        items = results["items"]
        transcripts = results["transcripts"][0]  # present in every output document
    except (KeyError, IndexError, TypeError):
        raise TranscriptMalformed("not a Transcribe Medical output document (no results.items)") from None
    if not isinstance(transcripts, dict) or not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TranscriptMalformed("not a Transcribe Medical output document (results.items is not a list)")
    return items, _labels_by_time(results)


def segments_of(document: Any) -> list[Segment]:
    """The numbered segments of a Transcribe Medical output document. Raises TranscriptMalformed for a
    document of another shape and EmptyTranscript when no word was recognized."""
    items, labels = _items(document)
    segments: list[Segment] = []
    words: list[str] = []
    speaker, start, end = SOLE_SPEAKER, None, None

    def close() -> None:
        nonlocal words
        if words:
            segments.append(Segment(len(segments) + 1, speaker, start, end, " ".join(words)))
        words = []

    for item in items:
        alternatives = item.get("alternatives") or [{}]
        content = str(alternatives[0].get("content", "")).strip()
        if not content:
            continue
        if item.get("type") == "punctuation":
            if words:
                words[-1] += content
                if content in SENTENCE_ENDS:
                    close()
            continue
        said_by = item.get("speaker_label") or item.get("channel_label") or labels.get(str(item.get("start_time")))
        said_by = str(said_by) if said_by else speaker
        if said_by != speaker:
            close()
            speaker = said_by
        if not words:
            start = _seconds(item.get("start_time"))
        end = _seconds(item.get("end_time")) or end
        words.append(content)
    close()
    if not segments:
        raise EmptyTranscript("the transcript is empty: no speech was recognized")
    return segments


def segments_of_text(text: str) -> list[Segment]:
    """One speaker's segments, a sentence each, from text alone (a document without word items)."""
    sentences = [sentence.strip() for sentence in re.split(r"(?<=[.?!])\s+", text) if sentence.strip()]
    return [Segment(number, SOLE_SPEAKER, None, None, sentence) for number, sentence in enumerate(sentences, 1)]

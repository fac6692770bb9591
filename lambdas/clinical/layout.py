"""The encounter contract and the S3 layout both variants share.

audio/<encounter_id>.<ext>    uploaded dictation or conversation
transcripts/<encounter_id>.json   Transcribe Medical output
notes/<encounter_id>.json     the draft SOAP note
failures/<encounter_id>.json  the failure record of an encounter that could not get a note
failures/_rejected-<digest>.json  the failure record of an upload whose key has no valid id

Records and log lines name an object by `key_reference`: its key when the key is an encounter's, a
digest otherwise (a name that is no encounter id may be anything a person typed, a patient's name too).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from clinical.errors import InvalidEncounterId, InvalidRecordingLength, UnsupportedAudioFormat
from clinical.prefixes import (
    AUDIO_PREFIX,
    FAILURES_PREFIX,
    FHIR_EXPORTS_PREFIX,
    NOTES_PREFIX,
    REVIEWS_PREFIX,
    SIGNED_PREFIX,
    TRANSCRIPTS_PREFIX,
)

ENCOUNTER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
# File extension -> Transcribe Medical MediaFormat: the formats the medical API page lists. m4a, which
# standard Transcribe takes, is left out: the medical page does not list it, and an upload refused here
# gets its failure record at once instead of a job that may fail.
MEDIA_FORMATS = {
    "amr": "amr",
    "flac": "flac",
    "mp3": "mp3",
    "mp4": "mp4",
    "ogg": "ogg",
    "wav": "wav",
    "webm": "webm",
}
# What records and logs may show of a key: an encounter's object (a prefix, a valid id, a short extension),
# an execution named by a valid id, or an SQS message (queue name and message id, both AWS's or ours).
SHOWN_KEY_PATTERN = re.compile(
    rf"(?:{'|'.join(re.escape(p) for p in (AUDIO_PREFIX, TRANSCRIPTS_PREFIX, NOTES_PREFIX, REVIEWS_PREFIX))})"
    r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}(?:\.[A-Za-z0-9]{1,8})?"
    r"|execution:[A-Za-z0-9][A-Za-z0-9_-]{0,79}"
    r"|sqs:[A-Za-z0-9_.-]{1,80}/[A-Za-z0-9-]{1,100}"
)
DIGEST_REFERENCE = re.compile(r"sha256:[0-9a-f]{64}")
# Transcribe writes this probe object next to its output; it is not a transcript.
TRANSCRIBE_WRITE_CHECK = ".write_access_check_file.temp"


@dataclass(frozen=True)
class AudioUpload:
    """An object under audio/ that satisfies the encounter contract."""

    key: str
    encounter_id: str
    media_format: str
    # When the object was written (S3 LastModified), once the object has been checked.
    uploaded_at: datetime | None = None
    # How long the recording is, as its uploader declared it (x-amz-meta-recording-seconds; 0: not declared).
    recording_seconds: float = 0.0

    @property
    def began_at(self) -> datetime | None:
        """When the visit began, as far as the upload tells: written less the recording's declared length."""
        return None if self.uploaded_at is None else self.uploaded_at - timedelta(seconds=self.recording_seconds)


# The upload's declared length (x-amz-meta-recording-seconds), which places it in the line for Transcribe's slots
# by when its visit began (clinical.waiting_line); at most Transcribe Medical's longest recording, 4 hours.
RECORDING_SECONDS_METADATA = "recording-seconds"
LONGEST_RECORDING_SECONDS = 4 * 3600


def recording_seconds_of(metadata: dict) -> float:
    """The recording's declared length in seconds (0 when the upload declares none); InvalidRecordingLength for
    anything but a number of seconds from 0 to 4 hours."""
    text = metadata.get(RECORDING_SECONDS_METADATA)
    if text is None or text == "":
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= LONGEST_RECORDING_SECONDS:  # NaN fails too
        raise InvalidRecordingLength(
            f"x-amz-meta-{RECORDING_SECONDS_METADATA} must be the recording's length in seconds, from 0 to "
            f"{LONGEST_RECORDING_SECONDS:,} (Transcribe Medical's 4 hours), or left out"
        )
    return seconds


def validate_encounter_id(encounter_id: str) -> str:
    if not isinstance(encounter_id, str) or not ENCOUNTER_ID_PATTERN.fullmatch(encounter_id):
        raise InvalidEncounterId(
            "encounter id must be 1-80 characters of letters, digits, '-' or '_', starting with a letter or digit"
        )
    return encounter_id


def parse_audio_key(key: str) -> AudioUpload:
    """Check an audio/ key against the encounter contract (the object itself is checked later)."""
    if not key.startswith(AUDIO_PREFIX):
        raise InvalidEncounterId(f"audio must be uploaded under {AUDIO_PREFIX}")
    name = key[len(AUDIO_PREFIX) :]
    stem, dot, extension = name.rpartition(".")
    if not dot:
        raise UnsupportedAudioFormat(f"audio file has no extension; expected one of {', '.join(sorted(MEDIA_FORMATS))}")
    media_format = MEDIA_FORMATS.get(extension.lower())
    if media_format is None:
        # The extension is quoted only when it looks like one: whatever else follows the dot is a name.
        shown = f"'.{extension}'" if re.fullmatch(r"[A-Za-z0-9]{1,8}", extension) else "the file's extension"
        raise UnsupportedAudioFormat(
            f"{shown} is not a format Transcribe Medical accepts; expected one of {', '.join(sorted(MEDIA_FORMATS))}"
        )
    return AudioUpload(key=key, encounter_id=validate_encounter_id(stem), media_format=media_format)


def claimed_encounter_id(audio_key: str) -> str | None:
    """The encounter id an audio/ key names, whatever its format; None if the id itself is invalid."""
    stem = audio_key[len(AUDIO_PREFIX) :].rpartition(".")[0] or audio_key[len(AUDIO_PREFIX) :]
    return encounter_id_from_key(stem, "", "") if audio_key.startswith(AUDIO_PREFIX) else None


def encounter_id_from_key(key: str, prefix: str, suffix: str) -> str | None:
    """The encounter id of a key shaped <prefix><id><suffix>, or None when the key has no valid id."""
    if not (key.startswith(prefix) and key.endswith(suffix)):
        return None
    candidate = key[len(prefix) : len(key) - len(suffix)]
    return candidate if ENCOUNTER_ID_PATTERN.fullmatch(candidate) else None


def encounter_of_key(key: str) -> str | None:
    """The encounter an audio/ or transcripts/ key is about (the keys that carry work), if it names one."""
    return claimed_encounter_id(key) or encounter_id_from_key(key, TRANSCRIPTS_PREFIX, ".json")


# Every key of an encounter is built from a checked id, whoever passes it in: never failures/../../x.json.
def transcript_key(encounter_id: str) -> str:
    return f"{TRANSCRIPTS_PREFIX}{validate_encounter_id(encounter_id)}.json"


def note_key(encounter_id: str) -> str:
    return f"{NOTES_PREFIX}{validate_encounter_id(encounter_id)}.json"


def review_key(encounter_id: str) -> str:
    return f"{REVIEWS_PREFIX}{validate_encounter_id(encounter_id)}.json"


def note_version_key(encounter_id: str, version: int, tag: str) -> str:
    """reviews/<id>/v<n>-<tag>.json: a version of the note under review, tagged by who made it and a digest (of
    its content, or of the redraft asked for), so a writer never finds another's version under its key."""
    if not re.fullmatch(r"(?:model|clinician)-[0-9a-f]{12}", tag):
        raise ValueError("a note version's tag is model-<12 hex> or clinician-<12 hex>")
    return f"{REVIEWS_PREFIX}{validate_encounter_id(encounter_id)}/v{version}-{tag}.json"


def legacy_note_version_key(encounter_id: str, version: int) -> str:
    """Where a review record of schema 1, which names no keys, kept version n > 1."""
    return f"{REVIEWS_PREFIX}{validate_encounter_id(encounter_id)}/v{version}.json"


def fhir_export_key(encounter_id: str) -> str:
    return f"{FHIR_EXPORTS_PREFIX}{validate_encounter_id(encounter_id)}.json"


def signed_key(encounter_id: str) -> str:
    return f"{SIGNED_PREFIX}{validate_encounter_id(encounter_id)}.json"


def failure_key(encounter_id: str) -> str:
    return f"{FAILURES_PREFIX}{validate_encounter_id(encounter_id)}.json"


def key_digest(key: str) -> str:
    """The SHA-256 of a key, in hex; of the key it stands for, when given a `sha256:` reference."""
    if DIGEST_REFERENCE.fullmatch(key):
        return key.removeprefix("sha256:")
    return hashlib.sha256(key.encode()).hexdigest()


def digest_reference(text: str) -> str:
    """`sha256:<hex>` of a name a person typed: how records, log lines and events name what may be anything,
    a patient's name included (decision 0006)."""
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def key_reference(key: str) -> str:
    """How records and log lines name an object: its key when SHOWN_KEY_PATTERN allows it, else
    `sha256:<hex>` of the key (`scribe failures` finds the object it names). Idempotent."""
    if SHOWN_KEY_PATTERN.fullmatch(key) or DIGEST_REFERENCE.fullmatch(key):
        return key
    return digest_reference(key)


def rejected_upload_failure_key(source_key: str) -> str:
    """Failure record key for an upload without a valid id (its key or its reference): '_' cannot start
    an encounter id."""
    return f"{FAILURES_PREFIX}_rejected-{key_digest(source_key)[:20]}.json"


def transcription_job_name(prefix: str, encounter_id: str) -> str:
    """Deterministic Transcribe job name: one job per encounter per deployment."""
    return f"{prefix}-{encounter_id}"


def encounter_id_from_job_name(prefix: str, job_name: str) -> str | None:
    return encounter_id_from_key(job_name, f"{prefix}-", "")

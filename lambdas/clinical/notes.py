"""Draft SOAP notes: prompt Bedrock (Converse), validate what comes back, write it once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clinical.errors import (
    InvalidModelOutput,
    ModelRefused,
    NoteModelRejected,
    NoteModelThrottled,
    NoteWriteConflict,
    StoredNoteInvalid,
    TranscriptTooLong,
)
from clinical.layout import note_key
from clinical.objects import is_not_found, lost_the_race
from clinical.observability import logger
from clinical.policy import BEDROCK_TRANSIENT_CODES

PROMPT_VERSION = "soap-note-v1"
REVIEW_NOTICE = "AI-generated draft. A clinician must review and sign it before clinical use."
MAX_OUTPUT_TOKENS = 2048
# The model's input budget. Context windows in tokens, by model family as it appears in the model id:
# Claude Haiku 4.5, the default, has 200K (platform.claude.com/docs/en/models/haiku-4-5/overview), as do the
# Claude 3 and 4 models on Anthropic's models overview (older Claude models had less, hence no catch-all).
CONTEXT_WINDOW_TOKENS = dict.fromkeys(
    ("anthropic.claude-3", "anthropic.claude-haiku-4", "anthropic.claude-sonnet-4", "anthropic.claude-opus-4"), 200_000
)
# A model not listed here: assume a small window, so no transcript overflows it.
DEFAULT_CONTEXT_WINDOW_TOKENS = 32_000
# English runs about 3.5 characters per Claude token (a rule of thumb, not a documented bound); Anthropic's
# later tokenizers count ~30% more tokens for the same text than Haiku 4.5's (platform.claude.com, Haiku 5.5
# overview), and numbers and drug names split finely: 2.5 keeps the budget on the safe side.
CHARS_PER_TOKEN = 2.5
THROTTLING_CODES = frozenset(BEDROCK_TRANSIENT_CODES)


class ClinicalOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Literal["medication", "lab", "imaging", "referral", "procedure", "other"]
    description: str = Field(min_length=1)


class SoapNote(BaseModel):
    """The schema the model's answer must satisfy."""

    model_config = ConfigDict(extra="forbid")

    subjective: str = Field(min_length=1)
    objective: str = Field(min_length=1)
    assessment: str = Field(min_length=1)
    plan: str = Field(min_length=1)
    medications_and_orders: list[ClinicalOrder]


class Provenance(BaseModel):
    encounter_id: str
    model_id: str
    prompt_version: str
    transcript_sha256: str
    transcription_job_name: str
    variant: str
    created_at: datetime
    input_tokens: int | None = None
    output_tokens: int | None = None


class Speaker(BaseModel):
    """Who a speaker label is (clinical.roles), as the note records it."""

    speaker_label: str
    role: Literal["CLINICIAN", "PATIENT", "OTHER"]
    confidence: float


class FlaggedStatement(BaseModel):
    """A statement of the note its transcript does not support (clinical.claims)."""

    section: str
    text: str
    reason: str


class Note(BaseModel):
    """notes/<encounter_id>.json, identical in shape for both variants. A note is a draft for a clinician to
    review; `needs_review` says why it needs a closer look: statements its transcript does not support
    (`flagged`), or speakers whose roles are uncertain."""

    schema_version: Literal["1"] = "1"
    status: Literal["draft", "needs_review"] = "draft"
    review_notice: str = REVIEW_NOTICE
    soap: SoapNote
    provenance: Provenance
    speakers: list[Speaker] = Field(default_factory=list)
    flagged: list[FlaggedStatement] = Field(default_factory=list)


@dataclass(frozen=True)
class ModelReply:
    soap: SoapNote
    input_tokens: int | None
    output_tokens: int | None


def transcript_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def system_prompt() -> str:
    return resources.files("clinical").joinpath(f"prompts/{PROMPT_VERSION}.md").read_text()


def user_message(transcript_text: str) -> str:
    return f"Encounter transcript:\n<transcript>\n{transcript_text}\n</transcript>"


def converse_request(model_id: str, transcript_text: str, encounter_id: str) -> dict:
    """The Converse request for one encounter's transcript (temperature 0: repeatable drafts). The
    encounter id goes in requestMetadata, which Bedrock's model invocation logs carry, so a call is
    traced to its encounter without reading the prompt."""
    return {
        "modelId": model_id,
        "system": [{"text": system_prompt()}],
        "messages": [{"role": "user", "content": [{"text": user_message(transcript_text)}]}],
        "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS, "temperature": 0},
        "requestMetadata": {"encounter_id": encounter_id},
    }


def context_window_tokens(model_id: str) -> int:
    return next(
        (tokens for family, tokens in CONTEXT_WINDOW_TOKENS.items() if family in model_id),
        DEFAULT_CONTEXT_WINDOW_TOKENS,
    )


def max_transcript_chars(model_id: str) -> int:
    """The longest transcript sent to the model: its context window less the answer's tokens and the prompt."""
    prompt_chars = len(system_prompt()) + len(user_message(""))
    return int((context_window_tokens(model_id) - MAX_OUTPUT_TOKENS) * CHARS_PER_TOKEN) - prompt_chars


SCHEMA_FIELDS = frozenset(SoapNote.model_fields) | frozenset(ClinicalOrder.model_fields)


def schema_path(location: tuple) -> str:
    """Where in the note a validation issue is; a name the schema does not define is model text, so withheld."""
    parts = (str(part) if isinstance(part, int) or part in SCHEMA_FIELDS else "(unexpected field)" for part in location)
    return ".".join(parts) or "(root)"


def parse_model_output(text: str) -> SoapNote:
    """Validate the model's answer. Error messages name fields, never the text itself."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise InvalidModelOutput("model output holds no JSON object")
    try:
        document = json.loads(text[start : end + 1])
    except ValueError:
        raise InvalidModelOutput("model output is not valid JSON") from None
    if isinstance(document, dict) and document.get("cannot_generate"):
        raise ModelRefused("the model declined to write a note for this transcript")
    try:
        return SoapNote.model_validate(document)
    except ValidationError as error:
        fields = sorted({schema_path(issue["loc"]) for issue in error.errors()})
        raise InvalidModelOutput(f"model output does not match the note schema at: {', '.join(fields)}") from None


def request_note(bedrock, model_id: str, transcript_text: str, *, encounter_id: str) -> ModelReply:
    """Ask the model for a SOAP note; classify every way that can fail."""
    limit = max_transcript_chars(model_id)
    if len(transcript_text) > limit:
        raise TranscriptTooLong(
            f"the transcript has {len(transcript_text)} characters; the model's input budget allows {limit}"
        )
    try:
        response = bedrock.converse(**converse_request(model_id, transcript_text, encounter_id))
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in THROTTLING_CODES:
            raise NoteModelThrottled(f"Bedrock is unavailable or throttling ({code})") from None
        raise NoteModelRejected(f"Bedrock rejected the request ({code})") from None
    stop_reason = response.get("stopReason")
    if stop_reason in ("guardrail_intervened", "content_filtered"):
        raise ModelRefused(f"the model's answer was blocked ({stop_reason})")
    if stop_reason == "max_tokens":
        raise InvalidModelOutput("model output was cut off at the token limit")
    blocks = response.get("output", {}).get("message", {}).get("content", [])
    text = "".join(block.get("text", "") for block in blocks)
    usage = response.get("usage", {})
    return ModelReply(
        soap=parse_model_output(text),
        input_tokens=usage.get("inputTokens"),
        output_tokens=usage.get("outputTokens"),
    )


def read_note(s3, bucket: str, encounter_id: str) -> tuple[Note, str] | None:
    """The stored note and its ETag, or None."""
    try:
        response = s3.get_object(Bucket=bucket, Key=note_key(encounter_id))
    except ClientError as error:
        if is_not_found(error):
            return None
        raise
    try:
        note = Note.model_validate_json(response["Body"].read())
    except ValidationError:
        # pydantic's message quotes the note's text.
        raise StoredNoteInvalid("the encounter's stored note does not match the note schema") from None
    return note, response["ETag"]


def existing_note_for(s3, bucket: str, encounter_id: str, transcript_hash: str) -> Note | None:
    """A note already written from this very transcript (a duplicate delivery), if any."""
    stored = read_note(s3, bucket, encounter_id)
    if stored and stored[0].provenance.transcript_sha256 == transcript_hash:
        return stored[0]
    return None


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
    reply: ModelReply,
    model_id: str,
    transcript_hash: str,
    job_name: str,
    variant: str,
) -> Note:
    return Note(
        soap=reply.soap,
        provenance=Provenance(
            encounter_id=encounter_id,
            model_id=model_id,
            prompt_version=PROMPT_VERSION,
            transcript_sha256=transcript_hash,
            transcription_job_name=job_name,
            variant=variant,
            created_at=datetime.now(UTC),
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
        ),
    )

"""What each consumer takes in, checked at its door: execution input, task payloads and the events that
SQS carries. A message of another shape raises MalformedMessage, whose text names only the fields and
what was wrong with them (never a value: a message may hold anything), so no key is built from it."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from clinical.errors import ContractViolation, MalformedMessage
from clinical.layout import parse_audio_key, validate_encounter_id


def _valid_id(value: str) -> str:
    try:
        return validate_encounter_id(value)
    except ContractViolation as error:
        raise ValueError(error.message) from None


EncounterId = Annotated[str, AfterValidator(_valid_id)]
Model = TypeVar("Model", bound=BaseModel)


class Message(BaseModel):
    """A message's shape. Its validator is built when its consumer first reads one (pydantic's defer_build), not
    when the module is imported: each function reads one or two of these shapes, and building the others would
    lengthen every cold start (docs/performance.md)."""

    model_config = ConfigDict(defer_build=True)


class EncounterExecutionInput(Message):
    """The input intake starts an encounter's execution with (orchestration.executions.execution_input)."""

    encounter_id: EncounterId
    audio_key: str
    media_format: str
    # Intake found others waiting for a Transcribe slot: the execution goes behind them (clinical.waiting_line).
    behind_others: bool = False

    @model_validator(mode="after")
    def names_its_own_upload(self) -> EncounterExecutionInput:
        try:
            upload = parse_audio_key(self.audio_key)
        except ContractViolation as error:
            raise ValueError(error.message) from None
        if (upload.encounter_id, upload.media_format) != (self.encounter_id, self.media_format):
            raise ValueError("audio_key and media_format must be the encounter's own upload")
        return self


class TranscriptWait(Message):
    """The WaitForTranscript task's payload."""

    encounter_id: EncounterId
    task_token: str


class SlotWait(Message):
    """The AwaitSlot task's payload: the execution's token, and its input's audio key (for the extension)."""

    encounter_id: EncounterId
    audio_key: str
    task_token: str


class NoteRequest(Message):
    """The GenerateNote and RedraftNote tasks' payload (a redraft: the clinician sent the note back)."""

    encounter_id: EncounterId
    redraft: bool = False


class ReviewWait(Message):
    """The AwaitReview tasks' payload."""

    encounter_id: EncounterId
    task_token: str


class ReviewCheck(Message):
    """The CheckReview task's payload."""

    encounter_id: EncounterId


class _EncounterDetail(Message):
    encounter_id: EncounterId


class NoteSignedEvent(Message):
    """NoteSigned as EventBridge delivers it from the domain bus, as far as its consumers read it."""

    detail: _EncounterDetail


class NoteSentBackEvent(Message):
    """NoteSentBack as EventBridge delivers it from the domain bus to choreography's note writer."""

    source: Literal["clinical-scribe"]
    detail_type: Literal["NoteSentBack"] = Field(alias="detail-type")
    detail: _EncounterDetail


class _Bucket(Message):
    name: str


class _Object(Message):
    key: str


class _ObjectCreatedDetail(Message):
    bucket: _Bucket
    object: _Object


class ObjectCreatedEvent(Message):
    """S3's EventBridge "Object Created" event, as far as the pipeline reads it."""

    detail: _ObjectCreatedDetail


class _StatusChangeDetail(Message):
    executionArn: str  # the event's own field name


class ExecutionStatusChange(Message):
    """Step Functions' EventBridge "Execution Status Change" event, as far as the pipeline reads it."""

    detail: _StatusChangeDetail


def _problems(error: ValidationError) -> str:
    """Where and what, from pydantic's locations and error types: no input value, no message quoting it."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'the whole message'} ({problem['type']})"
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    )


def parse_message(model: type[Model], data: Any, what: str) -> Model:
    """`data` (a dict, or a JSON string) as `model`, or MalformedMessage saying which fields are wrong."""
    try:
        return model.model_validate(json.loads(data) if isinstance(data, str | bytes) else data)
    except ValueError as error:  # json.JSONDecodeError and pydantic's ValidationError are both ValueErrors
        problems = _problems(error) if isinstance(error, ValidationError) else "not JSON"
        raise MalformedMessage(f"{what} is not the shape its consumer takes: {problems}") from None

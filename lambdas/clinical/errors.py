"""What can go wrong with an encounter, classified by what the pipeline should do about it.

Every error carries a message that is safe to show and to log: it never contains transcript,
note or model text, nor an object key beyond the encounter id. Functions at a boundary (handlers,
record handlers, traced steps) are wrapped in `content_free_errors`, so no other exception's message
reaches Step Functions, a log line, a trace or a failure record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from botocore.exceptions import ClientError

P = ParamSpec("P")
R = TypeVar("R")


class PipelineError(Exception):
    """An expected failure of one encounter at one stage."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def error_type(self) -> str:
        return type(self).__name__


class ContractViolation(PipelineError):
    """The uploaded object breaks the encounter contract; retrying cannot help."""


class InvalidEncounterId(ContractViolation):
    pass


class UnsupportedAudioFormat(ContractViolation):
    pass


class EmptyAudio(ContractViolation):
    pass


class AudioNotFound(ContractViolation):
    pass


class UnknownTemplate(ContractViolation):
    """The upload asks for a note template this deployment does not have (clinical.templates)."""


class InvalidRecordingLength(ContractViolation):
    pass


class EncounterIdInUse(ContractViolation):
    """A second, different upload under an encounter id whose work already began: the first upload's
    job, execution and note stand, and the new audio is refused (it is recorded by its own key, not as
    the encounter's failure). A re-recorded dictation is a new encounter id."""

    recorded_per_upload = True


class PermanentError(PipelineError):
    """A later stage failed in a way that retrying the same input will not fix."""


class MalformedMessage(PermanentError):
    """A message, event or execution input that is not the shape its consumer takes: it is set aside with
    a quarantine record (it names no valid encounter), never retried and never used to build a key."""


class TranscriptionRejected(PermanentError):
    pass


class TranscriptionJobFailed(PermanentError):
    pass


class TranscriptionStalled(PermanentError):
    pass


class TranscriptionQuotaExhausted(PermanentError):
    """Transcribe Medical's concurrent-job quota stayed full for longer than the pipeline waits."""


class TranscriptionUnavailable(PermanentError):
    """Transcribe Medical failed a start for a moment on every try, for longer than the pipeline waits."""


class TranscriptNotProcessed(PermanentError):
    pass


class TranscriptNotFromJob(PermanentError):
    """The object at the encounter's transcript key is not its job's output: it was quarantined, unread."""


class TranscriptMalformed(PermanentError):
    pass


class EmptyTranscript(PermanentError):
    pass


class TranscriptTooLong(PermanentError):
    """The transcript does not fit the model's input budget (clinical.notes.max_transcript_chars)."""


class InvalidModelOutput(PermanentError):
    """The model's answer is not a note of the template's schema, or a statement cites no segment or one the
    transcript does not have."""


class ModelRefused(PermanentError):
    pass


class NoteModelRejected(PermanentError):
    pass


class StoredNoteInvalid(PermanentError):
    """The encounter's stored note does not match the note schema (written by something else, or an old schema)."""


class StoredReviewInvalid(PermanentError):
    """reviews/<id>.json is not a review record (written by something else); never quoted."""


class TransientError(PipelineError):
    """A dependency is busy or briefly unavailable; the same input will succeed later."""

    retryable = True


class TranscriptionThrottled(TransientError):
    pass


class TranscriptionSlotsFull(TranscriptionThrottled):
    """Transcribe Medical refused a start for its concurrent-job quota or its request rate, or others already
    wait for a slot: the upload waits in line (clinical.waiting_line)."""


class NoteModelThrottled(TransientError):
    pass


class NoteWriteConflict(TransientError):
    pass


class SignedNoteMissing(TransientError):
    """A NoteSigned event came before its signed note could be read (tried again, then its DLQ)."""


class FhirEndpointUnavailable(TransientError):
    """The FHIR endpoint could not be reached, was throttling, or failed on its side: tried again, then the DLQ."""


class FhirDocumentRejected(PipelineError):
    """The FHIR endpoint refused the document (a 4xx other than 429): its DLQ and alarm, for a person."""


class ReviewRefused(PipelineError):
    """A review action that cannot be taken as asked; nothing was changed. `statement` is the id of the
    statement the refusal is about, when it is about one (the page marks it)."""

    def __init__(self, message: str, statement: str | None = None) -> None:
        super().__init__(message)
        self.statement = statement


class ReviewRecordConflict(TransientError):
    """A review record changed (or was not there yet) while a deadline or a wait was kept: tried again."""


class DecidedNotSettled(TransientError):
    """A review's transition was decided (its record written) but what follows it did not all finish; whoever
    reads the record next finishes it (a retry, the sweep, orchestration's CheckReview)."""


class ReviewStoreBusy(TransientError):
    """S3, EventBridge or Step Functions throttled or failed for a moment while a review was kept: tried again."""


class DomainEventNotPublished(TransientError):
    """EventBridge did not take a domain event: the step is retried, and puts it again."""


class SweepIncomplete(TransientError):
    """Some lost uploads could not be taken in; the next sweep tries them again."""


class UnexpectedError(PipelineError):
    """An exception the pipeline has no class for (a bug, or input nobody foresaw), by type only.

    Its original message may quote what it choked on (pydantic quotes the input, botocore's parameter
    validation quotes values), so only the type crosses a boundary. Retrying may help, as for any error
    not known to be permanent.
    """

    retryable = True


class ConfigurationError(Exception):
    """The function was deployed without a setting it needs: a bug in the stack, not in the data."""


def pipeline_error_named(name: str) -> type[PipelineError] | None:
    """The PipelineError class with this name (how Step Functions names a Lambda's error), if any."""
    pending = [PipelineError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def content_free_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Let only content-free errors out of `function`: ours, AWS's (ClientError) and configuration errors
    pass; any other exception becomes UnexpectedError naming its type, with the original left behind."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except (PipelineError, ClientError, ConfigurationError):
            raise
        except Exception as error:
            unexpected = UnexpectedError(f"unexpected {type(error).__name__}")
        # Raised outside the except block: no __context__ holds the original for a trace or a traceback.
        raise unexpected

    return guarded

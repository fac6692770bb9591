"""Uploads and their transcripts: an upload checked against the encounter contract and its Transcribe Medical job
started; a transcript read only when it is the output of the encounter's own job."""

from __future__ import annotations

from collections.abc import Callable

from clinical.errors import TranscriptionSlotsFull, TranscriptNotFromJob, content_free_errors
from clinical.layout import (
    TRANSCRIBE_WRITE_CHECK,
    AudioUpload,
    parse_audio_key,
    transcript_key,
    transcription_job_name,
)
from clinical.observability import MetricUnit, logger, metrics, tracer
from clinical.settings import PipelineSettings
from clinical.transcription import (
    StartedJob,
    TranscriptionRequest,
    check_audio_object,
    start_transcription,
    transcript_origin,
)


def accept_upload(s3, *, bucket: str, key: str) -> AudioUpload:
    """Check an uploaded object against the encounter contract (raises ContractViolation)."""
    return check_audio_object(s3, bucket, parse_audio_key(key))


def transcription_request(bucket: str, settings: PipelineSettings) -> TranscriptionRequest:
    return TranscriptionRequest(
        bucket=bucket,
        job_name_prefix=settings.job_name_prefix,
        kms_key_arn=settings.kms_key_arn,
        specialty=settings.medical_specialty,
        type=settings.medical_type,
        settings=settings.transcription_settings,
    )


@tracer.capture_method(capture_response=False)
@content_free_errors
def transcribe_upload(
    s3,
    transcribe,
    *,
    bucket: str,
    key: str,
    settings: PipelineSettings,
    behind_others: Callable[[], bool] | None = None,
) -> StartedJob:
    """Validate an upload and start its Transcribe Medical job (idempotent); see `request_transcription`."""
    upload = accept_upload(s3, bucket=bucket, key=key)
    return request_transcription(transcribe, upload, bucket=bucket, settings=settings, behind_others=behind_others)


def request_transcription(
    transcribe,
    upload: AudioUpload,
    *,
    bucket: str,
    settings: PipelineSettings,
    behind_others: Callable[[], bool] | None = None,
) -> StartedJob:
    """Start an accepted upload's job (idempotent). When `behind_others` says others wait for a slot, the upload
    does not ask: it raises TranscriptionSlotsFull, as a refused start does, and goes behind them
    (clinical.waiting_line)."""
    if behind_others is not None and behind_others():
        raise TranscriptionSlotsFull("others are waiting for a Transcribe slot")
    started = start_transcription(transcribe, upload, transcription_request(bucket, settings))
    if not started.already_started:
        metrics.add_metric(name="TranscriptionJobsStarted", unit=MetricUnit.Count, value=1)
    logger.info(
        "transcription requested",
        extra={"encounter_id": upload.encounter_id, "already_started": started.already_started},
    )
    return started


def set_aside_unless_from_job(s3, transcribe, *, bucket: str, encounter_id: str, settings: PipelineSettings) -> str:
    """The key of the upload the encounter's job transcribed. Raise TranscriptNotFromJob, after quarantining
    the object, when the encounter's transcript is not the output of the job started for it (a forged or
    replaced object): a note changes only through the pipeline's own job."""
    key = transcript_key(encounter_id)
    origin = transcript_origin(
        s3, transcribe, bucket=bucket, key=key, job_name=transcription_job_name(settings.job_name_prefix, encounter_id)
    )
    if origin.not_from_job is None:
        return origin.audio_key
    from clinical.quarantine import quarantine

    record = quarantine(
        s3, bucket, source_key=key, version_id=origin.version_id, variant=settings.variant, reason=origin.not_from_job
    )
    raise TranscriptNotFromJob(f"{key} is not the output of the encounter's job ({origin.not_from_job}); see {record}")


def set_aside_stray_transcript(s3, *, bucket: str, key: str, variant: str) -> bool:
    """An object under transcripts/ whose key names no encounter: quarantined, unless it is Transcribe's
    own write probe. Returns True when it was quarantined."""
    if key.endswith(TRANSCRIBE_WRITE_CHECK):
        return False
    from clinical.quarantine import quarantine

    quarantine(s3, bucket, source_key=key, version_id=None, variant=variant,
               reason="not a transcript key of this layout (transcripts/<encounter id>.json)")  # fmt: skip
    return True

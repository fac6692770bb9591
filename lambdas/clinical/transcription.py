"""Transcribe Medical: start a job for an upload, check that a transcript is its output, find jobs that failed.
Reading the output is clinical.transcripts'.

Naming the upload's note template (clinical.templates) imports its module where it is done: the functions that
only check a transcript's origin or list jobs do not load it at cold start (docs/performance.md)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from clinical.errors import (
    AudioNotFound,
    EmptyAudio,
    EncounterIdInUse,
    TranscriptionJobFailed,
    TranscriptionRejected,
    TranscriptionSlotsFull,
    TranscriptionStalled,
    TranscriptionThrottled,
    TranscriptNotProcessed,
)
from clinical.layout import (
    AudioUpload,
    encounter_id_from_job_name,
    failure_key,
    note_key,
    recording_seconds_of,
    transcript_key,
    transcription_job_name,
)
from clinical.objects import is_not_found
from clinical.observability import logger
from clinical.policy import TRANSCRIBE_SLOT_CODES, TRANSCRIBE_TRANSIENT_CODES
from clinical.settlements import settled, settled_since

if TYPE_CHECKING:
    from clinical.templates import Template

SLOT_CODES = frozenset(TRANSCRIBE_SLOT_CODES)
THROTTLING_CODES = frozenset(TRANSCRIBE_TRANSIENT_CODES)


@dataclass(frozen=True)
class TranscriptionRequest:
    """How this deployment asks for transcripts."""

    bucket: str
    job_name_prefix: str
    kms_key_arn: str
    specialty: str = "PRIMARYCARE"
    type: str = "CONVERSATION"
    language_code: str = "en-US"
    # The job's Settings (clinical.conversation.job_settings): who spoke, by speaker labels or by channel.
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StartedJob:
    job_name: str
    already_started: bool


def _head_audio(s3, bucket: str, key: str) -> dict:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            raise AudioNotFound("the uploaded audio object no longer exists") from None
        raise


def check_audio_object(s3, bucket: str, upload: AudioUpload) -> AudioUpload:
    """The object must still exist, hold audio bytes, name a known note template, if any, and declare its length
    rightly, if at all; returns the upload with when it was written and how long it is."""
    head = _head_audio(s3, bucket, upload.key)
    if head["ContentLength"] == 0:
        raise EmptyAudio("the uploaded audio object is empty (0 bytes)")
    _template_of(head)
    seconds = recording_seconds_of(head.get("Metadata", {}))
    return replace(upload, uploaded_at=head["LastModified"], recording_seconds=seconds)


def upload_template(s3, bucket: str, audio_key: str) -> Template:
    """The note template the encounter's upload asked for (its x-amz-meta-template), else the default."""
    return _template_of(_head_audio(s3, bucket, audio_key))


def _template_of(head: dict) -> Template:
    from clinical.templates import TEMPLATE_METADATA, template_named

    return template_named(head.get("Metadata", {}).get(TEMPLATE_METADATA))


def claimed_by_another_upload(upload: AudioUpload, claim_key: str, claimed_at: datetime) -> EncounterIdInUse | None:
    """The encounter's work (a job, an execution) began for `claim_key` at `claimed_at`. Is this upload
    another one? It is when its key differs (X.mp3 after X.wav) or its object was written after the work
    began (the same key written again). A repeated delivery of the same upload is neither. S3 keeps
    LastModified to the second, so a rewrite within the second the work began passes as a repeat."""
    if claim_key != upload.key:
        return EncounterIdInUse(
            f"encounter id {upload.encounter_id} is already in use by {claim_key}: upload under a new encounter id"
        )
    if upload.uploaded_at is not None and upload.uploaded_at > claimed_at:
        return EncounterIdInUse(
            f"{upload.key} was written again after encounter {upload.encounter_id} began: its first audio, "
            "transcript and note stand; upload the new audio under a new encounter id"
        )
    return None


def start_transcription(transcribe, upload: AudioUpload, request: TranscriptionRequest) -> StartedJob:
    """Start the encounter's job. Idempotent: the job name is derived from the encounter id."""
    job_name = transcription_job_name(request.job_name_prefix, upload.encounter_id)
    try:
        transcribe.start_medical_transcription_job(
            MedicalTranscriptionJobName=job_name,
            LanguageCode=request.language_code,
            MediaFormat=upload.media_format,
            Media={"MediaFileUri": f"s3://{request.bucket}/{upload.key}"},
            OutputBucketName=request.bucket,
            OutputKey=transcript_key(upload.encounter_id),
            OutputEncryptionKMSKeyId=request.kms_key_arn,
            Specialty=request.specialty,
            Type=request.type,
            **({"Settings": request.settings} if request.settings else {}),
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ConflictException":
            job = transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=job_name)
            job = job["MedicalTranscriptionJob"]
            claim_key = job["Media"]["MediaFileUri"].removeprefix(f"s3://{request.bucket}/")
            if conflict := claimed_by_another_upload(upload, claim_key, job["CreationTime"]):
                raise conflict from None
            logger.info("transcription already started", extra={"encounter_id": upload.encounter_id})
            return StartedJob(job_name=job_name, already_started=True)
        if code in SLOT_CODES:
            raise TranscriptionSlotsFull(f"Transcribe Medical refused the start for its quota ({code})") from None
        if code in THROTTLING_CODES:
            raise TranscriptionThrottled(f"Transcribe Medical is failing for a moment ({code})") from None
        if code == "BadRequestException":
            raise TranscriptionRejected("Transcribe Medical rejected the job request") from None
        raise
    return StartedJob(job_name=job_name, already_started=False)


@dataclass(frozen=True)
class TranscriptOrigin:
    """Whether the object at a transcript key is the output of the encounter's own job."""

    version_id: str | None
    not_from_job: str | None  # why it is not (None: it is)
    audio_key: str = ""  # the upload the job transcribed (when it is the job's output)


def transcript_origin(s3, transcribe, *, bucket: str, key: str, job_name: str) -> TranscriptOrigin:
    """A transcript counts only as the output of the job started for its encounter: that job exists, has
    COMPLETED with this key as its output, and the object was not written after the job completed (S3 keeps
    LastModified to the second, the job's completion time finer: a rewrite within that second passes)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            return TranscriptOrigin(None, "the transcript object no longer exists")
        raise
    version = head.get("VersionId")
    try:
        job = transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=job_name)["MedicalTranscriptionJob"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("BadRequestException", "NotFoundException"):
            return TranscriptOrigin(version, f"no Transcribe job {job_name} was started for it")
        raise
    if job.get("TranscriptionJobStatus") != "COMPLETED":
        return TranscriptOrigin(
            version, f"job {job_name} is {job.get('TranscriptionJobStatus')}: it wrote no transcript"
        )
    output = (job.get("Transcript") or {}).get("TranscriptFileUri", "")
    if not output.endswith(f"/{key}"):
        return TranscriptOrigin(version, f"job {job_name} wrote its transcript elsewhere")
    completed = job.get("CompletionTime")
    if completed is not None and head["LastModified"] > completed.replace(microsecond=0) + timedelta(seconds=1):
        return TranscriptOrigin(version, f"it was written after job {job_name} completed")
    return TranscriptOrigin(version, None, job["Media"]["MediaFileUri"].removeprefix(f"s3://{bucket}/"))


@dataclass(frozen=True)
class UnfinishedJob:
    """A job of this deployment that will never produce a transcript."""

    encounter_id: str
    job_name: str
    error: TranscriptionJobFailed | TranscriptionStalled | TranscriptNotProcessed
    started_at: datetime | None

    @property
    def stage(self) -> str:
        return "note" if isinstance(self.error, TranscriptNotProcessed) else "transcription"


def job_exists(transcribe, job_name: str) -> bool:
    try:
        transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=job_name)
    except ClientError as error:
        # Transcribe answers a missing job with BadRequestException ("The requested job couldn't be found").
        if error.response["Error"]["Code"] in ("BadRequestException", "NotFoundException"):
            return False
        raise
    return True


def job_failure(transcribe, job_name: str) -> TranscriptionJobFailed:
    """The failed job's reason as Transcribe gives it (about the media or settings, never its content)."""
    job = transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=job_name)
    reason = job["MedicalTranscriptionJob"].get("FailureReason") or "no reason given"
    return TranscriptionJobFailed(f"Transcribe Medical job failed: {reason[:300]}")


def _jobs(transcribe, status: str, prefix: str, created_since: datetime | None = None):
    """The deployment's jobs of that status, newest first (as Transcribe lists them: by creation date, the newest
    job first), up to the first created before `created_since`, if given: the listing stops there."""
    kwargs = {"Status": status, "JobNameContains": prefix, "MaxResults": 100}
    while True:
        page = transcribe.list_medical_transcription_jobs(**kwargs)
        for summary in page.get("MedicalTranscriptionJobSummaries", []):
            created = summary.get("CreationTime")
            if created_since is not None and created is not None and created < created_since:
                return
            yield summary
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def jobs_in_flight(transcribe, prefix: str) -> int:
    """How many of the deployment's jobs are QUEUED or IN_PROGRESS: its share of the concurrent-job quota."""
    return sum(1 for status in ("QUEUED", "IN_PROGRESS") for _job in _jobs(transcribe, status, prefix))


def find_unfinished_jobs(
    transcribe,
    s3,
    *,
    bucket: str,
    prefix: str,
    stalled_after: timedelta,
    lookback: timedelta,
    now: datetime | None = None,
    in_flight: Counter | None = None,
) -> list[UnfinishedJob]:
    """This deployment's jobs that will not lead to a note by themselves: FAILED ones, ones queued or
    running past the limit, and COMPLETED ones still without a note past the limit; those whose note or failure
    record was written lately (clinical.settlements) are left out.

    Transcribe Medical emits no event for a failed job, and a lost transcript event leaves a
    completed job with no note; without this check such an encounter would simply stop. Jobs of
    other deployments (other prefixes) are ignored, and so are jobs that ended more than `lookback`
    ago (earlier sweeps settled them), so a sweep's S3 checks do not grow with the whole history.
    `in_flight`, if given, counts the jobs listed QUEUED and IN_PROGRESS (the deployment's share of Transcribe's
    concurrent-job quota), from the same listing.
    """
    now = now or datetime.now(UTC)
    found: list[UnfinishedJob] = []
    # Jobs that ended (FAILED, COMPLETED) are listed back to the lookback's start only, newest first: a job created
    # earlier that ended inside it ran longer than stalled_after, so an earlier sweep already reported it stalled.
    ended_since = now - lookback - 2 * stalled_after
    noted: set[str] | None = None  # the notes written lately, from their markers, read once when first needed
    for status in ("FAILED", "QUEUED", "IN_PROGRESS", "COMPLETED"):
        for summary in _jobs(transcribe, status, prefix, ended_since if status in ("FAILED", "COMPLETED") else None):
            job_name = summary["MedicalTranscriptionJobName"]
            encounter_id = encounter_id_from_job_name(prefix, job_name)
            if encounter_id is None:
                continue
            if in_flight is not None and status in ("QUEUED", "IN_PROGRESS"):
                in_flight[status] += 1
            started_at = summary.get("StartTime") or summary.get("CreationTime")
            ended_at = summary.get("CompletionTime")
            if ended_at is not None and now - ended_at > lookback + stalled_after:
                continue
            if status == "COMPLETED" and (ended_at is None or now - ended_at <= stalled_after):
                continue
            if status in ("QUEUED", "IN_PROGRESS") and (started_at is None or now - started_at <= stalled_after):
                continue
            if noted is None:
                noted = settled_since(s3, bucket, ended_since)
            # Settled lately, as the markers say: its note, or its failure record (the job needs no report). With
            # neither marker, the note itself decides (a crash between the note and its marker, or a note from before
            # the markers): one HEAD; the caller asks for the failure record itself.
            if {note_key(encounter_id), failure_key(encounter_id)} & noted or settled(
                s3, bucket, (note_key(encounter_id),)
            ):
                continue
            minutes = int(stalled_after.total_seconds() // 60)
            if status == "FAILED":
                error = job_failure(transcribe, job_name)
            elif status == "COMPLETED":
                error = TranscriptNotProcessed(
                    f"the transcript was written but no note followed within {minutes} minutes (its event may have been lost)"
                )
            else:
                error = TranscriptionStalled(f"transcription job still {status} after {minutes} minutes")
            found.append(UnfinishedJob(encounter_id, job_name, error, started_at))
    return found

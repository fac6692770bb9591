"""LOCAL stand-in for Transcribe Medical jobs.

moto records jobs but never fails one, writes no output and advances a status per API call. Here
a job checks that its media exists (FAILED with a reason if not), moves QUEUED -> IN_PROGRESS ->
COMPLETED on the simulated clock, taking the modelled time for its audio's length, and writes its
transcript in Transcribe's output format to OutputBucketName/OutputKey, so the S3 event chain fires
as on AWS. The text comes from a reference transcript registered for the audio's bytes (the demo's
and tests' deterministic path). The concurrent-job quota and the start-call rate are enforced as
Transcribe does (LimitExceededException: medical jobs do not queue). Faults on demand:
LimitExceededException on start, and jobs that FAIL.

Transcribe reads the media and writes the transcript with its caller's permissions: with an access
check installed (localcloud.access), a start whose caller may not write the output (s3:PutObject and
the output key's kms:GenerateDataKey) is refused with BadRequestException, as Transcribe's write check
refuses it, and a job whose caller may not read the media (s3:GetObject, kms:Decrypt) FAILS.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import json
import re
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
from botocore.exceptions import ClientError
from moto.core.exceptions import JsonRESTError
from moto.moto_api import state_manager
from moto.transcribe.models import TranscribeBackend

from localcloud import moto_patches
from localcloud.service_model import QuotaLedger, TokenBucket

MODEL_NAME = "transcribe::medicaltranscriptionjob"


# MedicalTranscriptionJobName's constraints (Transcribe API Reference, StartMedicalTranscriptionJob):
# length 1-200, pattern ^[0-9a-zA-Z._-]+. botocore checks the length, not the pattern; moto checks neither.
JOB_NAME = re.compile(r"[0-9a-zA-Z._-]{1,200}")
# The OutputKey of the StartMedicalTranscriptionJob request being answered (see `installed`).
REQUESTED_OUTPUT_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("requested_output_key", default=None)


class BadRequestException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("BadRequestException", message)


class LimitExceededException(JsonRESTError):
    def __init__(self, message: str = "The concurrent job limit was exceeded. (local fault)") -> None:
        super().__init__("LimitExceededException", message)


def audio_seconds(body: bytes) -> float | None:
    """The length of a WAV recording from its header, or None for anything else."""
    try:
        with wave.open(io.BytesIO(body)) as recording:
            return recording.getnframes() / float(recording.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def audio_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


TURN_TAG = re.compile(r"\[(spk_\d+)\]\s*")


def transcribe_output(job_name: str, account: str, text: str, settings: dict | None = None) -> dict:
    """The shape of a Transcribe Medical output document: one item per word, one per punctuation mark, and,
    as the job's Settings ask, each word's speaker label (with the speaker_labels section) or channel (with
    the channel_labels section, speaker N on channel N). A reference transcript may mark its turns with
    `[spk_N]` (a conversation); the tags say who spoke and are not part of the transcript. Untagged words
    are spk_0's."""
    settings = settings or {}
    parts = TURN_TAG.split(text)
    turns = [("spk_0", parts[0]), *zip(parts[1::2], parts[2::2], strict=True)]
    items: list[dict] = []
    speaker_of: list[str] = []  # per word, in order
    for speaker, said in turns:
        for token in said.split():
            word = token.rstrip(".,?!")
            if word:
                start = len(speaker_of) * 0.4
                items.append(
                    {
                        "start_time": f"{start:.2f}",
                        "end_time": f"{start + 0.35:.2f}",
                        "alternatives": [{"confidence": "0.9500", "content": word}],
                        "type": "pronunciation",
                    }
                )
                speaker_of.append(speaker)
            if token[len(word) :]:
                mark = token[len(word)]
                items.append({"alternatives": [{"confidence": "0.0", "content": mark}], "type": "punctuation"})
    spoken = " ".join(said.strip() for _speaker, said in turns if said.strip())
    results: dict = {"transcripts": [{"transcript": spoken}], "items": items}
    words = [item for item in items if item["type"] == "pronunciation"]
    if settings.get("ShowSpeakerLabels") and words:
        segments: list[dict] = []
        for item, speaker in zip(words, speaker_of, strict=True):
            item["speaker_label"] = speaker
            if not segments or segments[-1]["speaker_label"] != speaker:
                segments.append({"start_time": item["start_time"], "speaker_label": speaker, "items": []})
            segments[-1]["end_time"] = item["end_time"]
            segments[-1]["items"].append({k: item[k] for k in ("start_time", "end_time", "speaker_label")})
        results["speaker_labels"] = {"speakers": len(set(speaker_of)), "segments": segments}
    elif settings.get("ChannelIdentification") and words:
        channels: dict[str, list[dict]] = {}
        for item, speaker in zip(words, speaker_of, strict=True):
            channels.setdefault(speaker.replace("spk_", "ch_"), []).append(dict(item))
        results["channel_labels"] = {
            "channels": [{"channel_label": label, "items": found} for label, found in sorted(channels.items())],
            "number_of_channels": len(channels),
        }
    return {"jobName": job_name, "accountId": account, "results": results, "status": "COMPLETED"}


def settings_refusal(settings: dict | None) -> str | None:
    """Why StartMedicalTranscriptionJob refuses these Settings (BadRequestException), or None: speaker labels
    and channel identification together, or ShowSpeakerLabels and MaxSpeakerLabels one without the other."""
    settings = settings or {}
    if "ShowSpeakerLabels" in settings and "ChannelIdentification" in settings:
        return "ShowSpeakerLabels and ChannelIdentification cannot both be in one request's Settings."
    if settings.get("ShowSpeakerLabels") and "MaxSpeakerLabels" not in settings:
        return "Settings with ShowSpeakerLabels must also give MaxSpeakerLabels."
    if "MaxSpeakerLabels" in settings and not settings.get("ShowSpeakerLabels"):
        return "Settings with MaxSpeakerLabels must set ShowSpeakerLabels to true."
    return None


@dataclass
class PendingJob:
    backend: TranscribeBackend
    name: str
    media_uri: str
    output_bucket: str
    output_key: str
    due_at: float
    in_progress_at: float
    fails_with: str | None = None
    caller: object = None  # the principal that started it (its permissions read the media)
    # Moved to IN_PROGRESS by the stand-in (kept here: the next moment is asked for at every step of the
    # simulation, and moto computes a job's status on every read).
    in_progress: bool = False


class LocalTranscribeMedical:
    """Also a source of the simulation: its next event is the next job's status change."""

    name = "Transcribe Medical"

    def __init__(
        self,
        now: Callable[[], float],
        *,
        job_seconds: Callable[[float], float] = lambda audio: 45 + 0.3 * audio,
        fault: Callable[[str, str, str], str | None] = lambda _kind, _subject, _scope: None,
        client: Callable[[str], object] = lambda service: boto3.client(service, region_name="us-east-1"),
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        concurrent_jobs: float = float("inf"),
        starts: TokenBucket | None = None,
        ledger: QuotaLedger | None = None,
        access=None,
    ) -> None:
        """`now()` is epoch seconds on the simulated clock; `job_seconds(audio_seconds)` a job's duration."""
        self.client = client
        self.wall = wall
        self.now = now
        self.job_seconds = job_seconds
        self.fault = fault
        self.concurrent_jobs = concurrent_jobs
        self.starts = starts
        self.ledger = ledger or QuotaLedger()
        self.access = access  # localcloud.access.AccessControl, or None: no access checks
        self.references: dict[str, tuple[str, float | None]] = {}
        self.pending: dict[str, PendingJob] = {}
        self.completed = 0
        self.peak_concurrency = 0
        self.finished_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def register(self, audio: bytes, transcript: str, seconds: float | None = None) -> None:
        """What this audio says (the stand-in's deterministic recognizer) and how long it lasts (default:
        from its WAV header)."""
        self.references[audio_digest(audio)] = (transcript, seconds if seconds is not None else audio_seconds(audio))

    def _audio_length(self, media_uri: str) -> float:
        bucket_name, _, key = media_uri.removeprefix("s3://").partition("/")
        try:
            audio = self.client("s3").get_object(Bucket=bucket_name, Key=key)["Body"].read()
        except ClientError:
            return 0.0
        _text, seconds = self.references.get(audio_digest(audio), ("", None))
        return seconds if seconds is not None else (audio_seconds(audio) or 0.0)

    def next_due(self) -> float | None:
        with self._lock:
            moments = [job.due_at for job in self.pending.values()]
            moments += [job.in_progress_at for job in self.pending.values() if not job.in_progress]
        return min(moments) if moments else None

    def run_due(self, now: float) -> int:
        return self.advance()

    def pending_work(self) -> list[str]:
        return [f"Transcribe job {name}" for name in sorted(self.pending)]

    @contextlib.contextmanager
    def installed(self) -> Iterator[LocalTranscribeMedical]:
        stand_in = self
        real_start = TranscribeBackend.start_medical_transcription_job

        def start_medical_transcription_job(backend: TranscribeBackend, **kwargs):
            name = kwargs["medical_transcription_job_name"]
            if not JOB_NAME.fullmatch(name):
                raise BadRequestException(
                    "1 validation error detected: Value at 'medicalTranscriptionJobName' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+ and have length "
                    "less than or equal to 200"
                )
            if refusal := settings_refusal(kwargs.get("settings")):  # validated before any quota is counted
                raise BadRequestException(refusal)
            # The subject of a Transcribe fault is the encounter: the job name after its deployment prefix
            # (a stack name, which holds no '-').
            deployment, _, encounter = kwargs["medical_transcription_job_name"].partition("-")
            if stand_in.starts is not None and not stand_in.starts.take(stand_in.now()):
                stand_in.ledger.throttle("transcribe_medical_starts_per_second")
                raise LimitExceededException("Rate exceeded for StartMedicalTranscriptionJob.")
            with stand_in._lock:
                running = len(stand_in.pending)
            exists = kwargs["medical_transcription_job_name"] in backend.medical_transcriptions
            if running >= stand_in.concurrent_jobs and not exists:
                stand_in.ledger.throttle("transcribe_medical_concurrent_jobs")
                raise LimitExceededException(
                    "You have too many jobs running at the same time. Try your request again later."
                )
            # A start of a job that is already there is answered ConflictException, as the quota above lets it
            # through: it is no try at starting the job, and draws no fault. (A second delivery of the upload's
            # event, or a sweep, asks again in one variant and not in the other: were it drawn, it would count
            # as the policy's try and shift the draws of the tries that follow.)
            if not exists and stand_in.fault("transcribe_start", encounter, deployment) == "limit_exceeded":
                raise LimitExceededException()
            output_key = kwargs.pop("output_key", None)
            caller = stand_in.access.caller() if stand_in.access is not None else None
            if caller is not None:
                stand_in._check_output(caller, kwargs, output_key or f"medical/{name}.json")
            response = real_start(backend, **kwargs)
            # moto's state stays None under manual progression; the stand-in owns the status now.
            job = backend.medical_transcriptions[name]
            job.status, job.creation_time = "QUEUED", stand_in.wall()
            output_key = output_key or f"medical/{name}.json"
            duration = stand_in.job_seconds(stand_in._audio_length(kwargs["media"]["MediaFileUri"]))
            started = stand_in.now()
            with stand_in._lock:
                stand_in.pending[name] = PendingJob(
                    backend=backend,
                    name=name,
                    media_uri=kwargs["media"]["MediaFileUri"],
                    output_bucket=kwargs["output_bucket_name"],
                    output_key=output_key,
                    due_at=started + duration,
                    in_progress_at=started + duration * 0.1,  # a job is QUEUED for the first tenth of its time
                    fails_with="Internal failure while transcribing the media (local fault)"
                    if stand_in.fault("transcribe_job", encounter, deployment) == "fail"
                    else None,
                    caller=caller,
                )
                stand_in.peak_concurrency = max(stand_in.peak_concurrency, len(stand_in.pending))
            return response

        # moto's responses pass OutputKey nowhere: the response reads it from the request and hands it to
        # the backend's start through a context variable (each request's own, whatever thread answers it).
        from moto.transcribe.responses import TranscribeResponse

        real_response = TranscribeResponse.start_medical_transcription_job

        def response_with_output_key(self):
            token = REQUESTED_OUTPUT_KEY.set(self._get_param("OutputKey"))
            try:
                return real_response(self)
            finally:
                REQUESTED_OUTPUT_KEY.reset(token)

        def backend_start(backend: TranscribeBackend, **kwargs):
            return start_medical_transcription_job(backend, output_key=REQUESTED_OUTPUT_KEY.get(), **kwargs)

        state_manager.set_transition(model_name=MODEL_NAME, transition={"progression": "manual", "times": 10**9})
        try:
            with (
                moto_patches.replace(
                    "moto.transcribe.responses.TranscribeResponse.start_medical_transcription_job",
                    response_with_output_key,
                ),
                moto_patches.replace(
                    "moto.transcribe.models.TranscribeBackend.start_medical_transcription_job", backend_start
                ),
            ):
                yield self
        finally:
            state_manager.unset_transition(MODEL_NAME)

    def _check_output(self, caller, kwargs: dict, output_key: str) -> None:
        from localcloud.access import AccessDenied

        resource = f"arn:{self.access.partition}:s3:::{kwargs['output_bucket_name']}/{output_key}"
        try:
            # Transcribe writes the transcript with a plain PutObject (no If-None-Match).
            context = {"s3:ObjectCreationOperation": "true"}
            self.access.require(caller, "s3:PutObject", resource, context, code="AccessDenied")
            key = kwargs.get("output_encryption_kms_key_id")
            self.access.require_key_use(caller, key, ("kms:GenerateDataKey",), "s3", "AccessDenied")
        except AccessDenied as denied:
            raise BadRequestException(
                f"Unable to write to the output location with the caller's permissions: {denied}"
            ) from None

    def _media_denied(self, job: PendingJob) -> str | None:
        """Why the job's caller may not read its media (Transcribe reads it with the caller's access)."""
        from localcloud.access import AccessDenied

        if self.access is None or job.caller is None:
            return None
        bucket_name, _, key = job.media_uri.removeprefix("s3://").partition("/")
        resource = f"arn:{self.access.partition}:s3:::{bucket_name}/{key}"
        try:
            self.access.require(job.caller, "s3:GetObject", resource, code="AccessDenied")
            self.access.require_key_use(
                job.caller, self.access.key_of(resource), ("kms:Decrypt",), "s3", "AccessDenied"
            )
        except AccessDenied as denied:
            return f"The media file could not be read with the caller's permissions: {denied}"
        return None

    def advance(self) -> int:
        """Finish every job whose simulated duration has passed; returns how many finished."""
        with self._lock:
            now = self.now()
            for job in self.pending.values():
                if job.in_progress or job.in_progress_at > now:
                    continue
                moto_job = job.backend.medical_transcriptions[job.name]
                if moto_job.status == "QUEUED":
                    moto_job.status, moto_job.start_time = "IN_PROGRESS", self.wall()
                job.in_progress = True
            due = [job for job in self.pending.values() if job.due_at <= now]
            for job in due:
                del self.pending[job.name]
        for job in due:
            self._finish(job)
        return len(due)

    def _finish(self, job: PendingJob) -> None:
        self.finished_at[job.name] = self.now()
        moto_job = job.backend.medical_transcriptions[job.name]
        moto_job.completion_time = self.wall()
        bucket_name, _, key = job.media_uri.removeprefix("s3://").partition("/")
        s3 = self.client("s3")
        try:
            audio = s3.get_object(Bucket=bucket_name, Key=key)["Body"].read()
        except ClientError:
            audio = None
        if audio is None:
            moto_job.status, moto_job.failure_reason = "FAILED", "The media file could not be found at the given URI."
            return
        if job.fails_with:
            moto_job.status, moto_job.failure_reason = "FAILED", job.fails_with
            return
        if denied := self._media_denied(job):
            moto_job.status, moto_job.failure_reason = "FAILED", denied
            return
        text, _seconds = self.references.get(audio_digest(audio), (None, None))
        if text is None:
            moto_job.status = "FAILED"
            moto_job.failure_reason = "The local Transcribe stand-in has no reference transcript for this audio."
            return
        document = transcribe_output(job.name, job.backend.account_id, text, moto_job.settings)
        s3.put_object(Bucket=job.output_bucket, Key=job.output_key, Body=json.dumps(document).encode())
        moto_job.status = "COMPLETED"
        moto_job.transcript = {"TranscriptFileUri": f"s3://{job.output_bucket}/{job.output_key}"}
        self.completed += 1

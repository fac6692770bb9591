"""Make moto's Transcribe Medical answer like AWS where this project depends on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from moto.transcribe.models import FakeMedicalTranscriptionJob, TranscribeBackend

from localcloud import moto_patches


@contextlib.contextmanager
def failure_reason_in_get() -> Iterator[None]:
    """AWS's GetMedicalTranscriptionJob includes FailureReason for a FAILED job; moto 5.2.5 omits it."""
    real_response_object = FakeMedicalTranscriptionJob.response_object

    def response_object(self, response_type: str):
        response = real_response_object(self, response_type)
        if response_type == "GET" and self.failure_reason:
            response["MedicalTranscriptionJob"]["FailureReason"] = self.failure_reason
        return response

    with moto_patches.replace("moto.transcribe.models.FakeMedicalTranscriptionJob.response_object", response_object):
        yield


def _created(job: FakeMedicalTranscriptionJob) -> datetime:
    """A job's creation moment, comparable whichever way it was set (moto's naive UTC, or the stand-in's aware)."""
    created = job.creation_time
    if isinstance(created, str):
        created = datetime.fromisoformat(created)
    return created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)


@contextlib.contextmanager
def jobs_listed_newest_first() -> Iterator[None]:
    """AWS's ListMedicalTranscriptionJobs lists the jobs "ordered by creation date, with the newest job first",
    and matches JobNameContains whatever the case; moto 5.2.5 lists them in the order they were started and
    matches the case. The sweeps stop paging at the first job older than their window, so the order decides what
    they see."""

    def list_medical_transcription_jobs(
        backend: TranscribeBackend, status: str, job_name_contains: str, next_token: str, max_results: int
    ) -> dict[str, Any]:
        # Newest first; jobs created at the same moment, the later started first (a stable order for the pages).
        jobs = list(reversed(backend.medical_transcriptions.values()))
        jobs.sort(key=_created, reverse=True)
        if status:
            jobs = [job for job in jobs if job.status == status]
        if job_name_contains:
            jobs = [job for job in jobs if job_name_contains.lower() in job.medical_transcription_job_name.lower()]
        start = int(next_token) if next_token else 0
        end = start + (max_results or 100)
        response: dict[str, Any] = {
            "MedicalTranscriptionJobSummaries": [job.response_object("LIST") for job in jobs[start:end]]
        }
        if end < len(jobs):
            response["NextToken"] = str(end)
        if status:
            response["Status"] = status
        return response

    with moto_patches.replace(
        "moto.transcribe.models.TranscribeBackend.list_medical_transcription_jobs", list_medical_transcription_jobs
    ):
        yield

"""Make moto's Transcribe Medical answer like AWS where this project depends on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.transcribe.models import FakeMedicalTranscriptionJob

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

"""How the pipeline names a patient: by the health record's FHIR reference, `Patient/<id>`. The pipeline knows
encounters, not patients; the signing clinician gives the reference (`scribe sign --patient`), or the caller of
an export (`scribe export --patient`), and both are checked here."""

from __future__ import annotations

import re

# A Patient and a FHIR id (R4 datatypes, id: 1-64 of ASCII letters, digits, '-' and '.').
_PATIENT_REFERENCE = re.compile(r"Patient/[A-Za-z0-9\-.]{1,64}")


def is_patient_reference(text: str) -> bool:
    """Whether text is a patient's FHIR reference, whole: no other resource type, nothing before or after it
    (not even a newline, which a stored reference would keep)."""
    return _PATIENT_REFERENCE.fullmatch(text) is not None

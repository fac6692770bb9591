"""`scribe export ID --fhir`: the signed note's FHIR R4 DocumentReference (clinical.fhir builds it, as the
export on NoteSigned does), validated with fhir.resources' R4B models (whose DocumentReference is R4's)
before it is printed."""

from __future__ import annotations

import json

from fhir.resources.R4B.documentreference import DocumentReference

from clinical.fhir import ExportError, document_reference
from clinical.notes import SignedNote

__all__ = ["ExportError", "validated"]


def validated(signed: SignedNote, *, patient: str | None = None) -> dict:
    """The document as fhir.resources renders it once validated (ExportError in one line if it is not)."""
    document = document_reference(signed, patient=patient)
    try:
        resource = DocumentReference.model_validate(document)
    except ValueError as error:
        raise ExportError(f"the DocumentReference is not valid FHIR R4: {str(error).splitlines()[0]}") from None
    return json.loads(resource.model_dump_json(exclude_none=True))

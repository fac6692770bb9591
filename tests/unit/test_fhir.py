"""scribe export --fhir: a signed note as a FHIR R4 DocumentReference, valid for fhir.resources, with the fields
a health record needs; the committed example is this builder's output."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.documentreference import DocumentReference

from clinical.fhir import document_reference
from clinical.notes import SignedNote
from scribe.fhir import ExportError, validated
from tests.unit.test_notes import note_for

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "fhir-document-reference.json"
SIGNER = "arn:aws:sts::123456789012:assumed-role/clinician/dr-lee"


def signed_note() -> SignedNote:
    note = note_for("enc-0001", "a transcript").model_copy(update={"template": "soap"})
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    return SignedNote(encounter_id="enc-0001", version=2, signed_by=SIGNER, signed_at=at, note=note)


def test_the_document_reference_carries_what_a_record_needs_and_validates():
    document = document_reference(signed_note(), patient="Patient/123")
    # The fhir.resources R4 model accepts it, and renders it as built: the export needs no FHIR library.
    resource = DocumentReference.model_validate(document)
    assert (
        json.loads(resource.model_dump_json(exclude_none=True))
        == document
        == validated(signed_note(), patient="Patient/123")
    )
    assert (document["status"], document["docStatus"]) == ("current", "final")
    assert document["type"]["coding"] == [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]
    assert document["category"][0]["coding"][0]["code"] == "clinical-note"
    assert document["subject"] == {"reference": "Patient/123"}
    assert document["context"]["encounter"][0]["identifier"]["value"] == "enc-0001"
    assert document["authenticator"]["identifier"]["value"] == SIGNER == document["author"][0]["display"]
    text = base64.b64decode(document["content"][0]["attachment"]["data"]).decode()
    assert text.startswith("SOAP note\n\nSubjective\n- Cough for three days.") and "Signed by " + SIGNER in text


def test_the_committed_example_is_what_the_builder_writes():
    assert json.loads(EXAMPLE.read_text()) == validated(signed_note(), patient="Patient/123")


def test_the_patient_the_signer_gave_is_the_subject_and_without_one_there_is_none():
    signed = signed_note().model_copy(update={"patient": "Patient/77"})
    assert validated(signed)["subject"] == {"reference": "Patient/77"}
    assert "subject" not in validated(signed_note())


@pytest.mark.parametrize("patient", ["Jane Roe", "Patient/123\n", "Practitioner/123", "Patient/123/_history/2"])
def test_a_patient_that_is_not_a_fhir_patient_reference_is_refused_in_one_line(patient):
    """The same reference sign accepts, matched whole: a Patient, nothing before or after it."""
    with pytest.raises(ExportError) as refused:
        validated(signed_note(), patient=patient)
    assert str(refused.value) == f"--patient {patient!r}: write it as a FHIR reference, e.g. Patient/123"


def test_a_clinician_signed_in_with_cognito_is_identified_by_the_pools_issuer_and_their_sub():
    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc123"
    signed = signed_note().model_copy(update={"signed_by": f"{issuer}|0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"})
    document = validated(signed)
    expected = {"system": issuer, "value": "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"}
    assert document["authenticator"]["identifier"] == document["author"][0]["identifier"] == expected
    assert validated(signed_note())["author"][0]["identifier"]["system"] == "urn:aws:iam"

"""A signed note as a FHIR R4 DocumentReference: what the export on NoteSigned writes under exports/fhir/
and `scribe export ID --fhir` prints. Built here as plain JSON (the Lambda runtime has no FHIR library);
`scribe export` validates every document with fhir.resources (its R4B models, whose DocumentReference is
R4's), and the tests check that the builder's output is fhir.resources' own rendering of it.

The pipeline knows encounters, not patients: the patient reference is the one the signing clinician gave
(`scribe sign --patient Patient/123`) or the exporting caller's (`scribe export --patient`); without one the
document has no subject (0..1 in R4) and the record maps it by its encounter, which is referenced by its id
under this project's identifier system. The note travels as a text/plain attachment: the template's sections
and statements, without the citation numbers (they point into a transcript the record does not hold).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from clinical.errors import SignedNoteMissing
from clinical.layout import fhir_export_key, signed_key
from clinical.notes import NoteOrder, NoteStatement, SignedNote
from clinical.objects import get_if_present
from clinical.patients import is_patient_reference
from clinical.templates import template_named

ENCOUNTER_SYSTEM = "urn:clinical-scribe:encounter"
SIGNED_NOTE_SYSTEM = "urn:clinical-scribe:signed-note"
SIGNER_SYSTEM = "urn:aws:iam"  # the signer is an AWS identity (the caller of `scribe sign`)
CATEGORY = {
    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
    "code": "clinical-note",
    "display": "Clinical Note",
}


class ExportError(ValueError):
    """An export that cannot be made; the message says why in one line."""


def _attributed(item: NoteStatement | NoteOrder) -> str:
    """A statement as the record reads it: the signing clinician's own words say so, and a model statement its
    evidence does not support says the clinician accepted it as it is."""
    if item.author == "clinician":
        return " (the clinician's)" if item.evidence else " (the clinician's own, not from the recording)"
    return " (accepted by the signer, though the recording's cited words do not support it)" if item.accepted else ""


def attachment_text(signed: SignedNote) -> str:
    """The note as the signer signed it: the template's sections and statements, the orders, who wrote what."""
    note = signed.note
    lines = [template_named(note.template).title, ""]
    for section in note.sections:
        lines.append(section.title)
        lines += [f"- {item.text}{_attributed(item)}" for item in section.statements] or ["- Not discussed."]
        lines.append("")
    if note.medications_and_orders:
        lines.append("Medications and orders")
        lines += [f"- [{o.category}] {o.description}{_attributed(o)}" for o in note.medications_and_orders]
        lines.append("")
    lines.append(f"Signed by {signed.signed_by} at {signed.signed_at.isoformat()} (version {signed.version}).")
    return "\n".join(lines)


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC, as fhir.resources renders one ("2026-01-05T09:30:00Z")."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def signer_identifier(signed_by: str) -> dict:
    """The signer as a FHIR Identifier: an AWS identity's ARN, or a Cognito user recorded as <issuer>|<sub>
    (the user pool's issuer URL is the system, the user's immutable id the value)."""
    issuer, bar, subject = signed_by.partition("|")
    if bar and issuer.startswith("https://"):
        return {"system": issuer, "value": subject}
    return {"system": SIGNER_SYSTEM, "value": signed_by}


def patient_reference(patient: str) -> str:
    """The patient's FHIR reference as given, or ExportError in one line."""
    if not is_patient_reference(patient):
        raise ExportError(f"--patient {patient[:40]!r}: write it as a FHIR reference, e.g. Patient/123")
    return patient


def document_reference(signed: SignedNote, *, patient: str | None = None) -> dict:
    """The DocumentReference of a signed note: status current, docStatus final, the template's LOINC type,
    category clinical-note, the patient, the encounter, the signer as author and authenticator, the note as
    its attachment. The patient is `patient`, else the one the signer named, else none."""
    patient = patient or signed.patient
    template = template_named(signed.note.template)
    code, display = template.loinc
    signer = {"identifier": signer_identifier(signed.signed_by), "display": signed.signed_by}
    document = {
        "resourceType": "DocumentReference",
        "identifier": [{"system": SIGNED_NOTE_SYSTEM, "value": f"{signed.encounter_id}/v{signed.version}"}],
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "category": [{"coding": [CATEGORY]}],
        **({"subject": {"reference": patient_reference(patient)}} if patient else {}),
        "date": instant(signed.signed_at),
        "author": [signer],
        "authenticator": signer,
        "description": f"{template.title}: AI-drafted from the encounter's recording, reviewed and signed",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "en",
                    "data": base64.b64encode(attachment_text(signed).encode()).decode(),
                    "title": f"{template.title} (version {signed.version})",
                    "creation": instant(signed.signed_at),
                }
            }
        ],
        "context": {"encounter": [{"identifier": {"system": ENCOUNTER_SYSTEM, "value": signed.encounter_id}}]},
    }
    return document


def export_signed_note(s3, bucket: str, encounter_id: str) -> tuple[str, dict]:
    """Write the encounter's signed note as its DocumentReference to exports/fhir/<id>.json; the same
    document for every delivery of NoteSigned (the signed note is written once). Returns the key and the
    document."""
    found = get_if_present(s3, bucket, signed_key(encounter_id))
    if found is None:
        raise SignedNoteMissing(f"{signed_key(encounter_id)} is not there, though NoteSigned named it")
    document = document_reference(SignedNote.model_validate_json(found["Body"].read()))
    key = fhir_export_key(encounter_id)
    s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(document, indent=2).encode(), ContentType="application/fhir+json"
    )
    return key, document

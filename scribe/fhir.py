"""`scribe export ID --fhir`: a signed note as a FHIR R4 DocumentReference, built and validated with
fhir.resources (its R4B models, whose DocumentReference is R4's).

The pipeline knows encounters, not patients: the patient reference comes from the caller (`--patient
Patient/123`), and the encounter is referenced by its id under this project's identifier system, for the
health record to map. The note travels as a text/plain attachment: the template's sections and statements,
without the citation numbers (they point into a transcript the record does not hold).
"""

from __future__ import annotations

import base64
import json
import re

from fhir.resources.R4B.documentreference import DocumentReference

from clinical.review import SignedNote
from clinical.templates import template_named

ENCOUNTER_SYSTEM = "urn:clinical-scribe:encounter"
SIGNED_NOTE_SYSTEM = "urn:clinical-scribe:signed-note"
SIGNER_SYSTEM = "urn:aws:iam"  # the signer is an AWS identity (the caller of `scribe sign`)
CATEGORY = {
    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
    "code": "clinical-note",
    "display": "Clinical Note",
}
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


class ExportError(ValueError):
    """An export that cannot be made; the message says why in one line."""


def attachment_text(signed: SignedNote) -> str:
    note = signed.note
    lines = [template_named(note.template).title, ""]
    for section in note.sections:
        lines.append(section.title)
        lines += [f"- {statement.text}" for statement in section.statements] or ["- Not discussed."]
        lines.append("")
    if note.medications_and_orders:
        lines.append("Medications and orders")
        lines += [f"- [{order.category}] {order.description}" for order in note.medications_and_orders]
        lines.append("")
    lines.append(f"Signed by {signed.signed_by} at {signed.signed_at.isoformat()} (version {signed.version}).")
    return "\n".join(lines)


def document_reference(signed: SignedNote, *, patient: str) -> dict:
    """The DocumentReference of a signed note: status current, docStatus final, the template's LOINC type,
    category clinical-note, the patient, the encounter, the signer as author and authenticator, the note as
    its attachment. Validated by fhir.resources as it is built."""
    if not _REFERENCE.match(patient):
        raise ExportError(f"--patient {patient[:40]!r}: write it as a FHIR reference, e.g. Patient/123")
    template = template_named(signed.note.template)
    code, display = template.loinc
    signer = {"identifier": {"system": SIGNER_SYSTEM, "value": signed.signed_by}, "display": signed.signed_by}
    resource = DocumentReference.model_validate(
        {
            "resourceType": "DocumentReference",
            "identifier": [{"system": SIGNED_NOTE_SYSTEM, "value": f"{signed.encounter_id}/v{signed.version}"}],
            "status": "current",
            "docStatus": "final",
            "type": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
            "category": [{"coding": [CATEGORY]}],
            "subject": {"reference": patient},
            "date": signed.signed_at.isoformat(),
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
                        "creation": signed.signed_at.isoformat(),
                    }
                }
            ],
            "context": {"encounter": [{"identifier": {"system": ENCOUNTER_SYSTEM, "value": signed.encounter_id}}]},
        }
    )
    return json.loads(resource.model_dump_json(exclude_none=True))

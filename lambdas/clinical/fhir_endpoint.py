"""Sending a signed note's DocumentReference to a FHIR server: AWS HealthLake's FHIR R4 REST API, signed with
SigV4 (service `healthlake`) by the function's own credentials.

The document is PUT under an id of its own (FHIR's update, which creates the resource when the id is new:
HealthLake answers 201, then 200 for the same id again), so every delivery of NoteSigned leaves one resource,
not one per delivery. The id is a UUID derived from the deployment's bucket and the encounter: the same
encounter of the two variants are two documents, and no encounter id appears in the server's paths.

What the server answers is classified, never quoted (its error body may echo the document): a throttle, a
server error or no connection is FhirEndpointUnavailable (transient: the export's queue tries again, then its
DLQ, alarmed); any other refusal is FhirDocumentRejected (permanent; the same DLQ and alarm)."""

from __future__ import annotations

import json
import re
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError
from botocore.httpsession import URLLib3Session

from clinical.errors import FhirDocumentRejected, FhirEndpointUnavailable

# A HealthLake data store's FHIR endpoint, as DescribeFHIRDatastore gives it; matched whole (fullmatch).
HEALTHLAKE_ENDPOINT = re.compile(r"https://healthlake\.([a-z0-9-]+)\.amazonaws\.com/datastore/([0-9a-f]{32})/r4/")
# The namespace of the documents' ids (a UUID of this project's own).
DOCUMENT_NAMESPACE = uuid.UUID("6f1b7c2e-4d0a-5e8b-9c3f-2a7d1e6b8c40")
TIMEOUT_SECONDS = 20


def document_id(bucket: str, encounter_id: str) -> str:
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, f"{bucket}/{encounter_id}"))


def put_document(endpoint: str, region: str, document: dict, *, credentials, http=None) -> int:
    """PUT the document (with its `id`) at <endpoint>DocumentReference/<id>; returns the status (201 created,
    200 updated)."""
    url = f"{endpoint.rstrip('/')}/DocumentReference/{document['id']}"
    request = AWSRequest(
        method="PUT",
        url=url,
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
    )
    SigV4Auth(credentials, "healthlake", region).add_auth(request)
    try:
        response = (http or URLLib3Session(timeout=TIMEOUT_SECONDS)).send(request.prepare())
    except BotoCoreError as error:
        raise FhirEndpointUnavailable(f"the FHIR endpoint could not be reached ({type(error).__name__})") from None
    status = response.status_code
    if status in (200, 201):
        return status
    if status == 429 or status >= 500:
        raise FhirEndpointUnavailable(f"the FHIR endpoint answered {status}")
    raise FhirDocumentRejected(f"the FHIR endpoint refused the document ({status})")

"""The FHIR export sends the signed note's DocumentReference to the configured FHIR endpoint (a HealthLake data
store's): a SigV4-signed PUT under an id of its own, the same for every delivery; what the server answers is
classified, never quoted. A server on 127.0.0.1 stands in for HealthLake, over plain HTTP."""

from __future__ import annotations

import json

import boto3
import pytest

from choreography import write_note
from clinical.errors import FhirDocumentRejected, FhirEndpointUnavailable
from clinical.fhir_endpoint import HEALTHLAKE_ENDPOINT, document_id, put_document
from clinical.review import sign
from edges import fhir_export
from tests.support.events import object_created, sqs_event
from tests.support.loopback import LoopbackServer
from tests.unit.conftest import BUCKET, converse_answer

DR = "arn:aws:sts::123456789012:assumed-role/clinician/dr-lee"


OUTCOME = json.dumps({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Jane Roe"}]}).encode()


class FhirServer(LoopbackServer):
    """Answers each PUT with the next status it is given (201 when none is left), and keeps what it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        super().__init__(lambda _request: (self.statuses.pop(0) if self.statuses else 201, OUTCOME))
        self.endpoint = f"{self.url}/datastore/{'ab' * 16}/r4/"

    @property
    def received(self) -> list[dict]:
        return [{"path": r.path, "headers": r.headers, "body": json.loads(r.body)} for r in self.requests]


@pytest.fixture
def fhir_server():
    server = FhirServer()
    yield server
    server.close()


def credentials():
    return boto3.Session().get_credentials()  # the tests' own: testing / testing


DOCUMENT = {"resourceType": "DocumentReference", "id": document_id(BUCKET, "enc-0001"), "status": "current"}


def test_the_document_is_put_under_its_id_signed_for_healthlake(fhir_server):
    assert put_document(fhir_server.endpoint, "us-east-1", DOCUMENT, credentials=credentials()) == 201
    [got] = fhir_server.received
    assert got["path"] == f"/datastore/{'ab' * 16}/r4/DocumentReference/{DOCUMENT['id']}"
    assert got["headers"]["Content-Type"] == "application/fhir+json" and got["body"] == DOCUMENT
    assert got["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/healthlake/aws4_request" in got["headers"]["Authorization"]


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (429, FhirEndpointUnavailable, "the FHIR endpoint answered 429"),
        (503, FhirEndpointUnavailable, "the FHIR endpoint answered 503"),
        (400, FhirDocumentRejected, "the FHIR endpoint refused the document (400)"),
        (403, FhirDocumentRejected, "the FHIR endpoint refused the document (403)"),
    ],
)
def test_an_answer_other_than_200_or_201_is_classified_and_never_quoted(fhir_server, status, error, says):
    fhir_server.statuses = [status]
    with pytest.raises(error) as raised:
        put_document(fhir_server.endpoint, "us-east-1", DOCUMENT, credentials=credentials())
    assert raised.value.message == says and "Jane Roe" not in str(raised.value)


def test_no_server_at_all_is_unavailable_not_a_crash(fhir_server):
    endpoint = fhir_server.endpoint
    fhir_server.close()
    with pytest.raises(FhirEndpointUnavailable, match=r"could not be reached \(\w+\)"):
        put_document(endpoint, "us-east-1", DOCUMENT, credentials=credentials())


def test_the_id_is_one_per_deployment_and_encounter():
    assert document_id(BUCKET, "enc-0001") == document_id(BUCKET, "enc-0001")
    assert len({document_id(BUCKET, "enc-0001"), document_id("other", "enc-0001"), document_id(BUCKET, "enc-2")}) == 3
    assert "enc-0001" not in document_id(BUCKET, "enc-0001")


def test_only_a_healthlake_data_stores_endpoint_is_taken_as_one():
    assert HEALTHLAKE_ENDPOINT.fullmatch(f"https://healthlake.us-east-1.amazonaws.com/datastore/{'0f' * 16}/r4/")
    for wrong in (
        f"http://healthlake.us-east-1.amazonaws.com/datastore/{'0f' * 16}/r4/",
        f"https://healthlake.us-east-1.amazonaws.com/datastore/{'0f' * 16}/r4/\n",
        f"https://healthlake.us-east-1.amazonaws.com.evil.example/datastore/{'0f' * 16}/r4/",
        "https://healthlake.us-east-1.amazonaws.com/datastore/short/r4/",
    ):
        assert not HEALTHLAKE_ENDPOINT.fullmatch(wrong)


@pytest.fixture
def signed(cloud, lambda_context):
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)
    sign(cloud.s3, BUCKET, "enc-0001", clinician=DR, patient="Patient/123")
    return {"source": "clinical-scribe", "detail-type": "NoteSigned", "detail": {"encounter_id": "enc-0001"}}


def test_the_export_writes_the_document_and_sends_it_the_same_on_every_delivery(
    cloud, signed, fhir_server, lambda_context, monkeypatch
):
    monkeypatch.setenv("FHIR_ENDPOINT", fhir_server.endpoint)
    monkeypatch.setenv("FHIR_ENDPOINT_REGION", "us-east-1")
    for _ in range(2):
        assert fhir_export.handler(sqs_event(signed), lambda_context) == {"batchItemFailures": []}
    first, again = fhir_server.received
    written = cloud.read_json("exports/fhir/enc-0001.json")
    assert first["body"] == again["body"] == {**written, "id": document_id(BUCKET, "enc-0001")}
    assert first["body"]["subject"] == {"reference": "Patient/123"}


def test_a_send_that_fails_leaves_the_delivery_to_its_queue(cloud, signed, fhir_server, lambda_context, monkeypatch):
    monkeypatch.setenv("FHIR_ENDPOINT", fhir_server.endpoint)
    monkeypatch.setenv("FHIR_ENDPOINT_REGION", "us-east-1")
    for status in (503, 400):
        fhir_server.statuses = [status]
        event = sqs_event(signed)
        failed = fhir_export.handler(event, lambda_context)["batchItemFailures"]
        assert failed == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def test_without_an_endpoint_nothing_is_sent(cloud, signed, fhir_server, lambda_context, monkeypatch):
    monkeypatch.delenv("FHIR_ENDPOINT", raising=False)
    assert fhir_export.handler(sqs_event(signed), lambda_context) == {"batchItemFailures": []}
    assert fhir_server.received == [] and cloud.keys("exports/fhir/") == ["exports/fhir/enc-0001.json"]

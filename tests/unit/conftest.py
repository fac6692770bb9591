"""Fixtures for the domain and handler tests: moto for S3/SQS/Transcribe, Stubber for Bedrock.

The unit tier (`make unit`) loads neither the CDK (aws_cdk, stacks) nor the local cloud (localcloud):
tests/unit/test_tier.py fails if a module here does. Handler tests that need either live in tests/infra or
tests/localcloud, which import these fixtures from here."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from choreography import write_note
from clinical import clients, domain_events, waiting_line
from clinical.observability import logger, metrics
from tests.support.domain_events import received, subscribe
from tests.support.events import LambdaContext, load, object_created, sqs_event
from tests.support.transcripts import transcribe_document

BUCKET = "encounters"
PREFIX = "ClinicalScribeTest"
LINE_TABLE = "transcription-line"
MODEL_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
TRANSCRIPT_TEXT = load("transcribe_medical_output.json")["results"]["transcripts"][0]["transcript"]


@dataclass
class Cloud:
    s3: object
    sqs: object
    transcribe: object
    bedrock: object
    bedrock_stub: Stubber
    kms_key_arn: str
    dynamodb: object = None
    bucket: str = BUCKET

    def put_audio(self, key: str, body: bytes = b"RIFF....WAVEfmt fake audio") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def put_transcript(self, encounter_id: str, text: str = TRANSCRIPT_TEXT, *, by_job: bool = True) -> None:
        """The transcript as Transcribe writes it: the output of the encounter's COMPLETED job, which
        transcribed audio/<encounter_id>.wav (with `by_job=False`, an object someone else put there)."""
        document = transcribe_document(text, job_name=f"{PREFIX}-{encounter_id}")
        key = f"transcripts/{encounter_id}.json"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(document))
        if by_job:
            if not self.keys(f"audio/{encounter_id}.wav"):
                self.put_audio(f"audio/{encounter_id}.wav")
            self.complete_job(encounter_id, key)

    def complete_job(self, encounter_id: str, output_key: str) -> None:
        """The encounter's Transcribe job, COMPLETED with `output_key` as its transcript."""
        from datetime import UTC, datetime

        from moto.transcribe.models import transcribe_backends

        name = f"{PREFIX}-{encounter_id}"
        jobs = transcribe_backends["123456789012"]["us-east-1"].medical_transcriptions
        if name not in jobs:
            self.transcribe.start_medical_transcription_job(
                MedicalTranscriptionJobName=name,
                LanguageCode="en-US",
                Media={"MediaFileUri": f"s3://{self.bucket}/audio/{encounter_id}.wav"},
                OutputBucketName=self.bucket,
                OutputKey=output_key,
                Specialty="PRIMARYCARE",
                Type="DICTATION",
            )
        job = jobs[name]
        job.status, job.completion_time = "COMPLETED", datetime.now(UTC).isoformat()
        job.transcript = {"TranscriptFileUri": f"s3://{self.bucket}/{output_key}"}

    def read_json(self, key: str) -> dict:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def model_answers(self, *responses: dict) -> None:
        for response in responses:
            self.bedrock_stub.add_response("converse", response)

    def model_fails(self, code: str, times: int = 1) -> None:
        for _ in range(times):
            self.bedrock_stub.add_client_error("converse", service_error_code=code, http_status_code=429)


def converse_answer(text: str | None = None, stop_reason: str = "end_turn") -> dict:
    answer = load("bedrock_converse_note.json")
    if text is not None:
        answer["output"]["message"]["content"][0]["text"] = text
    answer["stopReason"] = stop_reason
    return answer


@pytest.fixture
def pipeline_env(monkeypatch, cloud_key_arn):
    env = {
        "PIPELINE_VARIANT": "choreography",
        "TRANSCRIPTION_JOB_PREFIX": PREFIX,
        "KMS_KEY_ARN": cloud_key_arn,
        "MEDICAL_SPECIALTY": "PRIMARYCARE",
        "MEDICAL_TYPE": "CONVERSATION",
        "TRANSCRIPTION_SETTINGS": '{"ShowSpeakerLabels": true, "MaxSpeakerLabels": 2}',
        "BEDROCK_MODEL_ID": MODEL_ID,
        "MAX_RECEIVE_COUNT": "5",
        "STALLED_JOB_MINUTES": "120",
        "ENCOUNTER_BUCKET": BUCKET,
        "TRANSCRIPTION_LINE_TABLE": LINE_TABLE,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def moto_aws():
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def cloud_key_arn(moto_aws):
    return boto3.client("kms").create_key(Description="encounters")["KeyMetadata"]["Arn"]


@pytest.fixture
def cloud(moto_aws, cloud_key_arn, pipeline_env, monkeypatch):
    """moto S3/SQS/Transcribe plus a stubbed bedrock-runtime, wired into the handlers' clients."""
    clients.reset()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    boto3.client("dynamodb").create_table(
        TableName=LINE_TABLE,
        KeySchema=[
            {"AttributeName": waiting_line.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": waiting_line.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": waiting_line.PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": waiting_line.SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    bedrock = boto3.client("bedrock-runtime")
    stub = Stubber(bedrock)
    stub.activate()
    monkeypatch.setattr(clients, "bedrock_runtime", lambda: bedrock)
    yield Cloud(
        s3=s3,
        sqs=boto3.client("sqs"),
        transcribe=boto3.client("transcribe"),
        bedrock=bedrock,
        bedrock_stub=stub,
        kms_key_arn=cloud_key_arn,
        dynamodb=boto3.client("dynamodb"),
    )
    stub.deactivate()
    clients.reset()


@pytest.fixture
def structured_logs():
    """Everything the Powertools logger writes during the test (its handler keeps the stdout it was built with)."""
    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


@pytest.fixture
def lambda_context():
    return LambdaContext(function_name="test-function")


@pytest.fixture(autouse=True)
def fresh_metrics():
    """Metrics recorded outside a handler are not flushed; start every test from none."""
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def pytest_sessionfinish(session, exitstatus):
    """When only this tier ran (`make unit`), nothing it ran may have loaded the CDK or the local cloud."""
    from tests.unit.test_tier import FORBIDDEN

    items = getattr(session, "items", [])
    if not items or not all(Path(item.path).is_relative_to(Path(__file__).parent) for item in items):
        return
    loaded = sorted({name.split(".")[0] for name in sys.modules} & set(FORBIDDEN))
    if loaded:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.ensure_newline()
        reporter.write_line(
            f"the unit tier loaded {', '.join(loaded)}: move that test to tests/infra or tests/localcloud"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


DOMAIN_BUS = "clinical-scribe-test-domain"


@pytest.fixture
def bus(cloud, monkeypatch):
    """The deployment's domain event bus, named in the functions' environment, and a queue that reads it:
    calling the fixture returns what arrived since the last call."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=DOMAIN_BUS)
    monkeypatch.setenv(domain_events.BUS_ENVIRONMENT, DOMAIN_BUS)
    url = subscribe(events, sqs, DOMAIN_BUS)
    return lambda: received(sqs, url)


@pytest.fixture
def drafted(cloud, lambda_context, bus):
    """enc-0001's note drafted by choreography's note writer, its review open, the bus read."""
    cloud.put_transcript("enc-0001")
    cloud.model_answers(converse_answer())
    write_note.handler(sqs_event(object_created(BUCKET, "transcripts/enc-0001.json")), lambda_context)
    bus()
    return cloud

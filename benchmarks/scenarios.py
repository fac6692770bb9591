"""What each handler's first invocation gets in the cold path bench: a recorded event (tests/events and the
shapes AWS documents) and what its AWS calls find, on the handler's ordinary path (the upload accepted, the
transcript found, the note drafted, the review waited for...), so that its own first-call work is timed.

S3 is a small object store (benchmarks/canned.py) holding the encounter's objects as the pipeline leaves them:
the recorded Transcribe output, and the note and review record the domain's own `draft_note` writes from it
(run once here, against the same canned answers). Other services answer with canned responses, keyed
`<service>.<Operation>`; a response's `HTTPStatusCode` over 299 is an error, as botocore raises it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from unittest import mock

import boto3

from benchmarks.canned import STORED_AT, CannedAws, error

EVENTS = Path(__file__).resolve().parents[1] / "tests" / "events"
BUCKET = "clinicalscribe-encounters"
ENCOUNTER = "enc-0001"
JOB_PREFIX = "ClinicalScribeChoreography"
STATE_MACHINE = "arn:aws:states:us-east-1:111122223333:stateMachine:Encounter"
TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAbenchmarktoken"  # noqa: S105  (a Step Functions task token's shape)
CLINICIAN = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Bench0001|7c1e4a52-bench"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/111122223333/note-requests-dlq"


@dataclass(frozen=True)
class Scenario:
    event: dict
    responses: dict[str, list[dict]] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    stored_at: datetime = STORED_AT  # the moment the responses above name, for the cold path's S3 store


def recorded(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def object_created(key: str) -> dict:
    event = recorded("eventbridge_s3_object_created.json")
    event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"]["key"] = key
    return event


def sqs(body: dict, queue: str = "work") -> dict:
    """A Lambda SQS event of one record carrying `body`, delivered the first time."""
    return {
        "Records": [
            {
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
                "body": json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1765087200000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1765087200001",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:111122223333:{queue}",
                "awsRegion": "us-east-1",
            }
        ]
    }


def scheduled() -> dict:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "111122223333",
        "time": "2026-12-07T06:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:111122223333:rule/sweep"],
        "detail": {},
    }


def transcription_job(status: str = "COMPLETED") -> dict:
    """GetMedicalTranscriptionJob of the encounter's job, as Transcribe answers it."""
    return {
        "MedicalTranscriptionJob": {
            "MedicalTranscriptionJobName": f"{JOB_PREFIX}-{ENCOUNTER}",
            "TranscriptionJobStatus": status,
            "LanguageCode": "en-US",
            "MediaFormat": "wav",
            "Media": {"MediaFileUri": f"s3://{BUCKET}/audio/{ENCOUNTER}.wav"},
            "Transcript": {
                "TranscriptFileUri": f"https://s3.us-east-1.amazonaws.com/{BUCKET}/transcripts/{ENCOUNTER}.json"
            },
            "StartTime": STORED_AT - timedelta(minutes=3),
            "CreationTime": STORED_AT - timedelta(minutes=3),
            "CompletionTime": STORED_AT + timedelta(minutes=10),
            "Specialty": "PRIMARYCARE",
            "Type": "DICTATION",
        }
    }


def transcript() -> bytes:
    document = recorded("transcribe_medical_output.json")
    document["jobName"] = f"{JOB_PREFIX}-{ENCOUNTER}"
    # Without its word items the document is one speaker's, a segment per sentence: the four the note cites.
    document["results"]["items"] = []
    return json.dumps(document).encode()


def uploaded() -> dict[str, bytes]:
    return {f"audio/{ENCOUNTER}.wav": b"RIFF$\x00\x00\x00WAVEfmt "}


def transcribed() -> dict[str, bytes]:
    return {**uploaded(), f"transcripts/{ENCOUNTER}.json": transcript()}


def converse_note() -> dict:
    return recorded("bedrock_converse_note.json")


DRAFTING = {
    "transcribe.GetMedicalTranscriptionJob": [transcription_job()],
    "bedrock-runtime.Converse": [converse_note()],
    "events.PutEvents": [{"FailedEntryCount": 0, "Entries": [{"EventId": "8f4a5c1e-0d0b-4a48-9c57-bench"}]}],
}


# The line for Transcribe's slots (clinical.waiting_line) on the ordinary path: nobody waits; a job's end is noted.
LINE_EMPTY = {"dynamodb.Query": [{"Items": [], "Count": 0, "ScannedCount": 0}], "dynamodb.PutItem": [{}]}
NO_CHAIN = error(400, "ConditionalCheckFailedException")
STARTING = {"transcribe.StartMedicalTranscriptionJob": [transcription_job("IN_PROGRESS")], **LINE_EMPTY}
EXECUTION = f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{ENCOUNTER}"
EXECUTING = {"stepfunctions.StartExecution": [{"executionArn": EXECUTION, "startDate": STORED_AT}], **LINE_EMPTY}
RESUMING = {"stepfunctions.SendTaskSuccess": [{}], "stepfunctions.SendTaskFailure": [{}]}
WAITING = {
    "dynamodb.PutItem": [{}],
    "dynamodb.DeleteItem": [{"Attributes": {"encounter_id": {"S": ENCOUNTER}, "task_token": {"S": TASK_TOKEN}}}],
}


SWEEPING = {
    "sqs.ReceiveMessage": [{}],
    "transcribe.ListMedicalTranscriptionJobs": [{"MedicalTranscriptionJobSummaries": []}],
    "transcribe.GetMedicalTranscriptionJob": [
        error(400, "BadRequestException"),
        transcription_job("IN_PROGRESS"),
    ],
    **STARTING,
}
ENDED = {
    "stepfunctions.DescribeExecution": [
        {
            "executionArn": EXECUTION,
            "stateMachineArn": STATE_MACHINE,
            "name": ENCOUNTER,
            "status": "FAILED",
            "startDate": STORED_AT,
            "stopDate": STORED_AT + timedelta(minutes=5),
            "input": json.dumps(
                {"encounter_id": ENCOUNTER, "audio_key": f"audio/{ENCOUNTER}.wav", "media_format": "wav"}
            ),
            "error": "InvalidModelOutput",
        }
    ],
    "stepfunctions.GetExecutionHistory": [
        {
            "events": [
                {
                    "id": 9,
                    "type": "TaskStateEntered",
                    "timestamp": STORED_AT,
                    "stateEnteredEventDetails": {"name": "GenerateNote"},
                },
                {"id": 10, "type": "TaskScheduled", "timestamp": STORED_AT, "previousEventId": 9},
                {"id": 11, "type": "TaskFailed", "timestamp": STORED_AT, "previousEventId": 10},
                {"id": 12, "type": "ExecutionFailed", "timestamp": STORED_AT, "previousEventId": 11},
            ]
        }
    ],
}


def execution_ended() -> dict:
    event = recorded("eventbridge_sfn_execution_status_change.json")
    event["resources"] = [EXECUTION]
    event["detail"].update(executionArn=EXECUTION, stateMachineArn=STATE_MACHINE, name=ENCOUNTER)
    return event


def session_token() -> str:
    """A Cognito access token's shape (header.claims.signature) for a member of the clinicians group."""
    claims = {
        "iss": CLINICIAN.split("|")[0],
        "sub": CLINICIAN.split("|")[1],
        "client_id": "bench0client0id",
        "cognito:groups": ["clinicians"],
        "token_use": "access",
        "username": "dr-bench",
    }
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJraWQiOiJiZW5jaCIsImFsZyI6IlJTMjU2In0.{encoded}.c2lnbmF0dXJl"


def review_page_request() -> dict:
    """API Gateway's Lambda proxy event for the signed-in clinician's GET of the review page."""
    return {
        "resource": "/",
        "path": "/",
        "httpMethod": "GET",
        "headers": {
            "Host": "abc123.execute-api.us-east-1.amazonaws.com",
            "cookie": f"__Host-review-session={session_token()}",
        },
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/",
            "httpMethod": "GET",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "accountId": "111122223333",
            "identity": {"sourceIp": "203.0.113.15"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


REVIEW_PAGE = {
    "COGNITO_DOMAIN": "https://clinicalscribe-bench.auth.us-east-1.amazoncognito.com",
    "USER_POOL_ID": "us-east-1_Bench0001",
    "USER_POOL_CLIENT_ID": "bench0client0id",
    "REVIEW_PAGE_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/prod/",
    "DOMAIN_EVENT_BUS": "ClinicalScribeChoreography-DomainEvents",
}
SIGNED_IN = {"cognito-idp.GetUser": [{"Username": "dr-bench", "UserAttributes": []}]}


@cache
def drafted(signed: bool = False) -> dict[str, bytes]:
    """The encounter's objects once its note is drafted: the transcript, and what the domain's `draft_note`
    writes from it (the note, its review record); `signed`, once a clinician signed it (the signed note)."""
    from benchmarks.cold_start import STACK_ENVIRONMENT

    # The domain's own log lines stay out of the bench's output.
    with mock.patch.dict(os.environ, {**STACK_ENVIRONMENT, "POWERTOOLS_LOG_LEVEL": "ERROR"}):
        from clinical.review import sign
        from clinical.settings import PipelineSettings
        from clinical.steps.drafts import draft_note

        session = boto3.Session(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")  # noqa: S106  (no call leaves the process)
        aws = CannedAws(transcribed(), DRAFTING)
        aws.install(session.events)
        draft_note(
            session.client("s3"),
            session.client("bedrock-runtime"),
            session.client("transcribe"),
            bucket=BUCKET,
            encounter_id=ENCOUNTER,
            settings=PipelineSettings.from_env(),
        )
        if signed:
            sign(session.client("s3"), BUCKET, ENCOUNTER, clinician=CLINICIAN, patient="Patient/123")
    return aws.objects


def scenarios() -> dict[str, Scenario]:
    """The scenario of every handler module, by module name."""
    audio = object_created(f"audio/{ENCOUNTER}.wav")
    wait = {"encounter_id": ENCOUNTER, "task_token": TASK_TOKEN}
    return {
        "choreography.start_transcription": Scenario(sqs(audio), STARTING, uploaded()),
        "choreography.watchdog": Scenario(scheduled(), SWEEPING, uploaded(), {"NOTE_REQUESTS_DLQ_URL": DLQ_URL}),
        "choreography.write_note": Scenario(
            sqs(object_created(f"transcripts/{ENCOUNTER}.json")), {**DRAFTING, **LINE_EMPTY}, transcribed()
        ),
        "orchestration.intake": Scenario(sqs(audio), EXECUTING, uploaded()),
        "orchestration.await_transcript": Scenario(
            wait,
            # No sweep's chain woke it (the first delete finds nothing), then its own wait is taken.
            {**DRAFTING, **WAITING, **RESUMING, "dynamodb.DeleteItem": [NO_CHAIN, *WAITING["dynamodb.DeleteItem"]]},
            transcribed(),
        ),
        "orchestration.await_slot": Scenario(
            {**wait, "audio_key": f"audio/{ENCOUNTER}.wav"}, {"dynamodb.PutItem": [{}]}, uploaded()
        ),
        "orchestration.await_review": Scenario(wait, RESUMING, drafted()),
        "orchestration.generate_note": Scenario({"encounter_id": ENCOUNTER}, DRAFTING, transcribed()),
        "orchestration.record_failure": Scenario(sqs(execution_ended()), {**ENDED, **LINE_EMPTY}, drafted()),
        "orchestration.review_deadline": Scenario({"encounter_id": ENCOUNTER}, {}, drafted()),
        "orchestration.transcript_ready": Scenario(
            sqs(object_created(f"transcripts/{ENCOUNTER}.json")),
            {**DRAFTING, **WAITING, **RESUMING, **LINE_EMPTY, "dynamodb.PutItem": [{}]},
            transcribed(),
        ),
        "orchestration.upload_sweep": Scenario(
            scheduled(),
            {**SWEEPING, "stepfunctions.DescribeExecution": [error(400, "ExecutionDoesNotExist")], **EXECUTING},
            uploaded(),
        ),
        "edges.fhir_export": Scenario(
            sqs({"detail-type": "NoteSigned", "source": "clinical-scribe", "detail": {"encounter_id": ENCOUNTER}}),
            {},
            drafted(signed=True),
        ),
        "edges.review_page": Scenario(review_page_request(), SIGNED_IN, drafted(), REVIEW_PAGE),
    }


__all__ = ["Scenario", "error", "scenarios"]

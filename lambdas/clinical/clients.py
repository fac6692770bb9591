"""AWS clients of the handlers, created once per execution environment (tests clear the caches)."""

from functools import cache

import boto3


@cache
def s3():
    return boto3.client("s3")


@cache
def transcribe():
    return boto3.client("transcribe")


@cache
def transcription_starts():
    """Transcribe for StartMedicalTranscriptionJob alone, without the SDK's own retries: a refused start waits in
    line for a slot (clinical.waiting_line) and a failing one has the policy's timed retries, as the state
    machine's StartTranscription task, which the SDK does not retry either; the SDK's three quick tries would
    only be three refusals."""
    from botocore.config import Config

    return boto3.client("transcribe", config=Config(retries={"total_max_attempts": 1}))


@cache
def bedrock_runtime():
    return boto3.client("bedrock-runtime")


@cache
def sqs():
    return boto3.client("sqs")


@cache
def stepfunctions():
    return boto3.client("stepfunctions")


@cache
def dynamodb():
    return boto3.client("dynamodb")


@cache
def events():
    return boto3.client("events")


@cache
def cognito_idp():
    return boto3.client("cognito-idp")


def credentials():
    """The function's own credentials, for a request boto3 has no client for (a FHIR server's REST API)."""
    return boto3.Session().get_credentials()


ALL = (s3, transcribe, transcription_starts, bedrock_runtime, sqs, stepfunctions, dynamodb, events, cognito_idp)


def reset() -> None:
    """Forget every client (after the endpoint or credentials change)."""
    for factory in ALL:
        factory.cache_clear()

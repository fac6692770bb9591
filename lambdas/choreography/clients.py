"""AWS clients of the choreography handlers, created once per execution environment."""

from functools import cache

import boto3


@cache
def s3():
    return boto3.client("s3")


@cache
def transcribe():
    return boto3.client("transcribe")


@cache
def bedrock_runtime():
    return boto3.client("bedrock-runtime")

"""Make moto's Step Functions interpreter behave like AWS where this project depends on it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from unittest import mock

import botocore.endpoint
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

# AWS names aws-sdk integration errors "<Service>.<Error>" in PascalCase (Transcribe.ConflictException);
# moto knows only dynamodb and sfn and otherwise falls back to the lowercase API name.
AWS_SDK_SERVICE_ERROR_NAMES = {"transcribe": "Transcribe", "s3": "S3", "dynamodb": "DynamoDb", "sfn": "Sfn"}


@contextlib.contextmanager
def aws_error_names() -> Iterator[None]:
    with mock.patch.dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, AWS_SDK_SERVICE_ERROR_NAMES):
        yield


class _ScaledClock:
    """Stands in for the `time` module inside a retrier: sleeps are scaled, the rest is time itself."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.factor)

    def __getattr__(self, name: str):
        return getattr(time, name)


@contextlib.contextmanager
def compressed_time(factor: float) -> Iterator[None]:
    """Wait states, Retry intervals, callback timeouts and SDK retry backoff take `factor` times their real duration."""
    real_wait_interval = WaitFunction._wait_interval
    real_callback_wait = CallbackEndpoint.wait

    def wait_interval(self, env, wait_seconds):
        return real_wait_interval(self, env, wait_seconds * factor)

    def callback_wait(self, timeout=None):
        return real_callback_wait(self, None if timeout is None else timeout * factor)

    with (
        # The SDK's own retry backoff (botocore sleeps between attempts) runs on the same clock.
        mock.patch.object(botocore.endpoint, "time", _ScaledClock(factor)),
        mock.patch.object(WaitFunction, "_wait_interval", wait_interval),
        mock.patch.object(retrier_decl, "time", _ScaledClock(factor)),
        mock.patch.object(CallbackEndpoint, "wait", callback_wait),
    ):
        yield

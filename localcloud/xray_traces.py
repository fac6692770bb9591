"""X-Ray in the local cloud: the documents the handlers' tracing sends, kept per function.

On Lambda, an invocation of a function with active tracing finds its trace header in `_X_AMZN_TRACE_ID`
(localcloud.lambda_runtime sets it), and the X-Ray SDK of the function's process, in its Lambda mode,
streams each subsegment as it ends to the X-Ray daemon over UDP. Here every function shares this process,
whose SDK was loaded outside Lambda and turned off by the Powertools Tracer made there. So while the local
cloud runs: the recorder reads the trace from the invocation's environment (the SDK's Lambda context, its
state per thread, as each invocation runs on one), streams every subsegment as it ends, and hands each
document to an emitter that keeps it; the SDK answers enabled exactly while an invocation whose Tracer is
on runs; and that invocation's AWS calls get the subsegments Powertools' botocore patch gives them on Lambda.
Nothing is sent anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections import defaultdict
from collections.abc import Iterator

from aws_xray_sdk.core.lambda_launcher import LambdaContext
from aws_xray_sdk.core.models.entity import Entity
from aws_xray_sdk.core.streaming.default_streaming import DefaultStreaming
from aws_xray_sdk.ext.botocore.patch import _xray_traced_botocore
from aws_xray_sdk.sdk_config import SDKConfig
from botocore.client import BaseClient

from localcloud import moto_patches
from localcloud.lambda_runtime import current_invocation
from localcloud.operations import HARNESS

RECORDER = "aws_xray_sdk.core.xray_recorder"


class SegmentDocuments:
    """The emitter of the local cloud's X-Ray: keeps each document (the JSON the daemon would have received),
    under the function whose invocation sent it."""

    def __init__(self) -> None:
        self._sent: defaultdict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()

    def send_entity(self, entity: Entity) -> None:
        """Called while the invocation that traced it runs: the SDK is on only then."""
        function, document = current_invocation()["function"], entity.serialize()
        with self._lock:
            self._sent[function].append(document)

    def by_function(self) -> dict[str, list[dict]]:
        """Every document sent so far, by function name."""
        with self._lock:
            return {function: [json.loads(text) for text in sent] for function, sent in self._sent.items()}


@contextlib.contextmanager
def traced_in_process(documents: SegmentDocuments) -> Iterator[None]:
    """Within this block the in-process invocations trace as on Lambda, into `documents`. Entered after the
    local cloud's other wrappers of the SDK's calls, so an AWS call's subsegment spans its modelled latency
    and its access check, as the X-Ray patch of botocore, outermost, does on Lambda."""
    host_enabled = SDKConfig.sdk_enabled
    real_call = BaseClient._make_api_call

    def sdk_enabled(_config: type[SDKConfig]) -> bool:
        invocation = current_invocation()
        return invocation["traced"] if invocation is not None else host_enabled()

    def make_api_call(client: BaseClient, operation_name: str, api_params: dict):
        invocation = current_invocation()
        # The local cloud's own calls meanwhile (a stand-in reading the media) are inside AWS, not the function's.
        if invocation is None or not invocation["traced"] or getattr(client, HARNESS, False):
            return real_call(client, operation_name, api_params)
        call = functools.partial(real_call, client)
        return _xray_traced_botocore(call, client, (operation_name, api_params), {})

    with contextlib.ExitStack() as patches:
        patches.enter_context(
            moto_patches.replace("aws_xray_sdk.sdk_config.SDKConfig.sdk_enabled", classmethod(sdk_enabled))
        )
        patches.enter_context(moto_patches.replace(f"{RECORDER}._context", LambdaContext()))
        # Lambda's mode streams every subsegment as it ends (the invocation's segment is Lambda's own).
        patches.enter_context(moto_patches.replace(f"{RECORDER}._streaming", DefaultStreaming(streaming_threshold=0)))
        patches.enter_context(moto_patches.replace(f"{RECORDER}._emitter", documents))
        patches.enter_context(moto_patches.replace("botocore.client.BaseClient._make_api_call", make_api_call))
        yield

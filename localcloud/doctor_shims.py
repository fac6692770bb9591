"""What `scribe doctor` asks of the local cloud that moto does not answer.

moto 5.2.5 has no Lambda GetAccountSettings. This answers it as Lambda does: the account's concurrency
quota, and what is left of it after every function's reserved concurrency (AccountLimit).

Nor has it Bedrock's GetFoundationModelAvailability: the local note model stands in for every model,
so each is answered as an account that has accepted the model's agreement sees it (all AVAILABLE).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from urllib.parse import unquote

from moto.awslambda.responses import LambdaResponse
from moto.bedrock.responses import BedrockResponse
from moto.core.common_types import TYPE_RESPONSE

from localcloud import moto_patches

# GET /2016-08-19/account-settings/ (botocore's Lambda model)
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"
# What GetFoundationModelAvailability answers for a model the account may call (Bedrock API Reference).
MODEL_AVAILABLE = {
    "agreementAvailability": {"status": "AVAILABLE"},
    "authorizationStatus": "AUTHORIZED",
    "entitlementAvailability": "AVAILABLE",
    "regionAvailability": "AVAILABLE",
}


@contextlib.contextmanager
def lambda_account_settings(concurrent_executions: Callable[[], float]) -> Iterator[None]:
    """Within this block Lambda GetAccountSettings answers with `concurrent_executions()` as the
    account's quota. Enter it before a moto server starts: the server reads its routes once."""

    def get_account_settings(self: LambdaResponse) -> TYPE_RESPONSE:
        functions = list(self.backend.list_functions())
        total = int(concurrent_executions())
        reserved = sum(int(f.reserved_concurrency) for f in functions if f.reserved_concurrency)
        settings = {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": total,
                "UnreservedConcurrentExecutions": total - reserved,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(functions)},
        }
        return 200, {}, json.dumps(settings)

    with (
        moto_patches.update("moto.awslambda.urls.url_paths", {ACCOUNT_SETTINGS_PATH: LambdaResponse.dispatch}),
        moto_patches.add("moto.awslambda.responses.LambdaResponse.get_account_settings", get_account_settings),
    ):
        yield


@contextlib.contextmanager
def bedrock_model_availability(
    availability: Callable[[str], dict] = lambda _model_id: MODEL_AVAILABLE,
) -> Iterator[None]:
    """Within this block Bedrock GetFoundationModelAvailability (GET /foundation-model-availability/ID, which
    moto's catch-all Bedrock route already reaches) answers `availability(model_id)` for the model."""

    def get_foundation_model_availability(self: BedrockResponse) -> TYPE_RESPONSE:
        model_id = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
        return 200, {}, json.dumps({"modelId": model_id, **availability(model_id)})

    with moto_patches.add(
        "moto.bedrock.responses.BedrockResponse.get_foundation_model_availability", get_foundation_model_availability
    ):
        yield

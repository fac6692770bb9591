"""What `scribe doctor` asks of the local cloud that moto does not answer.

moto 5.2.5 has no Lambda GetAccountSettings. This answers it as Lambda does: the account's concurrency
quota, and what is left of it after every function's reserved concurrency (AccountLimit).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

from moto.awslambda.responses import LambdaResponse
from moto.core.common_types import TYPE_RESPONSE

from localcloud import moto_patches

# GET /2016-08-19/account-settings/ (botocore's Lambda model)
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"


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

"""One cold path, in the fresh process `benchmarks.cold_start` starts for it (run as a script, never imported).

`python cold_path.py <scenario.pickle> <handler module | bare_boto3> <result.json> <calls.pickle>`: import the
handler (or the bare-boto3 baseline), then invoke it once with the scenario's recorded event, every AWS call
answered in this process (benchmarks/canned.py). The result file gets, on the system-wide monotonic clock, when
the process started running Python, when the import ended, and when the invocation began and ended (what comes
after it, the process's exit, is no part of a cold start: Lambda keeps the environment). A handler's run writes
the calls it made (service, operation, parameters) to the calls file; the baseline's run reads them there and
makes them.
"""

import sys
import time


def now() -> float:
    """The system-wide monotonic clock: the bench reads the same one when it starts this process."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


started = now()
scenario_path, target, result_path, calls_path = sys.argv[1:5]
if target == "bare_boto3":
    import bare_boto3 as module
else:
    module = __import__(target, fromlist=["handler"])
imported = now()

import json  # noqa: E402
import pickle  # noqa: E402

import boto3  # noqa: E402  (either side has imported it already)
from canned import CannedAws  # noqa: E402

with open(scenario_path, "rb") as file:
    scenario = pickle.load(file)  # noqa: S301  (the bench wrote it)
aws = CannedAws(scenario["objects"], scenario["responses"], scenario["stored_at"])
aws.install(boto3._get_default_session().events)  # the session boto3.client() makes every client from


class Context:
    """The Lambda context attributes Powertools reads."""

    function_name = "ClinicalScribe-Function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:ClinicalScribe-Function"
    log_group_name = "/aws/lambda/ClinicalScribe-Function"
    log_stream_name = "2026/12/07/[$LATEST]0123456789abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


if target == "bare_boto3":
    with open(calls_path, "rb") as file:
        module.CALLS = pickle.load(file)  # noqa: S301  (the bench wrote it)
loaded = now()
response = module.handler(scenario["event"], Context())
invoked = now()

if isinstance(response, dict) and response.get("batchItemFailures"):
    sys.exit(f"{target}: the recorded event's record failed ({response['batchItemFailures']})")
with open(result_path, "w") as file:
    timings = {
        "started": started,
        "imported": imported,
        "loaded": loaded,
        "invoked": invoked,
        "calls": len(aws.made),
        "source": module.__file__,
    }
    json.dump(timings, file)
if target != "bare_boto3":
    with open(calls_path, "wb") as file:
        pickle.dump(aws.made, file)

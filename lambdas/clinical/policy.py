"""The pipeline's policy as data, one copy for both wirings: which AWS error codes are transient.

Choreography's handlers and orchestration's state machine read the same classes here. The handlers
import them; the state machine's Retry blocks name them as Step Functions does (`Transcribe.<code>`), and
tests/unit/test_policy_contract.py fails, naming the state and field, when the ASL and this module
disagree. No imports, so the CDK app and the tests can read it without the Lambda runtime's libraries.

(Issue 15 grows this module: attempts, backoff and timeouts per step come next.)
"""

# Transcribe Medical: the concurrent-job quota is full (LimitExceededException) or the service is busy
# or failing for a moment. Both variants wait for a slot, at most `quota_wait_minutes`, retrying at most a
# minute apart (clinical/throttling.py; the ASL's StartTranscription Retry).
TRANSCRIBE_TRANSIENT_CODES = (
    "LimitExceededException",
    "ThrottlingException",
    "TooManyRequestsException",
    "InternalFailureException",
    "ServiceUnavailableException",
)

# Bedrock Runtime: throttled, unavailable or slow for a moment. The note step retries (NoteModelThrottled).
BEDROCK_TRANSIENT_CODES = (
    "ThrottlingException",
    "ServiceUnavailableException",
    "ModelTimeoutException",
    "ModelNotReadyException",
    "InternalServerException",
)

# Step Functions StartExecution (intake and the upload sweep): throttled or failing for a moment.
EXECUTION_START_TRANSIENT_CODES = (
    "ThrottlingException",
    "ExecutionLimitExceeded",
    "ServiceUnavailable",
    "InternalServerError",
)


# Errors that are permanent for the answer they came with, yet worth one more try of the step: a model's
# malformed answer may come out well-formed the next time. How many tries in all, in both variants (the
# ASL's Retry on the error allows this many minus one; choreography lets its queue deliver again).
TRIES_OF_PERMANENT_ERRORS = {"InvalidModelOutput": 2}


# Orchestration waits for a transcript in callback waits of this length, asking Transcribe after each; it
# records TranscriptionStalled once `stalled_job_minutes` of waits have passed, as choreography's watchdog
# does for a job queued or running that long. The limit is whole waits, and at least two.
TRANSCRIPT_WAIT_SECONDS = 900


def transcript_waits(stalled_job_minutes: int) -> int:
    """How many callback waits make up the stall limit (rounded up to whole waits)."""
    return max(2, -(-stalled_job_minutes * 60 // TRANSCRIPT_WAIT_SECONDS))


def step_functions_names(service: str, codes: tuple[str, ...]) -> set[str]:
    """The error names a Step Functions aws-sdk task gives these codes (`Transcribe.LimitExceededException`)."""
    return {f"{service}.{code}" for code in codes}
